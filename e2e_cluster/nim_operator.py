"""NIM Operator STAND-IN: what the NIM Operator does for a NIMCache that NIMBuild reads.

The operator creates the cache's PVC, downloads the model into it and writes the NIMCache
status (`state: Ready`, `pvc`, `profiles`). Here the volume is a directory on this machine,
offered as a pre-bound hostPath PersistentVolume (there is no PV controller on the loopback
control plane) so the node agent can find it through the pod's PVC, as a kubelet would.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from kubernetes import client

GROUP, VERSION = "apps.nvidia.com", "v1alpha1"


def buildable_profile(model: str, tp: int = 1, precision: str = "bf16") -> dict[str, Any]:
    """A buildable NIM profile as the operator lists it in `status.profiles`."""
    name = hashlib.sha256(f"e2e/{model}/{tp}/{precision}".encode()).hexdigest()
    return {
        "name": name,
        "model": model,
        "release": "1.3.3",
        "config": {
            "trtllm_buildable": "true",
            "llm_engine": "tensorrt_llm",
            "precision": precision,
            "tp": str(tp),
            "pp": "1",
            "gpu": "H100",
        },
    }


def pvc_name(cache: dict[str, Any]) -> str:
    pvc = cache.get("spec", {}).get("storage", {}).get("pvc", {})
    return str(pvc.get("name") or f"{cache['metadata']['name']}-pvc")


def provide_volume(api: client.ApiClient, namespace: str, claim: str, root: Path) -> Path:
    """A PVC `claim` bound to a hostPath PV over a fresh directory under `root`."""
    core = client.CoreV1Api(api)
    directory = root / f"{namespace}--{claim}"
    directory.mkdir(parents=True, exist_ok=True)
    pv_name = f"e2e-{namespace}-{claim}"[:253]
    core.create_persistent_volume(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv_name},
            "spec": {
                "capacity": {"storage": "100Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": str(directory), "type": "Directory"},
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": namespace,
                    "name": claim,
                },
            },
        }
    )
    created = core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": claim,
                "annotations": {"pv.kubernetes.io/bind-completed": "yes"},
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "100Gi"}},
                "storageClassName": "",
                "volumeName": pv_name,
            },
        },
    )
    pv = core.read_persistent_volume(pv_name)
    pv.spec.claim_ref.uid = created.metadata.uid
    core.replace_persistent_volume(pv_name, pv)
    core.patch_persistent_volume_status(pv_name, {"status": {"phase": "Bound"}})
    core.patch_namespaced_persistent_volume_claim_status(
        claim,
        namespace,
        {
            "status": {
                "phase": "Bound",
                "accessModes": ["ReadWriteOnce"],
                "capacity": {"storage": "100Gi"},
            }
        },
    )
    return directory


def make_ready(
    api: client.ApiClient,
    namespace: str,
    name: str,
    volumes: Path,
    profiles: list[dict[str, Any]],
) -> Path:
    """Caches the model (a volume) and marks the NIMCache Ready with `profiles`."""
    custom = client.CustomObjectsApi(api)
    cache = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "nimcaches", name)
    claim = pvc_name(cache)
    directory = provide_volume(api, namespace, claim, volumes)
    custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        "nimcaches",
        name,
        {"status": {"state": "Ready", "pvc": claim, "profiles": profiles}},
    )
    return directory
