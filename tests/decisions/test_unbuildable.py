"""hooks.unbuildable: what a non-buildable profile is, read from its name and tags alone.

Grid: trtllm_buildable "true" → buildable (whatever else it says) ; llm_engine / backend tag
vllm or sglang (any case) → other backend ; no tag but a NIM LLM 2.x name → other backend ;
tensorrt_llm with gpu or gpu_device → prebuilt ; tensorrt_llm without a GPU (a PyTorch
runtime profile), no tags, a 1.x-style tensorrt_llm name → not buildable. Whole messages are
checked by the sync fixtures (tests/decisions/test_decision_table.py).
"""

from __future__ import annotations

import pytest

from hooks.observed import NIMProfile
from hooks.unbuildable import describe, kind


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        pytest.param("a", {"trtllm_buildable": "true", "llm_engine": "vllm"}, "buildable", id="b"),
        pytest.param("a", {"llm_engine": "vllm"}, "other-backend", id="llm-engine-vllm"),
        pytest.param("a", {"backend": "SGLang"}, "other-backend", id="backend-sglang-any-case"),
        pytest.param("vllm-bf16-tp1-pp1", {}, "other-backend", id="2x-name"),
        pytest.param("sglang-nvfp4-tp8-pp1-lora", {}, "other-backend", id="2x-name-lora"),
        pytest.param("a", {"llm_engine": "tensorrt_llm", "gpu": "H100"}, "prebuilt", id="gpu"),
        pytest.param("a", {"backend": "tensorrt", "gpu_device": "26b5:10de"}, "prebuilt", id="dev"),
        pytest.param("a", {"llm_engine": "tensorrt_llm"}, "not-buildable", id="pytorch-runtime"),
        pytest.param("a", {}, "not-buildable", id="no-tags"),
        pytest.param(
            "tensorrt_llm-h100-fp8-tp1-pp1-throughput", {}, "not-buildable", id="1x-name-no-tags"
        ),
    ],
)
def test_kind(name: str, config: dict[str, str], expected: str) -> None:
    assert kind(NIMProfile(name=name, config=config)) == expected


def test_describe_names_the_backend_gpu_and_lora() -> None:
    lora = NIMProfile(name="p", config={"llm_engine": "vllm", "feat_lora": "true"})
    assert describe(lora) == "p (vLLM, LoRA)"
    prebuilt = NIMProfile(name="q", config={"llm_engine": "tensorrt_llm", "gpu": "L40S"})
    assert describe(prebuilt) == "q (TensorRT-LLM engine for L40S)"
