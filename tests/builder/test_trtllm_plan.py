"""engine_builder.plan: the trtllm backend's build plan, a pure function of the profile, the HF
config and the GPUs (DESIGN §6).

Grid: tp x pp → ranks and GPUs (rank r on GPU r mod n) ; precision tag or the HF dtype ;
limits explicit and capped by the model ; paths on the model store and scratch ; refusals:
precision the GPU cannot run (fp8 < 8.9, bf16 < 8.0), a precision not built here, no GPU,
tp not dividing the heads, pp beyond the layers ; the profile id bound to the content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine_builder import tiny_llama
from engine_builder.gpu import GpuInfo
from engine_builder.plan import PlanError, make_plan, profile_id

H100 = GpuInfo(0, "NVIDIA H100 80GB HBM3", (9, 0), "0x233010DE")
A100 = GpuInfo(0, "NVIDIA A100-SXM4-80GB", (8, 0), "0x20B210DE")
T4 = GpuInfo(0, "Tesla T4", (7, 5), "0x1EB810DE")
MODEL = "tiny-custom"
INPUT = "f" * 64


def plan_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "model_store": Path("/model-store"),
        "model_name": MODEL,
        "input_profile": INPUT,
        "source_dir": Path("/model-store/ngc/hub/m/snapshots/r"),
        "hf_config": tiny_llama.hf_config(),
        "tp": 1,
        "pp": 1,
        "precision": "",
        "max_batch_size": 8,
        "max_seq_len": 32,
        "max_num_tokens": 128,
        "scratch_dir": Path("/scratch"),
        "gpus": [H100],
    }
    return {**args, **overrides}


@pytest.mark.parametrize(
    ("tp", "pp", "gpu_count", "devices"),
    [
        pytest.param(1, 1, 1, [0], id="tp1-1gpu"),
        pytest.param(2, 1, 2, [0, 1], id="tp2-2gpu"),
        pytest.param(2, 1, 1, [0, 0], id="tp2-1gpu"),
        pytest.param(2, 2, 2, [0, 1, 0, 1], id="tp2pp2-2gpu"),
        pytest.param(1, 2, 4, [0, 1], id="pp2-4gpu"),
    ],
)
def test_ranks_go_round_robin_over_the_gpus(
    tp: int, pp: int, gpu_count: int, devices: list[int]
) -> None:
    gpus = [GpuInfo(i, H100.name, (9, 0), "") for i in range(gpu_count)]
    plan = make_plan(**plan_args(tp=tp, pp=pp, gpus=gpus))
    assert plan.world_size == tp * pp
    assert [r.rank for r in plan.ranks] == list(range(tp * pp))
    assert [r.device for r in plan.ranks] == devices


@pytest.mark.parametrize(
    ("precision", "hf_dtype", "tag", "dtype"),
    [
        ("bf16", "float16", "bf16", "bfloat16"),
        ("fp16", "bfloat16", "fp16", "float16"),
        ("", "bfloat16", "bf16", "bfloat16"),
        ("", "float32", "fp16", "float16"),
        ("fp32", "float16", "fp32", "float32"),
    ],
)
def test_precision_from_the_profile_or_the_snapshot(
    precision: str, hf_dtype: str, tag: str, dtype: str
) -> None:
    config = {**tiny_llama.hf_config(), "torch_dtype": hf_dtype, "dtype": hf_dtype}
    plan = make_plan(**plan_args(precision=precision, hf_config=config))
    assert (plan.precision, plan.dtype) == (tag, dtype)


def test_limits_are_explicit_and_capped_by_the_model() -> None:
    plan = make_plan(**plan_args(max_batch_size=2, max_seq_len=4096, max_num_tokens=8192))
    assert plan.limits.max_seq_len == tiny_llama.POSITIONS  # 64
    assert plan.limits.max_input_len == tiny_llama.POSITIONS
    assert plan.limits.max_num_tokens == 2 * tiny_llama.POSITIONS
    assert len(plan.notes) == 2 and "capped" in plan.notes[0]
    kept = make_plan(**plan_args(max_batch_size=8, max_seq_len=32, max_num_tokens=128))
    assert (kept.limits.max_seq_len, kept.limits.max_num_tokens, kept.notes) == (32, 128, ())


def test_paths_are_on_the_model_store_and_scratch() -> None:
    plan = make_plan(**plan_args())
    assert plan.engine_dir == Path(f"/model-store/local_cache/{MODEL}/trtllm_engine")
    assert plan.staging_dir.parent == plan.engine_dir.parent  # same volume: rename is atomic
    assert plan.staging_dir != plan.engine_dir
    assert plan.manifest_path == Path("/model-store/local_cache/local_manifest.yaml")
    assert plan.timing_cache == Path("/scratch/timing.cache")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"precision": "fp8", "gpus": [A100]},
            "fp8 needs compute capability >= 8.9",
            id="fp8-a100",
        ),
        pytest.param(
            {"precision": "bf16", "gpus": [T4]},
            "bf16 needs compute capability >= 8.0",
            id="bf16-t4",
        ),
        pytest.param(
            {"precision": "bf16", "gpus": [H100, T4]}, "Tesla T4 .sm 7.5", id="one-weak-gpu"
        ),
        pytest.param(
            {"precision": "fp8", "gpus": [H100]}, "fp8 is not built by this builder", id="fp8-h100"
        ),
        pytest.param({"precision": "int3"}, "unknown precision 'int3'", id="unknown"),
        pytest.param({"gpus": []}, "no GPU is visible", id="no-gpu"),
        pytest.param(
            {"tp": 4}, "tp=4 does not divide the model's 2 attention heads", id="tp-heads"
        ),
        pytest.param({"pp": 3}, "pp=3 is more than the model's 2 layers", id="pp-layers"),
        pytest.param({"hf_config": {"num_attention_heads": 2}}, "no `architectures`", id="no-arch"),
    ],
)
def test_refusals(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        make_plan(**plan_args(**overrides))


def test_profile_id_is_deterministic_and_content_bound() -> None:
    files = {"rank0.engine": {"size": 3, "sha256": "a"}}
    tags = {"model_name": MODEL, "tp": "1"}
    first = profile_id(tags, files)
    assert first == profile_id(dict(reversed(list(tags.items()))), files)
    assert len(first) == 64 and int(first, 16) >= 0
    assert first != profile_id(tags, {"rank0.engine": {"size": 3, "sha256": "b"}})
    assert first != profile_id({**tags, "tp": "2"}, files)
