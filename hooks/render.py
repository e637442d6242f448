"""Render the build Job (DESIGN §5) as plain data: a pure function of spec, NIMCache and profile.

The render is minimal and deterministic: unset fields are absent (never `null`), lists keep a
fixed order (defaults first, user entries merged by name; `env` is never sorted because
`$(VAR)` references depend on order), and nothing the API server fills in (`selector`,
`manualSelector`) is ever returned, since Metacontroller would fight the server over it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from hooks import vocabulary as v
from hooks.gpu import GpuPlan
from hooks.names import cut_name, job_name
from hooks.observed import NIMCache, NIMProfile, ObjectMeta
from hooks.settings import Settings
from hooks.spec import EnvVar, NIMBuildSpec
from hooks.wire import JSON_OBJECT

BUILDER_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
JOB_CONTROLLER_LABELS = frozenset(
    {
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
        "job-name",
        "batch.kubernetes.io/job-name",
    }
)
APPLY_ANNOTATIONS = frozenset(
    {
        "metacontroller.k8s.io/last-applied-configuration",
        "kubectl.kubernetes.io/last-applied-configuration",
    }
)


def model_name(spec: NIMBuildSpec, meta: ObjectMeta) -> str:
    """Upstream `GetModelName`: `spec.modelName`, else the NIMBuild's name."""
    return spec.model_name or meta.name


def merge_env(defaults: Iterable[dict[str, Any]], user: Iterable[EnvVar]) -> list[dict[str, Any]]:
    """Defaults first; a user entry replaces the default of the same name in place, the rest
    follow in user order; a later user entry of the same name wins. No duplicates."""
    merged: dict[str, dict[str, Any]] = {entry["name"]: entry for entry in defaults}
    for entry in user:
        merged[entry.name] = entry.wire()
    return list(merged.values())


def nim_env(
    spec: NIMBuildSpec, meta: ObjectMeta, cache: NIMCache, profile: NIMProfile
) -> list[dict[str, Any]]:
    """The NIM container's env: upstream defaults, LoRA rule, then the user's `spec.env`."""
    defaults: list[dict[str, Any]] = [
        {"name": "NIM_CACHE_PATH", "value": v.MODEL_STORE},
        {"name": "NIM_SERVER_PORT", "value": str(v.NIM_PORT)},
        {"name": "NIM_HTTP_API_PORT", "value": str(v.NIM_PORT)},
        {"name": "NIM_CUSTOM_MODEL_NAME", "value": model_name(spec, meta)},
        {"name": "NIM_MODEL_PROFILE", "value": profile.name},
    ]
    ngc = cache.spec.source.ngc
    if ngc is not None and ngc.auth_secret:
        # Upstream dereferences the NGC source unconditionally (quirk Q6); non-NGC caches
        # simply get no NGC key.
        defaults.append(
            {
                "name": "NGC_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": ngc.auth_secret, "key": "NGC_API_KEY"}},
            }
        )
    if profile.config.get("feat_lora") == "true":
        defaults.append({"name": "NIM_PEFT_SOURCE", "value": "/tmp"})
    return merge_env(defaults, spec.env)


