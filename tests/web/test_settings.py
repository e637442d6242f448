"""hooks.settings and hooks.startup: NIMBUILD_HOOK_* → Settings, checked when the app starts.

- The platform settings (labels, annotations, node selector, tolerations, priority class,
  builder image per namespace) parse from JSON / plain text; unset means today's behaviour.
- Every malformed value is a SettingsError naming the variable, raised by `create_app`.
- `Settings.from_env` reads no file and imports nothing; `load_settings` (web layer) reads the
  token file and resolves the Job customizer.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from hooks.settings import Settings, SettingsError
from hooks.spec import Toleration
from hooks.startup import import_customizer, load_settings
from hooks.sync import create_app


def test_no_platform_setting_means_none_applied() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.builder_image_for("any") == settings.builder_image


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"NIMBUILD_HOOK_JOB_LABELS": '{"team": "ml"}'}, "job_labels", {"team": "ml"}),
        (
            {"NIMBUILD_HOOK_JOB_ANNOTATIONS": '{"example.com/owner": "ml platform"}'},
            "job_annotations",
            {"example.com/owner": "ml platform"},
        ),
        (
            {"NIMBUILD_HOOK_NODE_SELECTOR": '{"nvidia.com/gpu.present": "true"}'},
            "node_selector",
            {"nvidia.com/gpu.present": "true"},
        ),
        (
            {"NIMBUILD_HOOK_TOLERATIONS": '[{"key": "gpu", "operator": "Exists"}]'},
            "tolerations",
            (Toleration(key="gpu", operator="Exists"),),
        ),
        (
            {"NIMBUILD_HOOK_PRIORITY_CLASS_NAME": "batch-low"},
            "priority_class_name",
            "batch-low",
        ),
        (
            {"NIMBUILD_HOOK_BUILDER_IMAGES": '{"team-a": "registry.a/nimbuild:1"}'},
            "builder_images",
            {"team-a": "registry.a/nimbuild:1"},
        ),
        ({"NIMBUILD_HOOK_JOB_LABELS": "  "}, "job_labels", {}),
    ],
)
def test_platform_settings_come_from_the_environment(
    env: dict[str, str], field: str, value: object
) -> None:
    assert getattr(Settings.from_env(env), field) == value


def test_builder_image_per_namespace() -> None:
    settings = Settings.from_env(
        {
            "NIMBUILD_HOOK_BUILDER_IMAGE": "registry/default:1",
            "NIMBUILD_HOOK_BUILDER_IMAGES": '{"team-a": "registry/a:1"}',
        }
    )
    assert settings.builder_image_for("team-a") == "registry/a:1"
    assert settings.builder_image_for("team-b") == "registry/default:1"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        pytest.param({"NIMBUILD_HOOK_JOB_LABELS": "team=ml"}, "not valid JSON", id="not-json"),
        pytest.param({"NIMBUILD_HOOK_JOB_LABELS": '["a"]'}, "JSON object", id="not-object"),
        pytest.param({"NIMBUILD_HOOK_JOB_LABELS": '{"a": 1}'}, "of strings", id="not-strings"),
        pytest.param({"NIMBUILD_HOOK_JOB_LABELS": '{"a b": "c"}'}, "key 'a b'", id="bad-key"),
        pytest.param(
            {"NIMBUILD_HOOK_JOB_LABELS": '{"/team": "ml"}'},
            "NIMBUILD_HOOK_JOB_LABELS: key '/team' has an invalid prefix",
            id="empty-prefix",
        ),
        pytest.param(
            {"NIMBUILD_HOOK_JOB_LABELS": '{"team": "m l"}'}, "label value", id="bad-value"
        ),
        pytest.param(
            {"NIMBUILD_HOOK_JOB_LABELS": '{"app.kubernetes.io/name": "x"}'},
            "set by the hook itself",
            id="our-label",
        ),
        pytest.param(
            {"NIMBUILD_HOOK_JOB_ANNOTATIONS": '{"-bad": "x"}'}, "key '-bad'", id="bad-annotation"
        ),
        pytest.param(
            {"NIMBUILD_HOOK_NODE_SELECTOR": '{"k": "has space"}'}, "label value", id="bad-selector"
        ),
        pytest.param(
            {"NIMBUILD_HOOK_TOLERATIONS": '[{"operator": "Equal"}]'},
            "NIMBUILD_HOOK_TOLERATIONS.0",
            id="bad-toleration",
        ),
        pytest.param(
            {"NIMBUILD_HOOK_TOLERATIONS": '{"key": "gpu"}'},
            "NIMBUILD_HOOK_TOLERATIONS",
            id="toleration-not-a-list",
        ),
        pytest.param(
            {"NIMBUILD_HOOK_PRIORITY_CLASS_NAME": "Batch Low"},
            "not a valid PriorityClass name",
            id="bad-priority-class",
        ),
        pytest.param(
            {"NIMBUILD_HOOK_BUILDER_IMAGES": '{"team-a": "has space:1"}'},
            "namespace",
            id="bad-image",
        ),
        pytest.param(
            {"NIMBUILD_HOOK_JOB_CUSTOMIZER": "no_colon"},
            "package.module:function",
            id="customizer-without-colon",
        ),
        pytest.param(
            {"NIMBUILD_HOOK_JOB_CUSTOMIZER": "nimbuild_no_such_module:f"},
            "cannot import nimbuild_no_such_module",
            id="customizer-module-missing",
        ),
        pytest.param(
            {"NIMBUILD_HOOK_JOB_CUSTOMIZER": "json:no_such_function"},
            "json has no no_such_function",
            id="customizer-function-missing",
        ),
        pytest.param(
            {"NIMBUILD_HOOK_JOB_CUSTOMIZER": "json:__doc__"},
            "is not callable",
            id="customizer-not-callable",
        ),
    ],
)
def test_a_bad_setting_stops_the_app_with_a_clear_message(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        create_app({"ENV": env})
    message = str(caught.value)
    assert says in message
    assert next(iter(env)) in message  # the message names the variable
    assert "\n" not in message  # one line, not a traceback


def test_the_customizer_is_resolved_by_the_web_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "platform_hooks.py").write_text("def customize(job, context):\n    return job\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    env = {"NIMBUILD_HOOK_JOB_CUSTOMIZER": "platform_hooks:customize"}
    try:
        customizer = load_settings(env).job_customizer
        assert customizer is import_customizer("platform_hooks:customize")
        assert getattr(customizer, "__module__", "") == "platform_hooks"
        assert Settings.from_env(env).job_customizer is None  # pure: no import
    finally:
        sys.modules.pop("platform_hooks", None)


def test_an_empty_token_file_stops_the_app(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("\n")
    with pytest.raises(SettingsError, match=r"NIMBUILD_HOOK_AUTH_TOKEN_FILE .* is empty"):
        create_app({"ENV": {"NIMBUILD_HOOK_AUTH_TOKEN_FILE": str(token)}})


def test_settings_are_plain_values(tmp_path: Any) -> None:
    """Built from a mapping of strings and two plain arguments, nothing else."""
    settings = Settings.from_env(
        {"NIMBUILD_HOOK_AUTH_TOKEN": "env-token"}, token_from_file="file-token\n"
    )
    assert settings.auth_token == "file-token"
    with pytest.raises(SettingsError, match="empty"):
        Settings.from_env({}, token_from_file="  ")
