"""The builder's result file (DESIGN §6), as the hook reads it from the `engine-builder`
container's `state.terminated.message`: the contract between the build Job and the hook.

One JSON object under 4096 bytes: on success `{"outputProfile": {"name", "model", "release",
"config"}, "engineDir", "buildSeconds"}`, on failure `{"error"}`. Anything else (logs, a
truncated object, extra keys) is unreadable, and `read_result` says so with None.
"""

from __future__ import annotations

from typing import Any

import orjson

RESULT_LIMIT = 4096


def read_result(message: str) -> dict[str, Any] | None:
    """The builder's result file; None when it is not exactly that contract."""
    if not message or len(message.encode()) >= RESULT_LIMIT:
        return None
    try:
        data = orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    if set(data) == {"error"} and isinstance(data["error"], str):
        return data
    if set(data) != {"outputProfile", "engineDir", "buildSeconds"}:
        return None
    profile = data["outputProfile"]
    seconds = data["buildSeconds"]
    if not isinstance(data["engineDir"], str) or isinstance(seconds, bool):
        return None
    if not isinstance(seconds, int | float) or not isinstance(profile, dict):
        return None
    if set(profile) != {"name", "model", "release", "config"} or not profile["name"]:
        return None
    if not all(isinstance(profile[key], str) for key in ("name", "model", "release")):
        return None
    config = profile["config"]
    if not isinstance(config, dict) or not all(
        isinstance(key, str) and isinstance(val, str) for key, val in config.items()
    ):
        return None
    return data
