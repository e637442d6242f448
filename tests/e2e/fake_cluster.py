"""A STAND-IN for Metacontroller v2 and the cluster around it. Not Kubernetes, not
Metacontroller: just enough of both, written from `reference/metacontroller.md` §2 to §5, to run
NIMBuilds through their whole life against the real hook over HTTP and check what must hold.

What it plays:
- **API server**: holds objects by kind and `ns/name`; gives every new object a `uid`,
  `resourceVersion` and `creationTimestamp`; fills a Job's `spec.selector`, its template's
  controller labels and a few defaults; validates Jobs with kubernetes-validate (strict) and
  NIMBuild statuses against the CRD schema (a failure is a 422: nothing is written). Deleting
  a Job is Background propagation: the Job goes at once, the garbage collector deletes its
  pods in the next round (`gc_step`), so a sync in between still sees them.
- **Metacontroller** (CompositeController, hooks v2, `generateSelector`, child Jobs OnDelete):
  calls `/customize` once per (parent uid, generation) and caches the rules; selects related
  NIMCaches by name and build pods by label, in the parent's namespace, keyed `ns/name`;
  lists the Jobs the parent controls; calls `/sync`; parses the answer strictly (v2: an
  unknown key fails the call); creates returned Jobs that do not exist (adding the
  ownerReference, the `controller-uid` label and the last-applied annotation), leaves existing
  ones alone (OnDelete), deletes the ones no longer returned; then injects
  `status.observedGeneration` and replaces the status wholesale, writing it only if it differs
  from the live one. A failed hook call (non-200, timeout, refused connection, bad JSON)
  changes nothing and is retried. Every change re-enqueues the parents it concerns; a
  `converge()` loop runs until nothing changes, with a bound.
- **Stale reads** (`stale_reads = True`): the first sync after a parent write, when a change of
  a child or a related object triggered it, reads the parent from a cache that has not seen
  that write yet (the version before it), as Metacontroller's informer cache can (§2.4, §9);
  the cache then catches up. `force_stale = N` serves the next N syncs that older version
  whatever triggered them, to script one interleaving exactly.
- **Job controller** (checked against Kubernetes 1.36's `pkg/controller/job` and against the
  real kube-controller-manager 1.36.2 on loopback): creates the build pod from the Job template
  (labels, owner reference to the Job, the `batch.kubernetes.io/job-tracking` finalizer,
  dropped once the finished pod is counted); keeps `status.active/ready/terminating/failed/
  succeeded` current (finished pods stay counted after they are gone); replaces a failed pod
  only after its back-off, 10 s doubled per failure since the last success, at most 10 min,
  from the failure's `finishedAt` (measured: 10 s, then 20 s), on the harness clock
  (`converge()` stops while it waits: nothing happens then; `backoff_passes()` lets the time
  go by); retries up to `backoffLimit`; sets `SuccessCriteriaMet`, then `Complete` (the same
  second or the next in a real run; here the next); on failure (backoff limit, deadline) sets
  `FailureTarget`, deletes the pods still running (they run on through their grace period,
  then the kubelet kills them and they are gone once counted) and only then `Failed`. One step
  per round.
- **kubelet / scheduler**, scripted by the test: unschedulable, scheduled, running, NIM sidecar
  restarts, builder exit with a termination message (the result JSON of DESIGN §6). The NIM
  sidecar (an init container with `restartPolicy: Always`) is reported under
  `initContainerStatuses`, as the kubelet does; `finishedAt` times come from the harness clock.

Invariants are checked after every sync and recorded in `violations` (tests assert it stays
empty): at most one build Job per NIMBuild; no Job created once the NIMBuild was Ready; every
written status fits the CRD status schema, has well-formed conditions and reasons matching the
pattern; a condition whose status is the same as in the parent the sync read carries that
parent's `lastTransitionTime` (stale or not: see `transition_problems`); a Ready
NIMBuild stays Ready; no state flaps (A→B→A) while converging; a handed-back Job would not be
changed by an apply (it is a subset of the live Job).
"""

from __future__ import annotations

import copy
import functools
import http.client
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import orjson

# kubernetes-validate parses its schema files on every call; parse each once (same verdicts).
if not hasattr(kubernetes_validate.utils.schema_contents, "cache_info"):
    kubernetes_validate.utils.schema_contents = functools.cache(  # type: ignore[assignment]
        kubernetes_validate.utils.schema_contents
    )

