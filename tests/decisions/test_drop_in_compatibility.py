"""Drop-in compatibility with the NIM Operator's NIMBuild (DESIGN §1): what its own controller
tests promise a user, our hook does too.

These are the 22 upstream NIM Operator NIMBuild test cases
(`internal/controller/nimbuild_controller_test.go`, reference §8; this module was
tests/test_upstream.py), re-expressed for our Job and the Metacontroller v2 request: the
decisions (NIMCache missing or Failed, one, several or no buildable profiles, the pod
running, failed, done) and the Job (the build pod, its default and merged env, LoRA).

Each case keeps the upstream number and sentence in its name (`test_01_…` to
`test_20_to_22_…`; `pytest tests/decisions/test_drop_in_compatibility.py --collect-only` lists
them in order). Where we deliberately differ from upstream the docstring of the case says so (see
README, compatibility table).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from builders import (
    COMPLETE,
    RUNNING,
    as_observed_job,
    buildable,
    container,
    job_condition,
    nimbuild,
    nimcache,
    pod,
    profile,
    request,
    terminated,
)
from flask.testing import FlaskClient

GPU8 = {"requests": {"nvidia.com/gpu": 8}, "limits": {"nvidia.com/gpu": 8}}
NC_READY = nimcache(profiles=[buildable("buildable-profile", tp="8")])


def sync(client: FlaskClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/sync", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    answer: dict[str, Any] = response.get_json()
    return answer


def cond(answer: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [c for c in answer["status"]["conditions"] if c["type"] == kind]
    assert len(found) == 1, f"{kind} missing from {answer['status']['conditions']}"
    return found[0]


def nim(job: dict[str, Any]) -> dict[str, Any]:
    inits = job["spec"]["template"]["spec"]["initContainers"]
    assert [c["name"] for c in inits] == ["nim-build-ctr"]
    result: dict[str, Any] = inits[0]
    return result


def env_of(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    entries = nim(job)["env"]
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), f"duplicate env entries: {names}"
    return {e["name"]: e for e in entries}


def started_job(
    client: FlaskClient, parent: dict[str, Any], cache: dict[str, Any]
) -> dict[str, Any]:
    answer = sync(client, request(parent, caches=[cache]))
    assert answer["status"]["state"] == "Started"
    job: dict[str, Any] = answer["children"][0]
    return job


def in_flight(
    client: FlaskClient, conditions: list[dict[str, Any]], pods: list[dict[str, Any]]
) -> dict[str, Any]:
    first = sync(client, request(nimbuild(), caches=[NC_READY]))
    job = as_observed_job(first["children"][0], conditions=conditions)
    return sync(
        client,
        request(nimbuild(status=first["status"]), caches=[NC_READY], jobs=[job], pods=pods),
    )


# --- Context "When creating a NIMBuild" -------------------------------------------------------


def test_01_should_add_finalizer_when_not_present(client: FlaskClient) -> None:
    """Upstream adds its own finalizer to delete the build pod. We need none: the Job is a
    Metacontroller child with an owner reference, so garbage collection removes it; a finalize
    call (if ever configured) answers finalized: true and hands back what still exists."""
    answer = sync(client, request(nimbuild(cache="test-nimcache"), finalizing=True))
    assert answer["finalized"] is True
    assert answer["children"] == []
    normal = sync(client, request(nimbuild(cache="test-nimcache")))
    assert "finalizers" not in json.dumps(normal)


def test_02_should_fail_when_nimcache_is_not_found(client: FlaskClient) -> None:
    """Upstream sets state Failed; DESIGN §4 waits in Pending, since a NIMCache created later
    triggers a sync (related object) and the build then proceeds."""
    answer = sync(client, request(nimbuild(cache="non-existent-nimcache")))
    assert answer["status"]["state"] == "Pending"
    assert cond(answer, "NIM_BUILD_NIM_CACHE_NOT_FOUND")["status"] == "True"
    assert cond(answer, "NIM_BUILD_NIM_CACHE_NOT_FOUND")["reason"] == "NIMCacheNotFound"
    assert answer["children"] == []


def test_03_should_fail_when_nimcache_is_in_failed_state(client: FlaskClient) -> None:
    answer = sync(client, request(nimbuild(), caches=[nimcache(state="Failed")]))
    assert answer["status"]["state"] == "Failed"
    assert cond(answer, "NIM_BUILD_NIM_CACHE_FAILED")["status"] == "True"


# --- Context "When NIMCache is ready" ---------------------------------------------------------


def test_04_should_create_engine_build_pod_when_no_profile_specified(client: FlaskClient) -> None:
    answer = sync(client, request(nimbuild(), caches=[NC_READY]))
    [job] = answer["children"]
    assert job["metadata"]["name"] == "test-nimbuild-engine-build"
    assert nim(job)["image"] == "nvcr.io/nim/test:latest"
    assert nim(job)["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert cond(answer, "NIM_BUILD_ENGINE_BUILD_POD_CREATED")["status"] == "True"


def test_05_should_fail_when_multiple_buildable_profiles_found(client: FlaskClient) -> None:
    cache = nimcache(
        profiles=[buildable("buildable-profile", tp="8"), buildable("buildable-profile-2", tp="4")]
    )
    answer = sync(client, request(nimbuild(), caches=[cache]))
    assert answer["status"]["state"] == "Failed"
    assert cond(answer, "NIM_BUILD_MULTIPLE_BUILDABLE_PROFILES_FOUND")["status"] == "True"
    assert answer["children"] == []


def test_06_should_fail_when_no_buildable_profiles_found(client: FlaskClient) -> None:
    cache = nimcache(profiles=[profile("non-buildable-profile", trtllm_buildable="false")])
    answer = sync(client, request(nimbuild(), caches=[cache]))
    assert answer["status"]["state"] == "Failed"
    assert cond(answer, "NIM_BUILD_NO_BUILDABLE_PROFILE_FOUND")["status"] == "True"


# --- Context "When engine build pod is running" -----------------------------------------------


def test_07_should_update_status_to_in_progress_when_pod_is_running(client: FlaskClient) -> None:
    running = pod(
        conditions=[{"type": "Ready", "status": "False"}],
        nim=container("nim-build-ctr", RUNNING),
        builder=container("engine-builder", RUNNING),
    )
    answer = in_flight(client, [], [running])
    assert answer["status"]["state"] == "InProgress"
    assert cond(answer, "NIM_BUILD_ENGINE_BUILD_POD_PENDING")["status"] == "True"
    assert cond(answer, "NIM_BUILD_ENGINE_BUILD_POD_PENDING")["reason"] == "PodRunning"


def test_08_should_update_status_to_failed_when_pod_fails(client: FlaskClient) -> None:
    """Upstream fails on the first failed pod; our Job may retry (backoffLimit), so Failed
    comes with the Job's Failed condition."""
    failed = pod(phase="Failed", builder=container("engine-builder", terminated(1, "Error")))
    retrying = in_flight(client, [], [failed])
    assert retrying["status"]["state"] == "InProgress"
    assert cond(retrying, "NIM_BUILD_ENGINE_BUILD_POD_PENDING")["reason"] == "PodFailed"
    answer = in_flight(client, [job_condition("Failed", "BackoffLimitExceeded")], [failed])
    assert answer["status"]["state"] == "Failed"
    assert cond(answer, "NIM_BUILD_ENGINE_BUILD_POD_COMPLETED")["status"] == "False"
    assert answer["children"], "the failed Job is kept for kubectl logs"


