"""engine_builder.procwatch: finding the NIM server's processes in the shared PID namespace and
seeing them go, read from a /proc written by the test.

Grid: /proc/<pid>/stat with a comm holding spaces and ')' ; the builder's own tree ; candidates
(everything else but PID 1, kernel threads ignored, PID 2 in a PID namespace kept) ; a watch
that finds the processes, then sees them go ; a zombie and a reused PID count as gone ; the
log line names a few. A real child turning zombie is in test_nim_backend.py (it starts one).
"""

from __future__ import annotations

import os
from pathlib import Path

from engine_builder.procwatch import (
    ProcessWatch,
    ProcInfo,
    candidates,
    describe,
    own_tree,
    parse_stat,
)


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


def test_own_process_is_never_a_candidate() -> None:
    watch = ProcessWatch(None)
    watch.check()
    assert os.getpid() not in {p.pid for p in watch.watched}
    assert os.getppid() not in {p.pid for p in watch.watched}


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
