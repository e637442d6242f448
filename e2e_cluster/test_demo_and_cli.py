"""`make demo`'s non-interactive part, and the one-line message for a missing binary."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_missing_binaries_are_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "e2e_cluster.binaries"],
        cwd=REPO,
        env={**os.environ, "E2E_BIN_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert "E2E_BIN_DIR" in line and str(tmp_path) in line


def running_under(directory: Path) -> list[str]:
    """Command lines of live processes that mention `directory`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(directory) in cmdline:
            found.append(cmdline)
    return found


def test_demo_until_ready_then_ctrl_c_stops_everything(tmp_path: Path) -> None:
    """`make demo` as a person uses it: lines until Ready, KUBECONFIG, then Ctrl-C."""
    workdir = tmp_path / "demo"
    demo = subprocess.Popen(
        [sys.executable, "-m", "e2e_cluster.demo", "--timeout", "120", "--workdir", str(workdir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("running until Ctrl-C") or line.startswith("not Ready"):
                break
        assert lines and lines[-1].startswith("running until Ctrl-C"), "\n".join(lines)
        assert running_under(workdir), "the cluster is still up while the demo waits"
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
        lines += rest.splitlines()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        if demo.stdout is not None:
            demo.stdout.close()
    assert demo.returncode == 0, "\n".join(lines)
    changes = [
        ln for ln in lines if re.match(r"^\[\s*\d+\.\ds\] meta-llama3-8b-instruct-auto: ", ln)
    ]
    assert changes, "\n".join(lines)
    assert changes[-1].split()[3:5] == ["Ready", "EngineBuilt"]
    assert len(changes) == len({ln.split("] ", 1)[1] for ln in changes}), "one line per change"
    assert f"export KUBECONFIG={workdir / 'admin.kubeconfig'}" in lines
    assert "stopping" in lines
    assert running_under(workdir) == [], "everything stopped"