def test_09_should_complete_when_pod_is_ready(client: FlaskClient) -> None:
    """Upstream calls the build done when the NIM server turns Ready, deletes the pod and
    reads the manifest with a second pod. Our builder waits for the same readiness, reads the
    manifest itself and reports the output profile; the finished Job is kept as the record."""
    result = {
        "outputProfile": {
            "name": "built",
            "model": "test-model",
            "release": "",
            "config": {"model_name": "test-nimbuild"},
        },
        "engineDir": "/model-store/local_cache/test-nimbuild/trtllm_engine",
        "buildSeconds": 12.5,
    }
    done = pod(
        phase="Succeeded",
        builder=container("engine-builder", terminated(0, "Completed", json.dumps(result))),
    )
    answer = in_flight(client, COMPLETE, [done])
    assert answer["status"]["state"] == "Ready"
    assert cond(answer, "NIM_BUILD_ENGINE_BUILD_POD_COMPLETED")["status"] == "True"
    assert cond(answer, "NIM_BUILD_MODEL_MANIFEST_POD_COMPLETED")["status"] == "True"
    assert answer["status"]["outputProfile"]["name"] == "built"


# --- Context "Helper functions" ---------------------------------------------------------------

HELPER_CACHE = nimcache(
    profiles=[
        buildable("buildable-1", tp="1"),
        profile("non-buildable-1", trtllm_buildable="false", tp="1"),
        buildable("buildable-2", tp="1"),
    ]
)


def test_10_should_correctly_identify_buildable_profiles(client: FlaskClient) -> None:
    answer = sync(client, request(nimbuild(), caches=[HELPER_CACHE]))
    message = cond(answer, "NIM_BUILD_MULTIPLE_BUILDABLE_PROFILES_FOUND")["message"]
    assert "(buildable-1, buildable-2)" in message
    assert "non-buildable-1" not in message


@pytest.mark.parametrize(("name", "found"), [("buildable-1", True), ("non-buildable-1", False)])
def test_11_should_find_buildable_profile_by_name(
    client: FlaskClient, name: str, found: bool
) -> None:
    answer = sync(client, request(nimbuild(profile=name), caches=[HELPER_CACHE]))
    if found:
        assert answer["status"]["inputProfile"]["name"] == name
        assert env_of(answer["children"][0])["NIM_MODEL_PROFILE"]["value"] == name
    else:
        assert cond(answer, "NIM_BUILD_NO_BUILDABLE_PROFILE_FOUND")["status"] == "True"
        assert answer["children"] == []


