"""Backend `nim`: the REAL `python -m engine_builder` against the NIM server stand-in.

Grid (one line per case):
* success: manifest format v1 / list / v2 / wrapped / wrapped-keyed x engine in the default
  folder / in workspace paths; tp=2 pp=2 (four rank files); other models' profiles listed
  first (first match wins); the server not listening yet when the builder starts.
* failure, each with an `{"error"}` result, a line on stderr and a non-zero exit: never ready
  (timeout), no manifest, no profile for the model name, a missing rank file, bad YAML, a
  manifest in none of the known shapes (the file and the shapes tried are named), the
  NIM process dies mid-build (named by NIMBUILD_NIM_PID, and found on its own in a private
  PID namespace), bad settings, an unwritable result file.
* the waiting loop on a fake clock: poll starts at most 2 s apart with a probe that uses its
  whole timeout, at most one "still waiting" line per 30 s, a crash noticed within a slice.
* faults a review found, each pinned against the real program (once
  tests/test_engine_builder_review.py): a server that answers one byte at a time cannot hold
  the builder past its timeout, nor one probe past its budget; a named NIM pid that does not
  exist is a crash, not a wait; a real child of the builder's turns zombie, then counts as gone.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from standins import harness, nim_server

from engine_builder import nim
from engine_builder.errors import BuildError
from engine_builder.procwatch import ProcessWatch, parse_stat
from engine_builder.result import MAX_RESULT_BYTES
from engine_builder.settings import parse_settings

pytestmark = pytest.mark.slow

MODEL = "my-llama-custom"


def builder_env(store: Path, result: Path, url: str, **extra: str) -> dict[str, str]:
    return {
        "NIMBUILD_MODEL_STORE": str(store),
        "NIMBUILD_MODEL_NAME": MODEL,
        "NIMBUILD_INPUT_PROFILE": "input-profile-id",
        "NIMBUILD_NIM_URL": url,
        "NIMBUILD_TIMEOUT_SECONDS": "30",
        "NIMBUILD_RESULT_FILE": str(result),
        **extra,
    }


def run_against_standin(tmp_path: Path, *standin_args: str, **extra: str) -> harness.Outcome:
    store = tmp_path / "model-store"
    store.mkdir()
    result = tmp_path / "result.json"
    with nim_server.spawn(store, MODEL, *standin_args) as nim_proc:
        env = builder_env(store, result, nim_proc.url, **extra)
        env.setdefault("NIMBUILD_NIM_PID", str(nim_proc.process.pid))
        return harness.run_builder(env)


def assert_failed(outcome: harness.Outcome, *fragments: str, code: int = 1) -> str:
    assert outcome.returncode == code, outcome.stderr
    assert set(outcome.result) == {"error"}
    message = outcome.result["error"]
    assert isinstance(message, str)
    for fragment in fragments:
        assert fragment in message
        assert fragment in outcome.stderr
    assert len(outcome.result_text or "") <= MAX_RESULT_BYTES
    return message


@pytest.mark.parametrize("workspace", [False, True], ids=["default-folder", "workspace-paths"])
@pytest.mark.parametrize("fmt", nim_server.FORMATS)
def test_reports_the_built_profile(tmp_path: Path, fmt: str, workspace: bool) -> None:
    outcome = run_against_standin(
        tmp_path, "--format", fmt, *(["--workspace"] if workspace else [])
    )
    assert outcome.returncode == 0, outcome.stderr
    result = outcome.result
    assert set(result) == {"outputProfile", "engineDir", "buildSeconds"}
    folder = "custom_engine" if workspace else "trtllm_engine"
    assert result["engineDir"] == str(tmp_path / "model-store/local_cache" / MODEL / folder)
    assert result["outputProfile"] == {
        "name": nim_server.profile_id(MODEL, fmt),
        "model": "" if fmt == "v2" else "nim/standin-llm",
        "release": "" if fmt == "v2" else "1.8.4",
        "config": nim_server.profile_tags(MODEL, 1, 1),
    }
    assert isinstance(result["buildSeconds"], float) and result["buildSeconds"] >= 0
    # The logs a person follows in `kubectl logs`.
    for step in ("waiting for the NIM server", "watching NIM server process", "ready after"):
        assert step in outcome.stderr
    assert "picked profile " + nim_server.profile_id(MODEL, fmt) in outcome.stderr
    assert "still waiting" not in outcome.stderr  # a sub-second build logs no waiting line


def test_checks_every_rank_of_tp_times_pp(tmp_path: Path) -> None:
    outcome = run_against_standin(tmp_path, "--tp", "2", "--pp", "2", "--others", "3")
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.result["outputProfile"]["config"]["tp"] == "2"
    for rank in range(4):
        assert f"rank{rank}.engine" in outcome.stderr


def test_takes_the_first_profile_with_the_model_name(tmp_path: Path) -> None:
    store = tmp_path / "model-store"
    nim_server.write_engine(store, MODEL, [0], "trtllm_engine")
    first = {"id": "a" * 64, "model": "m1", "release": "1", "tags": {"model_name": MODEL}}
    second = {"id": "b" * 64, "model": "m2", "release": "2", "tags": {"model_name": MODEL}}
    manifest = store / "local_cache/local_manifest.yaml"
    manifest.write_text(json.dumps(nim_server.manifest_data("list", [first, second])))
    result = tmp_path / "result.json"
    with nim_server.spawn(tmp_path / "unused-store", "other", "--build-seconds", "0") as proc:
        outcome = harness.run_builder(builder_env(store, result, proc.url))
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.result["outputProfile"]["name"] == "a" * 64


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_waits_for_a_server_that_is_not_listening_yet(tmp_path: Path) -> None:
    port = free_port()
    store = tmp_path / "model-store"
    store.mkdir()
    result = tmp_path / "result.json"
    builder = harness.start_builder(builder_env(store, result, f"http://127.0.0.1:{port}"))
    try:
        # The builder polls a closed port first; the stand-in then starts on it.
        with nim_server.spawn(store, MODEL, port=port):
            outcome = harness.finish(builder, result)
    finally:
        if builder.poll() is None:
            builder.kill()
            builder.wait()
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.result["outputProfile"]["name"] == nim_server.profile_id(MODEL, "v1")


@pytest.mark.parametrize(
    ("failure", "fragments"),
    [
        pytest.param("no-manifest", ["wrote no manifest", "local_manifest.yaml"], id="no-manifest"),
        pytest.param(
            "no-profile", [f"tags.model_name={MODEL!r}", "other-model-0"], id="no-profile"
        ),
        pytest.param("missing-rank", ["engine is incomplete", "rank0.engine"], id="missing-rank"),
        pytest.param("bad-yaml", ["not valid YAML", "local_manifest.yaml"], id="bad-yaml"),
        pytest.param(
            "unknown-shape",
            [
                "local_manifest.yaml: manifest is none of the known shapes",
                "tried v1 (",
                "wrapped (",
            ],
            id="unknown-shape",
        ),
    ],
)
def test_fails_when_the_build_left_no_usable_engine(
    tmp_path: Path, failure: str, fragments: list[str]
) -> None:
    outcome = run_against_standin(tmp_path, "--failure", failure)
    assert_failed(outcome, *fragments)


def test_missing_rank_names_the_missing_file_only(tmp_path: Path) -> None:
    outcome = run_against_standin(tmp_path, "--failure", "missing-rank", "--tp", "2")
    message = assert_failed(outcome, "rank1.engine")
    assert "rank0.engine" not in message


def test_times_out_when_the_server_never_gets_ready(tmp_path: Path) -> None:
    outcome = run_against_standin(
        tmp_path, "--failure", "never-ready", NIMBUILD_TIMEOUT_SECONDS="1.5"
    )
    assert_failed(outcome, "was not ready within 1.5 s", "HTTP 503")


def test_fails_at_once_when_the_named_nim_process_dies(tmp_path: Path) -> None:
    outcome = run_against_standin(
        tmp_path, "--failure", "die", "--build-seconds", "1", NIMBUILD_TIMEOUT_SECONDS="60"
    )
    message = assert_failed(outcome, "exited before it was ready", "-c nim-build-ctr --previous")
    assert "kubectl logs" in message


def unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.skipif(not unshare_works(), reason="needs `unshare --pid --mount-proc` (root)")
def test_finds_and_watches_the_nim_process_on_its_own(tmp_path: Path) -> None:
    """Like a pod: a private PID namespace, PID 1 a shell, the stand-in, then the builder."""
    store = tmp_path / "model-store"
    store.mkdir()
    result = tmp_path / "result.json"
    port = str(free_port())
    env = builder_env(store, result, f"http://127.0.0.1:{port}", NIMBUILD_TIMEOUT_SECONDS="60")
    standin = [
        sys.executable,
        nim_server.__file__,
        "--store",
        str(store),
        "--model-name",
        MODEL,
        "--port",
        port,
        "--failure",
        "die",
        "--build-seconds",
        "1.5",
    ]
    # `; exit $?` keeps the shell as PID 1 (no exec of the last command), like pause in a pod.
    script = f"{' '.join(standin)} >/dev/null & {' '.join(harness.builder_command())}; exit $?"
    done = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "/bin/sh", "-c", script],
        env={**harness.base_env(), **env},
        cwd=harness.REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "watching NIM server process(es): pid 2 (" in done.stderr
    assert "exited before it was ready" in json.loads(result.read_text())["error"]


def test_bad_settings_are_all_reported(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    outcome = harness.run_builder(
        {
            "NIMBUILD_RESULT_FILE": str(result),
            "NIMBUILD_TIMEOUT_SECONDS": "soon",
            "NIMBUILD_BACKEND": "magic",
        }
    )
    assert_failed(
        outcome,
        "NIMBUILD_MODEL_NAME is required",
        "NIMBUILD_TIMEOUT_SECONDS='soon'",
        "NIMBUILD_BACKEND='magic'",
        code=2,
    )


@pytest.mark.parametrize("standin_failure", ["none", "no-manifest"])
def test_unwritable_result_file_is_a_distinct_failure(tmp_path: Path, standin_failure: str) -> None:
    result = tmp_path / "no-such-dir" / "result.json"
    outcome = run_against_standin(
        tmp_path, "--failure", standin_failure, NIMBUILD_RESULT_FILE=str(result)
    )
    assert outcome.returncode == 3
    assert f"cannot write the result file {result}" in outcome.stderr
    assert not result.exists()


def test_help_explains_every_setting() -> None:
    done = subprocess.run(
        [*harness.builder_command(), "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    from engine_builder import settings

    names = [v for k, v in vars(settings).items() if k.startswith("ENV_")]
    assert len(names) == 16
    for name in names:
        assert name in done.stdout
    for word in ("outputProfile", "exit codes", "trtllm", "/v1/health/ready"):
        assert word in done.stdout


# --- the waiting loop on a fake clock ---------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


class StubWatch:
    """Stands in for ProcessWatch: alive until `dies_at` (fake seconds)."""

    def __init__(self, fake: FakeTime, dies_at: float = float("inf")) -> None:
        self.fake, self.dies_at, self.watched = fake, dies_at, ()

    def check(self) -> str:
        return "gone" if self.fake.now >= self.dies_at else "alive"


def fake_settings(timeout: float) -> object:
    return parse_settings({"NIMBUILD_MODEL_NAME": MODEL, "NIMBUILD_TIMEOUT_SECONDS": str(timeout)})


def test_polls_start_at_most_two_seconds_apart_and_log_sparingly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeTime()
    starts: list[float] = []

    def slow_probe(url: str, timeout: float) -> tuple[bool, str]:
        starts.append(fake.now)
        assert timeout <= nim.PROBE_TIMEOUT
        fake.now += timeout  # the worst case: every probe uses its whole timeout
        return False, "HTTP 503"

    caplog.set_level("INFO", logger="engine_builder")
    with pytest.raises(BuildError, match="not ready within 300 s"):
        nim.wait_until_ready(
            fake_settings(300),  # type: ignore[arg-type]
            StubWatch(fake),  # type: ignore[arg-type]
            fake.clock,
            fake.sleep,
            slow_probe,
        )
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert max(gaps) <= nim.MAX_INTERVAL + 1e-9
    assert gaps[0] < gaps[-1]  # backoff: early polls are closer together
    assert len(starts) >= 300 / nim.MAX_INTERVAL - 1
    waiting = [r for r in caplog.records if "still waiting" in r.getMessage()]
    assert 8 <= len(waiting) <= 300 / nim.LOG_EVERY


def test_a_crash_is_noticed_between_polls() -> None:
    fake = FakeTime()
    with pytest.raises(BuildError, match="exited before it was ready"):
        nim.wait_until_ready(
            fake_settings(600),  # type: ignore[arg-type]
            StubWatch(fake, dies_at=100.0),  # type: ignore[arg-type]
            fake.clock,
            fake.sleep,
            lambda url, timeout: (False, "HTTP 503"),
        )
    assert 100.0 <= fake.now <= 100.0 + nim.WATCH_SLICE + 1e-9


def test_returns_once_ready() -> None:
    fake = FakeTime()
    answers = iter([(False, "no answer (Connection refused)"), (False, "HTTP 503"), (True, "")])
    waited = nim.wait_until_ready(
        fake_settings(60),  # type: ignore[arg-type]
        StubWatch(fake),  # type: ignore[arg-type]
        fake.clock,
        fake.sleep,
        lambda url, timeout: next(answers),
    )
    assert waited == fake.now
    assert waited < 2 * nim.MAX_INTERVAL


def test_sigterm_still_leaves_an_error_result(tmp_path: Path) -> None:
    """The Job's deadline or deletion sends SIGTERM: the hook should still read why it ended."""
    store = tmp_path / "model-store"
    store.mkdir()
    result = tmp_path / "result.json"
    with nim_server.spawn(store, MODEL, "--failure", "never-ready") as standin:
        env = builder_env(store, result, standin.url, NIMBUILD_NIM_PID=str(standin.process.pid))
        builder = harness.start_builder(env)
        try:
            assert builder.stderr is not None
            for line in builder.stderr:  # wait until it is really waiting
                if "waiting for the NIM server" in line:
                    break
            builder.send_signal(signal.SIGTERM)
            outcome = harness.finish(builder, result)
        finally:
            if builder.poll() is None:
                builder.kill()
                builder.wait()
    assert_failed(outcome, "stopped by SIGTERM")


