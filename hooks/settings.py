"""Hook settings, read once from the environment by the app factory.

`Settings.from_env` is a pure function of the mapping it is given, so tests build any
configuration without touching `os.environ`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BUILDER_IMAGE = "ghcr.io/nimbuild-controller/nimbuild-controller:0.1.0"
DEFAULT_TRTLLM_IMAGE = "ghcr.io/nimbuild-controller/nimbuild-controller-trtllm:0.1.0"


class SettingsError(ValueError):
    """A hook setting is malformed; the hook refuses to start rather than guess."""


@dataclass(frozen=True)
class Settings:
    builder_image: str = DEFAULT_BUILDER_IMAGE
    trtllm_image: str = DEFAULT_TRTLLM_IMAGE
    backoff_limit: int = 1
    active_deadline_seconds: int = 7200
    max_body_bytes: int = 16 * 1024 * 1024
    body_timeout_seconds: int = 10  # Metacontroller gives up after its own 10 s anyway
    auth_token: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """NIMBUILD_HOOK_* variables → Settings; unset or empty variables keep the default."""

        def text(name: str, default: str) -> str:
            return env.get(name, "").strip() or default

        def number(name: str, default: int, minimum: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not a whole number") from None
            if value < minimum:
                raise SettingsError(f"{name}={value} is below the minimum {minimum}")
            return value

        token = env.get("NIMBUILD_HOOK_AUTH_TOKEN", "").strip()
        token_file = env.get("NIMBUILD_HOOK_AUTH_TOKEN_FILE", "").strip()
        if token_file:
            try:
                token = Path(token_file).read_text(encoding="utf-8").strip()
            except OSError as error:
                raise SettingsError(f"NIMBUILD_HOOK_AUTH_TOKEN_FILE: {error}") from None
            if not token:
                raise SettingsError(f"NIMBUILD_HOOK_AUTH_TOKEN_FILE {token_file} is empty")
        return cls(
            builder_image=text("NIMBUILD_HOOK_BUILDER_IMAGE", DEFAULT_BUILDER_IMAGE),
            trtllm_image=text("NIMBUILD_HOOK_TRTLLM_IMAGE", DEFAULT_TRTLLM_IMAGE),
            backoff_limit=number("NIMBUILD_HOOK_BACKOFF_LIMIT", cls.backoff_limit, 0),
            active_deadline_seconds=number(
                "NIMBUILD_HOOK_ACTIVE_DEADLINE_SECONDS", cls.active_deadline_seconds, 60
            ),
            max_body_bytes=number("NIMBUILD_HOOK_MAX_BODY_BYTES", cls.max_body_bytes, 1024),
            body_timeout_seconds=number(
                "NIMBUILD_HOOK_BODY_TIMEOUT_SECONDS", cls.body_timeout_seconds, 1
            ),
            auth_token=token,
        )
