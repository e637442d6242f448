"""NIMBuild lifecycles end to end: the real hook (gunicorn, real HTTP on 127.0.0.1) driven by
the Metacontroller/cluster stand-in in `fake_cluster.py`, each scenario run to convergence.

After every sync the stand-in checks its invariants (at most one build Job, none after Ready,
statuses valid for the CRD, reasons on pattern, stable `lastTransitionTime`, no flapping, no
drift of handed-back Jobs); `settle()` converges and asserts none was broken.

Scenarios: happy path; NIMCache created late; NIMCache not Ready then Ready; NIMCache Failed
(then recovered); several buildable profiles; a named profile; pod unschedulable then
scheduled; NIM sidecar crashing until the Job fails; builder timeout; a pod failure the Job
retries; the Job's deadline; result unreadable; Job deleted mid-build; Job and NIMCache
deleted after Ready; hook killed and restarted mid-build; hook answering 500 for a while; hook
timing out / dropping connections; stale parent reads throughout a build; stale reads after
the finished Job was deleted (the safety net, and a documented limit); several NIMBuilds on
one NIMCache synced by parallel workers; the trtllm backend; an invalid spec.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from builders import buildable, nimbuild, nimcache

from e2e.fake_cluster import FakeCluster, transition_problems
from e2e.server import FaultProxy, HookServer
from engine_builder.result import OutputProfile, error_result, success_result

pytestmark = pytest.mark.slow

UNSCHEDULABLE = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


def settle(cluster: FakeCluster, bound: int = 40) -> int:
    rounds = cluster.converge(bound)
    problems, cluster.violations = cluster.violations, []  # reported once, here
    assert problems == [], "\n".join(problems)
    return rounds


def tick() -> None:
    """Wait for the next wall-clock second, so the hook's `now` differs from earlier syncs and
    a `lastTransitionTime` that is not carried over would show."""
    time.sleep(1.02 - time.time() % 1)


def result_for(name: str, profile: str = "buildable-profile", tp: str = "1") -> str:
    """What engine_builder writes to its termination message on success (DESIGN §6)."""
    built = OutputProfile(
        name=f"{profile}-built-{name}",
        model="test-model",
        release="1.3.3",
        config={
            "llm_engine": "tensorrt_llm",
            "model_name": name,
            "input_profile": profile,
            "tp": tp,
            "precision": "fp16",
        },
    )
    return success_result(built, f"/model-store/local_cache/{name}/trtllm_engine", 83.8).decode()


def create_world(
    cluster: FakeCluster,
    name: str = "build-a",
    *,
    cache: dict[str, Any] | None = None,
    cache_first: bool = True,
    **spec: Any,
) -> None:
    cache = cache if cache is not None else nimcache(profiles=[buildable(tp="1")])
    if cache_first and cache:
        cluster.create(cache)
    cluster.create(nimbuild(name, **spec))
    if not cache_first and cache:
        cluster.create(cache)


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    found = next((c for c in status.get("conditions", []) if c["type"] == kind), None)
    assert found is not None, f"no {kind} in {json.dumps(status, indent=1)}"
    return found


def builder_env(job: dict[str, Any], name: str) -> str:
    containers = job["spec"]["template"]["spec"]["containers"]
    builder = next(c for c in containers if c["name"] == "engine-builder")
    value: str = next(e["value"] for e in builder["env"] if e["name"] == name)
    return value


def run_build(cluster: FakeCluster, name: str, message: str | None = None) -> None:
    """Scheduler and kubelet take the build pod from Pending to a successful builder exit."""
    cluster.scheduled(name)
    settle(cluster)
    cluster.running(name)
    settle(cluster)
    cluster.builder_exits(name, 0, message or result_for(name))
    settle(cluster)


def assert_ready(cluster: FakeCluster, name: str, profile: str = "buildable-profile") -> None:
    status = cluster.status(name)
    assert status["state"] == "Ready", status
    assert status["outputProfile"]["name"] == f"{profile}-built-{name}"
    assert status["inputProfile"]["name"] == profile
    assert condition(status, "Ready")["status"] == "True"
    assert condition(status, "NIM_BUILD_ENGINE_BUILD_POD_PENDING")["status"] == "False"
    assert condition(status, "NIM_BUILD_MODEL_MANIFEST_POD_COMPLETED")["status"] == "True"


def assert_fixpoint(cluster: FakeCluster, name: str) -> None:
    """One more sync of the converged world writes nothing and changes no child."""
    before = (cluster.stats.status_writes, cluster.stats.jobs_created, cluster.stats.jobs_deleted)
    assert cluster.sync(("default", name))
    after = (cluster.stats.status_writes, cluster.stats.jobs_created, cluster.stats.jobs_deleted)
    assert after == before


# --- the build's own course -------------------------------------------------------------------


def test_happy_path_reaches_ready(cluster: FakeCluster) -> None:
    create_world(cluster)
    settle(cluster)
    assert cluster.status("build-a")["state"] == "InProgress"
    job = cluster.build_job("build-a")
    assert job is not None
    assert job["metadata"]["name"] == "build-a-engine-build"
    assert builder_env(job, "NIMBUILD_INPUT_PROFILE") == "buildable-profile"
    pod = cluster.build_pod("build-a")
    assert (
        pod["metadata"]["labels"]["nimbuild.apps.nvidia.com/nimbuild-uid"]
        == (cluster.get("NIMBuild", "build-a") or {})["metadata"]["uid"]
    )
    tick()
    run_build(cluster, "build-a")
    assert_ready(cluster, "build-a")
    assert cluster.states("build-a") == ["Started", "InProgress", "Ready"]
    assert cluster.stats.jobs_created == 1 and cluster.stats.jobs_deleted == 0
    assert cluster.stats.customize_calls == 1  # cached per (uid, generation)
    assert cluster.stats.hook_errors == 0
    assert_fixpoint(cluster, "build-a")
    # The finished Job is kept as the record of the build (for kubectl logs, and stale reads).
    job = cluster.build_job("build-a")
    assert job is not None
    # As the real Job controller: SuccessCriteriaMet first, then Complete (the same second or
    # the next in a real run; the build is InProgress, PodSucceeded, in between); the counts
    # kept current and the pod's tracking finalizer dropped once it is counted.
    met, complete = (condition(job["status"], t) for t in ("SuccessCriteriaMet", "Complete"))
    assert met["lastTransitionTime"] <= complete["lastTransitionTime"]
    assert job["status"]["succeeded"] == 1 and "active" not in job["status"]
    assert job["status"]["ready"] == 0 and job["status"]["terminating"] == 0
    assert "finalizers" not in cluster.build_pod("build-a")["metadata"]


def test_nimcache_created_late(cluster: FakeCluster) -> None:
    create_world(cluster, cache_first=False, cache={})
    settle(cluster)
    status = cluster.status("build-a")
    assert status["state"] == "Pending"
    assert condition(status, "NIM_BUILD_NIM_CACHE_NOT_FOUND")["status"] == "True"
    assert cluster.build_job("build-a") is None
    assert_fixpoint(cluster, "build-a")
    cluster.create(nimcache(profiles=[buildable(tp="1")]))  # the related rule picks it up
    settle(cluster)
    run_build(cluster, "build-a")
    assert_ready(cluster, "build-a")
    assert cluster.states("build-a") == ["Pending", "Started", "InProgress", "Ready"]
    assert condition(cluster.status("build-a"), "NIM_BUILD_NIM_CACHE_NOT_FOUND")["status"] == (
        "False"
    )


def test_nimcache_not_ready_then_ready(cluster: FakeCluster) -> None:
    create_world(cluster, cache=nimcache(state="InProgress", profiles=[]))
    settle(cluster)
    status = cluster.status("build-a")
    assert status["state"] == "Pending"
    assert condition(status, "NIM_BUILD_WAIT_FOR_NIM_CACHE_READY")["status"] == "True"
    tick()
    cache = cluster.get("NIMCache", "test-nimcache")
    assert cache is not None
    cache["status"] = {"state": "Ready", "profiles": [buildable(tp="1")]}
    cluster.update(cache)
    settle(cluster)
    run_build(cluster, "build-a")
    assert_ready(cluster, "build-a")
    waited = condition(cluster.status("build-a"), "NIM_BUILD_WAIT_FOR_NIM_CACHE_READY")
    assert waited["status"] == "False"


def test_nimcache_failed_then_recovered(cluster: FakeCluster) -> None:
    create_world(cluster, cache=nimcache(state="Failed", profiles=[]))
    settle(cluster)
    status = cluster.status("build-a")
    assert status["state"] == "Failed"
    assert condition(status, "NIM_BUILD_NIM_CACHE_FAILED")["reason"] == "NIMCacheFailed"
    assert cluster.build_job("build-a") is None
    assert_fixpoint(cluster, "build-a")
    # No build ran, so Failed is not final: a NIMCache that recovers lets the build start.
    cache = cluster.get("NIMCache", "test-nimcache")
    assert cache is not None
    cache["status"] = {"state": "Ready", "profiles": [buildable(tp="1")]}
    cluster.update(cache)
    settle(cluster)
    run_build(cluster, "build-a")
    assert_ready(cluster, "build-a")


def test_several_buildable_profiles_fail_without_a_job(cluster: FakeCluster) -> None:
    profiles = [buildable("profile-a", tp="1"), buildable("profile-b", tp="2")]
    create_world(cluster, cache=nimcache(profiles=profiles))
    settle(cluster)
    status = cluster.status("build-a")
    assert status["state"] == "Failed"
    found = condition(status, "NIM_BUILD_MULTIPLE_BUILDABLE_PROFILES_FOUND")
    assert "profile-a" in found["message"] and "profile-b" in found["message"]
    assert cluster.stats.jobs_created == 0
    assert_fixpoint(cluster, "build-a")


def test_named_profile_is_built(cluster: FakeCluster) -> None:
    profiles = [buildable("profile-a", tp="1"), buildable("profile-b", tp="2")]
    create_world(cluster, cache=nimcache(profiles=profiles), profile="profile-b")
    settle(cluster)
    job = cluster.build_job("build-a")
    assert job is not None
    assert builder_env(job, "NIMBUILD_INPUT_PROFILE") == "profile-b"
    nim = job["spec"]["template"]["spec"]["initContainers"][0]
    assert {"name": "NIM_MODEL_PROFILE", "value": "profile-b"} in nim["env"]
    assert nim["resources"]["limits"]["nvidia.com/gpu"] == "2"
    run_build(cluster, "build-a", result_for("build-a", "profile-b", tp="2"))
    assert_ready(cluster, "build-a", profile="profile-b")


def test_pod_unschedulable_then_scheduled(cluster: FakeCluster) -> None:
    create_world(cluster)
    settle(cluster)
    cluster.unschedulable("build-a", UNSCHEDULABLE)
    settle(cluster)
    status = cluster.status("build-a")
    assert status["state"] == "InProgress"
    pending = condition(status, "NIM_BUILD_ENGINE_BUILD_POD_PENDING")
    assert pending["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in pending["message"]
    assert condition(status, "Ready")["reason"] == "Unschedulable"
    tick()
    cluster.scheduled("build-a")
    settle(cluster)
    assert condition(cluster.status("build-a"), "NIM_BUILD_ENGINE_BUILD_POD_PENDING")["reason"] == (
        "ContainerCreating"
    )
    cluster.running("build-a")
    settle(cluster)
    assert condition(cluster.status("build-a"), "NIM_BUILD_ENGINE_BUILD_POD_PENDING")["reason"] == (
        "PodRunning"
    )
    cluster.builder_exits("build-a", 0, result_for("build-a"))
    settle(cluster)
    assert_ready(cluster, "build-a")
    assert cluster.stats.pods_created == 1


def test_nim_crash_until_the_job_fails(cluster: FakeCluster) -> None:
    crash = "CUDA error: out of memory"
    builder_error = error_result(
        "the NIM server exited before it was ready; see kubectl logs -c nim-build-ctr --previous"
    ).decode()
    create_world(cluster)
    settle(cluster)
    for attempt in range(2):  # backoffLimit 1: the Job tries twice
        if attempt == 1:  # the Job controller replaces the failed pod after its back-off
            assert cluster.stats.pods_created == 1
            assert timedelta(0) < cluster.backoff_passes() <= timedelta(seconds=10)
            settle(cluster)
        cluster.running("build-a")
        settle(cluster)
        cluster.nim_restarted("build-a", 1, crash)
        settle(cluster)
        status = cluster.status("build-a")
        assert status["state"] == "InProgress"
        pending = condition(status, "NIM_BUILD_ENGINE_BUILD_POD_PENDING")
        assert "restarted 1 time(s)" in pending["message"] and crash in pending["message"]
        cluster.builder_exits("build-a", 1, builder_error)
        settle(cluster)
        if attempt == 0:
            status = cluster.status("build-a")
            assert status["state"] == "InProgress"
            pending = condition(status, "NIM_BUILD_ENGINE_BUILD_POD_PENDING")
            assert pending["reason"] == "PodFailed"
            assert "the NIM server exited before it was ready" in pending["message"]
    status = cluster.status("build-a")
    assert status["state"] == "Failed"
    completed = condition(status, "NIM_BUILD_ENGINE_BUILD_POD_COMPLETED")
    assert completed["status"] == "False"
    assert completed["reason"] == "BackoffLimitExceeded"
    assert "the NIM server exited before it was ready" in completed["message"]
    assert crash in completed["message"] and "exitCode=1" in completed["message"]
    assert cluster.stats.jobs_created == 1 and cluster.stats.pods_created == 2
    assert cluster.build_job("build-a") is not None  # kept for kubectl logs
    assert_fixpoint(cluster, "build-a")


def test_builder_timeout_fails_the_build(cluster: FakeCluster) -> None:
    create_world(cluster, build={"backoffLimit": 0})
    settle(cluster)
    cluster.running("build-a")
    settle(cluster)
    message = error_result("timed out after 6480s waiting for the NIM server to be ready")
    cluster.builder_exits("build-a", 1, message.decode())
    settle(cluster)
    status = cluster.status("build-a")
    assert status["state"] == "Failed"
    completed = condition(status, "NIM_BUILD_ENGINE_BUILD_POD_COMPLETED")
    assert completed["reason"] == "BackoffLimitExceeded"
    assert "engine-builder: timed out after 6480s" in completed["message"]
    assert condition(status, "Ready")["reason"] == "BackoffLimitExceeded"
    assert cluster.stats.pods_created == 1
    assert_fixpoint(cluster, "build-a")


def test_failed_pod_is_retried_and_the_retry_succeeds(cluster: FakeCluster) -> None:
    create_world(cluster)
    settle(cluster)
    cluster.running("build-a")
    settle(cluster)
    cluster.builder_exits("build-a", 1, error_result("manifest not found").decode())
    settle(cluster)
    # Quiet until the Job controller's back-off (10 s after the first failure) is over: the
    # failed pod speaks for the build meanwhile.
    status = cluster.status("build-a")
    assert status["state"] == "InProgress" and cluster.stats.pods_created == 1
    pending = condition(status, "NIM_BUILD_ENGINE_BUILD_POD_PENDING")
    assert pending["reason"] == "PodFailed" and "manifest not found" in pending["message"]
    assert timedelta(0) < cluster.backoff_passes() <= timedelta(seconds=10)
    settle(cluster)
    assert cluster.stats.pods_created == 2  # the Job controller made a new pod
    assert cluster.status("build-a")["state"] == "InProgress"
    run_build(cluster, "build-a")
    assert_ready(cluster, "build-a")
    assert cluster.stats.jobs_created == 1


def test_job_deadline_exceeded(cluster: FakeCluster) -> None:
    create_world(cluster)
    settle(cluster)
    cluster.running("build-a")
    settle(cluster)
    job = cluster.build_job("build-a")
    assert job is not None
    cluster.deadline_hit.add(job["metadata"]["uid"])
    cluster.update(job)
    settle(cluster)
    # As the real Job controller: FailureTarget, the running pod deleted (it runs on through
    # its grace period until the kubelet kills it; it is gone once counted), then Failed.
    job = cluster.build_job("build-a")
    assert job is not None and cluster.pods_of(job) == []
    target, failed = (condition(job["status"], t) for t in ("FailureTarget", "Failed"))
    assert target["lastTransitionTime"] < failed["lastTransitionTime"]
    assert job["status"]["failed"] == 1 and job["status"]["terminating"] == 0
    status = cluster.status("build-a")
    assert status["state"] == "Failed"
    completed = condition(status, "NIM_BUILD_ENGINE_BUILD_POD_COMPLETED")
    assert completed["reason"] == "DeadlineExceeded"
    assert "active longer than specified deadline" in completed["message"]
    assert_fixpoint(cluster, "build-a")


def test_result_unreadable_fails_with_manifest_unreadable(cluster: FakeCluster) -> None:
    create_world(cluster)
    settle(cluster)
    run_build(cluster, "build-a", "Traceback (most recent call last): ...")
    status = cluster.status("build-a")
    assert status["state"] == "Failed"
    manifest = condition(status, "NIM_BUILD_MODEL_MANIFEST_POD_COMPLETED")
    assert manifest["status"] == "False" and manifest["reason"] == "ManifestUnreadable"
    assert "Traceback" in manifest["message"]
    assert "outputProfile" not in status
    assert_fixpoint(cluster, "build-a")


# --- things done to the build from outside ----------------------------------------------------


def test_job_deleted_mid_build_is_recreated_once(cluster: FakeCluster) -> None:
    create_world(cluster)
    settle(cluster)
    cluster.running("build-a")
    settle(cluster)
    old_pod = cluster.build_pod("build-a")
    cluster.delete("Job", "build-a-engine-build")
    # Background propagation: the Job is gone at once, its pod only when the garbage
    # collector gets to it (the next round); a sync in between still sees it.
    assert [p["metadata"]["name"] for p in cluster.list("Pod")] == [old_pod["metadata"]["name"]]
    settle(cluster)
    assert cluster.get("Pod", old_pod["metadata"]["name"]) is None
    assert cluster.stats.jobs_created == 2
    assert cluster.status("build-a")["state"] == "InProgress"
    run_build(cluster, "build-a")
    assert_ready(cluster, "build-a")
    assert cluster.stats.jobs_created == 2
    assert cluster.states("build-a") == ["Started", "InProgress", "Started", "InProgress", "Ready"]


def test_job_and_nimcache_deleted_after_ready_nothing_is_rebuilt(cluster: FakeCluster) -> None:
    create_world(cluster)
    settle(cluster)
    run_build(cluster, "build-a")
    ready = cluster.status("build-a")
    writes = cluster.stats.status_writes
    tick()
    cluster.delete("Job", "build-a-engine-build")
    settle(cluster)
    cluster.delete("NIMCache", "test-nimcache")
    settle(cluster)
    assert cluster.status("build-a") == ready
    assert cluster.stats.status_writes == writes
    assert cluster.stats.jobs_created == 1
    assert cluster.list("Job") == [] and cluster.list("Pod") == []
    assert_fixpoint(cluster, "build-a")


def test_hook_killed_and_restarted_mid_build(crd_status_validator: object) -> None:
    server = HookServer()
    server.start()
    try:
        cluster = FakeCluster(server.url, status_validator=crd_status_validator)
        create_world(cluster)
        settle(cluster)
        cluster.running("build-a")
        settle(cluster)
        before = cluster.status("build-a")
        server.kill()  # SIGKILL master and worker: a crashed hook pod
        cluster.builder_exits("build-a", 0, result_for("build-a"))
        cluster.rounds(3)
        assert cluster.stats.hook_errors >= 3
        assert all("http error" in e for e in cluster.stats.errors)
        assert cluster.status("build-a") == before  # nothing applied while the hook is down
        assert len(cluster.list("Job")) == 1
        server.start()  # same port, as a restarted pod behind the Service
        settle(cluster)
        assert_ready(cluster, "build-a")
        assert cluster.stats.jobs_created == 1
        assert cluster.violations == []
    finally:
        server.close()


def test_hook_answering_500_for_a_while(
    hook_server: HookServer, crd_status_validator: object
) -> None:
    with FaultProxy(hook_server.url) as proxy:
        cluster = FakeCluster(proxy.url, status_validator=crd_status_validator)
        proxy.fail(4)  # the first customize call and the retries fail
        create_world(cluster)
        settle(cluster)
        assert cluster.stats.hook_errors == 4
        assert cluster.stats.jobs_created == 1
        cluster.running("build-a")
        settle(cluster)
        before = (cluster.status("build-a"), cluster.list("Job"))
        proxy.fail(6)
        cluster.builder_exits("build-a", 0, result_for("build-a"))
        cluster.rounds(3)  # every sync fails: children and status stay as they are
        assert cluster.status("build-a") == before[0]
        jobs = cluster.list("Job")
        assert [j["metadata"]["uid"] for j in jobs] == [j["metadata"]["uid"] for j in before[1]]
        settle(cluster)
        assert proxy.pending() == 0 and cluster.stats.hook_errors == 10
        assert all("unsupported status code: 500" in e for e in cluster.stats.errors)
        assert_ready(cluster, "build-a")
        assert cluster.stats.jobs_created == 1
        assert cluster.violations == []


@pytest.mark.parametrize("kind", ["delay", "reset"])
def test_hook_timing_out_or_dropping_connections(
    hook_server: HookServer, crd_status_validator: object, kind: str
) -> None:
    # A 1 s client timeout: an ordinary sync on a loaded 2-core machine can take longer than
    # 0.3 s (that made a third, unplanned timeout once); the planned delays last 1.5 s.
    with FaultProxy(hook_server.url, delay=1.5) as proxy:
        cluster = FakeCluster(proxy.url, status_validator=crd_status_validator, timeout=1.0)
        create_world(cluster)
        settle(cluster)
        cluster.running("build-a")
        settle(cluster)
        before = cluster.status("build-a")
        proxy.fail(2, kind)
        cluster.builder_exits("build-a", 0, result_for("build-a"))
        cluster.rounds(2)
        assert cluster.status("build-a") == before
        assert cluster.stats.hook_errors == 2
        settle(cluster)
        assert_ready(cluster, "build-a")
        assert cluster.stats.jobs_created == 1
        assert cluster.violations == []


def test_stale_parent_reads_throughout_a_build(cluster: FakeCluster) -> None:
    """Every kubelet event is answered from a parent one status write behind (the informer
    had not delivered our last write yet); the hook, reading the Job and pods, still moves
    forward, writes nothing that flaps and starts exactly one build."""
    cluster.stale_reads = True

    def stale(action: Any, *args: Any) -> None:
        cluster.force_stale = 1
        action("build-a", *args)
        settle(cluster)

    create_world(cluster)
    settle(cluster)
    stale(cluster.unschedulable, UNSCHEDULABLE)
    tick()
    stale(cluster.scheduled)
    stale(cluster.running)
    stale(cluster.nim_restarted, 1, "segfault")
    tick()
    stale(cluster.builder_exits, 0, result_for("build-a"))
    assert_ready(cluster, "build-a")
    # After Ready, an event answered with the pre-Ready parent: the finished Job answers it.
    tick()
    cache = cluster.get("NIMCache", "test-nimcache")
    assert cache is not None
    cache["metadata"]["labels"] = {"touched": "yes"}
    cluster.force_stale = 1
    cluster.update(cache)
    settle(cluster)
    assert_ready(cluster, "build-a")
    assert cluster.stats.stale_syncs >= 6
    assert any(w.stale for w in cluster.writes[("default", "build-a")])
    assert cluster.stats.jobs_created == 1


def test_two_stale_reads_restore_the_earlier_transition_time(cluster: FakeCluster) -> None:
    """The interleaving that made the test above fail about one run in ten, scripted: sync 1
    writes A (time T0); sync 2 reads the parent from before A (no status), sees the Job and
    writes B with its own clock T1; sync 3 reads A (the cache one write behind B) and copies
    T0, the time the condition really became True, over B's T1. The time goes back, and that
    is right: each sync copies what it read (DESIGN §4), Metacontroller writes it over the
    live status (reference metacontroller.md §2.4), and the fresh read that follows keeps T0."""
    created = "NIM_BUILD_ENGINE_BUILD_POD_CREATED"
    create_world(cluster)
    cluster.rounds(1)  # A: Started, the Job created
    tick()
    cluster.force_stale = 1
    cluster.rounds(1)  # B: from the parent before A
    cluster.force_stale = 1
    cluster.rounds(1)  # C: from A, while B is live
    settle(cluster)
    writes = cluster.writes[("default", "build-a")]
    times = [condition(w.status, created)["lastTransitionTime"] for w in writes]
    assert [w.stale for w in writes[:3]] == [False, True, True]
    assert times[1] > times[0], "B took its own clock: A was not in what it read"
    assert times[2] == times[0], "C copied A's time"
    assert condition(cluster.status("build-a"), created)["lastTransitionTime"] == times[0]
    assert cluster.stats.jobs_created == 1
    assert_fixpoint(cluster, "build-a")


def test_transition_invariant_is_checked_against_the_parent_read() -> None:
    """The harness's time invariant can fail: a time not copied from the parent the sync read
    is reported, whichever way it moved; a copied one, or a flipped condition, is not."""

    def status(ready: str, since: str, state: str = "InProgress") -> dict[str, Any]:
        return {
            "state": state,
            "conditions": [
                {"type": "Ready", "status": ready, "reason": "R", "lastTransitionTime": since}
            ],
        }

    read = status("False", "2026-01-01T00:00:05Z")
    assert transition_problems("b", read, status("False", "2026-01-01T00:00:05Z")) == []
    assert transition_problems("b", read, status("True", "2026-01-01T00:00:09Z", "Ready")) == []
    for moved in ("2026-01-01T00:00:09Z", "2026-01-01T00:00:01Z"):
        (problem,) = transition_problems("b", read, status("False", moved))
        assert "stayed False but lastTransitionTime moved" in problem


def test_stale_read_after_ready_recreated_job_is_dropped(cluster: FakeCluster) -> None:
    """The safety net of DESIGN §4 (Stale reads): the user deletes the finished Job, one sync
    reads the parent from before Ready and starts a build; the next sync reads Ready, sees an
    unfinished Job and drops it before it ran. Ready again, nothing built twice."""
    create_world(cluster)
    settle(cluster)
    run_build(cluster, "build-a")
    ready = cluster.status("build-a")
    cluster.allow_rebuild_after_ready = True  # the Job is created, then dropped, by design
    cluster.delete("Job", "build-a-engine-build")
    cluster.force_stale = 2  # pre-Ready parent, then Ready (the cache one write behind)
    settle(cluster)
    assert cluster.stats.jobs_created == 2 and cluster.stats.jobs_deleted == 1
    assert cluster.list("Job") == [] and cluster.list("Pod") == []
    assert cluster.status("build-a") == ready
    assert cluster.states("build-a")[-3:] == ["Ready", "Started", "Ready"]


def test_stale_read_after_ready_and_job_deleted_rebuilds_once(cluster: FakeCluster) -> None:
    """A documented limit (README, Stale reads): once the user deleted the finished Job, the
    Ready status is the only record. A sync that reads the parent from before Ready sees just
    what a mid-build Job deletion looks like and starts the build again; when the next sync
    reads that new status (the cache caught up), the build runs once more. It converges to
    Ready with one Job; nothing loops."""
    create_world(cluster)
    settle(cluster)
    run_build(cluster, "build-a")
    assert_ready(cluster, "build-a")
    cluster.allow_rebuild_after_ready = True
    cluster.delete("Job", "build-a-engine-build")
    cluster.force_stale = 1
    settle(cluster)
    assert cluster.stats.jobs_created == 2
    assert cluster.status("build-a")["state"] == "InProgress"
    run_build(cluster, "build-a")
    assert_ready(cluster, "build-a")
    assert len(cluster.list("Job")) == 1
    assert cluster.stats.jobs_created == 2


def test_several_nimbuilds_share_one_nimcache_with_parallel_workers(
    cluster: FakeCluster,
) -> None:
    names = [f"build-{i}" for i in range(5)]
    cluster.create(nimcache(state="InProgress", profiles=[]))
    for name in names:
        cluster.create(nimbuild(name))
    settle(cluster)
    assert {cluster.status(n)["state"] for n in names} == {"Pending"}
    cache = cluster.get("NIMCache", "test-nimcache")
    assert cache is not None
    cache["status"] = {"state": "Ready", "profiles": [buildable(tp="1")]}
    cluster.update(cache)  # one related change: every NIMBuild is synced, in parallel
    settle(cluster)
    assert cluster.stats.jobs_created == len(names)
    for name in names:
        run_build(cluster, name)
    for name in names:
        assert_ready(cluster, name)
        job = cluster.build_job(name)
        assert job is not None and job["metadata"]["name"] == f"{name}-engine-build"
    assert cluster.stats.jobs_created == len(names)
    assert cluster.stats.customize_calls == len(names)


def test_trtllm_backend_reaches_ready(cluster: FakeCluster) -> None:
    create_world(cluster, build={"backend": "trtllm"})
    settle(cluster)
    job = cluster.build_job("build-a")
    assert job is not None
    assert "initContainers" not in job["spec"]["template"]["spec"]
    assert builder_env(job, "NIMBUILD_BACKEND") == "trtllm"
    run_build(cluster, "build-a")
    assert_ready(cluster, "build-a")


def test_invalid_spec_fails_without_a_job(cluster: FakeCluster) -> None:
    create_world(cluster, image={"repository": "nvcr.io/nim/test"})
    settle(cluster)
    status = cluster.status("build-a")
    assert status["state"] == "Failed"
    failed = condition(status, "NIM_BUILD_RECONCILE_FAILED")
    assert failed["reason"] == "InvalidSpec" and "spec.image.tag" in failed["message"]
    assert cluster.stats.jobs_created == 0
    assert_fixpoint(cluster, "build-a")
