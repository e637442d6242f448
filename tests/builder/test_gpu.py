"""engine_builder.gpu: what nvidia-smi answers, read into GPU facts (trtllm backend).

Grid: nvidia-smi CSV parsed, garbage refused ; the gpu tag from the product name ; the PCI
device id.
"""

from __future__ import annotations

import pytest

from engine_builder import gpu


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
