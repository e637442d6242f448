"""hooks.observed: the views of what the hook observes, and the small readings on them
(Job complete/failed/finished, which pods belong to a Job, the newest object, the builder's
env, the parent's status read entry by entry)."""

from __future__ import annotations

from typing import Any

import pytest
from builders import COMPLETE, job_condition

from hooks.observed import Job, Pod, newest, parse_status


def job(conditions: list[dict[str, Any]], **raw: Any) -> Job:
    return Job.model_validate(
        {"metadata": {"name": "j", "uid": "u"}, "status": {"conditions": conditions}, **raw}
    )


@pytest.mark.parametrize(
    ("conditions", "complete", "failed"),
    [
        pytest.param([], False, False, id="running"),
        pytest.param(COMPLETE, True, False, id="complete"),
        pytest.param(COMPLETE[:1], False, False, id="success-criteria-met-only"),
        pytest.param([job_condition("FailureTarget")], False, False, id="failure-target-only"),
        pytest.param([job_condition("Failed", "BackoffLimitExceeded")], False, True, id="failed"),
        pytest.param(
            [{**job_condition("Failed"), "status": "False"}], False, False, id="failed-false"
        ),
    ],
)
def test_job_complete_failed_and_finished(
    conditions: list[dict[str, Any]], complete: bool, failed: bool
) -> None:
    observed = job(conditions)
    assert observed.complete is complete
    assert (observed.failure is not None) is failed
    assert observed.finished is (complete or failed)


def test_the_failure_carries_the_jobs_reason() -> None:
    failure = job([job_condition("Failed", "DeadlineExceeded", "too slow")]).failure
    assert failure is not None and (failure.reason, failure.message) == (
        "DeadlineExceeded",
        "too slow",
    )


def pod(name: str, created: str = "", owners: tuple[str, ...] = (), **labels: str) -> Pod:
    meta: dict[str, Any] = {"name": name, "creationTimestamp": created, "labels": labels}
    meta["ownerReferences"] = [{"uid": uid} for uid in owners]
    return Pod.model_validate({"metadata": meta})


@pytest.mark.parametrize(
    ("observed", "owned"),
    [
        pytest.param(pod("p"), True, id="no-owner-no-label"),
        pytest.param(pod("p", owners=("u",)), True, id="owner"),
        pytest.param(pod("p", owners=("other",)), False, id="other-owner"),
        pytest.param(pod("p", **{"batch.kubernetes.io/controller-uid": "u"}), True, id="label"),
        pytest.param(pod("p", **{"controller-uid": "other"}), False, id="other-label"),
    ],
)
def test_pods_of_another_job_do_not_speak_for_this_one(observed: Pod, owned: bool) -> None:
    assert observed.owned_by("u") is owned
    assert observed.owned_by("")  # a Job without uid: every pod with the label counts


def test_newest_is_by_creation_time_then_name() -> None:
    pods = [pod("b", "2026-01-01T00:00:01Z"), pod("c", "2026-01-01T00:00:00Z")]
    assert newest(pods) is pods[0]
    tied = [pod("b", "2026-01-01T00:00:01Z"), pod("a", "2026-01-01T00:00:01Z")]
    assert newest(tied) is tied[0]
    assert newest([]) is None


def test_builder_env_reads_only_plain_values_of_the_builder() -> None:
    spec = {
        "template": {
            "spec": {
                "containers": [
                    {"name": "other", "env": [{"name": "X", "value": "other"}]},
                    {
                        "name": "engine-builder",
                        "env": [
                            {"name": "X", "value": "mine"},
                            {"name": "Y", "valueFrom": {"fieldRef": {"fieldPath": "a"}}},
                        ],
                    },
                ]
            }
        }
    }
    observed = job([]).model_copy(update={"raw": {"spec": spec}})
    assert observed.builder_env("X") == "mine"
    assert observed.builder_env("Y") is None
    assert observed.builder_env("Z") is None
    assert job([]).model_copy(update={"raw": {"spec": "mangled"}}).builder_env("X") is None


def test_status_is_read_entry_by_entry() -> None:
    status = parse_status(
        {
            "state": "Ready",
            "observedGeneration": -1,
            "outputProfile": {"name": 5},
            "inputProfile": {"name": "in"},
            "conditions": [
                {
                    "type": "A",
                    "status": "True",
                    "reason": "R",
                    "message": "",
                    "lastTransitionTime": "t",
                },
                {"type": "B", "status": "Maybe"},
            ],
        }
    )
    assert status.state == "Ready"
    assert status.observed_generation is None
    assert status.output_profile is None and status.input_profile is not None
    assert [c.type for c in status.conditions] == ["A"]
    assert parse_status("not a map").state == ""
