"""A tiny random Llama in Hugging Face layout, for smoke-testing real engine builds.

The shape is the one NVIDIA's own TensorRT-LLM unit test builds (2 layers, hidden 64, 2 heads
of 32, intermediate 192, vocab 128; reference trtllm-build.md §4): small enough to build in
seconds, real enough to exercise the whole trtllm backend. It lives in the package, not in
tests/, because `scripts/gpu-smoke` runs it inside the builder image, where tests/ is not
shipped. Only the standard library: safetensors is a JSON header plus raw little-endian
tensors, and random fp16 values are packed with `struct`, so no download, numpy or torch.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path
from typing import Any, Final

LAYERS: Final = 2
HIDDEN: Final = 64
HEADS: Final = 2
INTERMEDIATE: Final = 192
VOCAB: Final = 128
POSITIONS: Final = 64


def hf_config() -> dict[str, Any]:
    """config.json; both `torch_dtype` and `dtype`, for transformers 4.x and 5.x readers."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS,
        "head_dim": HIDDEN // HEADS,
        "vocab_size": VOCAB,
        "max_position_embeddings": POSITIONS,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float16",
        "dtype": "float16",
    }


def tensor_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (VOCAB, HIDDEN)}
    for i in range(LAYERS):
        prefix = f"model.layers.{i}"
        for proj in ("q", "k", "v", "o"):
            shapes[f"{prefix}.self_attn.{proj}_proj.weight"] = (HIDDEN, HIDDEN)
        shapes[f"{prefix}.mlp.gate_proj.weight"] = (INTERMEDIATE, HIDDEN)
        shapes[f"{prefix}.mlp.up_proj.weight"] = (INTERMEDIATE, HIDDEN)
        shapes[f"{prefix}.mlp.down_proj.weight"] = (HIDDEN, INTERMEDIATE)
        shapes[f"{prefix}.input_layernorm.weight"] = (HIDDEN,)
        shapes[f"{prefix}.post_attention_layernorm.weight"] = (HIDDEN,)
    shapes["model.norm.weight"] = (HIDDEN,)
    shapes["lm_head.weight"] = (VOCAB, HIDDEN)
    return shapes


def safetensors_bytes(seed: int = 0) -> bytes:
    """A valid .safetensors file of fp16 tensors: norms 1.0, the rest N(0, 0.02)."""
    rng = random.Random(seed)
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    chunks: list[bytes] = []
    offset = 0
    for name, shape in tensor_shapes().items():
        count = 1
        for dim in shape:
            count *= dim
        if name.endswith("norm.weight"):
            values = [1.0] * count
        else:
            values = [rng.gauss(0.0, 0.02) for _ in range(count)]
        data = struct.pack(f"<{count}e", *values)
        header[name] = {
            "dtype": "F16",
            "shape": list(shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)  # align the data to 8 bytes
    return struct.pack("<Q", len(head)) + head + b"".join(chunks)


def write_tiny_llama(folder: Path, seed: int = 0) -> Path:
    """Write config.json, generation_config.json and model.safetensors into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(hf_config(), indent=2), encoding="utf-8")
    (folder / "generation_config.json").write_text(
        json.dumps({"bos_token_id": 1, "eos_token_id": 2}), encoding="utf-8"
    )
    (folder / "model.safetensors").write_bytes(safetensors_bytes(seed))
    return folder
