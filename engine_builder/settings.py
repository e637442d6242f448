"""What the builder is told: the NIMBUILD_* env contract, parsed once into frozen settings.

The hook and the builder meet only through the build Job's container env and the result file
(DESIGN §6). The names below are the same strings as `hooks.vocabulary.ENV_*`; they are
repeated here on purpose, because an import-linter contract keeps `hooks` and
`engine_builder` apart (the builder image does not ship the hook). A test checks that both
sides spell them the same.

Parsing is a pure function of a mapping, so tests need no process environment, and every
problem is reported at once (a person fixing a NIMBuild sees all bad settings, not the first).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ENV_BACKEND: Final = "NIMBUILD_BACKEND"
ENV_MODEL_STORE: Final = "NIMBUILD_MODEL_STORE"
ENV_MODEL_NAME: Final = "NIMBUILD_MODEL_NAME"
ENV_INPUT_PROFILE: Final = "NIMBUILD_INPUT_PROFILE"
ENV_NIM_URL: Final = "NIMBUILD_NIM_URL"
ENV_TIMEOUT: Final = "NIMBUILD_TIMEOUT_SECONDS"
ENV_RESULT_FILE: Final = "NIMBUILD_RESULT_FILE"
ENV_NIM_PID: Final = "NIMBUILD_NIM_PID"
ENV_TP: Final = "NIMBUILD_TP"
ENV_PP: Final = "NIMBUILD_PP"
ENV_PRECISION: Final = "NIMBUILD_PRECISION"
ENV_MAX_BATCH_SIZE: Final = "NIMBUILD_MAX_BATCH_SIZE"
ENV_MAX_SEQ_LEN: Final = "NIMBUILD_MAX_SEQ_LEN"
ENV_MAX_NUM_TOKENS: Final = "NIMBUILD_MAX_NUM_TOKENS"
ENV_SCRATCH_DIR: Final = "NIMBUILD_SCRATCH_DIR"
ENV_SOURCE_DIR: Final = "NIMBUILD_SOURCE_DIR"

BACKEND_NIM: Final = "nim"
BACKEND_TRTLLM: Final = "trtllm"
BACKENDS: Final = (BACKEND_NIM, BACKEND_TRTLLM)

DEFAULT_MODEL_STORE: Final = "/model-store"
DEFAULT_NIM_URL: Final = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_SECONDS: Final = 3600.0
DEFAULT_RESULT_FILE: Final = "/dev/termination-log"
DEFAULT_SCRATCH_DIR: Final = "/scratch"
DEFAULT_MAX_BATCH_SIZE: Final = 8  # as spec.build.trtllm.maxBatchSize
DEFAULT_MAX_SEQ_LEN: Final = 4096
DEFAULT_MAX_NUM_TOKENS: Final = 8192


@dataclass(frozen=True)
class Setting:
    """One row of the settings table: shown by `--help` and in docs/engine-builder.md."""

    env: str
    default: str
    backends: str
    meaning: str


SETTINGS: Final = (
    Setting(ENV_BACKEND, BACKEND_NIM, "all", "`nim` (wait for the NIM server) or `trtllm`"),
    Setting(ENV_MODEL_STORE, DEFAULT_MODEL_STORE, "all", "mount path of the NIMCache volume"),
    Setting(ENV_MODEL_NAME, "(required)", "all", "NIM_CUSTOM_MODEL_NAME; the built profile's"),
    Setting("", "", "", "  tags.model_name and local_cache/<model name>/"),
    Setting(ENV_INPUT_PROFILE, "(trtllm: required)", "all", "buildable input profile id"),
    Setting(ENV_RESULT_FILE, DEFAULT_RESULT_FILE, "all", "where the JSON result is written"),
    Setting(ENV_TIMEOUT, "3600", "all", "give up after this many seconds"),
    Setting(ENV_NIM_URL, DEFAULT_NIM_URL, "nim", "NIM server; GET /v1/health/ready is polled"),
    Setting(ENV_NIM_PID, "(auto)", "nim", "PID of the NIM server to watch; default: the"),
    Setting("", "", "", "  processes first seen that are not PID 1 nor ours"),
    Setting(ENV_TP, "1", "trtllm", "tensor parallelism (input profile tag `tp`)"),
    Setting(ENV_PP, "1", "trtllm", "pipeline parallelism (input profile tag `pp`)"),
    Setting(ENV_PRECISION, "(from HF config)", "trtllm", "fp16, bf16 or fp32 (tag `precision`)"),
    Setting(ENV_MAX_BATCH_SIZE, "8", "trtllm", "engine limit max_batch_size"),
    Setting(ENV_MAX_SEQ_LEN, "4096", "trtllm", "engine limit max_seq_len (capped at the"),
    Setting("", "", "", "  model's max_position_embeddings)"),
    Setting(ENV_MAX_NUM_TOKENS, "8192", "trtllm", "engine limit max_num_tokens"),
    Setting(
        ENV_SCRATCH_DIR, DEFAULT_SCRATCH_DIR, "trtllm", "writable scratch: TMPDIR, timing cache"
    ),
    Setting(ENV_SOURCE_DIR, "(search)", "trtllm", "HF snapshot to build from; default: the one"),
    Setting("", "", "", "  dir under ngc/hub/*/snapshots/* with config.json"),
    Setting("", "", "", "  and *.safetensors (must be exactly one)"),
)


class ConfigError(ValueError):
    """The env cannot be used; the message names every bad setting."""


@dataclass(frozen=True)
class Settings:
    """Everything the builder needs, from `NIMBUILD_*` (DESIGN §6)."""

    backend: str
    model_store: Path
    model_name: str
    input_profile: str
    result_file: Path
    timeout_seconds: float
    nim_url: str
    nim_pid: int | None
    tp: int
    pp: int
    precision: str
    max_batch_size: int
    max_seq_len: int
    max_num_tokens: int
    scratch_dir: Path
    source_dir: Path | None


def result_file_from_env(env: Mapping[str, str]) -> Path:
    """The result file even when the rest of the env is bad, so errors can still be reported."""
    return Path(env.get(ENV_RESULT_FILE, "").strip() or DEFAULT_RESULT_FILE)


def parse_settings(env: Mapping[str, str]) -> Settings:
    """`NIMBUILD_*` env → Settings; raises ConfigError listing every problem found."""
    problems: list[str] = []

    def text(name: str, default: str) -> str:
        return env.get(name, "").strip() or default

    def integer(name: str, default: int, minimum: int = 1) -> int:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            problems.append(f"{name}={raw!r} is not an integer")
            return default
        if value < minimum:
            problems.append(f"{name}={raw!r} must be >= {minimum}")
            return default
        return value

    backend = text(ENV_BACKEND, BACKEND_NIM).lower()
    if backend not in BACKENDS:
        problems.append(f"{ENV_BACKEND}={backend!r} is not one of {', '.join(BACKENDS)}")

    model_name = text(ENV_MODEL_NAME, "")
    if not model_name:
        problems.append(f"{ENV_MODEL_NAME} is required")
    elif model_name.startswith("/") or any(
        part in ("", ".", "..") for part in model_name.split("/")
    ):
        problems.append(f"{ENV_MODEL_NAME}={model_name!r} is not a relative folder name")

    input_profile = text(ENV_INPUT_PROFILE, "")
    if backend == BACKEND_TRTLLM and not input_profile:
        problems.append(f"{ENV_INPUT_PROFILE} is required with {ENV_BACKEND}=trtllm")

    raw_timeout = text(ENV_TIMEOUT, "")
    timeout = DEFAULT_TIMEOUT_SECONDS
    if raw_timeout:
        try:
            timeout = float(raw_timeout)
        except ValueError:
            problems.append(f"{ENV_TIMEOUT}={raw_timeout!r} is not a number")
        else:
            if not math.isfinite(timeout) or timeout <= 0:
                problems.append(f"{ENV_TIMEOUT}={raw_timeout!r} must be a positive number")
                timeout = DEFAULT_TIMEOUT_SECONDS

    nim_url = text(ENV_NIM_URL, DEFAULT_NIM_URL)
    if not nim_url.startswith("http://"):
        problems.append(f"{ENV_NIM_URL}={nim_url!r} must start with http://")

    raw_pid = text(ENV_NIM_PID, "")
    nim_pid: int | None = None
    if raw_pid:
        nim_pid = integer(ENV_NIM_PID, 0, minimum=2) or None

    raw_source = text(ENV_SOURCE_DIR, "")
    settings = Settings(
        backend=backend,
        model_store=Path(text(ENV_MODEL_STORE, DEFAULT_MODEL_STORE)),
        model_name=model_name,
        input_profile=input_profile,
        result_file=result_file_from_env(env),
        timeout_seconds=timeout,
        nim_url=nim_url.rstrip("/"),
        nim_pid=nim_pid,
        tp=integer(ENV_TP, 1),
        pp=integer(ENV_PP, 1),
        precision=text(ENV_PRECISION, "").lower(),
        max_batch_size=integer(ENV_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_SIZE),
        max_seq_len=integer(ENV_MAX_SEQ_LEN, DEFAULT_MAX_SEQ_LEN),
        max_num_tokens=integer(ENV_MAX_NUM_TOKENS, DEFAULT_MAX_NUM_TOKENS),
        scratch_dir=Path(text(ENV_SCRATCH_DIR, DEFAULT_SCRATCH_DIR)),
        source_dir=Path(raw_source) if raw_source else None,
    )
    if problems:
        raise ConfigError("bad settings: " + "; ".join(problems))
    return settings


def settings_table() -> str:
    """The settings as a plain-text table for `--help`."""
    width = max(len(s.env) for s in SETTINGS)
    dwidth = max(len(s.default) for s in SETTINGS)
    lines = [f"{'setting':<{width}}  {'default':<{dwidth}}  {'backend':<7}  meaning"]
    for s in SETTINGS:
        lines.append(f"{s.env:<{width}}  {s.default:<{dwidth}}  {s.backends:<7}  {s.meaning}")
    return "\n".join(line.rstrip() for line in lines)
