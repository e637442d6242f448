"""engine_builder.settings: what the builder reads from its container's env (DESIGN §6).

Grid: defaults / every bad value named at once / trtllm needs an input profile / model name
not a path escape / the env names equal hooks.vocabulary's (the hook renders them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_builder import settings
from hooks import vocabulary


def test_defaults() -> None:
    s = settings.parse_settings({"NIMBUILD_MODEL_NAME": "m"})
    assert (s.backend, s.model_store, s.nim_url) == (
        "nim",
        Path("/model-store"),
        settings.DEFAULT_NIM_URL,
    )
    assert (s.result_file, s.timeout_seconds, s.nim_pid) == (
        Path("/dev/termination-log"),
        3600.0,
        None,
    )
    assert (s.tp, s.pp, s.scratch_dir, s.source_dir) == (1, 1, Path("/scratch"), None)


def test_every_bad_setting_is_named_at_once() -> None:
    env = {
        "NIMBUILD_BACKEND": "vllm",
        "NIMBUILD_TIMEOUT_SECONDS": "-1",
        "NIMBUILD_TP": "x",
        "NIMBUILD_NIM_URL": "https://nim:8000",
        "NIMBUILD_NIM_PID": "1",
    }
    with pytest.raises(settings.ConfigError) as caught:
        settings.parse_settings(env)
    message = str(caught.value)
    for name in ("NIMBUILD_MODEL_NAME", "NIMBUILD_BACKEND", "NIMBUILD_TIMEOUT_SECONDS",
                 "NIMBUILD_TP", "NIMBUILD_NIM_URL", "NIMBUILD_NIM_PID"):  # fmt: skip
        assert name in message


def test_trtllm_needs_an_input_profile() -> None:
    with pytest.raises(settings.ConfigError, match="NIMBUILD_INPUT_PROFILE is required"):
        settings.parse_settings({"NIMBUILD_MODEL_NAME": "m", "NIMBUILD_BACKEND": "trtllm"})


@pytest.mark.parametrize("name", ["../etc", "/abs", "a//b", "a/./b"])
def test_model_name_cannot_escape_local_cache(name: str) -> None:
    with pytest.raises(settings.ConfigError, match="relative folder name"):
        settings.parse_settings({"NIMBUILD_MODEL_NAME": name})


def test_env_names_match_the_hook_vocabulary() -> None:
    hook_names = {k: v for k, v in vars(vocabulary).items() if k.startswith("ENV_")}
    assert hook_names, "hooks.vocabulary defines no ENV_* names"
    for key, value in hook_names.items():
        assert getattr(settings, key, None) == value, key
    assert vocabulary.BACKEND_NIM == settings.BACKEND_NIM
    assert vocabulary.BACKEND_TRTLLM == settings.BACKEND_TRTLLM
