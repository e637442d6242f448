"""The only module that touches TensorRT-LLM (and torch), imported lazily.

`tensorrt_llm` is a multi-GB GPU package that exists only in the trtllm builder image, so it is
imported here, on first use, and nowhere else: the rest of engine_builder imports and is
tested on CPU-only machines. We use the low-level route of TensorRT-LLM 1.2 (reference
trtllm-build.md §1.3 b), what `trtllm-build` itself does, because it suits a batch Job: no MPI
session, no executor, one rank after the other:

    cls = tensorrt_llm.models.AutoModelForCausalLM.get_trtllm_model_class(hf_dir)
    model = cls.from_hugging_face(hf_dir, dtype, mapping=tensorrt_llm.Mapping(...))
    engine = tensorrt_llm.build(model, tensorrt_llm.BuildConfig(...))
    engine.save(out_dir)              # rank{N}.engine, and config.json from rank 0

1.3 and later removed engine builds, so any other version is refused with a clear message.
"""

from __future__ import annotations

import gc
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from engine_builder.errors import BuildError
from engine_builder.plan import BuildPlan, RankPlan

SUPPORTED_LINE = "1.2"


def load() -> ModuleType:
    """Import tensorrt_llm, or BuildError saying which image is needed."""
    try:
        module = importlib.import_module("tensorrt_llm")
    except ImportError as exc:
        raise BuildError(
            f"backend trtllm needs TensorRT-LLM {SUPPORTED_LINE}.x, which cannot be imported "
            f"here ({exc}); use the engine-builder trtllm image"
        ) from exc
    found = version(module)
    if not supports(found):
        raise BuildError(
            f"TensorRT-LLM {found} is installed, but engine builds need the {SUPPORTED_LINE}.x "
            "line (later releases removed the TensorRT engine path)"
        )
    return module


def version(module: ModuleType) -> str:
    return str(getattr(module, "__version__", "unknown"))


def supports(found: str) -> bool:
    return found.split(".")[:2] == SUPPORTED_LINE.split(".")


def build_config(trtllm: ModuleType, plan: BuildPlan) -> Any:
    """BuildConfig with explicit limits and the timing cache on scratch (never the CWD)."""
    cache = str(plan.timing_cache)
    return trtllm.BuildConfig(
        max_batch_size=plan.limits.max_batch_size,
        max_input_len=plan.limits.max_input_len,
        max_seq_len=plan.limits.max_seq_len,
        max_num_tokens=plan.limits.max_num_tokens,
        input_timing_cache=cache if plan.timing_cache.exists() else None,
        output_timing_cache=cache,
    )


def build_rank(trtllm: ModuleType, plan: BuildPlan, rank: RankPlan, out_dir: Path) -> None:
    """Build one rank's engine on its GPU and save it into `out_dir`."""
    torch = importlib.import_module("torch")  # a dependency of tensorrt_llm itself
    torch.cuda.set_device(rank.device)
    model_cls = trtllm.models.AutoModelForCausalLM.get_trtllm_model_class(str(plan.source_dir))
    mapping = trtllm.Mapping(
        world_size=plan.world_size, rank=rank.rank, tp_size=plan.tp, pp_size=plan.pp
    )
    model = model_cls.from_hugging_face(str(plan.source_dir), plan.dtype, mapping=mapping)
    engine = trtllm.build(model, build_config(trtllm, plan))
    engine.save(str(out_dir))
    # Free this rank's weights and plan before the next one: host RAM is the tight limit.
    del model, engine
    gc.collect()
    torch.cuda.empty_cache()
