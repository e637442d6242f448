"""Hook settings: what a platform team configures once for every build (NIMBUILD_HOOK_* env).

`Settings.from_env` is a pure function of the plain values it is given: it reads no file and
imports nothing, so tests and the `nimbuild` CLI build any configuration without touching
`os.environ`. The web layer (`hooks.startup`) reads the token file and resolves the Job
customizer, and hands both in. Every value is checked here, when the app starts: a malformed
setting is a `SettingsError` that names the variable, never a traceback in some later request.

Defaults are today's behaviour: with none of the platform settings set, every Job is rendered
exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from hooks import vocabulary as v
from hooks.errors import describe_errors
from hooks.names import DNS_SUBDOMAIN, check_annotations, check_labels
from hooks.spec import Toleration

DEFAULT_BUILDER_IMAGE = "ghcr.io/nimbuild-controller/nimbuild-controller:0.1.0"
DEFAULT_TRTLLM_IMAGE = "ghcr.io/nimbuild-controller/nimbuild-controller-trtllm:0.1.0"

# Called as `customizer(job, context)` with a copy of a new Job and its `hooks.extend.JobContext`;
# returns the Job to create (see docs/extending.md).
JobCustomizer = Callable[[dict[str, Any], Any], Any]


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
    # --- the platform seam (docs/extending.md) ---
    job_labels: Mapping[str, str] = field(default_factory=dict)
    job_annotations: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    priority_class_name: str = ""
    builder_images: Mapping[str, str] = field(default_factory=dict)  # namespace → image
    job_customizer: JobCustomizer | None = None

    def builder_image_for(self, namespace: str) -> str:
        """The `engine-builder` image of the `nim` backend for a NIMBuild in `namespace`."""
        return self.builder_images.get(namespace, self.builder_image)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        token_from_file: str | None = None,
        job_customizer: JobCustomizer | None = None,
    ) -> Settings:
        """NIMBUILD_HOOK_* variables → Settings; unset or empty variables keep the default.
        `token_from_file` is the content of NIMBUILD_HOOK_AUTH_TOKEN_FILE (it wins over
        NIMBUILD_HOOK_AUTH_TOKEN); `job_customizer` the resolved NIMBUILD_HOOK_JOB_CUSTOMIZER."""

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
        if token_from_file is not None:
            token = token_from_file.strip()
            if not token:
                raise SettingsError("NIMBUILD_HOOK_AUTH_TOKEN_FILE names an empty file")
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
            job_labels=_job_labels(env),
            job_annotations=_checked_map(env, "NIMBUILD_HOOK_JOB_ANNOTATIONS", check_annotations),
            node_selector=_checked_map(env, "NIMBUILD_HOOK_NODE_SELECTOR", check_labels),
            tolerations=_tolerations(env),
            priority_class_name=_priority_class_name(env),
            builder_images=_builder_images(env),
            job_customizer=job_customizer,
        )


def _json(env: Mapping[str, str], name: str) -> object:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise SettingsError(f"{name} is not valid JSON: {error}") from None


def _string_map(env: Mapping[str, str], name: str) -> dict[str, str]:
    value = _json(env, name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise SettingsError(f'{name} must be a JSON object of strings, e.g. {{"team": "ml"}}')
    return value


def _checked_map(
    env: Mapping[str, str], name: str, check: Callable[[Mapping[str, str]], None]
) -> dict[str, str]:
    value = _string_map(env, name)
    try:
        check(value)
    except ValueError as error:
        raise SettingsError(f"{name}: {error}") from None
    return value


def _job_labels(env: Mapping[str, str]) -> dict[str, str]:
    name = "NIMBUILD_HOOK_JOB_LABELS"
    labels = _checked_map(env, name, check_labels)
    ours = sorted(set(labels) & set(v.JOB_LABEL_KEYS))
    if ours:
        raise SettingsError(f"{name}: {', '.join(ours)} are set by the hook itself")
    return labels


_TOLERATIONS = TypeAdapter(list[Toleration])


def _tolerations(env: Mapping[str, str]) -> tuple[Toleration, ...]:
    name = "NIMBUILD_HOOK_TOLERATIONS"
    value = _json(env, name)
    if value is None:
        return ()
    try:
        return tuple(_TOLERATIONS.validate_python(value))
    except ValidationError as error:
        raise SettingsError("; ".join(describe_errors(error, name))) from None


def _priority_class_name(env: Mapping[str, str]) -> str:
    name = "NIMBUILD_HOOK_PRIORITY_CLASS_NAME"
    value = env.get(name, "").strip()
    if value and (len(value) > 253 or not DNS_SUBDOMAIN.fullmatch(value)):
        raise SettingsError(f"{name}={value!r} is not a valid PriorityClass name")
    return value


def _builder_images(env: Mapping[str, str]) -> dict[str, str]:
    name = "NIMBUILD_HOOK_BUILDER_IMAGES"
    images = _string_map(env, name)
    for namespace, image in images.items():
        if not namespace or not image.strip() or any(c.isspace() for c in image):
            raise SettingsError(f"{name}: {namespace!r} → {image!r} is not namespace → image")
    return images
