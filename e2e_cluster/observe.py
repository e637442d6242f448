"""Watches one namespace's NIMBuilds, Jobs and Pods and checks the invariants on every change.

Invariants (a breach is recorded in `violations` the moment it is seen):
- at most one Job per NIMBuild exists at any time;
- no Job and no build pod is created for a NIMBuild after it was seen Ready;
- a terminal state (Ready, Failed) never changes again;
- no condition flaps: a condition type's status never returns to a value it left; the
  summary condition `Ready` is always there.

A lastTransitionTime that goes back is NOT a violation, only noted (`notes`): the real
Metacontroller reads the parent from a cache that lags behind its own status writes, so a sync
can start from an older status and copy that status's older times (seen on the real control
plane; see docs/e2e.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

BUILD_POD_LABEL = "nimbuild.apps.nvidia.com/nimbuild-uid"
TERMINAL = ("Ready", "Failed")


@dataclass
class History:
    uid: str = ""
    statuses: list[dict[str, Any]] = field(default_factory=list)
    ready: bool = False
    jobs_seen: list[str] = field(default_factory=list)  # Job uids, in creation order
    live_jobs: set[str] = field(default_factory=set)
    pods_seen: list[str] = field(default_factory=list)
    condition_values: dict[str, list[str]] = field(default_factory=dict)
    condition_times: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> dict[str, Any]:
        return self.statuses[-1] if self.statuses else {}


class Observer:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.builds: dict[str, History] = {}
        self.by_uid: dict[str, str] = {}
        self.violations: list[str] = []
        self.notes: list[str] = []
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    # -- watching --------------------------------------------------------------------------

    def start(self) -> None:
        custom = client.CustomObjectsApi(self.api)
        batch = client.BatchV1Api(self.api)
        core = client.CoreV1Api(self.api)
        sources: list[tuple[Callable[..., Any], tuple[Any, ...], Callable[[str, Any], None]]] = [
            (
                custom.list_namespaced_custom_object,
                ("apps.nvidia.com", "v1alpha1", self.namespace, "nimbuilds"),
                self._on_nimbuild,
            ),
            (batch.list_namespaced_job, (self.namespace,), self._on_job),
            (core.list_namespaced_pod, (self.namespace,), self._on_pod),
        ]
        for function, args, handler in sources:
            thread = threading.Thread(
                target=self._watch, args=(function, args, handler), daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()

    def _watch(
        self,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        handler: Callable[[str, Any], None],
    ) -> None:
        version = ""
        while not self.stopping.is_set():
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    function, *args, resource_version=version or None, timeout_seconds=5
                ):
                    obj = event["raw_object"] if "raw_object" in event else event["object"]
                    version = obj["metadata"]["resourceVersion"]
                    with self.changed:
                        handler(event["type"], obj)
                        self.changed.notify_all()
                    if self.stopping.is_set():
                        stream.stop()
            except ApiException as error:
                if error.status == 410:
                    version = ""
                else:
                    time.sleep(0.5)
            except Exception:
                time.sleep(0.5)

    def _history(self, name: str) -> History:
        return self.builds.setdefault(name, History())

    def _violation(self, text: str) -> None:
        self.violations.append(text)

    def _on_nimbuild(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        history = self._history(name)
        if history.uid and history.uid != obj["metadata"]["uid"]:
            return  # a NIMBuild of the same name re-created: tests use fresh names
        history.uid = obj["metadata"]["uid"]
        self.by_uid[history.uid] = name
        status = obj.get("status") or {}
        if kind == "DELETED" or not status or status == history.status:
            return
        previous = history.status
        history.statuses.append(status)
        state = status.get("state")
        if previous.get("state") in TERMINAL and state != previous.get("state"):
            self._violation(f"{name}: terminal state {previous.get('state')} became {state}")
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        if "Ready" not in conditions:
            self._violation(f"{name}: status without the Ready condition: {status}")
        for kind_, condition in conditions.items():
            values = history.condition_values.setdefault(kind_, [])
            value = condition["status"]
            if values and values[-1] != value and value in values:
                self._violation(f"{name}: condition {kind_} flapped {values} → {value}")
            if not values or values[-1] != value:
                values.append(value)
            when = condition.get("lastTransitionTime", "")
            before = history.condition_times.get(kind_, "")
            if before and when < before:
                self.notes.append(f"{name}: {kind_} lastTransitionTime went back {before}→{when}")
            history.condition_times[kind_] = when
        if state == "Ready":
            history.ready = True

    def _owner(self, obj: dict[str, Any]) -> str | None:
        for ref in obj["metadata"].get("ownerReferences", []):
            if ref.get("kind") == "NIMBuild":
                return str(ref["uid"])
        return None

    def _on_job(self, kind: str, obj: dict[str, Any]) -> None:
        owner = self._owner(obj)
        name = self.by_uid.get(owner or "")
        if name is None:
            return
        history = self._history(name)
        uid = obj["metadata"]["uid"]
        if kind == "DELETED":
            history.live_jobs.discard(uid)
            return
        if uid not in history.jobs_seen:
            history.jobs_seen.append(uid)
            if history.ready:
                self._violation(f"{name}: Job {obj['metadata']['name']} created after Ready")
        history.live_jobs.add(uid)
        if len(history.live_jobs) > 1:
            self._violation(f"{name}: {len(history.live_jobs)} Jobs at once")

    def _on_pod(self, kind: str, obj: dict[str, Any]) -> None:
        owner = obj["metadata"].get("labels", {}).get(BUILD_POD_LABEL)
        name = self.by_uid.get(owner or "")
        if name is None or kind == "DELETED":
            return
        history = self._history(name)
        uid = obj["metadata"]["uid"]
        if uid not in history.pods_seen:
            history.pods_seen.append(uid)
            if history.ready:
                self._violation(f"{name}: pod {obj['metadata']['name']} created after Ready")

    # -- waiting -----------------------------------------------------------------------------

    def wait(self, what: str, check: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
                self.changed.wait(min(left, 0.5))

    def wait_state(self, name: str, state: str, timeout: float = 60) -> dict[str, Any]:
        self.wait(
            f"{name} in state {state} (now {self.state(name)})",
            lambda: self.state(name) == state,
            timeout,
        )
        return self.builds[name].status

    def state(self, name: str) -> str | None:
        history = self.builds.get(name)
        return history.status.get("state") if history else None

    def states(self, name: str) -> list[tuple[str, str]]:
        """(state, Ready reason) of every status seen, consecutive repeats folded."""
        seen: list[tuple[str, str]] = []
        for status in self.builds[name].statuses:
            ready: dict[str, Any] = next(
                (c for c in status.get("conditions", []) if c["type"] == "Ready"), {}
            )
            entry = (str(status.get("state")), str(ready.get("reason")))
            if not seen or seen[-1] != entry:
                seen.append(entry)
        return seen
