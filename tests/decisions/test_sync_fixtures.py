"""Every behaviour fixture through the HTTP layer: whole responses compared, then the
properties every answer must have (determinism, fixpoint, well-formed conditions) and every
returned Job (valid for Kubernetes, Pod Security "restricted").

Fixtures live in `tests/fixtures/sync/<behaviour>/{request,expected}.json`; they are
rewritten only by `UPDATE_FIXTURES=1 python tests/make_fixtures.py`.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from flask.testing import FlaskClient
from restricted import violations

from hooks import vocabulary as v

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sync"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "request.json").exists())
REASON = re.compile(v.REASON_PATTERN)
CREATES_JOB = [
    name
    for name in CASES
    if not json.loads((FIXTURES / name / "request.json").read_text())
    .get("children", {})
    .get("Job.batch/v1")
    and json.loads((FIXTURES / name / "expected.json").read_text())["children"]
]
# The Job checks apply where the answer holds a Job (new or handed back), not to the others.
RETURNS_JOB = [
    name
    for name in CASES
    if json.loads((FIXTURES / name / "expected.json").read_text())["children"]
]


def load(name: str, file: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name / file).read_text())
    return data


def post(client: FlaskClient, body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    response = client.post("/sync", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(), response.get_json()


def test_there_is_a_fixture_for_every_decision_row() -> None:
    states = {load(name, "expected.json")["status"]["state"] for name in CASES}
    assert states == set(v.STATES)
    assert len(CASES) >= 40
    assert CREATES_JOB and set(CREATES_JOB) < set(RETURNS_JOB) < set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_response_matches_fixture(client: FlaskClient, name: str) -> None:
    _, answer = post(client, load(name, "request.json"))
    assert answer == load(name, "expected.json")


@pytest.mark.parametrize("name", CASES)
def test_response_has_exactly_the_v2_keys(client: FlaskClient, name: str) -> None:
    request = load(name, "request.json")
    _, answer = post(client, request)
    expected_keys = {"status", "children"} | ({"finalized"} if request.get("finalizing") else set())
    assert set(answer) == expected_keys
    assert isinstance(answer["children"], list)


@pytest.mark.parametrize("name", RETURNS_JOB)
@pytest.mark.parametrize("version", ["1.29", "1.37"])
def test_every_returned_job_is_a_valid_kubernetes_object(
    client: FlaskClient, name: str, version: str
) -> None:
    _, answer = post(client, load(name, "request.json"))
    assert answer["children"]
    for job in answer["children"]:
        kubernetes_validate.validate(job, version, strict=True)
        assert "selector" not in job["spec"] and "manualSelector" not in job["spec"]
        assert "status" not in job
        assert "null" not in json.dumps(job)


@pytest.mark.parametrize("name", RETURNS_JOB)
def test_every_returned_job_passes_pod_security_restricted(client: FlaskClient, name: str) -> None:
    _, answer = post(client, load(name, "request.json"))
    assert answer["children"]
    for job in answer["children"]:
        assert violations(job) == []


@pytest.mark.parametrize("name", CASES)
def test_same_request_gives_the_same_bytes(client: FlaskClient, name: str) -> None:
    request = load(name, "request.json")
    first, _ = post(client, request)
    second, _ = post(client, copy.deepcopy(request))
    assert first == second


@pytest.mark.parametrize("name", CASES)
def test_status_fed_back_is_a_fixpoint(client: FlaskClient, name: str) -> None:
    request = load(name, "request.json")
    _, answer = post(client, request)
    again = copy.deepcopy(request)
    again["parent"]["status"] = answer["status"]
    _, second = post(client, again)
    assert second["status"] == answer["status"]


@pytest.mark.parametrize("name", CREATES_JOB)
def test_desired_job_fed_back_as_observed_changes_nothing(client: FlaskClient, name: str) -> None:
    request = load(name, "request.json")
    _, answer = post(client, request)
    job = answer["children"][0]
    again = copy.deepcopy(request)
    again["parent"]["status"] = answer["status"]
    again["children"] = {
        "Job.batch/v1": {f"{job['metadata']['namespace']}/{job['metadata']['name']}": job}
    }
    _, second = post(client, again)
    assert second["children"] == [job]


@pytest.mark.parametrize("name", CASES)
def test_conditions_are_well_formed(client: FlaskClient, name: str) -> None:
    _, answer = post(client, load(name, "request.json"))
    conditions = answer["status"].get("conditions", [])
    types = [c["type"] for c in conditions]
    assert len(types) == len(set(types)), "each condition type at most once"
    assert "Ready" in types
    for cond in conditions:
        assert REASON.match(cond["reason"]), cond["reason"]
        assert cond["status"] in ("True", "False")
        assert "observedGeneration" in cond
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", cond["lastTransitionTime"])
    ready = next(c for c in conditions if c["type"] == "Ready")
    assert (ready["status"] == "True") == (answer["status"]["state"] == "Ready")