def test_console_script_is_the_same_program() -> None:
    script = Path(sys.executable).parent / "engine-builder"
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "NIMBUILD_MODEL_NAME" in done.stdout


# --- faults a review found ------------------------------------------------------------------------


@pytest.fixture
def dripping_server() -> Iterator[str]:
    """A server that accepts and sends `HTTP/1.1 503 …` one byte every 0.2 s, forever."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        with conn:
            for byte in b"HTTP/1.1 503 Service Unavailable\r\n" * 100:
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


def env_for(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    store = tmp_path / "model-store"
    store.mkdir(exist_ok=True)
    return builder_env(store, tmp_path / "result.json", url, **extra)


def test_a_slowly_answering_server_cannot_hold_the_builder_past_its_timeout(
    tmp_path: Path, dripping_server: str
) -> None:
    env = env_for(tmp_path, dripping_server, NIMBUILD_TIMEOUT_SECONDS="3")
    env["NIMBUILD_NIM_PID"] = str(os.getpid())  # alive for the whole run
    started = time.monotonic()
    outcome = harness.run_builder(env, timeout=30)
    elapsed = time.monotonic() - started
    assert outcome.returncode == 1, outcome.stderr
    assert "was not ready within 3 s" in outcome.result["error"]
    assert elapsed < 10, f"took {elapsed:.1f} s for a 3 s timeout"


def test_one_probe_is_bounded_by_its_budget(dripping_server: str) -> None:
    started = time.monotonic()
    ready, seen = nim.probe_ready(dripping_server, 0.5)
    assert (ready, seen) == (False, "no answer (timed out)")
    assert time.monotonic() - started < 1.5


def test_a_named_nim_pid_that_does_not_exist_is_a_crash_at_once(tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"  # nothing listens
    env = env_for(tmp_path, url, NIMBUILD_TIMEOUT_SECONDS="60", NIMBUILD_NIM_PID="4194000")
    started = time.monotonic()
    outcome = harness.run_builder(env, timeout=30)
    assert outcome.returncode == 1, outcome.stderr
    assert "exited before it was ready" in outcome.result["error"]
    assert "4194000" in outcome.result["error"]
    assert time.monotonic() - started < 10


def test_polls_are_well_inside_the_two_second_rule() -> None:
    interval = nim.FIRST_INTERVAL
    for _ in range(50):
        interval = nim.next_interval(interval)
    assert interval <= nim.MAX_INTERVAL < 2.0
    assert nim.PROBE_TIMEOUT < nim.MAX_INTERVAL


def test_a_real_child_turns_zombie_then_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    try:
        watch = ProcessWatch(child.pid)
        assert watch.check() == "alive"
        deadline = time.monotonic() + 30
        while watch.check() == "alive":  # not reaped yet: it becomes a zombie
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert watch.check() == "gone"
        with open(f"/proc/{child.pid}/stat") as handle:
            assert parse_stat(handle.read()).state == "Z"
    finally:
        child.wait()
    assert watch.check() == "gone"