JOB_KEY = "Job.batch/v1"
NIMCACHE_KEY = "NIMCache.apps.nvidia.com/v1alpha1"
POD_KEY = "Pod.v1"
BUILD_POD_LABEL = "nimbuild.apps.nvidia.com/nimbuild-uid"
PARENT_API = "apps.nvidia.com/v1alpha1"
LAST_APPLIED = "metacontroller.k8s.io/last-applied-configuration"
REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
RESPONSE_KEYS = {"status", "children", "resyncAfterSeconds", "finalized"}
RELATED_KINDS = {
    ("apps.nvidia.com/v1alpha1", "nimcaches"): ("NIMCache", NIMCACHE_KEY),
    ("v1", "pods"): ("Pod", POD_KEY),
}
NIM = "nim-build-ctr"
BUILDER = "engine-builder"
# The Job controller's pod failure back-off (kubernetes pkg/controller/job:
# DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff): 10 s doubled per failure since the
# last success, at most 10 min.
POD_FAILURE_BACKOFF = timedelta(seconds=10)
MAX_POD_FAILURE_BACKOFF = timedelta(minutes=10)
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
CONTROLLER = {
    "apiVersion": "metacontroller.k8s.io/v1alpha1",
    "kind": "CompositeController",
    "metadata": {"name": "nimbuild-controller"},
    "spec": {
        "generateSelector": True,
        "parentResource": {"apiVersion": PARENT_API, "resource": "nimbuilds"},
        "childResources": [
            {"apiVersion": "batch/v1", "resource": "jobs", "updateStrategy": {"method": "OnDelete"}}
        ],
        "hooks": {
            "sync": {"version": "v2", "webhook": {"path": "/sync"}},
            "customize": {"version": "v2", "webhook": {"path": "/customize"}},
        },
    },
}


class HookError(Exception):
    """A hook call Metacontroller counts as failed: nothing is applied, the key is retried."""


class NotConverged(AssertionError):
    pass


def _condition(conditions: Iterable[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == kind), None)


def _true(conditions: Iterable[dict[str, Any]], kind: str) -> bool:
    found = _condition(conditions, kind)
    return found is not None and found.get("status") == "True"


