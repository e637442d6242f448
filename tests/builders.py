"""Small builders for Metacontroller v2 sync requests, shaped as Metacontroller sends them.

Used to write the JSON fixtures (`tests/fixtures/sync/*/request.json`, see make_fixtures.py)
and by tests that state their case in code (the upstream grid). Every builder returns fresh
plain dicts, so no test sees another's objects.
"""

from __future__ import annotations

import copy
from typing import Any

NS = "default"
UID = "3f1c2a9e-0000-4000-8000-00000000b001"
JOB_UID = "7d0e5b21-0000-4000-8000-00000000a001"
BUILD_POD_LABEL = "nimbuild.apps.nvidia.com/nimbuild-uid"
T0 = "2026-01-01T00:00:00Z"


def nimbuild(
    name: str = "test-nimbuild",
    *,
    cache: str = "test-nimcache",
    profile: str | None = None,
    status: dict[str, Any] | None = None,
    generation: int = 1,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "nimCache": {"name": cache},
        "image": {"repository": "nvcr.io/nim/test", "tag": "latest"},
    }
    if profile is not None:
        body["nimCache"]["profile"] = profile
    body.update(spec)
    parent: dict[str, Any] = {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMBuild",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": UID,
            "generation": generation,
            "resourceVersion": "1001",
            "creationTimestamp": T0,
        },
        "spec": body,
    }
    if status is not None:
        parent["status"] = status
    return parent


def profile(name: str, **config: str) -> dict[str, Any]:
    return {"name": name, "model": "test-model", "release": "1.3.3", "config": dict(config)}


def buildable(name: str = "buildable-profile", **config: str) -> dict[str, Any]:
    return profile(name, trtllm_buildable="true", **config)


def nimcache(
    name: str = "test-nimcache",
    *,
    state: str | None = "Ready",
    profiles: list[dict[str, Any]] | None = None,
    status_type: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": {"ngc": {"modelPuller": "nvcr.io/nim/test", "authSecret": "my-secret"}},
        "storage": {
            "pvc": {"create": True, "storageClass": "standard", "size": "1Gi"},
        },
    }
    body["storage"]["pvc"]["subPath"] = "test-subpath"
    body.update(spec)
    obj: dict[str, Any] = {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMCache",
        "metadata": {"name": name, "namespace": NS, "uid": "c-1", "creationTimestamp": T0},
        "spec": body,
    }
    if state is not None:
        obj["status"] = {"state": state, "profiles": profiles if profiles is not None else []}
        if status_type is not None:
            obj["status"]["type"] = status_type  # `native` / `model-free`: no profiles listed
    return obj


def request(
    parent: dict[str, Any],
    *,
    caches: list[dict[str, Any]] = (),  # type: ignore[assignment]
    jobs: list[dict[str, Any]] = (),  # type: ignore[assignment]
    pods: list[dict[str, Any]] = (),  # type: ignore[assignment]
    finalizing: bool = False,
) -> dict[str, Any]:
    def keyed(objects: list[dict[str, Any]]) -> dict[str, Any]:
        return {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o for o in objects}

    return {
        "controller": {
            "apiVersion": "metacontroller.k8s.io/v1alpha1",
            "kind": "CompositeController",
            "metadata": {"name": "nimbuild-controller"},
        },
        "parent": parent,
        "children": {"Job.batch/v1": keyed(list(jobs))},
        "related": {
            "NIMCache.apps.nvidia.com/v1alpha1": keyed(list(caches)),
            "Pod.v1": keyed(list(pods)),
        },
        "finalizing": finalizing,
    }


def as_observed_job(
    desired: dict[str, Any],
    *,
    conditions: list[dict[str, Any]] = (),  # type: ignore[assignment]
    uid: str = JOB_UID,
) -> dict[str, Any]:
    """A rendered Job as the API server would hold it: uid, selector, labels it adds, status."""
    job = copy.deepcopy(desired)
    meta = job["metadata"]
    meta.update(
        uid=uid,
        resourceVersion="2002",
        creationTimestamp="2026-01-01T00:00:05Z",
        ownerReferences=[
            {
                "apiVersion": "apps.nvidia.com/v1alpha1",
                "kind": "NIMBuild",
                "name": "test-nimbuild",
                "uid": UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
        managedFields=[{"manager": "metacontroller", "operation": "Update"}],
    )
    meta.setdefault("labels", {})["controller-uid"] = UID
    job["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    job["spec"]["template"]["metadata"]["labels"].update(
        {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": meta["name"],
            "controller-uid": uid,
            "job-name": meta["name"],
        }
    )
    job["status"] = {"startTime": "2026-01-01T00:00:05Z", "conditions": list(conditions)}
    return job


def job_condition(kind: str, reason: str = "", message: str = "") -> dict[str, Any]:
    cond = {"type": kind, "status": "True", "lastTransitionTime": "2026-01-01T01:00:00Z"}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


COMPLETE = [
    job_condition(
        "SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"
    ),
    job_condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
]


def container(
    name: str, state: dict[str, Any], *, restarts: int = 0, last: dict[str, Any] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": name,
        "image": "img",
        "imageID": "",
        "ready": "running" in state,
        "restartCount": restarts,
        "state": state,
    }
    if last is not None:
        status["lastState"] = last
    return status


def terminated(exit_code: int, reason: str, message: str = "") -> dict[str, Any]:
    term: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": T0,
        "finishedAt": T0,
    }
    if message:
        term["message"] = message
    return {"terminated": term}


RUNNING = {"running": {"startedAt": "2026-01-01T00:00:10Z"}}


def pod(
    name: str = "test-nimbuild-engine-build-abcde",
    *,
    phase: str = "Running",
    created: str = "2026-01-01T00:00:06Z",
    nim: dict[str, Any] | None = None,
    builder: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    job_uid: str = JOB_UID,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if conditions is not None:
        status["conditions"] = conditions
    if nim is not None:
        status["initContainerStatuses"] = [nim]
    if builder is not None:
        status["containerStatuses"] = [builder]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"pod-{name}",
            "creationTimestamp": created,
            "labels": {
                BUILD_POD_LABEL: UID,
                "batch.kubernetes.io/controller-uid": job_uid,
                "batch.kubernetes.io/job-name": "test-nimbuild-engine-build",
            },
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": "test-nimbuild-engine-build",
                    "uid": job_uid,
                    "controller": True,
                }
            ],
            "managedFields": [{"manager": "kubelet"}],
        },
        "spec": {"containers": [{"name": "engine-builder", "image": "img"}]},
        "status": status,
    }
