"""The result file: the only thing the hook learns from a build (DESIGN §6).

The hook reads it from the `engine-builder` container's `state.terminated.message`, which the
kubelet cuts at 4096 bytes. A cut JSON object is unreadable, so we never rely on the cut: every
result is encoded here, measured, and kept under the limit. An over-long error message is
shortened (it is prose); a success whose profile would not fit becomes a clear error instead,
because a shortened `config` would be a wrong profile. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# The kubelet keeps at most 4096 bytes of a termination message; stay strictly below.
MAX_RESULT_BYTES: Final = 4095
_TRUNCATED: Final = " … (truncated)"


class ResultTooLarge(ValueError):
    """A success result that does not fit in the termination message."""


@dataclass(frozen=True)
class OutputProfile:
    """`status.outputProfile`: `name` (profile id), `model`, `release`, `config` (tags)."""

    name: str
    model: str
    release: str
    config: Mapping[str, str]


@dataclass(frozen=True)
class Built:
    """What a backend built: the profile, its engine folder and the seconds it took."""

    profile: OutputProfile
    engine_dir: Path
    build_seconds: float


def clean_text(value: str) -> str:
    """Make a string encodable as I-JSON: lone surrogates (from odd file names) become escapes."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def encode(obj: Mapping[str, object]) -> bytes:
    """Compact, key-sorted UTF-8 JSON without NaN/Infinity."""
    return json.dumps(
        obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    ).encode("utf-8")


def success_result(profile: OutputProfile, engine_dir: str, build_seconds: float) -> bytes:
    """`{"outputProfile": {...}, "engineDir", "buildSeconds"}`; ResultTooLarge if over the limit."""
    seconds = round(build_seconds, 3) if math.isfinite(build_seconds) else 0.0
    body = encode(
        {
            "outputProfile": {
                "name": clean_text(profile.name),
                "model": clean_text(profile.model),
                "release": clean_text(profile.release),
                "config": {clean_text(k): clean_text(v) for k, v in profile.config.items()},
            },
            "engineDir": clean_text(engine_dir),
            "buildSeconds": max(seconds, 0.0),
        }
    )
    if len(body) > MAX_RESULT_BYTES:
        raise ResultTooLarge(
            f"the output profile {profile.name!r} does not fit in the result file "
            f"({len(body)} bytes > {MAX_RESULT_BYTES}; {len(profile.config)} config entries); "
            "the engine was built but cannot be reported"
        )
    return body


def error_result(message: str) -> bytes:
    """`{"error": message}`, the message shortened (marked as such) to fit the limit."""
    message = clean_text(message) or "unknown error"
    body = encode({"error": message})
    if len(body) <= MAX_RESULT_BYTES:
        return body
    # Longest prefix that fits, found by bisection on characters (escapes make bytes uneven).
    low, high = 0, len(message)
    while low < high:
        mid = (low + high + 1) // 2
        if len(encode({"error": message[:mid] + _TRUNCATED})) <= MAX_RESULT_BYTES:
            low = mid
        else:
            high = mid - 1
    return encode({"error": message[:low] + _TRUNCATED})


def to_config(tags: Mapping[str, object]) -> dict[str, str]:
    """Manifest tags → `config` (str: str), spelled as the NIM operator's Go YAML reads them."""
    return {str(key): tag_text(value) for key, value in tags.items()}


def tag_text(value: object) -> str:
    """One tag value as text: booleans lower-case, null empty, lists/maps as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
