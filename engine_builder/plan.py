"""The trtllm build plan: which ranks on which GPUs, in which dtype, with which limits, where.

Everything the TensorRT-LLM build needs is decided here, before a GPU is touched, from the
settings, the HF `config.json` of the input snapshot and the GPUs the Job has. It is pure, so
every decision is unit-tested without TensorRT-LLM, and a plan that cannot work (a precision
the GPU cannot run, tp not dividing the heads) is refused before minutes of GPU time are spent.

Ranks are built one after the other, rank r on GPU r mod (GPUs visible), the way trtllm-build
does with one worker (reference trtllm-build.md §1.2), so a tp=4 engine can be built on fewer
GPUs than it needs to run. Limits are always explicit: TensorRT-LLM's defaults (batch 2048,
sequence length from max_position_embeddings, e.g. 131072) inflate build memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from engine_builder.gpu import GpuInfo
from engine_builder.manifest import ENGINE_FOLDER, MANIFEST_PATH

# Precision tag → TensorRT-LLM dtype, for the precisions this builder builds.
DTYPES: Final = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
# Lowest compute capability that runs a precision (reference trtllm-build.md §5.2).
MIN_CAPABILITY: Final = {
    "fp32": (7, 0),
    "fp16": (7, 0),
    "bf16": (8, 0),
    "fp8": (8, 9),
    "nvfp4": (10, 0),
}
# HF config.json dtype → precision tag, when the profile names none.
HF_DTYPES: Final = {"float16": "fp16", "bfloat16": "bf16", "float32": "fp16"}


class PlanError(ValueError):
    """The build cannot work as asked; the message says why and what to change."""


@dataclass(frozen=True)
class RankPlan:
    rank: int
    device: int  # CUDA device index the rank is built on


@dataclass(frozen=True)
class Limits:
    max_batch_size: int
    max_input_len: int
    max_seq_len: int
    max_num_tokens: int


@dataclass(frozen=True)
class BuildPlan:
    model_name: str
    input_profile: str
    architecture: str
    source_dir: Path  # HF snapshot
    precision: str  # manifest tag, e.g. "bf16"
    dtype: str  # TensorRT-LLM dtype, e.g. "bfloat16"
    tp: int
    pp: int
    ranks: tuple[RankPlan, ...]
    limits: Limits
    engine_dir: Path  # final: local_cache/<model>/trtllm_engine
    staging_dir: Path  # built here, then renamed onto engine_dir (same volume)
    manifest_path: Path
    scratch_dir: Path  # TMPDIR
    timing_cache: Path
    notes: tuple[str, ...]  # adjustments made, for the logs

    @property
    def world_size(self) -> int:
        return self.tp * self.pp


def required_capability(precision: str) -> tuple[int, int]:
    if precision not in MIN_CAPABILITY:
        known = ", ".join(sorted(MIN_CAPABILITY))
        raise PlanError(f"unknown precision {precision!r} (known: {known})")
    return MIN_CAPABILITY[precision]


def check_gpus(precision: str, gpus: Sequence[GpuInfo]) -> None:
    """Refuse when there is no GPU or one cannot run `precision`."""
    if not gpus:
        raise PlanError("no GPU is visible to the build container")
    need = required_capability(precision)
    weak = [g for g in gpus if g.capability < need]
    if weak:
        names = ", ".join(
            f"GPU {g.index} {g.name} (sm {g.capability[0]}.{g.capability[1]})" for g in weak
        )
        raise PlanError(
            f"precision {precision} needs compute capability >= {need[0]}.{need[1]}; "
            f"{names} cannot run it: use a profile for another precision or other GPUs"
        )


def choose_precision(requested: str, hf_config: Mapping[str, Any]) -> str:
    """The profile's precision tag, or the snapshot's own dtype when the tag is missing."""
    if requested:
        return requested
    hf_dtype = str(hf_config.get("torch_dtype") or hf_config.get("dtype") or "float16")
    return HF_DTYPES.get(hf_dtype, "fp16")


def make_plan(
    *,
    model_store: Path,
    model_name: str,
    input_profile: str,
    source_dir: Path,
    hf_config: Mapping[str, Any],
    tp: int,
    pp: int,
    precision: str,
    max_batch_size: int,
    max_seq_len: int,
    max_num_tokens: int,
    scratch_dir: Path,
    gpus: Sequence[GpuInfo],
) -> BuildPlan:
    """Settings + HF config + GPUs → BuildPlan, or PlanError explaining the refusal."""
    precision = choose_precision(precision, hf_config)
    check_gpus(precision, gpus)  # first: the clearest reason to refuse
    if precision not in DTYPES:
        raise PlanError(
            f"precision {precision} is not built by this builder (it needs calibration or a "
            f"pre-quantized checkpoint); it builds {', '.join(DTYPES)}"
        )
    architectures = hf_config.get("architectures")
    if not isinstance(architectures, list) or not architectures:
        raise PlanError(f"{source_dir}/config.json names no `architectures`")
    heads = _positive(hf_config, "num_attention_heads")
    layers = _positive(hf_config, "num_hidden_layers")
    if heads is not None and heads % tp:
        raise PlanError(f"tp={tp} does not divide the model's {heads} attention heads")
    if layers is not None and pp > layers:
        raise PlanError(f"pp={pp} is more than the model's {layers} layers")

    notes: list[str] = []
    positions = _positive(hf_config, "max_position_embeddings")
    seq_len = max_seq_len
    if positions is not None and seq_len > positions:
        notes.append(f"max_seq_len {seq_len} capped at max_position_embeddings {positions}")
        seq_len = positions
    num_tokens = max_num_tokens
    if num_tokens > max_batch_size * seq_len:
        notes.append(
            f"max_num_tokens {num_tokens} capped at max_batch_size x max_seq_len "
            f"{max_batch_size * seq_len}"
        )
        num_tokens = max_batch_size * seq_len

    workspace = model_store / "local_cache" / model_name
    world = tp * pp
    return BuildPlan(
        model_name=model_name,
        input_profile=input_profile,
        architecture=str(architectures[0]),
        source_dir=source_dir,
        precision=precision,
        dtype=DTYPES[precision],
        tp=tp,
        pp=pp,
        ranks=tuple(RankPlan(rank, rank % len(gpus)) for rank in range(world)),
        limits=Limits(
            max_batch_size=max_batch_size,
            max_input_len=seq_len,
            max_seq_len=seq_len,
            max_num_tokens=num_tokens,
        ),
        engine_dir=workspace / ENGINE_FOLDER,
        staging_dir=workspace / f".{ENGINE_FOLDER}.partial",
        manifest_path=model_store / MANIFEST_PATH,
        scratch_dir=scratch_dir,
        timing_cache=scratch_dir / "timing.cache",
        notes=tuple(notes),
    )


def _positive(config: Mapping[str, Any], key: str) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PlanError(f"HF config {key}={value!r} is not a positive integer")
    return value


def profile_tags(plan: BuildPlan, gpu_tag: str, gpu_device: str) -> dict[str, str]:
    """Manifest tags of the built profile, spelled as NIM's own (strings only)."""
    tags = {
        "llm_engine": "tensorrt_llm",
        "precision": plan.precision,
        "tp": str(plan.tp),
        "pp": str(plan.pp),
        "gpu": gpu_tag,
        "model_name": plan.model_name,
        "input_profile": plan.input_profile,
    }
    if gpu_device:
        tags["gpu_device"] = gpu_device
    return tags


def profile_id(tags: Mapping[str, str], files: Mapping[str, Mapping[str, object]]) -> str:
    """Our own deterministic profile id: sha256 of canonical JSON of tags and file digests.

    NIM's ids are 64 hex characters from an undocumented hash; ours have the same shape but
    do not claim to be NIM's (reference trtllm-build.md §2.4).
    """
    canonical = json.dumps(
        {"tags": dict(tags), "files": {k: dict(v) for k, v in files.items()}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