def builder_timeout(deadline: int) -> int:
    """Leave the builder time to report its own timeout before the Job's deadline kills it."""
    return deadline - min(120, deadline // 10)


@dataclass(frozen=True)
class BuildPlan:
    """Everything the Job depends on, decided once by `decide` (the GPU rule included), so
    rendering only writes it down and never fails."""

    spec: NIMBuildSpec
    meta: ObjectMeta
    cache: NIMCache
    profile: NIMProfile
    settings: Settings
    gpu: GpuPlan

    @property
    def backend(self) -> str:
        return self.spec.build.backend

    @property
    def deadline(self) -> int:
        value = self.spec.build.active_deadline_seconds
        return self.settings.active_deadline_seconds if value is None else value

    @property
    def backoff_limit(self) -> int:
        value = self.spec.build.backoff_limit
        return self.settings.backoff_limit if value is None else value


def _builder_env(plan: BuildPlan) -> list[dict[str, Any]]:
    env = [
        (v.ENV_BACKEND, plan.backend),
        (v.ENV_MODEL_STORE, v.MODEL_STORE),
        (v.ENV_MODEL_NAME, model_name(plan.spec, plan.meta)),
        (v.ENV_INPUT_PROFILE, plan.profile.name),
        (v.ENV_NIM_URL, f"http://127.0.0.1:{v.NIM_PORT}"),
        (v.ENV_TIMEOUT, str(builder_timeout(plan.deadline))),
        (v.ENV_RESULT_FILE, "/dev/termination-log"),
    ]
    if plan.backend == v.BACKEND_TRTLLM:
        tags = plan.profile.config
        limits = plan.spec.build.trtllm
        parallelism = plan.gpu.parallelism
        env += [
            # The root filesystem is read-only: every cache TensorRT-LLM, torch or Hugging
            # Face keeps under $HOME or $TMPDIR goes to the scratch volume.
            ("HOME", v.SCRATCH_DIR),
            ("XDG_CACHE_HOME", f"{v.SCRATCH_DIR}/cache"),
            (v.ENV_TP, parallelism.tp),
            (v.ENV_PP, parallelism.pp),
            (v.ENV_PRECISION, tags.get("precision", "")),
            (v.ENV_MAX_BATCH_SIZE, str(limits.max_batch_size)),
            (v.ENV_MAX_SEQ_LEN, str(limits.max_seq_len)),
            (v.ENV_MAX_NUM_TOKENS, str(limits.max_num_tokens)),
            (v.ENV_SCRATCH_DIR, v.SCRATCH_DIR),
            ("TMPDIR", v.SCRATCH_DIR),
        ]
    return [{"name": name, "value": value} for name, value in env]


_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def _mount(cache: NIMCache, read_only: bool) -> dict[str, Any]:
    mount: dict[str, Any] = {"name": v.CACHE_VOLUME, "mountPath": v.MODEL_STORE}
    if cache.spec.storage.pvc.sub_path:
        mount["subPath"] = cache.spec.storage.pvc.sub_path
    if read_only:
        mount["readOnly"] = True
    return mount


def _nim_container(plan: BuildPlan) -> dict[str, Any]:
    image = plan.spec.image
    container: dict[str, Any] = {
        "name": v.NIM_CONTAINER,
        "image": image.reference,
        "restartPolicy": "Always",  # native sidecar: stopped by the kubelet when the builder exits
        "env": nim_env(plan.spec, plan.meta, plan.cache, plan.profile),
        "ports": [{"name": "api", "containerPort": v.NIM_PORT, "protocol": "TCP"}],
        "volumeMounts": [_mount(plan.cache, read_only=False)],
        "securityContext": dict(_CONTAINER_SECURITY),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if image.pull_policy:
        container["imagePullPolicy"] = image.pull_policy
    if plan.gpu.resources:
        container["resources"] = _gpu_resources(plan)
    return container


def _gpu_resources(plan: BuildPlan) -> dict[str, Any]:
    return {key: dict(amounts) for key, amounts in plan.gpu.resources.items()}


def _builder_container(plan: BuildPlan) -> dict[str, Any]:
    trtllm = plan.backend == v.BACKEND_TRTLLM
    env = _builder_env(plan)
    mounts = [_mount(plan.cache, read_only=not trtllm)]
    if trtllm:
        # No NIM sidecar: the user's env goes here, but never over our NIMBUILD_* settings.
        ours = {entry["name"] for entry in env}
        env = [e for e in merge_env((), plan.spec.env) if e["name"] not in ours] + env
        mounts.append({"name": v.SCRATCH_VOLUME, "mountPath": v.SCRATCH_DIR})
    container: dict[str, Any] = {
        "name": v.BUILDER_CONTAINER,
        "image": plan.settings.trtllm_image
        if trtllm
        else plan.settings.builder_image_for(plan.meta.namespace),
        "command": ["python3", "-m", "engine_builder"],
        "env": env,
        "volumeMounts": mounts,
        "resources": _gpu_resources(plan) if trtllm else BUILDER_RESOURCES,
        "securityContext": {**_CONTAINER_SECURITY, "readOnlyRootFilesystem": True},
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    return container


def job_labels(spec: NIMBuildSpec, meta: ObjectMeta, settings: Settings) -> dict[str, str]:
    """`spec.labels`, then the platform's (NIMBUILD_HOOK_JOB_LABELS), then ours (ours win:
    selectors and tools depend on them)."""
    return {
        **spec.labels,
        **settings.job_labels,
        v.LABEL_NAME: "nimbuild",
        v.LABEL_INSTANCE: cut_name(meta.name),
        v.LABEL_COMPONENT: "engine-build",
        v.LABEL_MANAGED_BY: v.MANAGED_BY,
    }


def render_job(plan: BuildPlan) -> dict[str, Any]:
    """The desired `batch/v1` Job for this build."""
    spec, meta, cache, settings = plan.spec, plan.meta, plan.cache, plan.settings
    labels = job_labels(spec, meta, settings)
    annotations = {
        **spec.annotations,
        **settings.job_annotations,
        "sidecar.istio.io/inject": "false",
    }
    security: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": cache.user_id,
        "runAsGroup": cache.group_id,
        "fsGroup": cache.group_id,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    volumes: list[dict[str, Any]] = [
        {"name": v.CACHE_VOLUME, "persistentVolumeClaim": {"claimName": cache.pvc_name}}
    ]
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": security,
        "containers": [_builder_container(plan)],
        "volumes": volumes,
    }
    if plan.backend == v.BACKEND_TRTLLM:
        volumes.append({"name": v.SCRATCH_VOLUME, "emptyDir": {}})
    else:
        pod["shareProcessNamespace"] = True  # the builder sees the NIM server's process end
        pod["initContainers"] = [_nim_container(plan)]
    if spec.image.pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in spec.image.pull_secrets]
    own = [t for t in spec.tolerations if t not in settings.tolerations]
    tolerations = [*settings.tolerations, *own]
    if tolerations:
        pod["tolerations"] = [t.wire() for t in tolerations]
    node_selector = {**settings.node_selector, **spec.node_selector}
    if node_selector:
        pod["nodeSelector"] = node_selector
    if cache.spec.runtime_class_name:
        pod["runtimeClassName"] = cache.spec.runtime_class_name
    if settings.priority_class_name:
        pod["priorityClassName"] = settings.priority_class_name
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(meta.name),
            "namespace": meta.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "backoffLimit": plan.backoff_limit,
            "activeDeadlineSeconds": plan.deadline,
            "template": {
                "metadata": {
                    "labels": {**labels, v.BUILD_POD_LABEL: meta.uid},
                    "annotations": dict(annotations),
                },
                "spec": pod,
            },
        },
    }


