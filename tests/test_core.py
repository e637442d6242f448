"""Unit grids for the pure helpers the decision table leans on: names, GPU rule, result
contract, handing an observed Job back, condition timestamps."""

from __future__ import annotations

import json
import re

import pytest
from builders import JOB_UID, as_observed_job, buildable, nimbuild, nimcache, request

from hooks import vocabulary as v
from hooks.conditions import Fact, render_conditions
from hooks.decide import RESULT_LIMIT, read_result
from hooks.model import NIMProfile, ObservedStatus, parse_spec
from hooks.render import ResourceProblem, gpu_count, gpu_resources, hand_back, job_name

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    "name",
    ["a", "x" * 50, "x" * 51, "y" * 253, "meta-llama-3-1-70b-instruct-" * 8, "a-" * 40 + "b"],
)
def test_job_name_fits_63_characters_and_is_stable(name: str) -> None:
    built = job_name(name)
    full = f"{name}-engine-build"
    assert len(built) <= 63
    assert DNS_LABEL.match(built)
    assert job_name(name) == built
    if len(full) <= 63:
        assert built == full
    else:
        # cut, with a stable hash of the whole name as its suffix
        prefix, _, digest = built.rpartition("-")
        assert re.fullmatch(r"[0-9a-f]{8}", digest)
        assert full.startswith(prefix)


def test_long_names_that_share_a_prefix_get_different_job_names() -> None:
    a, b = "p" * 60 + "-one", "p" * 60 + "-two"
    assert job_name(a) != job_name(b)


@pytest.mark.parametrize(
    ("config", "count"),
    [
        ({"tp": "8"}, 8),
        ({"tensorParallelism": "4", "tp": "8"}, 4),
        ({"tp": "2", "pp": "2"}, 4),
        ({}, None),
    ],
)
def test_gpu_count_is_tp_times_pp(config: dict[str, str], count: int | None) -> None:
    assert gpu_count(NIMProfile(name="p", config=config)) == count


@pytest.mark.parametrize("config", [{"tp": "eight"}, {"tp": "0"}, {"tp": "2", "pp": "-1"}])
def test_gpu_count_rejects_nonsense_tags(config: dict[str, str]) -> None:
    with pytest.raises(ResourceProblem, match="positive whole numbers"):
        gpu_count(NIMProfile(name="p", config=config))


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"limits": {"nvidia.com/gpu": "2"}}, {"nvidia.com/gpu": "2"}),
        ({"requests": {"nvidia.com/gpu": 2}}, {"nvidia.com/gpu": "2"}),
    ],
)
def test_user_gpu_request_without_tp_gets_equal_requests_and_limits(
    resources: dict[str, object], expected: dict[str, str]
) -> None:
    spec = parse_spec(nimbuild(resources=resources)["spec"])
    out = gpu_resources(spec, NIMProfile(name="p"))
    assert out["requests"] == out["limits"] == expected


