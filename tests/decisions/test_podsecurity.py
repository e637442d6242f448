"""hooks.podsecurity: each "restricted" control caught on its own, and any shape read safely
(it checks what a platform's Job customizer returns, which may be anything)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hooks.podsecurity import violations


def restricted_job() -> dict[str, Any]:
    container = {
        "name": "c",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    return {
        "kind": "Job",
        "spec": {
            "template": {
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "p"}}],
                }
            }
        },
    }


def pod(job: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def container(job: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = pod(job)["containers"][0]
    return found


def test_a_restricted_job_passes() -> None:
    assert violations(restricted_job()) == []


@pytest.mark.parametrize(
    ("breach", "says"),
    [
        (lambda j: pod(j).update(hostNetwork=True), "hostNetwork"),
        (lambda j: pod(j).update(hostPID=True), "hostPID"),
        (lambda j: pod(j)["volumes"].append({"name": "h", "hostPath": {}}), "hostPath"),
        (lambda j: pod(j)["securityContext"].update(runAsUser=0), "runAsUser is 0"),
        (lambda j: pod(j)["securityContext"].update(sysctls=[{"name": "a"}]), "sysctls"),
        (lambda j: pod(j)["securityContext"].pop("seccompProfile"), "seccompProfile"),
        (lambda j: pod(j)["securityContext"].pop("runAsNonRoot"), "runAsNonRoot"),
        (lambda j: container(j)["securityContext"].update(privileged=True), "privileged"),
        (
            lambda j: container(j)["securityContext"].update(allowPrivilegeEscalation=True),
            "allowPrivilegeEscalation",
        ),
        (lambda j: container(j)["securityContext"]["capabilities"].update(drop=[]), "drop"),
        (
            lambda j: container(j)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
            "adds capabilities",
        ),
        (lambda j: container(j)["securityContext"].update(procMount="Unmasked"), "procMount"),
        (lambda j: container(j).update(ports=[{"containerPort": 1, "hostPort": 80}]), "hostPort"),
        (
            lambda j: container(j)["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
            "SELinux",
        ),
        (
            lambda j: pod(j).update(initContainers=[{"name": "i"}]),
            "i: allowPrivilegeEscalation",
        ),
    ],
)
def test_each_control_is_caught(breach: Any, says: str) -> None:
    job = restricted_job()
    breach(job)
    found = violations(job)
    assert any(says in item for item in found), found


@pytest.mark.parametrize(
    "mangle",
    [
        lambda j: j.update(spec=None),
        lambda j: j["spec"].update(template="x"),
        lambda j: pod(j).update(containers="x"),
        lambda j: pod(j).update(containers=[1, None]),
        lambda j: pod(j).update(volumes=[None]),
        lambda j: container(j).update(securityContext=[]),
        lambda j: container(j)["securityContext"].update(capabilities="ALL"),
    ],
)
def test_any_shape_is_read_without_raising(mangle: Any) -> None:
    job = copy.deepcopy(restricted_job())
    mangle(job)
    assert isinstance(violations(job), list)