def _without_nulls(value: Any) -> Any:
    """Drop `null`s (the API serializes e.g. `template.metadata.creationTimestamp: null`)."""
    if type(value) is dict:
        return {k: _without_nulls(item) for k, item in value.items() if item is not None}
    if type(value) is list:
        return [_without_nulls(item) for item in value if item is not None]
    return value


def hand_back(raw: Mapping[str, Any]) -> dict[str, Any]:
    """An observed Job as a desired child: the Job is the durable record of a build, so once
    it exists we return it as it is (never re-rendered from a NIMCache that may be gone),
    minus status, server-owned metadata and the fields the Job controller fills in."""
    found = raw.get("metadata")
    meta: Mapping[str, Any] = found if isinstance(found, JSON_OBJECT) else {}
    out_meta: dict[str, Any] = {"name": meta.get("name", "")}
    for key in ("namespace", "labels"):
        if meta.get(key):
            out_meta[key] = meta[key]
    annotations = meta.get("annotations")
    if isinstance(annotations, JSON_OBJECT):
        kept = {k: a for k, a in annotations.items() if k not in APPLY_ANNOTATIONS}
        if kept:
            out_meta["annotations"] = kept
    spec = dict(raw["spec"]) if isinstance(raw.get("spec"), JSON_OBJECT) else {}
    spec.pop("selector", None)
    spec.pop("manualSelector", None)
    template = spec.get("template")
    if isinstance(template, JSON_OBJECT) and isinstance(template.get("metadata"), JSON_OBJECT):
        tmeta = dict(template["metadata"])
        if isinstance(tmeta.get("labels"), JSON_OBJECT):
            tmeta["labels"] = {
                k: lv for k, lv in tmeta["labels"].items() if k not in JOB_CONTROLLER_LABELS
            }
        tmeta.pop("creationTimestamp", None)
        spec["template"] = {**template, "metadata": tmeta}
    result: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": out_meta,
        "spec": spec,
    }
    # Walking the Job field by field to drop nulls cost more than the rest of a sync that
    # follows a Job (issue 11); one C-level encode (a few µs) tells whether any null is there.
    return _without_nulls(result) if _may_hold_null(result) else result


def _may_hold_null(value: object) -> bool:
    try:
        return b"null" in orjson.dumps(value)
    except orjson.JSONEncodeError:  # not JSON-shaped (a caller's own data): walk it
        return True
