"""Write the behaviour-named sync fixtures: `tests/fixtures/sync/<behaviour>/request.json`.

Run `python tests/make_fixtures.py` to (re)write the requests; with `UPDATE_FIXTURES=1` it also
rewrites every `expected.json` from the current hook (review the diff before committing).
Without the flag, expected files are never touched: tests compare against them.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

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
from conftest import CLOCK, TEST_SETTINGS

from hooks.sync import create_app

FIXTURES = Path(__file__).parent / "fixtures" / "sync"


def client() -> Any:
    return create_app({"SETTINGS": TEST_SETTINGS, "CLOCK": lambda: CLOCK}).test_client()


def answer(req: dict[str, Any]) -> dict[str, Any]:
    response = client().post("/sync", json=req)
    assert response.status_code == 200, response.get_data(as_text=True)
    result: dict[str, Any] = response.get_json()
    return result


TP8 = [buildable("buildable-profile", tp="8")]
# Profiles as NIMCaches of other NIM lines list them (reference trtllm-build.md §2.4).
OTHER_BACKEND_PROFILES = [
    profile("4f6c" + "0" * 60, llm_engine="vllm", precision="bf16", tp="1", pp="1"),
    profile("9a1e" + "0" * 60, backend="sglang", precision="fp8", tp="2", pp="1"),
]


def prebuilt(pid: str, gpu: str, device: str, **tags: str) -> dict[str, Any]:
    """A TensorRT-LLM profile whose engine NIM ships prebuilt for one GPU."""
    return profile(pid, llm_engine="tensorrt_llm", pp="1", gpu=gpu, gpu_device=device, **tags)


PREBUILT_PROFILES = [
    prebuilt("7cc8" + "0" * 60, "H100", "2330:10de", precision="fp8", tp="1", profile="throughput"),
    prebuilt("b2f0" + "0" * 60, "L40S", "26b5:10de", precision="fp16", tp="2", profile="latency"),
]
READY_CACHE = nimcache(profiles=TP8)
RESULT = {
    "outputProfile": {
        "name": "5d1c4e0f9a7b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d",
        "model": "test-model",
        "release": "1.3.3",
        "config": {
            "llm_engine": "tensorrt_llm",
            "model_name": "test-nimbuild",
            "precision": "fp16",
            "tp": "8",
            "pp": "1",
            "input_profile": "buildable-profile",
        },
    },
    "engineDir": "/model-store/local_cache/test-nimbuild/trtllm_engine",
    "buildSeconds": 83.8,
}


def started(
    parent: dict[str, Any] | None = None, cache: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The Job and status the hook answers for a fresh build (used to set up later steps)."""
    req = request(parent or nimbuild(), caches=[cache or READY_CACHE])
    return answer(req)


def in_flight(
    *,
    job_conditions: list[dict[str, Any]] = (),  # type: ignore[assignment]
    pods: list[dict[str, Any]] = (),  # type: ignore[assignment]
    caches: list[dict[str, Any]] | None = None,
    status: str = "InProgress",
    record_status: bool = True,
) -> dict[str, Any]:
    """A request for a NIMBuild whose Job exists, with the status the hook wrote before."""
    first = started()
    job = as_observed_job(first["children"][0], conditions=list(job_conditions))
    recorded = copy.deepcopy(first["status"]) if record_status else None
    if recorded is not None:
        recorded["state"] = status
    return request(
        nimbuild(status=recorded),
        caches=[READY_CACHE] if caches is None else caches,
        jobs=[job],
        pods=list(pods),
    )


def builder_done(message: str, exit_code: int = 0) -> dict[str, Any]:
    reason = "Completed" if exit_code == 0 else "Error"
    return container("engine-builder", terminated(exit_code, reason, message))


NIM_DIED = (
    "the NIM server process exited before it was ready; see "
    "kubectl logs test-nimbuild-engine-build-abcde -c nim-build-ctr --previous"
)
NIM_DIED = (
    "the NIM server process exited before it was ready; see "
    "kubectl logs test-nimbuild-engine-build-abcde -c nim-build-ctr --previous"
)
NIM_STOPPED = container("nim-build-ctr", terminated(143, "Error"))
NIM_RUNNING = container("nim-build-ctr", RUNNING)


