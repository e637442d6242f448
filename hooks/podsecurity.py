"""A checker for the Pod Security Standard "restricted" profile (Kubernetes 1.29+).

It covers the controls a build Job could break: privileged/host namespaces, hostPath and
non-allowed volume types, hostPorts, privilege escalation, capabilities (drop ALL, add at most
NET_BIND_SERVICE), runAsNonRoot, runAsUser != 0, seccomp RuntimeDefault/Localhost, SELinux
types, /proc mount and sysctls. `violations` returns a list of what breaks it (empty = passes).

The hook runs it on what a platform team's Job customizer returns (`hooks.extend`), and the
tests on every rendered Job and manifest, so it reads any shape without raising: a field of
the wrong type counts as a violation, never as a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SECCOMP_OK = {"RuntimeDefault", "Localhost"}
SELINUX_OK = (None, "", "container_t", "container_init_t", "container_kvm_t")


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def pod_spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of a Pod, or of a Job's (Deployment's…) pod template."""
    if obj.get("kind") == "Pod":
        return _map(obj.get("spec"))
    return _map(_map(_map(obj.get("spec")).get("template")).get("spec"))


def violations(obj: Mapping[str, Any]) -> list[str]:
    spec = pod_spec_of(obj)
    found: list[str] = []
    pod_sc = _map(spec.get("securityContext"))
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(f"spec.{field} is true")
    for volume in _list(spec.get("volumes")):
        kinds = set(_map(volume)) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            name = _map(volume).get("name")
            found.append(f"volume {name} uses {sorted(kinds - ALLOWED_VOLUMES)}")
    if pod_sc.get("runAsUser") == 0:
        found.append("pod runAsUser is 0")
    if pod_sc.get("sysctls"):
        found.append("pod sets sysctls")
    pod_seccomp = _map(pod_sc.get("seccompProfile")).get("type")
    containers = [
        *_list(spec.get("initContainers")),
        *_list(spec.get("containers")),
        *_list(spec.get("ephemeralContainers")),
    ]
    for raw in containers:
        container = _map(raw)
        name = container.get("name")
        sc = _map(container.get("securityContext"))
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        caps = _map(sc.get("capabilities"))
        if "ALL" not in _list(caps.get("drop")):
            found.append(f"{name}: capabilities.drop lacks ALL")
        added = _list(caps.get("add"))
        if set(map(str, added)) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {added}")
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser is 0")
        seccomp = _map(sc.get("seccompProfile")).get("type", pod_seccomp)
        if seccomp not in SECCOMP_OK:
            found.append(f"{name}: seccompProfile is {seccomp!r}")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount is {sc['procMount']}")
        for port in _list(container.get("ports")):
            if _map(port).get("hostPort"):
                found.append(f"{name}: hostPort {_map(port)['hostPort']}")
        se_type = _map(sc.get("seLinuxOptions")).get("type")
        if se_type not in SELINUX_OK:
            found.append(f"{name}: SELinux type {se_type}")
    return found
