"""Fakes on PATH / PYTHONPATH, so the REAL `python -m engine_builder` can run without a GPU.

* `nvidia-smi`: a script printing the CSV the builder asks for (`index, name, compute_cap,
  pci.device_id`), for the GPUs a test wants to pretend to have.
* `tensorrt_llm.py`: a shim that, when imported, swaps itself for `tensorrt_llm_standin`.

`environment()` returns the env additions for a subprocess.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent

H100 = "0, NVIDIA H100 80GB HBM3, 9.0, 0x233010DE"
A100 = "0, NVIDIA A100-SXM4-80GB, 8.0, 0x20B210DE"
T4 = "0, Tesla T4, 7.5, 0x1EB810DE"


def write_nvidia_smi(folder: Path, lines: Sequence[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    quoted = " ".join("'" + line.replace("'", "") + "'" for line in lines)
    # printf is a shell builtin: the script works with PATH holding only this folder.
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' {quoted}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def write_trtllm_shim(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "tensorrt_llm.py"
    shim.write_text(
        '"""Shim: importing tensorrt_llm gives the test stand-in."""\n'
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS_DIR)!r})\n"
        "from standins import tensorrt_llm_standin as _standin\n"
        "sys.modules[__name__] = _standin.install()\n"
    )
    return shim


def environment(
    root: Path, gpus: Sequence[str] | None = (H100,), trtllm: bool = True
) -> dict[str, str]:
    """Env additions: PATH with the fake nvidia-smi (None: no nvidia-smi at all), PYTHONPATH."""
    env: dict[str, str] = {}
    bin_dir = root / "fake-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    if gpus is not None:
        write_nvidia_smi(bin_dir, gpus)
    # Only the fake bin: a real nvidia-smi must not leak in (python is run by absolute path).
    env["PATH"] = str(bin_dir)
    if trtllm:
        shim_dir = root / "shim"
        write_trtllm_shim(shim_dir)
        env["PYTHONPATH"] = str(shim_dir)
    return env
