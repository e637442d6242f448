"""Scenarios on the real control plane, each to convergence, invariants checked throughout
(see observe.py) and at the end (Scene.assert_invariants)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from e2e_cluster.cluster import Cluster
from e2e_cluster.scene import GROUP, VERSION, Scene

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from standins import nim_server

PENDING = "NIM_BUILD_ENGINE_BUILD_POD_PENDING"


def builder_message(scene: Scene) -> str:
    """The engine-builder's termination message of the newest failed build pod."""
    messages = []
    for pod in scene.pods():
        for status in pod.status.container_statuses or []:
            term = status.state.terminated
            if status.name == "engine-builder" and term is not None and term.exit_code != 0:
                messages.append((pod.metadata.creation_timestamp, term.message or ""))
    assert messages, "no failed engine-builder container"
    return sorted(messages)[-1][1]


def test_happy_path_ready_with_output_profile(scene: Scene, cluster: Cluster) -> None:
    status = scene.built(modelName="my-llama")
    assert status["outputProfile"]["name"] == nim_server.profile_id("my-llama", "v1")
    assert status["outputProfile"]["config"]["model_name"] == "my-llama"
    assert status["inputProfile"]["config"]["trtllm_buildable"] == "true"
    assert [s for s, _ in scene.observer.states("build")][-1] == "Ready"
    (job,) = scene.jobs()
    assert job["status"]["succeeded"] == 1
    kinds = [c["type"] for c in job["status"]["conditions"] if c["status"] == "True"]
    assert kinds == ["SuccessCriteriaMet", "Complete"], "the Job controller's order"
    history = scene.observer.builds["build"]
    assert len(history.jobs_seen) == 1 and len(history.pods_seen) == 1

    # The DecoratorController publishes the built profile to the NIMCache (DESIGN §9).
    def published() -> list[str]:
        cache = scene.custom.get_namespaced_custom_object(
            GROUP, VERSION, scene.namespace, "nimcaches", "cache"
        )
        return [p["name"] for p in cache.get("status", {}).get("profiles", [])]

    deadline = time.monotonic() + 30
    while status["outputProfile"]["name"] not in published() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert published() == [status["inputProfile"]["name"], status["outputProfile"]["name"]]

    # kubectl as a user: the printer columns, and `wait` on the Ready condition.
    table = cluster.kubectl("-n", scene.namespace, "get", "nimbuilds")
    header, row = table.splitlines()
    assert header.split() == ["NAME", "STATE", "INPUT", "OUTPUT", "AGE"]
    assert row.split()[:4] == [
        "build",
        "Ready",
        status["inputProfile"]["name"],
        status["outputProfile"]["name"],
    ]
    waited = cluster.kubectl(
        "-n", scene.namespace, "wait", "--for=condition=Ready", "nimbuild/build", "--timeout=20s"
    )
    assert "condition met" in waited
    scene.assert_invariants()


def test_builder_failure_ends_failed_with_the_builders_message(scene: Scene) -> None:
    scene.nimcache("cache")
    scene.cache_ready("cache")
    scene.nimbuild("build", "cache", env={"NIM_STANDIN_FAILURE": "no-manifest"})
    status = scene.observer.wait_state("build", "Failed", timeout=90)
    error = json.loads(builder_message(scene))["error"]
    completed = scene.condition("build", "NIM_BUILD_ENGINE_BUILD_POD_COMPLETED")
    assert completed["status"] == "False"
    assert error in completed["message"]
    assert "outputProfile" not in status
    (job,) = scene.jobs()
    assert job["status"]["failed"] == 2, "backoffLimit 1: two pods, both failed"
    kinds = [c["type"] for c in job["status"]["conditions"] if c["status"] == "True"]
    assert kinds == ["FailureTarget", "Failed"], "the Job controller's order"
    scene.assert_invariants()


def test_retry_after_one_failed_pod_ends_ready(scene: Scene) -> None:
    scene.nimcache("cache")
    scene.cache_ready("cache")
    scene.nimbuild(
        "build",
        "cache",
        env={"NIM_STANDIN_FAILURE": "missing-rank", "NIM_STANDIN_FAILED_ATTEMPTS": "1"},
    )
    scene.observer.wait_state("build", "Ready", timeout=120)
    history = scene.observer.builds["build"]
    assert len(history.jobs_seen) == 1
    assert len(history.pods_seen) == 2, "one failed pod, one that built"
    (job,) = scene.jobs()
    assert (job["status"]["failed"], job["status"]["succeeded"]) == (1, 1)
    scene.assert_invariants()


def test_nimcache_created_late_then_ready(scene: Scene) -> None:
    scene.nimbuild("build", "late-cache")
    scene.observer.wait_state("build", "Pending", timeout=60)
    assert scene.condition("build", "Ready").get("reason") == "NIMCacheNotFound"
    scene.nimcache("late-cache")
    scene.observer.wait(
        "NIMCacheNotReady",
        lambda: scene.condition("build", "Ready").get("reason") == "NIMCacheNotReady",
    )
    assert scene.jobs() == []
    scene.cache_ready("late-cache")
    scene.observer.wait_state("build", "Ready", timeout=90)
    states = scene.observer.states("build")
    assert states[:2] == [("Pending", "NIMCacheNotFound"), ("Pending", "NIMCacheNotReady")]
    scene.assert_invariants()


