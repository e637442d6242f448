"""Is the NIM server still alive? Read from /proc of the pod's shared process namespace.

The NIM server builds the engine in the `nim-build-ctr` sidecar. When it crashes before it is
ready, waiting for the deadline would hold the GPUs for nothing, so the builder watches it: the
pod has `shareProcessNamespace: true`, and the NIM processes are those first seen that are
neither PID 1 (the pause process) nor the builder's own process tree (itself, its children and
its parents). `NIMBUILD_NIM_PID` names one explicitly instead (tests, unusual runtimes).

A process counts as gone when its /proc entry is missing, when it is a zombie (`Z`) or dead
(`X`), or when the PID now belongs to another process (a different start time in
`/proc/<pid>/stat`). The selection of processes from a snapshot is pure; reading /proc is the
small I/O edge.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PROC: Final = Path("/proc")
GONE_STATES: Final = frozenset("ZXx")


@dataclass(frozen=True)
class ProcInfo:
    """The fields of /proc/<pid>/stat we use."""

    pid: int
    comm: str
    state: str
    ppid: int
    start_time: int  # clock ticks after boot; with the pid, identifies one process


def parse_stat(text: str) -> ProcInfo:
    """/proc/<pid>/stat → ProcInfo; `comm` may hold spaces and ')', so split at the last ')'."""
    head, _, rest = text.rpartition(")")
    pid_text, _, comm = head.partition(" (")
    fields = rest.split()
    # fields[0] is field 3 (state); start time is field 22.
    return ProcInfo(
        pid=int(pid_text),
        comm=comm,
        state=fields[0],
        ppid=int(fields[1]),
        start_time=int(fields[19]),
    )


def read_proc(pid: int, proc: Path = PROC) -> ProcInfo | None:
    """One process, or None when it does not exist (any more)."""
    try:
        return parse_stat((proc / str(pid) / "stat").read_text(errors="replace"))
    except (OSError, ValueError, IndexError):
        return None


def snapshot(proc: Path = PROC) -> dict[int, ProcInfo]:
    """Every visible process."""
    found: dict[int, ProcInfo] = {}
    try:
        names = os.listdir(proc)
    except OSError:
        return found
    for name in names:
        if name.isdigit():
            info = read_proc(int(name), proc)
            if info is not None:
                found[info.pid] = info
    return found


def own_tree(processes: Mapping[int, ProcInfo], self_pid: int) -> set[int]:
    """The builder's process, its ancestors and its descendants."""
    tree = {self_pid}
    pid = self_pid
    while pid in processes and processes[pid].ppid not in tree and processes[pid].ppid > 0:
        pid = processes[pid].ppid
        tree.add(pid)
    children: dict[int, list[int]] = {}
    for info in processes.values():
        children.setdefault(info.ppid, []).append(info.pid)
    stack = [self_pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in tree:
                tree.add(child)
                stack.append(child)
    return tree


KTHREADD: Final = "kthreadd"  # parent of every kernel thread (seen in the host's PID space)


def candidates(processes: Mapping[int, ProcInfo], self_pid: int) -> tuple[ProcInfo, ...]:
    """Processes that may be the NIM server: not PID 1, not ours, not a kernel thread, not
    already gone."""
    ours = own_tree(processes, self_pid)
    kernel = {pid for pid, info in processes.items() if info.comm == KTHREADD}
    return tuple(
        info
        for pid, info in sorted(processes.items())
        if pid != 1
        and pid not in ours
        and info.state not in GONE_STATES
        and pid not in kernel
        and info.ppid not in kernel
    )


def is_alive(watched: ProcInfo, current: ProcInfo | None) -> bool:
    """Is `watched` still the same, living process? (`current` is its pid read now.)"""
    return (
        current is not None
        and current.start_time == watched.start_time
        and current.state not in GONE_STATES
    )


def describe(processes: Iterable[ProcInfo], limit: int = 5) -> str:
    """`pid 7 (nim), pid 9 (python3)`, at most `limit` of them, so a log line stays a line."""
    listed = list(processes)
    text = ", ".join(f"pid {p.pid} ({p.comm})" for p in listed[:limit]) or "none"
    return text + (f" (+{len(listed) - limit} more)" if len(listed) > limit else "")


class ProcessWatch:
    """Tracks the NIM server's processes; `check()` says whether any of them still lives.

    Until at least one process has been seen the answer is "unseen" and each check looks
    again; from then on the set is fixed, and "gone" means every one of them has ended.
    """

    def __init__(self, explicit_pid: int | None, proc: Path = PROC, self_pid: int = 0) -> None:
        self.explicit_pid = explicit_pid
        self.proc = proc
        self.self_pid = self_pid or os.getpid()
        self.watched: tuple[ProcInfo, ...] = ()

    def check(self) -> str:
        """ "unseen", "alive" or "gone"."""
        if not self.watched:
            if self.explicit_pid is not None:
                info = read_proc(self.explicit_pid, self.proc)
                if info is None or info.state in GONE_STATES:
                    # "Keep looking" is for finding the server; a process named by pid that
                    # is absent or already ended can only have crashed.
                    gone = ProcInfo(self.explicit_pid, "absent", "X", 0, 0)
                    self.watched = (info or gone,)
                    return "gone"
                found: tuple[ProcInfo, ...] = (info,)
            else:
                found = candidates(snapshot(self.proc), self.self_pid)
            self.watched = found
            return "alive" if found else "unseen"
        if any(is_alive(p, read_proc(p.pid, self.proc)) for p in self.watched):
            return "alive"
        return "gone"