def ready_status() -> dict[str, Any]:
    req = in_flight(
        job_conditions=COMPLETE,
        pods=[pod(phase="Succeeded", nim=NIM_STOPPED, builder=builder_done(json.dumps(RESULT)))],
    )
    return answer(req)["status"]


def failed_after_build_status() -> dict[str, Any]:
    req = in_flight(
        job_conditions=[
            job_condition(
                "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            )
        ],
        pods=[
            pod(phase="Failed", builder=builder_done(json.dumps({"error": "NIM server died"}), 1))
        ],
    )
    return answer(req)["status"]


def cases() -> dict[str, Callable[[], dict[str, Any]]]:
    unschedulable = pod(
        phase="Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            }
        ],
    )
    pulling = pod(
        phase="Pending",
        conditions=[{"type": "PodScheduled", "status": "True"}],
        nim=container(
            "nim-build-ctr",
            {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": 'Back-off pulling image "nvcr.io/nim/test:latest"',
                }
            },
        ),
    )
    nim_restarted = pod(
        nim=container(
            "nim-build-ctr",
            RUNNING,
            restarts=2,
            last=terminated(137, "OOMKilled"),
        ),
        builder=container("engine-builder", RUNNING),
    )
    failed_pod = pod(
        phase="Failed",
        nim=container(
            "nim-build-ctr",
            terminated(143, "Error"),
            restarts=1,
            last=terminated(1, "Error", "CUDA error: out of memory"),
        ),
        builder=builder_done(json.dumps({"error": NIM_DIED}), 3),
    )
    return {
        # --- decision table, row by row ---
        "nimcache-not-found": lambda: request(nimbuild()),
        "nimcache-failed": lambda: request(nimbuild(), caches=[nimcache(state="Failed")]),
        "nimcache-not-ready": lambda: request(nimbuild(), caches=[nimcache(state="InProgress")]),
        "nimcache-without-status": lambda: request(nimbuild(), caches=[nimcache(state=None)]),
        "nimcache-in-other-namespace-is-not-found": lambda: request(
            nimbuild(), caches=[_in_namespace(READY_CACHE, "other")]
        ),
        "multiple-buildable-profiles": lambda: request(
            nimbuild(), caches=[nimcache(profiles=[*TP8, buildable("buildable-profile-2", tp="4")])]
        ),
        "no-buildable-profiles": lambda: request(
            nimbuild(),
            caches=[
                nimcache(profiles=[profile("non-buildable-profile", trtllm_buildable="false")])
            ],
        ),
        "all-profiles-cache-has-no-profiles": lambda: request(
            nimbuild(), caches=[nimcache(profiles=[])]
        ),
        # --- why nothing is buildable: one message per case the NIMCache shows ---
        "native-nimcache-lists-no-profiles": lambda: request(
            nimbuild(), caches=[nimcache(profiles=[], status_type="native")]
        ),
        "model-free-nimcache-lists-no-profiles": lambda: request(
            nimbuild(), caches=[nimcache(profiles=[], status_type="model-free")]
        ),
        "vllm-and-sglang-tagged-profiles-are-not-buildable": lambda: request(
            nimbuild(), caches=[nimcache(profiles=OTHER_BACKEND_PROFILES)]
        ),
        "nim-2x-profile-names-are-not-buildable": lambda: request(
            nimbuild(),
            caches=[
                nimcache(
                    profiles=[profile("vllm-bf16-tp1-pp1"), profile("sglang-fp8-tp2-pp1-lora")]
                )
            ],
        ),
        "prebuilt-trtllm-profiles-for-specific-gpus": lambda: request(
            nimbuild(), caches=[nimcache(profiles=PREBUILT_PROFILES)]
        ),
        "named-profile-of-another-backend": lambda: request(
            nimbuild(profile="vllm-bf16-tp1-pp1-lora"),
            caches=[
                nimcache(
                    profiles=[
                        *TP8,
                        profile("vllm-bf16-tp1-pp1-lora", llm_engine="vllm", feat_lora="true"),
                    ]
                )
            ],
        ),
        "named-profile-prebuilt-for-a-gpu": lambda: request(
            nimbuild(profile=PREBUILT_PROFILES[0]["name"]),
            caches=[nimcache(profiles=[*TP8, *PREBUILT_PROFILES])],
        ),
        "named-profile-absent-from-native-nimcache": lambda: request(
            nimbuild(profile="buildable-profile"),
            caches=[nimcache(profiles=[], status_type="native")],
        ),
        "named-profile-not-in-cache": lambda: request(
            nimbuild(profile="missing"), caches=[READY_CACHE]
        ),
        "named-profile-not-buildable": lambda: request(
            nimbuild(profile="plain"),
            caches=[nimcache(profiles=[*TP8, profile("plain", trtllm_buildable="false", tp="1")])],
        ),
        "tp-profile-and-user-gpu-request": lambda: request(
            nimbuild(
                resources={"requests": {"nvidia.com/gpu": 8}, "limits": {"nvidia.com/gpu": 8}}
            ),
            caches=[READY_CACHE],
        ),
        "no-tp-and-no-gpu-request": lambda: request(
            nimbuild(), caches=[nimcache(profiles=[buildable("test-profile")])]
        ),
        "single-buildable-profile-starts-build": lambda: request(nimbuild(), caches=[READY_CACHE]),
        "named-profile-starts-build": lambda: request(
            nimbuild(profile="buildable-profile-2"),
            caches=[nimcache(profiles=[*TP8, buildable("buildable-profile-2", tp="2", pp="2")])],
        ),
        "user-gpu-request-without-tp": lambda: request(
            nimbuild(resources={"requests": {"nvidia.com/gpu": "2", "memory": "64Gi"}}),
            caches=[nimcache(profiles=[buildable("test-profile")])],
        ),
        "job-seen-pod-not-created-yet": lambda: in_flight(status="Started"),
        "pod-unschedulable": lambda: in_flight(pods=[unschedulable]),
        "pod-pulling-image": lambda: in_flight(pods=[pulling]),
        "pod-running": lambda: in_flight(
            pods=[pod(nim=NIM_RUNNING, builder=container("engine-builder", RUNNING))]
        ),
        "pod-running-nim-restarted": lambda: in_flight(pods=[nim_restarted]),
        "pod-failed-job-retrying": lambda: in_flight(pods=[failed_pod]),
        "pod-succeeded-job-not-complete-yet": lambda: in_flight(
            job_conditions=[job_condition("SuccessCriteriaMet", "CompletionsReached")],
            pods=[
                pod(phase="Succeeded", nim=NIM_STOPPED, builder=builder_done(json.dumps(RESULT)))
            ],
        ),
        "job-failure-target-is-not-failed-yet": lambda: in_flight(
            job_conditions=[job_condition("FailureTarget", "BackoffLimitExceeded")],
            pods=[failed_pod],
        ),
        "job-complete-result-read": lambda: in_flight(
            job_conditions=COMPLETE,
            pods=[
                pod(phase="Succeeded", nim=NIM_STOPPED, builder=builder_done(json.dumps(RESULT)))
            ],
        ),
        "job-complete-result-missing": lambda: in_flight(
            job_conditions=COMPLETE,
            pods=[pod(phase="Succeeded", nim=NIM_STOPPED, builder=builder_done(""))],
        ),
        "job-complete-result-not-the-contract": lambda: in_flight(
            job_conditions=COMPLETE,
            pods=[pod(phase="Succeeded", builder=builder_done('{"outputProfile": "x"}'))],
        ),
        "job-complete-no-pod-left": lambda: in_flight(job_conditions=COMPLETE),
        "job-failed-backoff-with-builder-error-and-nim-termination": lambda: in_flight(
            job_conditions=[
                job_condition("FailureTarget", "BackoffLimitExceeded"),
                job_condition(
                    "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
                ),
            ],
            pods=[failed_pod],
        ),
        "job-failed-deadline": lambda: in_flight(
            job_conditions=[
                job_condition(
                    "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
                )
            ],
            pods=[
                pod(
                    phase="Failed",
                    nim=container("nim-build-ctr", terminated(137, "Error")),
                    builder=container("engine-builder", terminated(137, "Error")),
                )
            ],
        ),
        "several-pods-newest-speaks": lambda: in_flight(
            pods=[
                failed_pod,
                pod(
                    "test-nimbuild-engine-build-zzzzz",
                    created="2026-01-01T00:30:00Z",
                    nim=NIM_RUNNING,
                    builder=container("engine-builder", RUNNING),
                ),
            ]
        ),
        "pod-of-an-older-job-is-ignored": lambda: in_flight(
            pods=[
                pod(
                    "old-pod",
                    phase="Failed",
                    job_uid="another-job-uid",
                    builder=builder_done("boom", 1),
                )
            ]
        ),
        "job-exists-nimcache-gone-build-kept": lambda: in_flight(
            caches=[], pods=[pod(nim=NIM_RUNNING, builder=container("engine-builder", RUNNING))]
        ),
        "job-exists-input-profile-from-job-env": lambda: in_flight(
            record_status=False, pods=[pod(nim=NIM_RUNNING)]
        ),
        "job-exists-nimcache-gone-no-status-input-profile-from-job-env": lambda: in_flight(
            record_status=False, caches=[]
        ),
        # --- terminal states stick ---
        "terminal-ready-keeps-finished-job": lambda: _terminal(ready_status(), COMPLETE),
        "terminal-ready-job-and-nimcache-deleted-nothing-rebuilt": lambda: request(
            nimbuild(status=ready_status())
        ),
        "terminal-ready-drops-recreated-unfinished-job": lambda: _terminal(ready_status(), []),
        "terminal-failed-after-build-keeps-failed-job": lambda: _terminal(
            failed_after_build_status(), [job_condition("Failed", "BackoffLimitExceeded")]
        ),
        "terminal-failed-after-build-job-deleted-not-rebuilt": lambda: request(
            nimbuild(status=failed_after_build_status()), caches=[READY_CACHE]
        ),
        # --- invalid spec ---
        "invalid-spec-missing-image": lambda: request(_without_image(), caches=[READY_CACHE]),
        "invalid-spec-wrong-types": lambda: request(
            nimbuild(
                env="A=B",
                tolerations=[{"operator": "Sometimes"}],
                image={"repository": "r", "tag": 5},
            ),
            caches=[READY_CACHE],
        ),
        "invalid-spec-bad-label-and-quantity": lambda: request(
            nimbuild(labels={"bad key!": "x"}, resources={"limits": {"memory": "lots"}}),
            caches=[READY_CACHE],
        ),
        # --- rendering details ---
        "lora-profile-sets-peft-source": lambda: request(
            nimbuild(),
            caches=[nimcache(profiles=[buildable("lora-profile", tp="1", feat_lora="true")])],
        ),
        "user-env-overrides-defaults-without-duplicates": lambda: request(
            nimbuild(
                env=[
                    {"name": "CUSTOM_VAR", "value": "custom-value"},
                    {"name": "NIM_CACHE_PATH", "value": "overridden-path"},
                    {"name": "ANOTHER_VAR", "value": "another-value"},
                    {
                        "name": "SECRET_VAR",
                        "valueFrom": {"secretKeyRef": {"name": "my-secret", "key": "secret-key"}},
                    },
                    {
                        "name": "CONFIG_VAR",
                        "valueFrom": {
                            "configMapKeyRef": {"name": "my-config", "key": "config-key"}
                        },
                    },
                ]
            ),
            caches=[READY_CACHE],
        ),
        "spec-labels-annotations-scheduling-and-pull-settings": lambda: request(
            nimbuild(
                labels={"team": "llm", "app.kubernetes.io/name": "user-tries-to-override"},
                annotations={"example.com/owner": "platform"},
                tolerations=[
                    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                ],
                nodeSelector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
                image={
                    "repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct",
                    "tag": "1.3.3",
                    "pullPolicy": "IfNotPresent",
                    "pullSecrets": ["ngc-secret"],
                },
                modelName="llama-8b-h100",
                build={"backoffLimit": 0, "activeDeadlineSeconds": 3600},
            ),
            caches=[
                nimcache(
                    profiles=TP8,
                    userID=1001,
                    groupID=0,
                    runtimeClassName="nvidia",
                    storage={"pvc": {"name": "shared-models", "subPath": "llama"}},
                )
            ],
        ),
        "hf-source-nimcache-has-no-ngc-key": lambda: request(
            nimbuild(),
            caches=[
                nimcache(
                    profiles=TP8,
                    source={
                        "hf": {
                            "endpoint": "https://huggingface.co",
                            "namespace": "meta",
                            "modelName": "llama",
                            "authSecret": "hf-token",
                            "modelPuller": "nvcr.io/nim/test",
                        }
                    },
                )
            ],
        ),
        "nimcache-asking-for-root-is-refused": lambda: request(
            nimbuild(), caches=[nimcache(profiles=TP8, userID=0)]
        ),
        "trtllm-backend-job": lambda: request(
            nimbuild(
                build={
                    "backend": "trtllm",
                    "trtllm": {"maxBatchSize": 4, "maxSeqLen": 2048, "maxNumTokens": 4096},
                },
                env=[
                    {"name": "NIMBUILD_MODEL_NAME", "value": "hijack"},
                    {"name": "HF_HOME", "value": "/scratch/hf"},
                ],
            ),
            caches=[nimcache(profiles=[buildable("buildable-profile", tp="2", precision="bf16")])],
        ),
        "long-name-is-cut-with-stable-hash": lambda: request(
            nimbuild("meta-llama-3-1-70b-instruct-h100-tp8-fp8-throughput-engine-build-for-prod"),
            caches=[READY_CACHE],
        ),
        # --- conditions over time ---
        "cleared-nimcache-failure-turns-false": lambda: request(
            nimbuild(
                status=answer(request(nimbuild(), caches=[nimcache(state="Failed")]))["status"]
            ),
            caches=[READY_CACHE],
        ),
        "unchanged-conditions-keep-their-transition-time": lambda: (
            in_flight(pods=[pod(nim=NIM_RUNNING, builder=container("engine-builder", RUNNING))])
            | {
                "parent": _with_times(
                    in_flight(
                        pods=[pod(nim=NIM_RUNNING, builder=container("engine-builder", RUNNING))]
                    )
                )
            }
        ),
        "finalizing-hands-back-existing-job": lambda: {**in_flight(), "finalizing": True},
        "empty-maps-missing-children-and-related": lambda: {
            "controller": {},
            "parent": nimbuild(),
        },
    }


