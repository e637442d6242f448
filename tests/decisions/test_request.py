"""hooks.request: what makes a body not a Metacontroller request (RequestError → 400), and
what does not (missing maps, objects known only by their v2 key, an invalid spec)."""

from __future__ import annotations

from typing import Any

import pytest
from builders import nimbuild, request

from hooks.errors import RequestError
from hooks.request import parse_sync_request


@pytest.mark.parametrize(
    ("mangle", "says"),
    [
        pytest.param(lambda b: b.pop("parent"), "no 'parent' object", id="no-parent"),
        pytest.param(lambda b: b.update(parent=[]), "no 'parent' object", id="parent-list"),
        pytest.param(lambda b: b["parent"].pop("metadata"), "parent.metadata", id="no-metadata"),
        pytest.param(lambda b: b.update(children=[]), "children must be", id="children-list"),
        pytest.param(lambda b: b.update(related=1), "related must be", id="related-number"),
        pytest.param(
            lambda b: b["children"].update({"Job.batch/v1": []}), "keyed by", id="job-map-list"
        ),
        pytest.param(
            lambda b: b["related"]["Pod.v1"].update({"a/b": 1}), "must be an object", id="pod-1"
        ),
        pytest.param(lambda b: b.update(finalizing="yes"), "finalizing", id="finalizing-str"),
    ],
)
def test_malformed_requests_are_request_errors(mangle: Any, says: str) -> None:
    body = request(nimbuild())
    mangle(body)
    with pytest.raises(RequestError, match=says):
        parse_sync_request(body)


def test_missing_maps_count_as_empty_and_the_spec_is_not_parsed_here() -> None:
    parsed = parse_sync_request({"parent": {"metadata": {"name": "n"}, "spec": 42}})
    assert (parsed.jobs, parsed.nimcaches, parsed.pods, parsed.finalizing) == ((), (), (), False)
    assert parsed.parent.spec == 42  # an invalid spec becomes status, decided later


def test_objects_without_metadata_are_known_by_their_v2_key() -> None:
    body = request(nimbuild())
    body["related"]["Pod.v1"] = {"ns/pod-a": {"status": {"phase": "Running"}}}
    [pod] = parse_sync_request(body).pods
    assert (pod.metadata.namespace, pod.metadata.name) == ("ns", "pod-a")
