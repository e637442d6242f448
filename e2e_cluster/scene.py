"""One scenario's namespace: NIMCaches and NIMBuilds made the way a user (and the NIM Operator)
would, and the invariant observer running from the start."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from e2e_cluster import mclog, nim_operator
from e2e_cluster.cluster import Cluster
from e2e_cluster.observe import Observer

GROUP, VERSION = "apps.nvidia.com", "v1alpha1"
MODEL = "meta/llama-3.1-8b-instruct"


@dataclass
class Scene:
    cluster: Cluster
    namespace: str
    observer: Observer

    @classmethod
    @contextlib.contextmanager
    def open(cls, cluster: Cluster, namespace: str) -> Iterator[Scene]:
        cluster.create_namespace(namespace)
        cluster.secret(namespace, "ngc-api-secret", {"NGC_API_KEY": "e2e-not-a-key"})
        assert cluster.api is not None
        observer = Observer(cluster.api, namespace)
        observer.start()
        try:
            yield cls(cluster, namespace, observer)
        finally:
            observer.stop()

    @property
    def api(self) -> client.ApiClient:
        assert self.cluster.api is not None
        return self.cluster.api

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def nimcache(self, name: str) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "NIMCache",
            "metadata": {"name": name},
            "spec": {
                "source": {"ngc": {"modelPuller": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
                                   "authSecret": "ngc-api-secret"}},
                "storage": {"pvc": {"create": True, "size": "100Gi",
                                    "volumeAccessMode": "ReadWriteOnce"}},
            },
        }  # fmt: skip
        created = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "nimcaches", body
        )
        assert isinstance(created, dict)
        return created

    def cache_ready(self, name: str, *, tp: int = 1) -> None:
        """The NIM Operator's part: volume, status Ready with one buildable profile."""
        nim_operator.make_ready(
            self.api, self.namespace, name, self.cluster.root / "volumes",
            [nim_operator.buildable_profile(MODEL, tp=tp)],
        )  # fmt: skip

    def nimbuild(
        self, name: str, cache: str, *, env: dict[str, str] | None = None, **spec: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "NIMBuild",
            "metadata": {"name": name},
            "spec": {
                "nimCache": {"name": cache},
                "image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct", "tag": "1.3.3"},
                **spec,
            },
        }
        if env:
            body["spec"]["env"] = [{"name": k, "value": v} for k, v in env.items()]
        created = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "nimbuilds", body
        )
        assert isinstance(created, dict)
        return created

    def built(self, name: str = "build", cache: str = "cache", **spec: Any) -> dict[str, Any]:
        """A Ready NIMCache, then a NIMBuild of it, waited for to Ready; its status."""
        self.nimcache(cache)
        self.cache_ready(cache)
        self.nimbuild(name, cache, **spec)
        return self.observer.wait_state(name, "Ready", timeout=90)

    def get(self, name: str) -> dict[str, Any]:
        return self.cluster.nimbuild(self.namespace, name)

    def jobs(self) -> list[dict[str, Any]]:
        items = client.BatchV1Api(self.api).list_namespaced_job(self.namespace).to_dict()
        return list(items["items"])

    def pods(self) -> list[Any]:
        return list(client.CoreV1Api(self.api).list_namespaced_pod(self.namespace).items)

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        history = self.observer.builds.get(name)
        status = history.status if history else {}
        return next((c for c in status.get("conditions", []) if c["type"] == kind), {})

    def metacontroller_log(self) -> Any:
        assert self.cluster.plane is not None
        return self.cluster.plane.log_paths()["metacontroller"]

    def syncs(self, name: str) -> int:
        return mclog.syncs(self.metacontroller_log(), self.namespace, name)

    def assert_invariants(self, *, metacontroller_errors_allowed: bool = False) -> None:
        """What every scenario ends with: no invariant broken, every write accepted."""
        time.sleep(0.5)  # let the last watch events arrive
        violations = self.observer.violations
        if violations:
            seen = []
            for name, history in self.observer.builds.items():
                for status in history.statuses:
                    brief = {c["type"]: (c["status"], c.get("reason"), c.get("message", "")[:80])
                             for c in status.get("conditions", [])}  # fmt: skip
                    seen.append(f"{name}: {status.get('state')} {brief}")
            raise AssertionError(
                "invariants broken:\n" + "\n".join(violations) + "\nstatuses:\n" + "\n".join(seen)
            )
        if not metacontroller_errors_allowed:
            errors = mclog.errors(self.metacontroller_log(), self.namespace)
            assert not errors, "Metacontroller logged errors:\n" + "\n".join(errors)
        assert self.cluster.agent is not None
        assert not self.cluster.agent.errors, "\n".join(self.cluster.agent.errors)
