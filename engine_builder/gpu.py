"""Which GPUs the build Job has, and what they can run.

Kept apart in one small function (`query_gpus`) so tests replace it, and so CPU-only machines
import the rest. `nvidia-smi` ships with the NVIDIA driver mounts in every GPU container, so it
answers without torch or TensorRT-LLM; parsing its CSV is pure.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from typing import Final

QUERY: Final = ("index", "name", "compute_cap", "pci.device_id")


class GpuError(RuntimeError):
    """No usable answer about the GPUs."""


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str  # e.g. "NVIDIA H100 80GB HBM3"
    capability: tuple[int, int]  # compute capability, e.g. (9, 0)
    pci_device_id: str  # as nvidia-smi prints it, e.g. "0x233010DE"; "" when unknown


def parse_nvidia_smi(text: str) -> list[GpuInfo]:
    """`nvidia-smi --query-gpu=index,name,compute_cap,pci.device_id --format=csv,noheader`."""
    gpus: list[GpuInfo] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        # A name with a comma would shift the columns: index first, the last two fixed.
        index, name, cap, pci = parts[0], ",".join(parts[1:-2]), parts[-2:-1], parts[-1:]
        match = re.fullmatch(r"(\d+)\.(\d+)", cap[0] if cap else "")
        if len(parts) < 4 or not match or not index.isdigit():
            raise GpuError(f"unexpected nvidia-smi line: {line!r}")
        gpus.append(GpuInfo(int(index), name, (int(match[1]), int(match[2])), pci[0]))
    return gpus


def query_gpus() -> list[GpuInfo]:
    """The visible GPUs (honours CUDA_VISIBLE_DEVICES only as far as the runtime hides GPUs)."""
    try:
        done = subprocess.run(
            ["nvidia-smi", f"--query-gpu={','.join(QUERY)}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError:
        raise GpuError("nvidia-smi not found: no NVIDIA GPU driver in this container") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GpuError(f"nvidia-smi failed: {exc}") from exc
    if done.returncode != 0:
        raise GpuError(f"nvidia-smi failed ({done.returncode}): {done.stderr.strip()[:500]}")
    return parse_nvidia_smi(done.stdout)


def gpu_tag(name: str) -> str:
    """Marketing name → manifest `gpu` tag: "NVIDIA H100 80GB HBM3" → "H100"."""
    brands = {"NVIDIA", "TESLA", "GEFORCE", "QUADRO"}
    words = [w for w in name.split() if w.upper() not in brands]
    if not words:
        return "UNKNOWN"
    first = words[0].split("-")[0]
    if first.upper() == "RTX" and len(words) > 1:
        first = f"{first}{words[1].split('-')[0]}"
    return first.upper()


def gpu_device(pci_device_id: str) -> str:
    """nvidia-smi `pci.device_id` "0x233010DE" → manifest `gpu_device` "2330:10de"."""
    match = re.fullmatch(r"(?:0x)?([0-9a-fA-F]{4})([0-9a-fA-F]{4})", pci_device_id.strip())
    return f"{match[1].lower()}:{match[2].lower()}" if match else ""