def is_subset(small: Any, big: Any) -> bool:
    """`small` ⊆ `big`: an apply of `small` over `big` would change nothing."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(
            k in big and is_subset(val, big[k]) for k, val in small.items()
        )
    if isinstance(small, list):
        return (
            isinstance(big, list)
            and len(small) == len(big)
            and all(is_subset(a, b) for a, b in zip(small, big, strict=True))
        )
    return bool(small == big)


@dataclass
class Write:
    """One status write of a parent, for the invariants and for test assertions."""

    status: dict[str, Any]
    stale: bool  # computed from a parent read from the lagging cache


@dataclass
class Stats:
    sync_calls: int = 0
    customize_calls: int = 0
    hook_errors: int = 0
    status_writes: int = 0
    jobs_created: int = 0
    jobs_deleted: int = 0
    pods_created: int = 0
    stale_syncs: int = 0
    rounds: int = 0
    errors: list[str] = field(default_factory=list)


class FakeCluster:
    """API server + Metacontroller + Job controller + kubelet stand-ins around one hook URL."""

    def __init__(
        self,
        hook_url: str,
        *,
        namespace: str = "default",
        timeout: float = 5.0,
        token: str | None = None,
        status_validator: Any = None,
        workers: int = 5,
    ) -> None:
        self.hook_url = hook_url
        self.namespace = namespace
        self.timeout = timeout
        self.token = token
        self.status_validator = status_validator
        self.workers = workers
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.lock = threading.RLock()
        self._rv = itertools.count(1000)
        self._uid = itertools.count(1)
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)
        self.customize_cache: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.customize_ok: dict[tuple[str, int], int] = {}
        self.queue: dict[tuple[str, str], str] = {}  # parent key -> "parent" | "other"
        self.history: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.writes: dict[tuple[str, str], list[Write]] = {}
        self.ready_seen: set[tuple[str, str]] = set()
        self.jobs_ever: dict[tuple[str, str], list[str]] = {}  # parent -> job uids created
        self.stale_reads = False  # transient lag: see sync()
        self.force_stale = 0  # the next N syncs read the parent from before its latest write
        self.seen_versions: set[str] = set()
        self.allow_rebuild_after_ready = False
        self.violations: list[str] = []
        self.stats = Stats()
        self.deadline_hit: set[str] = set()  # Job uids whose activeDeadlineSeconds passed
        self.hold_pods = False  # the Job controller creates no pods (e.g. quota)
        self.collect: set[str] = set()  # uids of deleted owners whose dependents the GC removes
        self.finished: dict[str, dict[str, str]] = {}  # Job uid -> {pod uid: final phase}

    # --- API server ---------------------------------------------------------------------------

    def _now(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _key(self, obj: dict[str, Any]) -> tuple[str, str, str]:
        meta = obj["metadata"]
        return obj["kind"], meta.get("namespace", self.namespace), meta["name"]

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        with self.lock:
            found = self.objects.get((kind, namespace or self.namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                copy.deepcopy(obj)
                for (k, ns, _), obj in sorted(self.objects.items())
                if k == kind and (namespace is None or ns == namespace)
            ]

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj["metadata"]
            meta.setdefault("namespace", self.namespace)
            meta["uid"] = f"00000000-0000-4000-8000-{next(self._uid):012d}"
            meta["resourceVersion"] = str(next(self._rv))
            meta["creationTimestamp"] = self._now()
            meta.setdefault("generation", 1)
            key = self._key(obj)
            assert key not in self.objects, f"{key} already exists"
            self.objects[key] = obj
            if obj["kind"] == "NIMBuild":
                self.history[(key[1], key[2])] = [copy.deepcopy(obj)]
            self._event(obj)
            return copy.deepcopy(obj)

    def update(self, obj: dict[str, Any], *, spec_changed: bool = False) -> dict[str, Any]:
        with self.lock:
            obj = copy.deepcopy(obj)
            key = self._key(obj)
            assert key in self.objects, f"{key} does not exist"
            meta = obj["metadata"]
            meta["resourceVersion"] = str(next(self._rv))
            if spec_changed:
                meta["generation"] = int(meta.get("generation", 1)) + 1
            self.objects[key] = obj
            if obj["kind"] == "NIMBuild":
                self.history[(key[1], key[2])].append(copy.deepcopy(obj))
            self._event(obj)
            return copy.deepcopy(obj)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        with self.lock:
            key = (kind, namespace or self.namespace, name)
            obj = self.objects.pop(key, None)
            if obj is None:
                return
            if kind == "Job":
                # Background propagation: the Job goes now; the garbage collector deletes its
                # pods afterwards (gc_step), so a sync can still see them in between.
                self.collect.add(obj["metadata"]["uid"])
            self._event(obj)

    def gc_step(self) -> bool:
        """The garbage collector: delete the dependents of owners that are gone."""
        with self.lock:
            doomed = [
                pod
                for pod in self.list("Pod")
                if any(
                    r.get("uid") in self.collect for r in pod["metadata"].get("ownerReferences", [])
                )
            ]
            for pod in doomed:
                self.delete("Pod", pod["metadata"]["name"], pod["metadata"]["namespace"])
            return bool(doomed)

    def _event(self, obj: dict[str, Any]) -> None:
        """Enqueue every parent this object concerns (Metacontroller's informer handlers)."""
        kind, ns, name = self._key(obj)
        if kind == "NIMBuild":
            self.queue[(ns, name)] = self.queue.get((ns, name), "parent")
            return
        for parent in self.list("NIMBuild"):
            pkey = (parent["metadata"]["namespace"], parent["metadata"]["name"])
            if kind == "Job":
                owners = obj["metadata"].get("ownerReferences", [])
                hit = any(r.get("uid") == parent["metadata"]["uid"] for r in owners)
            else:
                rules = self.customize_cache.get(
                    (parent["metadata"]["uid"], parent["metadata"].get("generation", 1))
                )
                hit = rules is None or any(self._matches(rule, obj) for rule in rules)
            if hit:
                self.queue[pkey] = "other"

    # --- Metacontroller ---------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        host_port = self.hook_url.removeprefix("http://")
        host, port = host_port.split(":")
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = http.client.HTTPConnection(host, int(port), timeout=self.timeout)
        try:
            conn.request("POST", path, body=orjson.dumps(body), headers=headers)
            answer = conn.getresponse()
            payload = answer.read()
        except (OSError, http.client.HTTPException) as error:
            raise HookError(f"http error: POST {path}: {error!r}") from None
        finally:
            conn.close()
        if answer.status != 200:
            raise HookError(f"unsupported status code: {answer.status} body: {payload[:200]!r}")
        try:
            decoded = json.loads(payload, parse_constant=_reject_constant)
        except ValueError as error:
            self.violations.append(f"{path}: 200 with a body that is not JSON: {error}")
            raise HookError(f"can't unmarshal webhookResponse: {error}") from None
        if not isinstance(decoded, dict):
            self.violations.append(f"{path}: 200 with a non-object body")
            raise HookError("can't unmarshal webhookResponse")
        return decoded

    def _rules(self, parent: dict[str, Any]) -> list[dict[str, Any]]:
        meta = parent["metadata"]
        key = (meta["uid"], int(meta.get("generation", 1)))
        if key not in self.customize_cache:
            with self.lock:
                self.stats.customize_calls += 1
            answer = self._post("/customize", {"controller": CONTROLLER, "parent": parent})
            if set(answer) != {"relatedResources"}:
                self.violations.append(f"customize: unexpected keys {sorted(answer)}")
                raise HookError("strict validation failed for customize response")
            rules = answer["relatedResources"]
            for rule in rules:
                if "names" in rule and "labelSelector" in rule:
                    self.violations.append(f"customize: names with a selector: {rule}")
                if (rule.get("apiVersion"), rule.get("resource")) not in RELATED_KINDS:
                    self.violations.append(f"customize: unknown related resource {rule}")
            self.customize_cache[key] = rules
            self.customize_ok[key] = self.customize_ok.get(key, 0) + 1
        return self.customize_cache[key]

    def _matches(self, rule: dict[str, Any], obj: dict[str, Any]) -> bool:
        kind_key = RELATED_KINDS.get((rule.get("apiVersion"), rule.get("resource")))
        if kind_key is None or obj["kind"] != kind_key[0]:
            return False
        meta = obj["metadata"]
        if rule.get("namespace") and meta.get("namespace") != rule["namespace"]:
            return False
        if "names" in rule:
            return meta["name"] in rule["names"]
        wanted = (rule.get("labelSelector") or {}).get("matchLabels") or {}
        labels = meta.get("labels") or {}
        return all(labels.get(k) == val for k, val in wanted.items())

    def _related(self, rules: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        related: dict[str, dict[str, Any]] = {}
        for rule in rules:
            kind, type_key = RELATED_KINDS[(rule["apiVersion"], rule["resource"])]
            group = related.setdefault(type_key, {})
            for obj in self.list(kind):
                if self._matches(rule, obj):
                    meta = obj["metadata"]
                    group[f"{meta['namespace']}/{meta['name']}"] = obj
        return related

    def _children(self, parent: dict[str, Any]) -> dict[str, dict[str, Any]]:
        uid = parent["metadata"]["uid"]
        owned = {}
        for job in self.list("Job", parent["metadata"]["namespace"]):
            refs = job["metadata"].get("ownerReferences", [])
            if any(r.get("uid") == uid and r.get("controller") for r in refs):
                owned[f"{job['metadata']['namespace']}/{job['metadata']['name']}"] = job
        return owned

    def sync(self, pkey: tuple[str, str], trigger: str = "parent") -> bool:
        """One Metacontroller sync of a parent; False when the hook call failed."""
        ns, name = pkey
        live = self.get("NIMBuild", name, ns)
        if live is None:
            return True
        with self.lock:
            history = self.history[pkey]
            latest = history[-1]["metadata"]["resourceVersion"]
            if self.force_stale > 0 and len(history) > 1:
                self.force_stale -= 1
                stale = True
            else:
                # The informer lags transiently: the first sync after a write, when a child or
                # related event triggered it, may still see the version before that write.
                stale = (
                    self.stale_reads
                    and trigger == "other"
                    and len(history) > 1
                    and latest not in self.seen_versions
                )
            self.seen_versions.add(latest)
            parent = copy.deepcopy(history[-2]) if stale else live
        try:
            rules = self._rules(parent)
            with self.lock:
                related = self._related(rules)
                observed = self._children(parent)
            body = {
                "controller": CONTROLLER,
                "parent": parent,
                "children": {JOB_KEY: observed},
                "related": related,
                "finalizing": False,
            }
            with self.lock:
                self.stats.sync_calls += 1
                self.stats.stale_syncs += stale
            answer = self._post("/sync", body)
        except HookError as error:
            with self.lock:
                self.stats.hook_errors += 1
                self.stats.errors.append(str(error))
            return False
        extra = set(answer) - RESPONSE_KEYS
        if extra:  # v2 parses strictly: an unknown key is a failed sync
            self.violations.append(f"{name}: sync answer has unknown keys {sorted(extra)}")
            return False
        with self.lock:
            self._apply(pkey, parent, observed, answer, stale)
        return True

    def _apply(
        self,
        pkey: tuple[str, str],
        parent: dict[str, Any],
        observed: dict[str, dict[str, Any]],
        answer: dict[str, Any],
        stale: bool,
    ) -> None:
        ns, name = pkey
        uid = parent["metadata"]["uid"]
        desired = [c for c in (answer.get("children") or []) if c is not None]
        wanted: set[str] = set()
        for child in desired:
            if child.get("apiVersion") != "batch/v1" or child.get("kind") != "Job":
                self.violations.append(f"{name}: child of an unmanaged kind {child.get('kind')}")
                continue
            child = copy.deepcopy(child)
            meta = child.setdefault("metadata", {})
            meta.setdefault("namespace", ns)
            meta.setdefault("labels", {}).setdefault("controller-uid", uid)
            ckey = f"{meta['namespace']}/{meta['name']}"
            wanted.add(ckey)
            live_child = observed.get(ckey)
            if live_child is not None:
                # OnDelete: never updated. An apply would change nothing if desired ⊆ live.
                if not is_subset(child, live_child):
                    self.violations.append(f"{name}: handed-back Job {ckey} differs from live")
                continue
            if self.get("Job", meta["name"], meta["namespace"]) is not None:
                continue  # AlreadyExists (another parent's, or not yet in our view): swallowed
            self._create_job(pkey, parent, child)
        for ckey, job in observed.items():
            if ckey not in wanted:
                self.stats.jobs_deleted += 1
                self.delete("Job", job["metadata"]["name"], job["metadata"]["namespace"])
        self._write_status(pkey, parent, answer.get("status"), stale)
        self._check(pkey)

    def _create_job(
        self, pkey: tuple[str, str], parent: dict[str, Any], job: dict[str, Any]
    ) -> None:
        meta = job["metadata"]
        meta.setdefault("annotations", {})[LAST_APPLIED] = json.dumps(job, sort_keys=True)
        meta["ownerReferences"] = [
            {
                "apiVersion": PARENT_API,
                "kind": "NIMBuild",
                "name": parent["metadata"]["name"],
                "uid": parent["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        try:
            kubernetes_validate.validate(job, "1.37", strict=True)
        except kubernetes_validate.ValidationError as error:
            self.violations.append(f"{pkey[1]}: Job rejected (422): {error}")
            return
        if pkey in self.ready_seen and not self.allow_rebuild_after_ready:
            self.violations.append(f"{pkey[1]}: a build Job created after the NIMBuild was Ready")
        spec = job["spec"]
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        template = spec["template"]
        template["spec"].setdefault("dnsPolicy", "ClusterFirst")
        template["spec"].setdefault("schedulerName", "default-scheduler")
        template["spec"].setdefault("terminationGracePeriodSeconds", 30)
        job["status"] = {}
        created = self.create(job)
        job_uid = created["metadata"]["uid"]
        created["spec"]["selector"] = {
            "matchLabels": {"batch.kubernetes.io/controller-uid": job_uid}
        }
        created["spec"]["template"]["metadata"].setdefault("labels", {}).update(
            {
                "batch.kubernetes.io/controller-uid": job_uid,
                "batch.kubernetes.io/job-name": meta["name"],
                "controller-uid": job_uid,
                "job-name": meta["name"],
            }
        )
        self.objects[self._key(created)] = created
        self.stats.jobs_created += 1
        self.jobs_ever.setdefault(pkey, []).append(job_uid)

    def _write_status(
        self, pkey: tuple[str, str], parent: dict[str, Any], status: Any, stale: bool
    ) -> None:
        ns, name = pkey
        new = dict(status) if isinstance(status, dict) else {}
        new["observedGeneration"] = parent["metadata"].get("generation", 1)
        live = self.get("NIMBuild", name, ns)
        if live is None or live.get("status") == new:
            return
        if self.status_validator is not None:
            problems = [e.message for e in self.status_validator.iter_errors(new)]
            if problems:
                self.violations.append(f"{name}: status rejected by the CRD schema: {problems}")
                return
        before = live.get("status") or {}
        self._check_transition(name, parent.get("status") or {}, before, new)
        live["status"] = new
        self.update(live)
        self.stats.status_writes += 1
        self.writes.setdefault(pkey, []).append(Write(copy.deepcopy(new), stale))
        if new.get("state") == "Ready":
            self.ready_seen.add(pkey)

    # --- invariants ---------------------------------------------------------------------------

    def _check_transition(
        self, name: str, read: dict[str, Any], before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        """`read`: the status of the parent the sync was given (stale or not); `before`: the
        live status the write replaces; `after`: the status written."""
        self.violations.extend(
            transition_problems(name, read, after)
            + leaving_ready(name, before, after, self.allow_rebuild_after_ready)
        )

    def _check(self, pkey: tuple[str, str]) -> None:
        jobs = self._children(self.get("NIMBuild", pkey[1], pkey[0]) or {"metadata": {"uid": ""}})
        if len(jobs) > 1:
            self.violations.append(f"{pkey[1]}: {len(jobs)} build Jobs at once: {sorted(jobs)}")

    def _check_flapping(self, pkey: tuple[str, str], first_write: int) -> None:
        states = [w.status.get("state") for w in self.writes.get(pkey, [])[first_write:]]
        seen: list[Any] = []
        for state in states:
            if seen and state != seen[-1] and state in seen:
                self.violations.append(f"{pkey[1]}: state flapped while converging: {states}")
                return
            if not seen or seen[-1] != state:
                seen.append(state)

    # --- Job controller -----------------------------------------------------------------------

    def _stamp(self) -> str:
        return self._clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _tick(self) -> str:
        """The harness clock moves one second, so each Job condition has its own time: the
        real Job controller adds `Complete` (or `Failed`) after `SuccessCriteriaMet` (or
        `FailureTarget`), once the pods are accounted for (the same second or the next)."""
        self._clock += timedelta(seconds=1)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _job_condition(self, job: dict[str, Any], kind: str, reason: str, message: str) -> None:
        at = self._tick()
        job.setdefault("status", {}).setdefault("conditions", []).append(
            {
                "type": kind,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastProbeTime": at,
                "lastTransitionTime": at,
            }
        )

    def pods_of(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        uid = job["metadata"]["uid"]
        return [
            pod
            for pod in self.list("Pod", job["metadata"]["namespace"])
            if any(r.get("uid") == uid for r in pod["metadata"].get("ownerReferences", []))
        ]

    def job_controller_step(self) -> bool:
        """One step of the Job controller over every Job; True when it changed something."""
        acted = False
        with self.lock:
            for job in self.list("Job"):
                conds = job.get("status", {}).get("conditions", [])
                if _true(conds, "Complete") or _true(conds, "Failed"):
                    continue
                acted |= self._job_step(job, conds)
        return acted

    def backoff_left(self, job: dict[str, Any]) -> timedelta:
        """How long the Job controller still waits before replacing a failed pod: 10 s, doubled
        for every further failure since the last success (a build Job has none before it
        completes), at most 10 min, counted from the last failure's finish (kubernetes
        pkg/controller/job backoff_utils.go)."""
        failed = sorted(
            _finished_at(p) for p in self.pods_of(job) if p["status"].get("phase") == "Failed"
        )
        if not failed:
            return timedelta(0)
        delay = min(POD_FAILURE_BACKOFF * 2 ** (len(failed) - 1), MAX_POD_FAILURE_BACKOFF)
        last = datetime.strptime(failed[-1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return max(last + delay - self._clock, timedelta(0))

    def backoff_passes(self) -> timedelta:
        """Time passes until every Job's pod failure back-off is over (nothing happens in the
        meantime: no event, no sync); how long that was."""
        with self.lock:
            waits = [self.backoff_left(job) for job in self.list("Job")]
            wait = max(waits, default=timedelta(0))
            self._clock += wait
            return wait

    def _count(self, job: dict[str, Any], pods: list[dict[str, Any]]) -> bool:
        """Keep `status.active/ready/terminating/failed/succeeded` current, as the real Job
        controller does (each change is a Job update, so a sync); True when they changed."""
        status = job.setdefault("status", {})
        before = copy.deepcopy(status)
        # Finished pods are counted once and stay counted after they are deleted, as the real
        # controller records them (uncountedTerminatedPods) before it drops their finalizer.
        finished = self.finished.setdefault(job["metadata"]["uid"], {})
        for pod in pods:
            if pod["status"].get("phase") in ("Failed", "Succeeded"):
                finished.setdefault(pod["metadata"]["uid"], pod["status"]["phase"])
                if pod["metadata"].pop("finalizers", None) is not None:
                    self.update(pod)  # counted: the tracking finalizer is dropped
        phases = list(finished.values())
        terminating = sum(1 for p in pods if "deletionTimestamp" in p["metadata"])
        counts = {
            "active": sum(
                1
                for p in pods
                if p["status"].get("phase") in ("Pending", "Running")
                and "deletionTimestamp" not in p["metadata"]
            ),
            "failed": phases.count("Failed"),
            "succeeded": phases.count("Succeeded"),
        }
        for key, value in counts.items():  # omitted when zero, as the API serves them
            if value:
                status[key] = value
            else:
                status.pop(key, None)
        status["ready"] = sum(1 for p in pods if _true(p["status"].get("conditions", []), "Ready"))
        status["terminating"] = terminating
        status.setdefault("uncountedTerminatedPods", {})
        return status != before

    def _job_step(self, job: dict[str, Any], conds: list[dict[str, Any]]) -> bool:
        pods = self.pods_of(job)
        active = [
            p
            for p in pods
            if p["status"].get("phase") in ("Pending", "Running")
            and "deletionTimestamp" not in p["metadata"]
        ]
        failed = [p for p in pods if p["status"].get("phase") == "Failed"]
        succeeded = [p for p in pods if p["status"].get("phase") == "Succeeded"]
        target = _condition(conds, "FailureTarget")
        if target is not None:
            alive = [p for p in pods if p["status"].get("phase") in ("Pending", "Running")]
            if active:
                # The Job controller deletes the pods still running (DELETE: a deletion
                # timestamp, the grace period running; they keep running meanwhile).
                for pod in active:
                    pod["metadata"]["deletionTimestamp"] = self._stamp()
                    self.update(pod)
                return True
            if alive:  # the kubelet kills their containers: the pods end Failed
                for pod in alive:
                    self._end_pod(pod, "Failed")
                return True
            gone = [p for p in pods if "deletionTimestamp" in p["metadata"]]
            if gone:
                # The kubelet's final delete: counted, they are gone from the API; only
                # then is the Job Failed.
                self._count(job, pods)
                for pod in gone:
                    self.objects.pop(self._key(pod), None)
                    self._event(pod)
                self.update(job)
                return True
            self._job_condition(job, "Failed", target["reason"], target["message"])
            self._count(job, pods)
            self.update(job)
            return True
        if _true(conds, "SuccessCriteriaMet"):
            self._job_condition(
                job, "Complete", "CompletionsReached", "Reached expected number of succeeded pods"
            )
            job["status"]["completionTime"] = self._clock.strftime("%Y-%m-%dT%H:%M:%SZ")
            self._count(job, pods)
            self.update(job)
            return True
        if job["metadata"]["uid"] in self.deadline_hit:
            self._job_condition(
                job,
                "FailureTarget",
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            )
            self.update(job)
            return True
        if succeeded:
            self._count(job, pods)
            self._job_condition(
                job,
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )
            self.update(job)
            return True
        if len(failed) > int(job["spec"].get("backoffLimit", 6)):
            self._count(job, pods)
            self._job_condition(
                job,
                "FailureTarget",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
            self.update(job)
            return True
        if self._count(job, pods):
            self.update(job)
            return True
        if not active and not self.hold_pods and self.backoff_left(job) == timedelta(0):
            self._create_pod(job)
            return True
        return False

    def _create_pod(self, job: dict[str, Any]) -> None:
        template = job["spec"]["template"]
        suffix = _suffix(self.stats.pods_created)
        spec = copy.deepcopy(template["spec"])
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{job['metadata']['name']}-{suffix}",
                "namespace": job["metadata"]["namespace"],
                "labels": dict(template["metadata"].get("labels", {})),
                "annotations": dict(template["metadata"].get("annotations", {})),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": job["metadata"]["name"],
                        "uid": job["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
                "finalizers": [JOB_TRACKING_FINALIZER],
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}],
            },
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": "Burstable"},
        }
        self.stats.pods_created += 1
        self.create(pod)
        self._count(job, self.pods_of(job))
        job["status"].setdefault("startTime", self._clock.strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.update(job)

    # --- kubelet / scheduler (scripted by tests) -----------------------------------------------

    def build_job(self, nimbuild: str) -> dict[str, Any] | None:
        parent = self.get("NIMBuild", nimbuild)
        assert parent is not None
        jobs = list(self._children(parent).values())
        return jobs[0] if jobs else None

    def build_pod(self, nimbuild: str) -> dict[str, Any]:
        """The newest pod of the NIMBuild's build Job."""
        job = self.build_job(nimbuild)
        assert job is not None, f"{nimbuild} has no build Job"
        pods = sorted(
            self.pods_of(job),
            key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"]),
        )
        assert pods, f"the Job of {nimbuild} has no pod"
        return pods[-1]

    def _statuses(self, pod: dict[str, Any], make: Callable[[str, bool], dict[str, Any]]) -> None:
        """(Re)write container statuses: `make(container name, is_init)` → status."""
        spec = pod["spec"]
        init = [make(c["name"], True) for c in spec.get("initContainers", [])]
        main = [make(c["name"], False) for c in spec.get("containers", [])]
        if init:
            pod["status"]["initContainerStatuses"] = init
        pod["status"]["containerStatuses"] = main

    def unschedulable(self, nimbuild: str, message: str) -> None:
        pod = self.build_pod(nimbuild)
        pod["status"] = {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                }
            ],
        }
        self.update(pod)

    def scheduled(self, nimbuild: str) -> None:
        pod = self.build_pod(nimbuild)
        pod["spec"]["nodeName"] = "gpu-node-1"
        pod["status"] = {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
        }
        self._statuses(
            pod,
            lambda name, init: _container(
                name, {"waiting": {"reason": "ContainerCreating" if init else "PodInitializing"}}
            ),
        )
        self.update(pod)

    def running(self, nimbuild: str) -> None:
        pod = self.build_pod(nimbuild)
        pod["status"] = {
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True"},
            ],
        }
        started = {"running": {"startedAt": self._clock.strftime("%Y-%m-%dT%H:%M:%SZ")}}
        self._statuses(pod, lambda name, init: _container(name, started))
        self.update(pod)

    def nim_restarted(self, nimbuild: str, exit_code: int, message: str) -> None:
        """The NIM sidecar died and the kubelet restarted it (restartPolicy Always)."""
        pod = self.build_pod(nimbuild)
        for status in pod["status"].get("initContainerStatuses", []):
            if status["name"] == NIM:
                status["restartCount"] += 1
                status["lastState"] = _terminated(exit_code, "Error", message, self._now())
                status["state"] = {"running": {"startedAt": self._now()}}
        self.update(pod)

    def builder_exits(self, nimbuild: str, exit_code: int, message: str) -> None:
        """The engine-builder ends with `message` as its termination message; the kubelet
        stops the sidecar and the pod ends (Succeeded on 0, Failed otherwise)."""
        pod = self.build_pod(nimbuild)
        phase = "Succeeded" if exit_code == 0 else "Failed"
        for status in pod["status"].get("containerStatuses", []):
            if status["name"] == BUILDER:
                reason = "Completed" if exit_code == 0 else "Error"
                status["state"] = _terminated(exit_code, reason, message, self._stamp())
                status["ready"] = False
        self._end_pod(pod, phase)

    def _end_pod(self, pod: dict[str, Any], phase: str) -> None:
        for status in pod["status"].get("initContainerStatuses", []):
            if "terminated" not in status.get("state", {}):
                status["state"] = _terminated(143, "Error", "", self._stamp())
                status["ready"] = False
        for status in pod["status"].get("containerStatuses", []):
            if "terminated" not in status.get("state", {}):
                status["state"] = _terminated(137, "Error", "", self._stamp())
        pod["status"]["phase"] = phase
        for cond in pod["status"].get("conditions", []):
            if cond["type"] in ("Ready", "ContainersReady"):  # nothing runs any more
                cond["status"] = "False"
        self.update(pod)

    # --- driving ------------------------------------------------------------------------------

    def converge(self, bound: int = 40) -> int:
        """Run the Job controller and Metacontroller until nothing changes; the number of
        rounds it took. NotConverged (with the trail) when the bound is reached."""
        start = {k: len(w) for k, w in self.writes.items()}
        for rounds in range(1, bound + 1):
            self.stats.rounds += 1
            acted = self.job_controller_step() | self.gc_step()
            with self.lock:
                work, self.queue = dict(self.queue), {}
            if not work and not acted:
                for pkey in self.writes:
                    self._check_flapping(pkey, start.get(pkey, 0))
                return rounds
            keys = sorted(work)
            triggers = [work[k] for k in keys]
            if len(keys) > 1 and self.workers > 1:  # different parents in parallel, as
                with ThreadPoolExecutor(self.workers) as pool:  # Metacontroller's workers
                    results = list(pool.map(self.sync, keys, triggers))
            else:
                results = [self.sync(k, t) for k, t in zip(keys, triggers, strict=True)]
            with self.lock:
                for pkey, ok in zip(keys, results, strict=True):
                    if not ok:  # retried, as Metacontroller's rate-limited requeue does
                        self.queue.setdefault(pkey, work[pkey])
        trail = {k[1]: [w.status.get("state") for w in v] for k, v in self.writes.items()}
        raise NotConverged(f"no fixpoint after {bound} rounds; writes: {trail}; {self.stats}")

    def rounds(self, count: int) -> None:
        """Run exactly `count` rounds (for a hook that is down: every sync fails)."""
        for _ in range(count):
            self.job_controller_step()
            self.gc_step()
            with self.lock:
                work, self.queue = dict(self.queue), {}
            for pkey, trigger in sorted(work.items()):
                if not self.sync(pkey, trigger):
                    self.queue.setdefault(pkey, trigger)

    def status(self, nimbuild: str) -> dict[str, Any]:
        parent = self.get("NIMBuild", nimbuild)
        assert parent is not None
        status: dict[str, Any] = parent.get("status") or {}
        return status

    def states(self, nimbuild: str) -> list[str]:
        """Every state written for this NIMBuild, in order, repeats collapsed."""
        out: list[str] = []
        for write in self.writes.get((self.namespace, nimbuild), []):
            state = write.status.get("state", "")
            if not out or out[-1] != state:
                out.append(state)
        return out


def transition_problems(name: str, read: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What is wrong with the conditions of a status a sync computed from a parent whose status
    was `read`. Each type at most once, a `Ready` condition agreeing with the state, reasons on
    the CRD pattern, and DESIGN §4: a condition whose status is the same as in the parent read
    carries that parent's `lastTransitionTime`, copied.

    The time is checked against what the sync *read*, not against the live status it replaces:
    Metacontroller writes whatever a sync computed over the live status (reference
    `metacontroller.md` §2.4), so after a stale read the time can legitimately move either way
    relative to the live one: forward when the parent read lacked the condition (the sync's
    clock), back when a later sync reads an older version that had the earlier, true time."""
    problems = []
    conditions = after.get("conditions") or []
    types = [c.get("type") for c in conditions]
    if len(types) != len(set(types)):
        problems.append(f"{name}: a condition type appears twice: {types}")
    ready = _condition(conditions, "Ready")
    if ready is None:
        problems.append(f"{name}: no Ready condition")
    elif (ready.get("status") == "True") != (after.get("state") == "Ready"):
        problems.append(f"{name}: Ready condition disagrees with state")
    for cond in conditions:
        if not REASON.match(str(cond.get("reason", ""))):
            problems.append(f"{name}: reason {cond.get('reason')!r} off pattern")
        old = _condition(read.get("conditions") or [], cond["type"])
        if old is None or old.get("status") != cond.get("status"):
            continue  # a transition: the sync's clock, or the Job's own time for its end
        was, now = old.get("lastTransitionTime"), cond.get("lastTransitionTime")
        if was != now:
            problems.append(
                f"{name}: {cond['type']} stayed {cond['status']} but lastTransitionTime "
                f"moved {was} → {now}"
            )
    return problems


def leaving_ready(
    name: str, before: dict[str, Any], after: dict[str, Any], allowed: bool
) -> list[str]:
    """A Ready NIMBuild stays Ready (unless the test deleted its Job on purpose)."""
    if before.get("state") == "Ready" and after.get("state") != "Ready" and not allowed:
        return [f"{name}: left Ready for {after.get('state')}"]
    return []


def _finished_at(pod: dict[str, Any]) -> str:
    """When a pod ended: its containers' latest `finishedAt`, as the Job controller reads it."""
    statuses = pod["status"].get("containerStatuses", []) + pod["status"].get(
        "initContainerStatuses", []
    )
    times = [s["state"]["terminated"]["finishedAt"] for s in statuses if "terminated" in s["state"]]
    return max(times, default="")


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not JSON")


def _suffix(number: int) -> str:
    """A pod-name suffix like the Job controller's (5 characters), unique per number."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    number = number * 104729 + 4096  # spread consecutive numbers; still one-to-one
    out = ""
    for _ in range(5):
        number, digit = divmod(number, len(alphabet))
        out += alphabet[digit]
    return out


def _container(name: str, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "image": "registry.example.com/image:tag",
        "imageID": "",
        "ready": "running" in state,
        "restartCount": 0,
        "started": "running" in state,
        "state": state,
    }


def _terminated(exit_code: int, reason: str, message: str, at: str) -> dict[str, Any]:
    term: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": "2026-01-01T00:00:00Z",
        "finishedAt": at,
    }
    if message:
        term["message"] = message
    return {"terminated": term}