def test_unequal_user_gpu_requests_and_limits_are_invalid() -> None:
    spec = parse_spec(
        nimbuild(resources={"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 2}})[
            "spec"
        ]
    )
    with pytest.raises(ResourceProblem, match="must be equal"):
        gpu_resources(spec, NIMProfile(name="p"))


GOOD = {
    "outputProfile": {"name": "id", "model": "m", "release": "r", "config": {"k": "v"}},
    "engineDir": "/model-store/local_cache/m/trtllm_engine",
    "buildSeconds": 1.5,
}


@pytest.mark.parametrize(
    ("text", "readable"),
    [
        pytest.param(json.dumps(GOOD), True, id="success"),
        pytest.param(json.dumps({**GOOD, "buildSeconds": 2}), True, id="integer-seconds"),
        pytest.param('{"error": "boom"}', True, id="error"),
        pytest.param("", False, id="empty"),
        pytest.param("Traceback (most recent call last)", False, id="logs-not-json"),
        pytest.param("[1]", False, id="not-an-object"),
        pytest.param(json.dumps({**GOOD, "extra": 1}), False, id="extra-key"),
        pytest.param(json.dumps({**GOOD, "buildSeconds": True}), False, id="bool-seconds"),
        pytest.param(json.dumps({**GOOD, "engineDir": 3}), False, id="dir-not-string"),
        pytest.param(
            json.dumps({**GOOD, "outputProfile": {**GOOD["outputProfile"], "name": ""}}),
            False,
            id="empty-profile-name",
        ),
        pytest.param(
            json.dumps({**GOOD, "outputProfile": {**GOOD["outputProfile"], "config": {"k": 1}}}),
            False,
            id="config-not-strings",
        ),
        pytest.param(
            json.dumps({**GOOD, "outputProfile": {**GOOD["outputProfile"], "model": None}}),
            False,
            id="model-null",
        ),
        pytest.param('{"error": 5}', False, id="error-not-string"),
        pytest.param(json.dumps({"error": "x" * RESULT_LIMIT}), False, id="over-4096-bytes"),
    ],
)
def test_result_file_contract(text: str, readable: bool) -> None:
    assert (read_result(text) is not None) == readable


def test_handed_back_job_loses_server_fields_and_keeps_ours(client: object) -> None:
    from flask.testing import FlaskClient

    assert isinstance(client, FlaskClient)
    body = request(nimbuild(), caches=[nimcache(profiles=[buildable(tp="1")])])
    desired = client.post("/sync", json=body).get_json()["children"][0]
    observed = as_observed_job(desired)
    observed["metadata"]["annotations"]["metacontroller.k8s.io/last-applied-configuration"] = "{}"
    back = hand_back(observed)
    assert "status" not in back and "selector" not in back["spec"]
    assert "uid" not in back["metadata"] and "managedFields" not in back["metadata"]
    labels = back["spec"]["template"]["metadata"]["labels"]
    assert JOB_UID not in labels.values()
    assert (
        labels[v.BUILD_POD_LABEL]
        == desired["spec"]["template"]["metadata"]["labels"][v.BUILD_POD_LABEL]
    )
    assert back["spec"]["template"]["spec"] == desired["spec"]["template"]["spec"]
    assert "metacontroller.k8s.io/last-applied-configuration" not in back["metadata"]["annotations"]


def test_transition_time_is_copied_unless_the_status_flips() -> None:
    prior = ObservedStatus.model_validate(
        {
            "conditions": [
                {
                    "type": v.COND_POD_PENDING,
                    "status": "True",
                    "reason": "PodRunning",
                    "message": "old",
                    "lastTransitionTime": "2025-01-01T00:00:00Z",
                },
                {
                    "type": v.COND_NIM_CACHE_FAILED,
                    "status": "True",
                    "reason": "NIMCacheFailed",
                    "message": "cache broke",
                    "lastTransitionTime": "2025-01-01T00:00:00Z",
                },
                {
                    "type": "SomeoneElses",
                    "status": "True",
                    "reason": "X",
                    "message": "",
                    "lastTransitionTime": "2025-01-01T00:00:00Z",
                },
            ]
        }
    )
    now = "2026-06-01T00:00:00Z"
    out = render_conditions(
        [
            Fact(v.COND_POD_PENDING, True, "PodRunning", "new message"),
            Fact(v.COND_READY, False, "PodRunning", "new message"),
        ],
        prior,
        3,
        now,
    )
    by_type = {c["type"]: c for c in out}
    assert by_type[v.COND_POD_PENDING]["lastTransitionTime"] == "2025-01-01T00:00:00Z"
    assert by_type[v.COND_POD_PENDING]["message"] == "new message"
    assert by_type[v.COND_NIM_CACHE_FAILED]["status"] == "False"
    assert by_type[v.COND_NIM_CACHE_FAILED]["lastTransitionTime"] == now
    assert by_type[v.COND_READY]["lastTransitionTime"] == now
    assert "SomeoneElses" not in by_type
    assert {c["observedGeneration"] for c in out} == {3}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        pytest.param(
            {"env": [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "a"}}}]},
            "spec.env.0",
            id="value-and-valueFrom",
        ),
        pytest.param(
            {"env": [{"name": "A", "valueFrom": {"bogus": 1}}]},
            "spec.env.0.valueFrom",
            id="unknown-env-source",
        ),
        pytest.param(
            {"env": [{"name": "A", "valueFrom": {}}]},
            "spec.env.0.valueFrom",
            id="empty-env-source",
        ),
        pytest.param(
            {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}]},
            "spec.env.0.valueFrom.secretKeyRef.key",
            id="secret-ref-without-key",
        ),
        pytest.param({"nodeSelector": {"k": "has space"}}, "spec.nodeSelector", id="node-sel"),
        pytest.param(
            {"tolerations": [{"key": "a", "operator": "Exists", "value": "v"}]},
            "spec.tolerations.0",
            id="exists-with-value",
        ),
        pytest.param(
            {"tolerations": [{"key": "a", "effect": "NoSchedule", "tolerationSeconds": 5}]},
            "spec.tolerations.0",
            id="seconds-without-noexecute",
        ),
        pytest.param(
            {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1024Mi"}}},
            "spec.resources",
            id="requests-above-limits",
        ),
        pytest.param({"modelName": "../etc"}, "spec.modelName", id="model-name-path"),
    ],
)
def test_specs_kubernetes_would_refuse_are_invalid_spec(
    spec: dict[str, object], field: str
) -> None:
    from hooks.model import SpecError

    with pytest.raises(SpecError) as caught:
        parse_spec(nimbuild(**spec)["spec"])
    assert any(problem.startswith(field) for problem in caught.value.problems), caught.value


@pytest.mark.parametrize(
    "spec",
    [
        {"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
        {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
        {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 1}}},
        {"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "1024Mi"}}},
        {"tolerations": [{"operator": "Exists"}]},
        {"tolerations": [{"key": "k", "effect": "NoExecute", "tolerationSeconds": 30}]},
        {"modelName": "llama-3.1-8b_custom"},
    ],
)
def test_specs_kubernetes_accepts_parse(spec: dict[str, object]) -> None:
    parse_spec(nimbuild(**spec)["spec"])


def test_job_deleted_mid_build_keeps_the_pending_condition_true() -> None:
    """Seen on the real control plane (make e2e): a Job deleted while its pod ran used to turn
    NIM_BUILD_ENGINE_BUILD_POD_PENDING False ("Resolved") for one sync, then True again around
    the re-created Job: a flap. The build is not over, so the condition stays True."""
    import datetime

    from hooks.core import sync
    from hooks.settings import Settings

    running = {
        "state": "InProgress",
        "conditions": [
            {"type": v.COND_POD_PENDING, "status": "True", "reason": "PodRunning",
             "message": "The engine build is in progress",
             "lastTransitionTime": "2026-01-01T00:00:05Z"},
        ],
    }  # fmt: skip
    body = request(nimbuild(status=running), caches=[nimcache(profiles=[buildable(tp="1")])])
    now = datetime.datetime(2026, 1, 1, 0, 1, tzinfo=datetime.UTC)
    answer = sync(body, Settings(), now)
    status = answer["status"]
    assert status["state"] == v.STARTED
    assert len(answer["children"]) == 1, "the Job is rendered again"
    (pending,) = [c for c in status["conditions"] if c["type"] == v.COND_POD_PENDING]
    assert pending["status"] == "True"
    assert pending["lastTransitionTime"] == "2026-01-01T00:00:05Z", "no transition"
    assert "created again" in pending["message"]
