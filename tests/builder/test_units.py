"""Pure parts of engine_builder: settings, the result file, /proc reading, GPU answers.

Grid: settings defaults / every bad value at once / trtllm needs an input profile / model name
not a path escape / names equal to hooks.vocabulary ; results: success shape, error truncation
under 4096 bytes (ASCII, multi-byte, escapes), lone surrogates, an over-large profile refused ;
/proc: comm with spaces and ')', own tree, candidates, zombie and reused PID count as gone ;
nvidia-smi CSV, gpu tag and device id.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine_builder import gpu, settings
from engine_builder.procwatch import ProcessWatch, ProcInfo, candidates, own_tree, parse_stat
from engine_builder.result import (
    MAX_RESULT_BYTES,
    OutputProfile,
    ResultTooLarge,
    error_result,
    success_result,
    tag_text,
)
from hooks import vocabulary

pytestmark = pytest.mark.slow

# --- settings ---------------------------------------------------------------------------------


def test_defaults() -> None:
    s = settings.parse_settings({"NIMBUILD_MODEL_NAME": "m"})
    assert (s.backend, s.model_store, s.nim_url) == (
        "nim",
        Path("/model-store"),
        settings.DEFAULT_NIM_URL,
    )
    assert (s.result_file, s.timeout_seconds, s.nim_pid) == (
        Path("/dev/termination-log"),
        3600.0,
        None,
    )
    assert (s.tp, s.pp, s.scratch_dir, s.source_dir) == (1, 1, Path("/scratch"), None)


def test_every_bad_setting_is_named_at_once() -> None:
    env = {
        "NIMBUILD_BACKEND": "vllm",
        "NIMBUILD_TIMEOUT_SECONDS": "-1",
        "NIMBUILD_TP": "x",
        "NIMBUILD_NIM_URL": "https://nim:8000",
        "NIMBUILD_NIM_PID": "1",
    }
    with pytest.raises(settings.ConfigError) as caught:
        settings.parse_settings(env)
    message = str(caught.value)
    for name in ("NIMBUILD_MODEL_NAME", "NIMBUILD_BACKEND", "NIMBUILD_TIMEOUT_SECONDS",
                 "NIMBUILD_TP", "NIMBUILD_NIM_URL", "NIMBUILD_NIM_PID"):  # fmt: skip
        assert name in message


def test_trtllm_needs_an_input_profile() -> None:
    with pytest.raises(settings.ConfigError, match="NIMBUILD_INPUT_PROFILE is required"):
        settings.parse_settings({"NIMBUILD_MODEL_NAME": "m", "NIMBUILD_BACKEND": "trtllm"})


@pytest.mark.parametrize("name", ["../etc", "/abs", "a//b", "a/./b"])
def test_model_name_cannot_escape_local_cache(name: str) -> None:
    with pytest.raises(settings.ConfigError, match="relative folder name"):
        settings.parse_settings({"NIMBUILD_MODEL_NAME": name})


def test_env_names_match_the_hook_vocabulary() -> None:
    hook_names = {k: v for k, v in vars(vocabulary).items() if k.startswith("ENV_")}
    assert hook_names, "hooks.vocabulary defines no ENV_* names"
    for key, value in hook_names.items():
        assert getattr(settings, key, None) == value, key
    assert vocabulary.BACKEND_NIM == settings.BACKEND_NIM
    assert vocabulary.BACKEND_TRTLLM == settings.BACKEND_TRTLLM


# --- result file ------------------------------------------------------------------------------

PROFILE = OutputProfile(name="p" * 64, model="m", release="1.0", config={"tp": "1"})


def test_success_shape() -> None:
    body = json.loads(success_result(PROFILE, "/model-store/x", 12.34567))
    assert body == {
        "outputProfile": {"name": "p" * 64, "model": "m", "release": "1.0", "config": {"tp": "1"}},
        "engineDir": "/model-store/x",
        "buildSeconds": 12.346,
    }


@pytest.mark.parametrize("unit", ["x", "é", "漢", '"', "\n", "\u0001"])
def test_long_errors_are_truncated_under_the_limit(unit: str) -> None:
    body = error_result("start " + unit * 10_000)
    assert len(body) <= MAX_RESULT_BYTES
    message = json.loads(body)["error"]
    assert message.startswith("start ")
    assert message.endswith("(truncated)")
    assert len(body) > MAX_RESULT_BYTES - 16  # as much as fits is kept


def test_short_errors_are_kept_whole() -> None:
    assert json.loads(error_result("boom")) == {"error": "boom"}


def test_lone_surrogates_become_readable_text() -> None:
    body = error_result("bad name \udcff here")
    assert json.loads(body.decode("utf-8"))["error"] == "bad name \\udcff here"


def test_a_profile_too_large_is_refused_not_cut() -> None:
    big = OutputProfile("p", "m", "r", {f"key{i}": "v" * 100 for i in range(50)})
    with pytest.raises(ResultTooLarge, match="does not fit"):
        success_result(big, "/x", 1.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        (None, ""),
        (2, "2"),
        (1.5, "1.5"),
        ("s", "s"),
        ([1], "[1]"),
    ],
)
def test_tag_text(value: object, expected: str) -> None:
    assert tag_text(value) == expected


# --- /proc ------------------------------------------------------------------------------------


def stat_line(pid: int, comm: str, state: str, ppid: int, start: int) -> str:
    rest = " ".join(["0"] * 16)
    return (
        f"{pid} ({comm}) {state} {ppid} 0 0 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 {start} {rest}\n"
    )


def test_parse_stat_with_an_awkward_comm() -> None:
    info = parse_stat(stat_line(42, "a) (b c", "S", 7, 123456))
    assert info == ProcInfo(pid=42, comm="a) (b c", state="S", ppid=7, start_time=123456)


def tree() -> dict[int, ProcInfo]:
    rows = [(1, "pause", 0), (7, "nim", 0), (8, "nim-worker", 7), (20, "sh", 0),
            (21, "builder", 20), (22, "helper", 21)]  # fmt: skip
    return {pid: ProcInfo(pid, comm, "S", ppid, pid * 10) for pid, comm, ppid in rows}


def test_own_tree_is_self_ancestors_and_descendants() -> None:
    assert own_tree(tree(), 21) == {20, 21, 22}


def test_candidates_are_everything_else_but_pid_1() -> None:
    assert [p.pid for p in candidates(tree(), 21)] == [7, 8]


def write_proc(root: Path, info: ProcInfo) -> None:
    (root / str(info.pid)).mkdir(parents=True, exist_ok=True)
    (root / str(info.pid) / "stat").write_text(
        stat_line(info.pid, info.comm, info.state, info.ppid, info.start_time)
    )


def test_watch_finds_the_nim_processes_then_sees_them_go(tmp_path: Path) -> None:
    watch = ProcessWatch(None, proc=tmp_path, self_pid=21)
    assert watch.check() == "unseen"  # nothing yet: keep looking
    for info in tree().values():
        write_proc(tmp_path, info)
    assert watch.check() == "alive"
    assert [p.pid for p in watch.watched] == [7, 8]
    (tmp_path / "8" / "stat").unlink()
    assert watch.check() == "alive"  # one of them is enough
    write_proc(tmp_path, ProcInfo(7, "nim", "Z", 0, 70))  # a zombie is gone
    assert watch.check() == "gone"


def test_a_reused_pid_counts_as_gone(tmp_path: Path) -> None:
    write_proc(tmp_path, ProcInfo(7, "nim", "S", 0, 70))
    watch = ProcessWatch(7, proc=tmp_path, self_pid=21)
    assert watch.check() == "alive"
    write_proc(tmp_path, ProcInfo(7, "other", "S", 0, 999))  # same pid, new process
    assert watch.check() == "gone"


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


def test_own_process_is_never_a_candidate() -> None:
    watch = ProcessWatch(None)
    watch.check()
    assert os.getpid() not in {p.pid for p in watch.watched}
    assert os.getppid() not in {p.pid for p in watch.watched}


# --- GPUs -------------------------------------------------------------------------------------


def test_parse_nvidia_smi() -> None:
    text = "0, NVIDIA H100 80GB HBM3, 9.0, 0x233010DE\n1, NVIDIA A100-SXM4-80GB, 8.0, 0x20B210DE\n"
    assert gpu.parse_nvidia_smi(text) == [
        gpu.GpuInfo(0, "NVIDIA H100 80GB HBM3", (9, 0), "0x233010DE"),
        gpu.GpuInfo(1, "NVIDIA A100-SXM4-80GB", (8, 0), "0x20B210DE"),
    ]


def test_parse_nvidia_smi_refuses_garbage() -> None:
    with pytest.raises(gpu.GpuError):
        gpu.parse_nvidia_smi("0, NVIDIA H100, [N/A]\n")


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("NVIDIA L40S", "L40S"),
        ("Tesla T4", "T4"),
        ("NVIDIA RTX 6000 Ada Generation", "RTX6000"),
        ("", "UNKNOWN"),
    ],
)
def test_gpu_tag(name: str, tag: str) -> None:
    assert gpu.gpu_tag(name) == tag


@pytest.mark.parametrize(
    ("pci", "device"), [("0x233010DE", "2330:10de"), ("20B210DE", "20b2:10de"), ("[N/A]", "")]
)
def test_gpu_device(pci: str, device: str) -> None:
    assert gpu.gpu_device(pci) == device