@pytest.mark.parametrize("ready", ["True", "False"])
def test_12_should_correctly_check_if_pod_is_ready(client: FlaskClient, ready: str) -> None:
    """A Ready NIM server is not the end of our build: the builder still has to read the
    manifest and exit, so a Ready pod leaves the build InProgress until the Job completes."""
    running = pod(
        conditions=[{"type": "Ready", "status": ready}],
        nim=container("nim-build-ctr", RUNNING),
        builder=container("engine-builder", RUNNING),
    )
    answer = in_flight(client, [], [running])
    assert answer["status"]["state"] == "InProgress"


# --- Context "Pod construction" ---------------------------------------------------------------


def test_13_should_construct_engine_build_pod_correctly(client: FlaskClient) -> None:
    cache = nimcache(profiles=[buildable("test-profile", tp="8")])
    job = started_job(client, nimbuild(), cache)
    assert job["metadata"]["name"] == "test-nimbuild-engine-build"
    assert job["metadata"]["namespace"] == "default"
    assert nim(job)["image"] == "nvcr.io/nim/test:latest"
    volumes = job["spec"]["template"]["spec"]["volumes"]
    assert [v["name"] for v in volumes] == ["nim-cache-volume"]
    assert volumes[0]["persistentVolumeClaim"]["claimName"] == "test-nimcache-pvc"


# --- Context "Environment variable handling" --------------------------------------------------

ENV_CACHE = nimcache(profiles=[buildable("test-profile")])


def env_for(client: FlaskClient, env: list[dict[str, Any]] | None, cache: Any = ENV_CACHE) -> Any:
    spec: dict[str, Any] = {"resources": GPU8}
    if env is not None:
        spec["env"] = env
    return env_of(started_job(client, nimbuild(**spec), cache))


def test_14_should_set_default_environment_variables_correctly(client: FlaskClient) -> None:
    env = env_for(client, None)
    assert env["NIM_CACHE_PATH"]["value"] == "/model-store"
    assert env["NIM_SERVER_PORT"]["value"] == "8000"
    assert env["NIM_HTTP_API_PORT"]["value"] == "8000"
    assert env["NIM_CUSTOM_MODEL_NAME"]["value"] == "test-nimbuild"
    assert env["NIM_MODEL_PROFILE"]["value"] == "test-profile"
    assert env["NGC_API_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "my-secret", "key": "NGC_API_KEY"}
    }


def test_15_should_merge_user_provided_environment_variables(client: FlaskClient) -> None:
    env = env_for(
        client,
        [
            {"name": "CUSTOM_VAR", "value": "custom-value"},
            {"name": "NIM_CACHE_PATH", "value": "overridden-path"},
            {"name": "ANOTHER_VAR", "value": "another-value"},
        ],
    )
    assert env["CUSTOM_VAR"]["value"] == "custom-value"
    assert env["ANOTHER_VAR"]["value"] == "another-value"
    assert env["NIM_CACHE_PATH"]["value"] == "overridden-path"


def test_16_should_handle_environment_variables_with_value_from(client: FlaskClient) -> None:
    secret = {"secretKeyRef": {"name": "my-secret", "key": "secret-key"}}
    config = {"configMapKeyRef": {"name": "my-config", "key": "config-key"}}
    env = env_for(
        client,
        [{"name": "SECRET_VAR", "valueFrom": secret}, {"name": "CONFIG_VAR", "valueFrom": config}],
    )
    assert env["SECRET_VAR"] == {"name": "SECRET_VAR", "valueFrom": secret}
    assert env["CONFIG_VAR"] == {"name": "CONFIG_VAR", "valueFrom": config}


def test_17_should_preserve_defaults_when_user_provides_additional_ones(
    client: FlaskClient,
) -> None:
    env = env_for(client, [{"name": "USER_VAR", "value": "user-value"}])
    assert env["USER_VAR"]["value"] == "user-value"
    assert env["NIM_CACHE_PATH"]["value"] == "/model-store"


def test_18_should_handle_empty_environment_variables_list(client: FlaskClient) -> None:
    assert env_for(client, [])["NIM_CACHE_PATH"]["value"] == "/model-store"


def test_19_should_handle_environment_variables_in_end_to_end_reconciliation(
    client: FlaskClient,
) -> None:
    env = env_for(
        client,
        [
            {"name": "BUILD_VAR", "value": "build-value"},
            {"name": "NIM_MODEL_PATH", "value": "custom-model-path"},
        ],
    )
    assert env["BUILD_VAR"]["value"] == "build-value"
    assert env["NIM_MODEL_PATH"]["value"] == "custom-model-path"
    assert env["NIM_CACHE_PATH"]["value"] == "/model-store"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param({"feat_lora": "true"}, "/tmp", id="20-lora-enabled-sets-NIM_PEFT_SOURCE"),
        pytest.param({"feat_lora": "false"}, None, id="21-lora-disabled-does-not"),
        pytest.param({}, None, id="22-lora-config-missing-does-not"),
    ],
)
def test_20_to_22_nim_peft_source_follows_feat_lora(
    client: FlaskClient, config: dict[str, str], expected: str | None
) -> None:
    cache = nimcache(profiles=[buildable("lora-profile", **config)])
    env = env_for(client, None, cache)
    assert env.get("NIM_PEFT_SOURCE", {}).get("value") == expected
