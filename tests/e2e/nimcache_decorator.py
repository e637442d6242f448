"""STAND-INS for Metacontroller's NIMCache DecoratorController and for the NIM Operator's
NIMCache controller, on top of the cluster stand-in of `fake_cluster.py`. Not Metacontroller,
not the NIM Operator: their behaviour as `reference/nimcache-and-nimservice.md` and
Metacontroller v4.17.2's `pkg/controller/decorator` describe it, enough to run the publish
loop of DESIGN §9 against the real hook over HTTP.

What `DecoratedCluster` adds to `FakeCluster`:
- **DecoratorController** (`metacontroller/decoratorcontroller.yaml`, hooks v2): every
  NIMCache is a target; `/nimcache/customize` is called once per (uid, generation) and its
  rules cached; the related NIMBuilds are the ones the rules select, keyed `ns/name`. A change
  of a NIMCache (status included: no `ignoreStatusChanges`) or of a related NIMBuild enqueues
  the NIMCache. A sync posts `{controller, parent, children: {}, related, finalizing}`, parses
  the answer strictly (a key outside the v2 decorator response is a failed call), and when
  `status` is not null and differs from the status of the copy it read, writes it with that
  copy's resourceVersion: a stale copy gets 409 and the write is dropped (no retry; the event
  that made the copy stale has enqueued the NIMCache already).
- **Stale reads**: `decorator_stale = N` serves the next N decorator syncs the NIMCache version
  before its latest write, as a lagging informer cache would; the cache then delivers the
  newer version's event, which enqueues the NIMCache again.
- **NIM Operator** (`operator_read` / `operator_write`): a reconcile reads the NIMCache and
  ends by writing the whole status from that copy, over whatever was written in between (its
  retry on conflict resends the same copy); `operator_recache` / `operator_cached` play a
  re-run of the caching Job: state InProgress with `profiles: []`, then Ready with the
  manifest's profiles only.

Invariants checked after every decorator sync (recorded in `violations`): the answer has only
v2 decorator keys and never labels, annotations or attachments; a written status fits the
upstream NIMCache CRD status schema; it keeps every entry of the status it was computed from
as it was, in place; no profile name is listed twice.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from e2e.fake_cluster import FakeCluster, HookError, NotConverged

NIMBUILD_KEY = "NIMBuild.apps.nvidia.com/v1alpha1"
DECORATOR_RESPONSE_KEYS = {
    "labels",
    "annotations",
    "status",
    "attachments",
    "resyncAfterSeconds",
    "finalized",
}
DECORATOR = {
    "apiVersion": "metacontroller.k8s.io/v1alpha1",
    "kind": "DecoratorController",
    "metadata": {"name": "nimbuild-nimcache-profiles"},
    "spec": {
        "resources": [{"apiVersion": "apps.nvidia.com/v1alpha1", "resource": "nimcaches"}],
        "hooks": {
            "sync": {"version": "v2", "webhook": {"path": "/nimcache/sync"}},
            "customize": {"version": "v2", "webhook": {"path": "/nimcache/customize"}},
        },
    },
}


@dataclass
class DecoratorSync:
    """One decorator sync of a NIMCache, for assertions."""

    cache: str
    stale: bool
    added: list[str] = field(default_factory=list)  # profile names the answer appended
    written: bool = False
    conflict: bool = False  # written with a stale resourceVersion: 409, dropped


def nimservice_gpus(cache: dict[str, Any], profile: str) -> int | None:
    """The GPU count a NIMService on `cache` with `spec.storage.nimCache.profile: <profile>`
    gets automatically (NIM Operator `standalone/nimservice.go`): the listed profile's
    `tensorParallelism`, else `tp`, default 1; None when the profile is not listed (then no
    GPUs unless the user sets them)."""
    status = cache.get("status") or {}
    if status.get("state") != "Ready":
        return None
    for entry in status.get("profiles") or []:
        if entry.get("name") == profile:
            config = entry.get("config") or {}
            return int(config.get("tensorParallelism") or config.get("tp") or 1)
    return None


class DecoratedCluster(FakeCluster):
    """FakeCluster plus the NIMCache DecoratorController and the NIM Operator stand-ins."""

    def __init__(self, hook_url: str, *, nimcache_status_validator: Any = None, **kw: Any):
        super().__init__(hook_url, **kw)
        self.nimcache_status_validator = nimcache_status_validator
        self.decorator_queue: set[tuple[str, str]] = set()
        self.decorator_rules: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.decorator_log: list[DecoratorSync] = []
        self.cache_history: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.decorator_stale = 0
        self.decorator_customize_calls = 0
        self.ready_at: dict[str, int] = {}  # NIMBuild -> len(decorator_log) when it turned Ready

    # --- the API server keeps NIMCache versions; events reach the decorator too ----------------

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        created = super().create(obj)
        self._remember(created)
        return created

    def update(self, obj: dict[str, Any], *, spec_changed: bool = False) -> dict[str, Any]:
        updated = super().update(obj, spec_changed=spec_changed)
        self._remember(updated)
        return updated

    def _remember(self, obj: dict[str, Any]) -> None:
        if obj["kind"] == "NIMCache":
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            self.cache_history.setdefault(key, []).append(copy.deepcopy(obj))

    def _event(self, obj: dict[str, Any]) -> None:
        super()._event(obj)
        kind, ns, name = self._key(obj)
        if kind == "NIMCache":
            self.decorator_queue.add((ns, name))
        elif kind == "NIMBuild":
            if (obj.get("status") or {}).get("state") == "Ready" and name not in self.ready_at:
                self.ready_at[name] = len(self.decorator_log)
            for cache in self.list("NIMCache"):
                meta = cache["metadata"]
                rules = self.decorator_rules.get((meta["uid"], int(meta.get("generation", 1))))
                if rules is None or any(self._selects(rule, obj) for rule in rules):
                    self.decorator_queue.add((meta["namespace"], meta["name"]))

    # --- Metacontroller: DecoratorController --------------------------------------------------

    @staticmethod
    def _selects(rule: dict[str, Any], obj: dict[str, Any]) -> bool:
        """A v2 rule `{apiVersion, resource, namespace}` (namespace and names selection)."""
        if (rule.get("apiVersion"), rule.get("resource")) != (
            "apps.nvidia.com/v1alpha1",
            "nimbuilds",
        ) or obj["kind"] != "NIMBuild":
            return False
        meta = obj["metadata"]
        if rule.get("namespace") and meta.get("namespace") != rule["namespace"]:
            return False
        return "names" not in rule or meta["name"] in rule["names"]

    def _decorator_customize(self, target: dict[str, Any]) -> list[dict[str, Any]]:
        meta = target["metadata"]
        key = (meta["uid"], int(meta.get("generation", 1)))
        if key not in self.decorator_rules:
            self.decorator_customize_calls += 1
            body = {"controller": DECORATOR, "parent": target}
            answer = self._post("/nimcache/customize", body)
            if set(answer) != {"relatedResources"}:
                self.violations.append(f"nimcache customize: unexpected keys {sorted(answer)}")
                raise HookError("strict validation failed for customize response")
            for rule in answer["relatedResources"]:
                if not rule.get("namespace"):
                    self.violations.append(f"nimcache customize: rule lists all namespaces {rule}")
            self.decorator_rules[key] = answer["relatedResources"]
        return self.decorator_rules[key]

    def decorate(self, key: tuple[str, str]) -> bool:
        """One DecoratorController sync of a NIMCache; False when the hook call failed."""
        ns, name = key
        live = self.get("NIMCache", name, ns)
        if live is None:
            return True
        history = self.cache_history.get(key, [])
        stale = self.decorator_stale > 0 and len(history) > 1
        if stale:
            self.decorator_stale -= 1
        target = copy.deepcopy(history[-2]) if stale else live
        record = DecoratorSync(f"{ns}/{name}", stale)
        if stale:  # the informer has a newer version to deliver: its event enqueues again
            self.decorator_queue.add(key)
        try:
            rules = self._decorator_customize(target)
            with self.lock:
                builds = {
                    f"{b['metadata']['namespace']}/{b['metadata']['name']}": b
                    for b in self.list("NIMBuild")
                    if any(self._selects(rule, b) for rule in rules)
                }
            body = {
                "controller": DECORATOR,
                "parent": target,
                "children": {},
                "related": {NIMBUILD_KEY: builds},
                "finalizing": False,
            }
            answer = self._post("/nimcache/sync", body)
        except HookError as error:
            self.stats.hook_errors += 1
            self.stats.errors.append(str(error))
            return False
        self.decorator_log.append(record)
        unknown = set(answer) - DECORATOR_RESPONSE_KEYS
        if unknown:  # v2 parses strictly
            self.violations.append(f"{name}: decorator answer has unknown keys {sorted(unknown)}")
            return False
        for owned in ("labels", "annotations", "attachments"):
            if answer.get(owned):
                self.violations.append(f"{name}: the decorator answer sets {owned}")
        status = answer.get("status")
        observed = target.get("status") or {}
        if status is None or status == observed:  # null: leave it alone
            return True
        self._check_status(name, observed, status, record)
        if target["metadata"]["resourceVersion"] != live["metadata"]["resourceVersion"]:
            record.conflict = True  # UpdateStatus with the cached resourceVersion: 409, dropped
            return True
        live["status"] = status
        self.update(live)
        self.stats.status_writes += 1
        record.written = True
        return True

    def _check_status(
        self, name: str, observed: dict[str, Any], status: dict[str, Any], record: DecoratorSync
    ) -> None:
        if self.nimcache_status_validator is not None:
            problems = [e.message for e in self.nimcache_status_validator.iter_errors(status)]
            if problems:
                self.violations.append(f"{name}: status rejected by the NIMCache CRD: {problems}")
        before = observed.get("profiles") or []
        after = status.get("profiles") or []
        if after[: len(before)] != before:
            self.violations.append(f"{name}: the decorator removed or changed a listed profile")
        if {k: v for k, v in status.items() if k != "profiles"} != {
            k: v for k, v in observed.items() if k != "profiles"
        }:
            self.violations.append(f"{name}: the decorator changed a status field not its own")
        names = [p.get("name") for p in after]
        if len(names) != len(set(names)):
            self.violations.append(f"{name}: a profile listed twice: {names}")
        record.added = [str(n) for n in names[len(before) :]]

    # --- the NIM Operator's NIMCache controller -----------------------------------------------

    def operator_read(self, cache: str) -> dict[str, Any]:
        """The copy a NIM Operator reconcile reads at its start."""
        found = self.get("NIMCache", cache)
        assert found is not None
        return found

    def operator_write(self, copy_read: dict[str, Any]) -> None:
        """The end of that reconcile: the whole status from its copy, over anything newer."""
        live = self.operator_read(copy_read["metadata"]["name"])
        live["status"] = copy.deepcopy(copy_read.get("status") or {})
        self.update(live)

    def operator_recache(self, cache: str) -> None:
        """The caching Job runs again: InProgress, `profiles: []`."""
        live = self.operator_read(cache)
        live["status"] = {**live.get("status", {}), "state": "InProgress", "profiles": []}
        self.update(live)

    def operator_cached(self, cache: str, profiles: list[dict[str, Any]]) -> None:
        """The caching Job succeeded: Ready, profiles rebuilt from its manifest only."""
        live = self.operator_read(cache)
        live["status"] = {**live.get("status", {}), "state": "Ready", "profiles": profiles}
        self.update(live)

    # --- driving ------------------------------------------------------------------------------

    def converge(self, bound: int = 40) -> int:
        """Both controllers until neither has anything left to do; total rounds."""
        total = 0
        for _ in range(bound):
            total += super().converge(bound)
            with self.lock:
                work, self.decorator_queue = sorted(self.decorator_queue), set()
            if not work:
                return total
            for key in work:
                if not self.decorate(key):
                    self.decorator_queue.add(key)  # rate-limited requeue
        raise NotConverged(f"decorator: no fixpoint after {bound} passes; {self.decorator_log}")

    def listed(self, cache: str = "test-nimcache") -> list[str]:
        found = self.get("NIMCache", cache) or {}
        return [p.get("name", "") for p in (found.get("status") or {}).get("profiles") or []]
