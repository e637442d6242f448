"""A small checker for the Pod Security Standard "restricted" profile (Kubernetes 1.29+).

It covers the controls a build Job could break: privileged/host namespaces, hostPath and
non-allowed volume types, hostPorts, privilege escalation, capabilities (drop ALL, add at most
NET_BIND_SERVICE), runAsNonRoot, runAsUser != 0, seccomp RuntimeDefault/Localhost, AppArmor,
SELinux types, /proc mount and sysctls. Returns a list of violations (empty = passes).
"""

from __future__ import annotations

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


def pod_spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") == "Pod":
        return obj["spec"]
    return obj["spec"]["template"]["spec"]


def violations(obj: dict[str, Any]) -> list[str]:
    spec = pod_spec_of(obj)
    found: list[str] = []
    pod_sc = spec.get("securityContext", {})
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(f"spec.{field} is true")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            found.append(f"volume {volume['name']} uses {sorted(kinds - ALLOWED_VOLUMES)}")
    if pod_sc.get("runAsUser") == 0:
        found.append("pod runAsUser is 0")
    if pod_sc.get("sysctls"):
        found.append("pod sets sysctls")
    pod_seccomp = pod_sc.get("seccompProfile", {}).get("type")
    containers = [
        *spec.get("initContainers", []),
        *spec.get("containers", []),
        *spec.get("ephemeralContainers", []),
    ]
    for container in containers:
        name = container["name"]
        sc = container.get("securityContext", {})
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            found.append(f"{name}: capabilities.drop lacks ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {caps['add']}")
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser is 0")
        seccomp = sc.get("seccompProfile", {}).get("type", pod_seccomp)
        if seccomp not in SECCOMP_OK:
            found.append(f"{name}: seccompProfile is {seccomp!r}")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount is {sc['procMount']}")
        for port in container.get("ports", []):
            if port.get("hostPort"):
                found.append(f"{name}: hostPort {port['hostPort']}")
        se_type = sc.get("seLinuxOptions", {}).get("type")
        if se_type not in (None, "", "container_t", "container_init_t", "container_kvm_t"):
            found.append(f"{name}: SELinux type {se_type}")
    return found
