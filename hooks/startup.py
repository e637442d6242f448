"""Settings as the running hook gets them: the only place that reads a file or imports a
platform team's code, once, when the app starts.

`load_settings(env)` reads NIMBUILD_HOOK_AUTH_TOKEN_FILE and resolves
NIMBUILD_HOOK_JOB_CUSTOMIZER (`package.module:function`), then builds `Settings` from plain
values. Every failure is a `SettingsError` naming the variable, so a bad deployment stops at
start with one clear line instead of failing some later request.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

from hooks.settings import JobCustomizer, Settings, SettingsError

TOKEN_FILE = "NIMBUILD_HOOK_AUTH_TOKEN_FILE"
CUSTOMIZER = "NIMBUILD_HOOK_JOB_CUSTOMIZER"


def read_token_file(env: Mapping[str, str]) -> str | None:
    """The token file's content, or None when no file is configured."""
    path = env.get(TOKEN_FILE, "").strip()
    if not path:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"{TOKEN_FILE}: {error}") from None
    if not token.strip():
        raise SettingsError(f"{TOKEN_FILE} {path} is empty")
    return token


def import_customizer(reference: str) -> JobCustomizer:
    """`package.module:function` → the function; SettingsError when it cannot be found."""
    module_name, colon, attribute = reference.partition(":")
    if not colon or not module_name or not attribute:
        raise SettingsError(f"{CUSTOMIZER}={reference!r} must be package.module:function")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any failure to import is a configuration error
        raise SettingsError(
            f"{CUSTOMIZER}: cannot import {module_name}: {type(error).__name__}: {error}"
        ) from None
    target: object = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise SettingsError(f"{CUSTOMIZER}: {module_name} has no {attribute}")
    if not callable(target):
        raise SettingsError(f"{CUSTOMIZER}: {reference} is not callable")
    customizer: JobCustomizer = target
    return customizer


def load_settings(env: Mapping[str, str]) -> Settings:
    """The hook's settings from its environment (file read and import included)."""
    reference = env.get(CUSTOMIZER, "").strip()
    return Settings.from_env(
        env,
        token_from_file=read_token_file(env),
        job_customizer=import_customizer(reference) if reference else None,
    )
