"""The whole thing on loopback: control plane, Metacontroller, the hook, the project installed
as the README says, and the node agent. `Cluster.up()` / `Cluster.down()`."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from e2e_cluster import binaries, install
from e2e_cluster.controlplane import ControlPlane
from e2e_cluster.hook import Hook
from e2e_cluster.node_agent import NodeAgent

REPO = install.REPO
NODE = "gpu-node-1"
HOOK_TOKEN_SECRET = "nimbuild-hook-token"


@dataclass
class Cluster:
    root: Path
    bearer_token: bool = False
    say: Callable[[str], None] = lambda line: None
    plane: ControlPlane | None = None
    hook: Hook | None = None
    agent: NodeAgent | None = None
    api: client.ApiClient | None = None
    extra_logs: dict[str, Path] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        assert self.plane is not None
        return self.plane.kubeconfig("admin")

    @property
    def kubectl_path(self) -> Path:
        return install.kubectl_binary()

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return install.kubectl(self.kubeconfig, *args, stdin=stdin)

    def up(self) -> None:
        started = time.monotonic()
        self.plane = ControlPlane(self.root, binaries.locate())
        self.plane.start()
        self.say(f"control plane up at {self.plane.server} ({time.monotonic() - started:.0f}s)")
        self.api = config.new_client_from_config(str(self.kubeconfig))

        # 1. Metacontroller, "installed first": its CRDs, its own (narrowed) role, the binary.
        self.kubectl("apply", "-f", str(install.METACONTROLLER_CRDS))
        self.kubectl("apply", "-f", str(install.METACONTROLLER_RBAC))
        self.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s",
            "crd/compositecontrollers.metacontroller.k8s.io",
            "crd/decoratorcontrollers.metacontroller.k8s.io",
            "crd/controllerrevisions.metacontroller.k8s.io",
        )  # fmt: skip
        self.plane.start_metacontroller()

        # 2. The hook, served as `make run` serves it.
        self.hook = Hook(self.root / "logs" / "hook.log")
        token = ""
        if self.bearer_token:
            token = secrets.token_hex(32)
            token_file = self.root / "hook-token"
            token_file.write_text(token)
            token_file.chmod(0o600)
            self.hook.env["NIMBUILD_HOOK_AUTH_TOKEN_FILE"] = str(token_file)
        self.hook.start()
        self.extra_logs["hook"] = self.hook.log

        # 3. The project, as the README says.
        self.kubectl("apply", "-k", str(REPO / "crds"))
        self.kubectl("apply", "-f", str(REPO / "crds" / "nimcache.yaml"))
        self.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s",
            "crd/nimbuilds.apps.nvidia.com", "crd/nimcaches.apps.nvidia.com",
        )  # fmt: skip
        if self.bearer_token:  # docs/install.md, "Authenticating Metacontroller to the hook"
            namespace = self.kubectl(
                "create", "namespace", "nimbuild-system", "--dry-run=client", "-o", "yaml"
            )
            self.kubectl("apply", "-f", "-", stdin=namespace)
            self.kubectl(
                "-n", "nimbuild-system", "create", "secret", "generic", HOOK_TOKEN_SECRET,
                f"--from-literal=token={token}",
            )  # fmt: skip
        overlay = install.write_overlay(
            self.root / "overlay", self.kubeconfig, self.hook.url, bearer_token=self.bearer_token
        )
        self.kubectl("apply", "-k", str(overlay))
        self.say(f"project installed ({time.monotonic() - started:.0f}s)")

        # 4. The kubelet stand-in.
        assert self.api is not None
        agent_api = config.new_client_from_config(str(self.plane.kubeconfig("node-agent")))
        self.agent = NodeAgent(agent_api, NODE, self.root / "node", say=self.say)
        self.agent.start()
        self.say(f"node {NODE} ready ({time.monotonic() - started:.0f}s)")

    def down(self) -> None:
        """Node agent, Metacontroller (so nothing calls the hook any more), hook, the rest."""
        if self.agent is not None:
            self.agent.stop()
        if self.plane is not None:
            self.plane.stop_metacontroller()
        if self.hook is not None:
            timer = time.monotonic()
            self.hook.stop()
            self.say(f"hook stopped in {time.monotonic() - timer:.1f}s")
        if self.plane is not None:
            self.plane.stop()

    def log_paths(self) -> dict[str, Path]:
        paths = dict(self.plane.log_paths()) if self.plane else {}
        paths.update(self.extra_logs)
        if self.agent is not None:
            paths["node agent pods"] = self.agent.work / "pods"
        return paths

    def describe_logs(self) -> str:
        return "\n".join(f"  {name}: {path}" for name, path in sorted(self.log_paths().items()))

    # -- helpers for tests and the demo ------------------------------------------------------

    def create_namespace(self, name: str) -> None:
        """A namespace enforcing Pod Security "restricted", with its default ServiceAccount."""
        assert self.api is not None
        core = client.CoreV1Api(self.api)
        core.create_namespace(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": {
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/enforce-version": "latest",
                    },
                },
            }
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                core.read_namespaced_service_account("default", name)
                return
            except ApiException as error:
                if error.status != 404:
                    raise
            time.sleep(0.2)
        raise RuntimeError(f"no default ServiceAccount in {name}")

    def secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        assert self.api is not None
        client.CoreV1Api(self.api).create_namespaced_secret(
            namespace,
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data},
        )

    def custom(self) -> client.CustomObjectsApi:
        assert self.api is not None
        return client.CustomObjectsApi(self.api)

    def nimbuild(self, namespace: str, name: str) -> dict[str, Any]:
        value = self.custom().get_namespaced_custom_object(
            "apps.nvidia.com", "v1alpha1", namespace, "nimbuilds", name
        )
        assert isinstance(value, dict)
        return value
