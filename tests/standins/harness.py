"""Run the REAL engine_builder (`python -m engine_builder`) the way the Job does: env in, file out.

Not a stand-in: the one helper every engine_builder test uses to start the builder with a
hermetic environment (only what the test passes, plus what Python needs) and read back its
exit code, logs and result file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    result_text: str | None

    @property
    def result(self) -> dict[str, Any]:
        assert self.result_text is not None, f"no result file; stderr:\n{self.stderr}"
        value = json.loads(self.result_text)
        assert isinstance(value, dict)
        return value


def base_env() -> dict[str, str]:
    """A clean env: no NIMBUILD_* or other settings leak in from the test runner."""
    keep = {k: os.environ[k] for k in ("HOME", "LANG", "LC_ALL", "SYSTEMROOT") if k in os.environ}
    keep["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    keep["PYTHONDONTWRITEBYTECODE"] = "1"
    return keep


def builder_command() -> list[str]:
    return [sys.executable, "-m", "engine_builder"]


def start_builder(env: Mapping[str, str], cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        builder_command(),
        env={**base_env(), **env},
        cwd=cwd or REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(
    process: subprocess.Popen[str], result_file: Path | None, timeout: float = 60
) -> Outcome:
    stdout, stderr = process.communicate(timeout=timeout)
    text = result_file.read_text() if result_file and result_file.exists() else None
    return Outcome(process.returncode, stdout, stderr, text)


def run_builder(env: Mapping[str, str], timeout: float = 60, cwd: Path | None = None) -> Outcome:
    result = env.get("NIMBUILD_RESULT_FILE")
    return finish(start_builder(env, cwd), Path(result) if result else None, timeout)