def test_more_gpus_than_any_node_stays_waiting_with_the_schedulers_reason(scene: Scene) -> None:
    scene.nimcache("cache")
    scene.cache_ready("cache", tp=16)  # the node has 8
    scene.nimbuild("build", "cache")
    scene.observer.wait(
        "the scheduler's reason in the status",
        lambda: "nvidia.com/gpu" in scene.condition("build", PENDING).get("message", ""),
        timeout=60,
    )
    pending = scene.condition("build", PENDING)
    assert pending["status"] == "True"
    assert "Insufficient nvidia.com/gpu" in pending["message"]
    time.sleep(5)  # and it stays so
    assert scene.get("build")["status"]["state"] == "InProgress"
    (pod,) = scene.pods()
    assert pod.status.phase == "Pending" and pod.spec.node_name is None
    scene.assert_invariants()


def test_job_deleted_mid_build_is_recreated_exactly_one_build(scene: Scene) -> None:
    scene.nimcache("cache")
    scene.cache_ready("cache")
    scene.nimbuild("build", "cache", env={"NIM_STANDIN_BUILD_SECONDS": "6"})
    scene.observer.wait(
        "PodRunning", lambda: scene.condition("build", "Ready").get("reason") == "PodRunning", 60
    )
    (job,) = scene.jobs()
    client.BatchV1Api(scene.api).delete_namespaced_job(
        job["metadata"]["name"], scene.namespace, propagation_policy="Background"
    )
    scene.observer.wait_state("build", "Ready", timeout=120)
    history = scene.observer.builds["build"]
    assert len(history.jobs_seen) == 2, "the deleted Job and its replacement"
    (now,) = scene.jobs()
    assert now["metadata"]["uid"] == history.jobs_seen[1]
    assert now["status"]["succeeded"] == 1
    completed = [
        p for p in scene.pods() if p.status.phase == "Succeeded"
    ]  # the first pod was deleted with its Job, before it could finish
    assert len(completed) == 1
    scene.assert_invariants()


def test_nimbuild_deleted_its_job_and_pods_are_collected(scene: Scene) -> None:
    scene.built()
    assert len(scene.jobs()) == 1 and len(scene.pods()) == 1
    scene.custom.delete_namespaced_custom_object(
        GROUP, VERSION, scene.namespace, "nimbuilds", "build"
    )
    scene.observer.wait(
        "the garbage collector to remove the Job and its pod",
        lambda: not scene.jobs() and not scene.pods(),
        timeout=60,
    )
    scene.assert_invariants()


def test_hook_down_for_a_while_then_back(scene: Scene, cluster: Cluster) -> None:
    assert cluster.hook is not None
    scene.nimcache("cache")
    scene.cache_ready("cache")
    cluster.hook.stop()
    try:
        scene.nimbuild("build", "cache")
        time.sleep(6)
        assert scene.get("build").get("status") is None, "no hook, no status"
        assert scene.jobs() == []
    finally:
        cluster.hook.start()  # same port
    scene.observer.wait_state("build", "Ready", timeout=120)
    history = scene.observer.builds["build"]
    assert len(history.jobs_seen) == 1 and len(history.pods_seen) == 1
    # Metacontroller logged the refused connections; nothing else may be wrong.
    scene.assert_invariants(metacontroller_errors_allowed=True)


def test_spec_change_refused_by_the_crd(scene: Scene) -> None:
    scene.nimbuild("build", "cache")
    with pytest.raises(ApiException) as refused:
        scene.custom.patch_namespaced_custom_object(
            GROUP, VERSION, scene.namespace, "nimbuilds", "build",
            {"spec": {"nimCache": {"name": "other"}}},
        )  # fmt: skip
    assert refused.value.status == 422
    assert "spec is immutable" in str(refused.value.body)
    assert scene.get("build")["spec"]["nimCache"]["name"] == "cache"
    scene.assert_invariants()


def test_no_sync_storm_when_idle(scene: Scene) -> None:
    scene.built()
    time.sleep(3)  # the last status write's own sync
    before = scene.syncs("build")
    time.sleep(15)
    quiet = scene.syncs("build") - before
    assert before > 0, "the Metacontroller log shows this NIMBuild's syncs"
    assert quiet <= 1, f"{quiet} syncs in 15 s of quiet (resyncPeriodSeconds is 300)"
    scene.assert_invariants()


def test_metacontroller_needed_no_permission_beyond_the_shipped_roles(cluster: Cluster) -> None:
    """Runs last in this module: the whole run under the narrowed roles, nothing refused."""
    assert cluster.plane is not None
    log = cluster.plane.log_paths()["metacontroller"]
    forbidden = [line for line in log.read_text().splitlines() if "forbidden" in line]
    assert forbidden == []


def test_a_user_without_a_role_cannot_touch_nimbuilds(cluster: Cluster) -> None:
    """The token users are real identities: RBAC is enforced (a sanity check of the setup)."""
    assert cluster.plane is not None
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "kubectl"),
            f"--kubeconfig={cluster.plane.kubeconfig('metacontroller')}",
            "auth",
            "can-i",
            "create",
            "pods",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.strip() == "no"
