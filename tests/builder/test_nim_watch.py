"""Faults a review found in the `nim` backend, each pinned by a test of the REAL program:
a server that answers one byte at a time cannot hold the builder past its timeout, a named
NIM pid that does not exist is a crash (not a wait), and automatic detection ignores kernel
threads and keeps its log line short."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from standins import harness

from engine_builder import nim
from engine_builder.procwatch import ProcInfo, candidates, describe

pytestmark = pytest.mark.slow


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
    return {
        "NIMBUILD_MODEL_STORE": str(store),
        "NIMBUILD_MODEL_NAME": "m",
        "NIMBUILD_INPUT_PROFILE": "p",
        "NIMBUILD_NIM_URL": url,
        "NIMBUILD_RESULT_FILE": str(tmp_path / "result.json"),
        **extra,
    }


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


def test_automatic_detection_ignores_kernel_threads_and_names_few() -> None:
    table = {
        1: ProcInfo(1, "pause", "S", 0, 1),
        2: ProcInfo(2, "kthreadd", "S", 0, 1),
        3: ProcInfo(3, "kworker/0:0", "I", 2, 1),
        40: ProcInfo(40, "nim_server", "S", 1, 9),
        41: ProcInfo(41, "python3", "S", 40, 9),
        50: ProcInfo(50, "python3", "R", 1, 10),  # the builder
    }
    found = candidates(table, self_pid=50)
    assert [p.pid for p in found] == [40, 41]
    many = [ProcInfo(100 + i, "w", "S", 1, 1) for i in range(12)]
    assert describe(many).endswith("(+7 more)")
    assert describe(many).count("pid ") == 5


def test_in_a_pid_namespace_pid_2_is_not_taken_for_a_kernel_thread() -> None:
    table = {
        1: ProcInfo(1, "sh", "S", 0, 1),
        2: ProcInfo(2, "python3", "S", 1, 2),  # the NIM server, first after PID 1
        3: ProcInfo(3, "python3", "R", 1, 3),  # the builder
    }
    assert [p.pid for p in candidates(table, self_pid=3)] == [2]