def _with_times(req: dict[str, Any]) -> dict[str, Any]:
    """Feed the hook's own answer back as the parent's status, stamped an hour earlier."""
    status = copy.deepcopy(answer(req)["status"])
    for cond in status["conditions"]:
        cond["lastTransitionTime"] = "2026-01-01T11:00:00Z"
    return {**req["parent"], "status": status}


def _in_namespace(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    moved = copy.deepcopy(obj)
    moved["metadata"]["namespace"] = namespace
    return moved


def _without_image() -> dict[str, Any]:
    parent = nimbuild()
    del parent["spec"]["image"]
    return parent


def _terminal(status: dict[str, Any], conditions: list[dict[str, Any]]) -> dict[str, Any]:
    job = as_observed_job(started()["children"][0], conditions=conditions)
    return request(nimbuild(status=status), jobs=[job])


def write_all(update_expected: bool) -> None:
    for name, make in sorted(cases().items()):
        folder = FIXTURES / name
        folder.mkdir(parents=True, exist_ok=True)
        req = make()
        (folder / "request.json").write_text(json.dumps(req, indent=2, sort_keys=True) + "\n")
        if update_expected or not (folder / "expected.json").exists():
            expected = answer(req)
            (folder / "expected.json").write_text(
                json.dumps(expected, indent=2, sort_keys=True) + "\n"
            )


if __name__ == "__main__":
    write_all(update_expected=os.environ.get("UPDATE_FIXTURES") == "1")
    print(f"wrote {len(cases())} fixtures under {FIXTURES}")
