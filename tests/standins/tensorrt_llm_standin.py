"""TensorRT-LLM 1.2 STAND-IN for tests: the build API's shape, none of its GPU work.

engine_builder.trtllm_api uses the low-level route of TensorRT-LLM 1.2:
`models.AutoModelForCausalLM.get_trtllm_model_class(hf_dir)`, `cls.from_hugging_face(hf_dir,
dtype, mapping=Mapping(world_size, rank, tp_size, pp_size))`, `build(model, BuildConfig(...))`
and `engine.save(dir)`, plus `torch.cuda.set_device`. This module offers exactly those names
with the 1.2 signatures (keyword names included; BuildConfig rejects unknown fields like the
real dataclass), writes files shaped like a real engine folder (config.json from rank 0,
rank<N>.engine per rank, the timing cache where it is told) and records every call, so tests
can check what the builder asked for.

`install()` puts it in sys.modules as `tensorrt_llm` (and a torch.cuda stand-in as `torch` when
no torch is installed). Env switches: TRTLLM_STANDIN_LOG (append calls as JSON lines there),
TRTLLM_STANDIN_FAIL_RANK (raise in `build` for that rank, like a GPU out-of-memory).
The torch stand-in records `torch.cuda.set_device` calls.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

__version__ = "1.2.1+standin"

CALLS: list[dict[str, Any]] = []


def _record(call: str, **args: Any) -> None:
    entry = {"call": call, **args}
    CALLS.append(entry)
    log = os.environ.get("TRTLLM_STANDIN_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")


class Mapping:
    def __init__(
        self,
        world_size: int = 1,
        rank: int = 0,
        gpus_per_node: int = 8,
        *,
        tp_size: int = 1,
        pp_size: int = 1,
        **_: Any,
    ) -> None:
        if tp_size * pp_size != world_size:
            raise ValueError(f"world_size {world_size} != tp_size {tp_size} * pp_size {pp_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")
        self.world_size, self.rank, self.tp_size, self.pp_size = world_size, rank, tp_size, pp_size

    def to_dict(self) -> dict[str, int]:
        return {
            "world_size": self.world_size,
            "rank": self.rank,
            "tp_size": self.tp_size,
            "pp_size": self.pp_size,
        }


@dataclasses.dataclass
class BuildConfig:
    """The 1.2 BuildConfig fields engine_builder may set, with 1.2's defaults."""

    max_input_len: int = 1024
    max_seq_len: int | None = None
    opt_batch_size: int = 8
    max_batch_size: int = 2048
    max_beam_width: int = 1
    max_num_tokens: int = 8192
    opt_num_tokens: int | None = None
    input_timing_cache: str | None = None
    output_timing_cache: str = "model.cache"
    strongly_typed: bool = True


class _Model:
    def __init__(self, architecture: str, hf_dir: str, dtype: str, mapping: Mapping) -> None:
        self.architecture, self.hf_dir, self.dtype, self.mapping = (
            architecture,
            hf_dir,
            dtype,
            mapping,
        )


class LLaMAForCausalLM:
    architecture = "LlamaForCausalLM"

    @classmethod
    def from_hugging_face(
        cls,
        hf_model_or_dir: str,
        dtype: str = "auto",
        mapping: Mapping | None = None,
        quant_config: Any = None,
        **kwargs: Any,
    ) -> _Model:
        folder = Path(hf_model_or_dir)
        if not list(folder.glob("*.safetensors")):
            raise FileNotFoundError(f"no safetensors in {folder}")
        if dtype not in ("auto", "float16", "bfloat16", "float32"):
            raise ValueError(f"unsupported dtype {dtype}")
        mapping = mapping or Mapping()
        _record("from_hugging_face", hf_dir=str(folder), dtype=dtype, mapping=mapping.to_dict())
        return _Model(cls.architecture, str(folder), dtype, mapping)


class AutoModelForCausalLM:
    @staticmethod
    def get_trtllm_model_class(
        hf_model_or_dir: str | Path, trust_remote_code: bool = False, decoding_mode: Any = None
    ) -> type[LLaMAForCausalLM]:
        config = json.loads((Path(hf_model_or_dir) / "config.json").read_text())
        architecture = config["architectures"][0]
        _record("get_trtllm_model_class", hf_dir=str(hf_model_or_dir), architecture=architecture)
        if architecture != "LlamaForCausalLM":
            raise NotImplementedError(f"the stand-in knows only LlamaForCausalLM: {architecture}")
        return LLaMAForCausalLM


class Engine:
    def __init__(self, model: _Model, build_config: BuildConfig) -> None:
        self.model, self.build_config = model, build_config

    def save(self, engine_dir: str) -> None:
        os.makedirs(engine_dir, exist_ok=True)
        rank = self.model.mapping.rank
        if rank == 0:
            config = {
                "version": __version__,
                "pretrained_config": {
                    "architecture": self.model.architecture,
                    "dtype": self.model.dtype,
                    "mapping": self.model.mapping.to_dict(),
                },
                "build_config": dataclasses.asdict(self.build_config),
            }
            Path(engine_dir, "config.json").write_text(json.dumps(config, indent=4))
        Path(engine_dir, f"rank{rank}.engine").write_bytes(f"standin plan rank {rank}\n".encode())
        _record("save", engine_dir=engine_dir, rank=rank)


def build(model: _Model, build_config: BuildConfig) -> Engine:
    if not isinstance(build_config, BuildConfig):
        raise TypeError("build_config must be a BuildConfig")
    _record(
        "build",
        rank=model.mapping.rank,
        build_config=dataclasses.asdict(build_config),
        tmpdir=os.environ.get("TMPDIR"),
    )
    if os.environ.get("TRTLLM_STANDIN_FAIL_RANK") == str(model.mapping.rank):
        raise RuntimeError("[TensorRT-LLM stand-in] Error Code 2: OutOfMemory")
    Path(build_config.output_timing_cache).write_bytes(b"standin timing cache")
    return Engine(model, build_config)


models = types.ModuleType("tensorrt_llm.models")
models.AutoModelForCausalLM = AutoModelForCausalLM  # type: ignore[attr-defined]
models.LLaMAForCausalLM = LLaMAForCausalLM  # type: ignore[attr-defined]


def _torch_standin() -> types.ModuleType:
    torch = types.ModuleType("torch")
    cuda = types.ModuleType("torch.cuda")
    cuda.set_device = lambda device: _record("torch.cuda.set_device", device=device)  # type: ignore[attr-defined]
    cuda.empty_cache = lambda: None  # type: ignore[attr-defined]
    torch.cuda = cuda  # type: ignore[attr-defined]
    torch.__standin__ = True  # type: ignore[attr-defined]
    return torch


def install() -> types.ModuleType:
    """Register as `tensorrt_llm` (+ `tensorrt_llm.models`) and the torch.cuda stand-in as `torch`.

    The torch stand-in replaces any real torch in this process on purpose: tests must not
    touch a real GPU through it.
    """
    module = sys.modules[__name__]
    sys.modules["tensorrt_llm"] = module
    sys.modules["tensorrt_llm.models"] = models
    stand_in = _torch_standin()
    sys.modules["torch"] = stand_in
    sys.modules["torch.cuda"] = stand_in.cuda  # type: ignore[attr-defined]
    return module
