"""The seam for platform teams: a Job customizer, called on every *new* build Job.

`NIMBUILD_HOOK_JOB_CUSTOMIZER=package.module:function` names a pure function
`function(job: dict, context: JobContext) -> dict`. It gets a copy of the Job the hook
rendered and the decision's context, and returns the Job to create. A Job that already exists
is the record of its build and is handed back as it is, so the customizer is never called
for it. It runs on each sync until the Job is seen, so it must be deterministic (same input,
same output), or every sync would be a diff.

What it returns is checked before it leaves the hook: it must be plain JSON data, keep what
the hook and Metacontroller rely on (kind, name, namespace, every label the hook set, the
engine-builder's command, env contract and termination message, the NIM sidecar, the pod's
restart policy), set none of the fields the API server fills in, and still pass Pod Security
"restricted". A customizer that raises or breaks a rule raises `CustomizerError`: the web layer
answers 500 with a log line naming the object and the rule, and Metacontroller keeps the world
as it is and retries. A half-customized Job is never returned.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hooks import vocabulary as v
from hooks.observed import NIMCache, NIMProfile, ObjectMeta
from hooks.podsecurity import violations
from hooks.spec import NIMBuildSpec


class CustomizerError(RuntimeError):
    """The Job customizer raised or returned a Job that breaks a rule (answered with 500)."""


@dataclass(frozen=True)
class JobContext:
    """What the decision knew when it rendered the Job (all frozen; read, never change)."""

    nimbuild: ObjectMeta  # the NIMBuild's name, namespace, uid, labels
    spec: NIMBuildSpec  # its parsed spec
    nimcache: NIMCache  # the Ready NIMCache the build reads
    profile: NIMProfile  # the profile being built

    @property
    def backend(self) -> str:
        return self.spec.build.backend


def _get(value: object, *path: str) -> object:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _containers(job: object, kind: str) -> dict[str, Mapping[str, Any]]:
    found = _get(job, "spec", "template", "spec", kind)
    items = found if isinstance(found, list) else []
    return {str(c.get("name")): c for c in items if isinstance(c, Mapping)}


def contract(job: Mapping[str, Any]) -> dict[str, object]:
    """The fields of a build Job that the hook, the builder or Metacontroller rely on."""
    builder = _containers(job, "containers").get(v.BUILDER_CONTAINER, {})
    env = builder.get("env")
    nim = _containers(job, "initContainers").get(v.NIM_CONTAINER)
    return {
        "apiVersion": job.get("apiVersion"),
        "kind": job.get("kind"),
        "metadata.name": _get(job, "metadata", "name"),
        "metadata.namespace": _get(job, "metadata", "namespace"),
        "spec.template.spec.restartPolicy": _get(job, "spec", "template", "spec", "restartPolicy"),
        "spec.template.spec.shareProcessNamespace": _get(
            job, "spec", "template", "spec", "shareProcessNamespace"
        ),
        f"container {v.BUILDER_CONTAINER}": v.BUILDER_CONTAINER in _containers(job, "containers"),
        f"container {v.BUILDER_CONTAINER} command": builder.get("command"),
        f"container {v.BUILDER_CONTAINER} terminationMessagePolicy": builder.get(
            "terminationMessagePolicy"
        ),
        f"container {v.BUILDER_CONTAINER} env NIMBUILD_*": [
            e for e in (env if isinstance(env, list) else []) if _is_contract_env(e)
        ],
        f"initContainer {v.NIM_CONTAINER} restartPolicy": None
        if nim is None
        else nim.get("restartPolicy", "<unset>"),
    }


def _is_contract_env(entry: object) -> bool:
    name = entry.get("name") if isinstance(entry, Mapping) else None
    return isinstance(name, str) and name.startswith("NIMBUILD_")


@dataclass(frozen=True)
class NotJSON:
    """Where a value stops being plain JSON data: the path to the place and what is there,
    a key that is not a string (`is_key`; the path is its map's) or a value JSON cannot hold."""

    path: tuple[str | int, ...]
    offender: object
    is_key: bool = False


def not_json(value: object, path: tuple[str | int, ...] = ()) -> NotJSON | None:
    """The first place (depth first, each key before its value) where `value` is not plain
    JSON data (dicts with string keys, lists, strings, finite numbers, booleans, None), or
    None. The one walker for the customizer's Job and the `nimbuild` CLI's YAML files."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return NotJSON(path, key, is_key=True)
            found = not_json(item, (*path, key))
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = not_json(item, (*path, index))
            if found is not None:
                return found
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return NotJSON(path, value)
    if value is None or isinstance(value, str | int | float | bool):
        return None
    return NotJSON(path, value)


def _plain_json(value: object) -> str:
    """Where the customized Job stops being plain JSON data (`job.spec...`), or ""."""
    found = not_json(value)
    if found is None:
        return ""
    where = "job" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in found.path)
    bad = found.offender
    if found.is_key:
        return f"{where} has a non-string key {bad!r}"
    if isinstance(bad, float):
        return f"{where} is {bad} (not JSON)"
    return f"{where} is a {type(bad).__name__}, not JSON data"


def broken_rules(rendered: Mapping[str, Any], customized: object) -> list[str]:
    """Every rule the customized Job breaks (empty: it may be created)."""
    if not isinstance(customized, dict):
        return [f"it returned a {type(customized).__name__}, not the Job (a dict)"]
    problem = _plain_json(customized)
    if problem:
        return [problem]
    broken: list[str] = []
    before, after = contract(rendered), contract(customized)
    broken += [f"{key} changed" for key in before if before[key] != after[key]]
    for where in (("metadata", "labels"), ("spec", "template", "metadata", "labels")):
        ours = _get(rendered, *where)
        theirs = _get(customized, *where)
        kept = theirs if isinstance(theirs, Mapping) else {}
        for key, value in (ours if isinstance(ours, Mapping) else {}).items():
            if kept.get(key) != value:
                broken.append(f"label {key} removed or changed in {'.'.join(where)}")
    spec = _get(customized, "spec")
    for key in ("selector", "manualSelector"):
        if isinstance(spec, Mapping) and key in spec:
            broken.append(f"spec.{key} is set (the API server fills it in)")
    broken += [f"Pod Security restricted: {item}" for item in violations(customized)]
    return broken


def customize_job(job: dict[str, Any], context: JobContext, customizer: Any) -> dict[str, Any]:
    """The new Job as the customizer returns it, checked; CustomizerError otherwise."""
    name = getattr(customizer, "__qualname__", repr(customizer))
    try:
        customized = customizer(copy.deepcopy(job), context)
    except Exception as error:
        raise CustomizerError(
            f"job customizer {name} raised {type(error).__name__}: {error}"
        ) from error
    broken = broken_rules(job, customized)
    if broken:
        raise CustomizerError(f"job customizer {name} broke a rule: {'; '.join(broken)}")
    result: dict[str, Any] = customized
    return result
