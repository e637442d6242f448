"""The NIMCache DecoratorController hook (DESIGN §9): `POST /nimcache/sync` and
`POST /nimcache/customize` through the Flask test client.

Cases:
- fixtures (tests/fixtures/nimcache_sync, nimcache_customize; written by
  make_nimcache_fixtures.py), one per row: NIMCache not Ready / Failed / without status,
  nothing to add, already listed, other namespace, opt-out, another NIMCache's NIMBuild,
  Failed and InProgress NIMBuilds, no output profile name, one and several NIMBuilds (creation
  time then name), only the missing one, one entry per name, input_profile, operator entries
  kept verbatim, invalid related NIMBuilds skipped; compared whole;
- properties of every answer: exactly the key `status`; a status fits the upstream NIMCache
  CRD status schema and ours; observed entries and other status fields unchanged; the same
  bytes for the same request, whatever the order of the related map; fed back, the answer is
  `status: null` (no hot loop);
- the HTTP contract of §3 on both endpoints: 400 on malformed requests (no target, wrong map
  shapes, no namespace), 401 without the token, 405, 413, 500 never a partial 200, metrics
  under their own `hook` label, a log line naming the NIMCache when profiles are added;
- `spec.build.publishProfile` parses in the NIMBuild hook (/sync) and is type-checked there.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import crd_schema as cs
import pytest
from builders import buildable, nimbuild, nimcache, request
from flask.testing import FlaskClient
from make_nimcache_fixtures import (
    CUSTOMIZE_FIXTURES,
    NIMBUILD_KEY,
    SYNC_FIXTURES,
    decorator_request,
    nimcache_target,
    ready_nimbuild,
)
from web.test_http import error_of

from hooks import publish
from hooks.settings import Settings
from hooks.sync import create_app

SYNC_CASES = sorted(p.name for p in SYNC_FIXTURES.iterdir() if (p / "request.json").exists())
CUSTOMIZE_CASES = sorted(
    p.name for p in CUSTOMIZE_FIXTURES.iterdir() if (p / "request.json").exists()
)
# The status checks apply where the answer writes a status (the NIMCache lists a new profile),
# not where it is `status: null`.
PUBLISHING_CASES = [
    name
    for name in SYNC_CASES
    if json.loads((SYNC_FIXTURES / name / "expected.json").read_text())["status"] is not None
]


def load(folder: Path, name: str, file: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / name / file).read_text())
    return data


def post(client: FlaskClient, body: object, path: str = "/nimcache/sync") -> tuple[bytes, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(), response.get_json()


def upstream_status_validator() -> Any:
    schema = cs.openapi_schema(cs.UPSTREAM_NIMCACHE_CRD)["properties"]["status"]
    return cs.validator(cs.strict(schema))


def our_status_validator() -> Any:
    return cs.validator(cs.strict(cs.openapi_schema(cs.NIMCACHE_CRD))["properties"]["status"])


# --- fixtures -------------------------------------------------------------------------------------


def test_fixtures_cover_both_outcomes() -> None:
    outcomes = [load(SYNC_FIXTURES, n, "expected.json")["status"] is None for n in SYNC_CASES]
    assert len(SYNC_CASES) >= 20
    assert outcomes.count(True) >= 10 and outcomes.count(False) >= 8
    assert len(PUBLISHING_CASES) == outcomes.count(False)
    assert CUSTOMIZE_CASES


@pytest.mark.parametrize("name", SYNC_CASES)
def test_sync_matches_fixture(client: FlaskClient, name: str) -> None:
    _, answer = post(client, load(SYNC_FIXTURES, name, "request.json"))
    assert answer == load(SYNC_FIXTURES, name, "expected.json")


@pytest.mark.parametrize("name", CUSTOMIZE_CASES)
def test_customize_matches_fixture(client: FlaskClient, name: str) -> None:
    req = load(CUSTOMIZE_FIXTURES, name, "request.json")
    _, answer = post(client, req, "/nimcache/customize")
    assert answer == load(CUSTOMIZE_FIXTURES, name, "expected.json")
    (rule,) = answer["relatedResources"]
    assert rule["namespace"] == req["parent"]["metadata"]["namespace"], "always explicit"
    assert "labelSelector" not in rule and "names" not in rule


@pytest.mark.parametrize("name", SYNC_CASES)
def test_answer_is_exactly_status(client: FlaskClient, name: str) -> None:
    _, answer = post(client, load(SYNC_FIXTURES, name, "request.json"))
    assert set(answer) == {"status"}, "never labels, annotations or attachments"


@pytest.mark.parametrize("name", PUBLISHING_CASES)
def test_a_written_status_fits_the_nimcache_schemas_and_only_adds(
    client: FlaskClient, name: str
) -> None:
    req = load(SYNC_FIXTURES, name, "request.json")
    _, answer = post(client, req)
    status = answer["status"]
    assert status is not None
    assert cs.errors(upstream_status_validator(), status) == []
    assert cs.errors(our_status_validator(), status) == []
    observed = req["parent"]["status"]
    assert {k: val for k, val in status.items() if k != "profiles"} == {
        k: val for k, val in observed.items() if k != "profiles"
    }
    before = observed.get("profiles", [])
    assert status["profiles"][: len(before)] == before, "observed entries stay as they are"
    names = [p.get("name") for p in status["profiles"]]
    added = names[len(before) :]
    assert added and len(set(added)) == len(added)
    assert not set(added) & set(names[: len(before)])


def test_status_schema_check_is_not_vacuous() -> None:
    bad = {"state": "Ready", "profiles": [{"name": "x", "config": {"tp": 1}}]}
    assert cs.errors(upstream_status_validator(), bad)
    assert cs.errors(upstream_status_validator(), {"state": "Ready", "extra": 1})


@pytest.mark.parametrize("name", SYNC_CASES)
def test_same_request_same_bytes_whatever_the_related_order(client: FlaskClient, name: str) -> None:
    req = load(SYNC_FIXTURES, name, "request.json")
    first, _ = post(client, req)
    reordered = copy.deepcopy(req)
    builds = reordered["related"][NIMBUILD_KEY]
    reordered["related"][NIMBUILD_KEY] = dict(reversed(list(builds.items())))
    second, _ = post(client, reordered)
    assert first == second


@pytest.mark.parametrize("name", PUBLISHING_CASES)
def test_answer_fed_back_is_null(client: FlaskClient, name: str) -> None:
    """What Metacontroller writes syncs again; that sync must want nothing more."""
    req = load(SYNC_FIXTURES, name, "request.json")
    _, answer = post(client, req)
    assert answer["status"] is not None
    again = copy.deepcopy(req)
    again["parent"]["status"] = answer["status"]
    _, second = post(client, again)
    assert second == {"status": None}


# --- the rows, stated in code ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "publishes"),
    [
        ("Ready", True),
        ("InProgress", False),
        ("Started", False),
        ("Pending", False),
        ("Failed", False),
        ("NotReady", False),
        ("", False),
    ],
)
def test_only_a_ready_nimcache_gets_profiles(state: str, publishes: bool) -> None:
    result = publish.sync(decorator_request(nimcache_target(state=state), [ready_nimbuild("b")]))
    assert (result["status"] is not None) is publishes


def test_operator_rewrite_without_our_entry_gets_it_back() -> None:
    cache = nimcache_target()
    builds = [ready_nimbuild("b1"), ready_nimbuild("b2", created="2026-01-02T00:00:00Z")]
    first = publish.sync(decorator_request(cache, builds))["status"]
    cache["status"] = first
    assert publish.sync(decorator_request(cache, builds)) == {"status": None}
    operator = copy.deepcopy(first)
    operator["profiles"] = operator["profiles"][:1]  # the operator's stale copy
    cache["status"] = operator
    assert publish.sync(decorator_request(cache, builds))["status"] == first


def test_v1_object_key_is_read_too() -> None:
    v2 = decorator_request(nimcache_target(), [ready_nimbuild("b")])
    v1 = {**{k: val for k, val in v2.items() if k != "parent"}, "object": v2["parent"]}
    assert publish.sync(v1) == publish.sync(v2)
    assert publish.sync(v1)["status"] is not None


def test_a_nimbuild_without_metadata_is_known_by_its_key() -> None:
    build = ready_nimbuild("b")
    del build["metadata"]
    req = decorator_request(nimcache_target())
    req["related"][NIMBUILD_KEY] = {"default/b": build}
    status = publish.sync(req)["status"]
    assert [p["name"] for p in status["profiles"]][-1] == "buildable-profile-built-b"


def test_a_nimbuild_without_metadata_namespace_is_placed_by_its_key() -> None:
    build = ready_nimbuild("b")
    del build["metadata"]["namespace"]
    req = decorator_request(nimcache_target())
    req["related"][NIMBUILD_KEY] = {"default/b": build}
    status = publish.sync(req)["status"]
    assert status is not None
    assert [p["name"] for p in status["profiles"]][-1] == "buildable-profile-built-b"
    # The key of another namespace still keeps it out.
    req["related"][NIMBUILD_KEY] = {"other/b": build}
    assert publish.sync(req) == {"status": None}


def test_each_nimbuild_is_placed_by_its_own_key_whatever_the_map_order() -> None:
    """Keys given out of order, with entries known only by their key, one without a namespace
    and one that does not parse: each NIMBuild gets the namespace of its own key."""

    def without_namespace(name: str) -> dict[str, Any]:
        build = ready_nimbuild(name, output={"name": f"p-{name}"})
        del build["metadata"]["namespace"]
        return build

    bare = ready_nimbuild("m", output={"name": "p-m"})
    del bare["metadata"]
    broken = ready_nimbuild("c", output={"name": "p-c"})
    broken["spec"]["nimCache"]["name"] = 5
    req = decorator_request(nimcache_target())
    req["related"][NIMBUILD_KEY] = {
        "default/z": without_namespace("z"),
        "other/a": without_namespace("a"),  # sorts first; its key keeps it out
        "default/c": broken,
        "default/m": bare,
        "another/zz": without_namespace("zz"),
    }
    assert publish.plan(req).added == ("p-m", "p-z")


def test_keyed_objects_pairs_each_object_with_its_own_key() -> None:
    from hooks.request import keyed_objects, object_map

    related = {NIMBUILD_KEY: {"ns/b": {"x": 1}, "a": {"metadata": {"name": "n"}}, "ns/c": {}}}
    pairs = keyed_objects(related, NIMBUILD_KEY, "related")
    assert pairs == [
        ("a", {"metadata": {"name": "n"}}),
        ("ns/b", {"x": 1, "metadata": {"name": "b", "namespace": "ns"}}),
        ("ns/c", {"metadata": {"name": "c", "namespace": "ns"}}),
    ]
    assert object_map(related, NIMBUILD_KEY, "related") == [obj for _, obj in pairs]
    assert keyed_objects({}, NIMBUILD_KEY, "related") == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # 10:00+05:00 is 05:00Z: before 06:00Z, though it sorts after it as a string.
        ("2026-01-01T10:00:00+05:00", "2026-01-01T06:00:00Z"),
        # 10:00:00Z is before 10:00:00.5Z, though "Z" sorts after "." as a string.
        ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00.5Z"),
    ],
)
def test_builds_are_ordered_by_creation_time_not_its_text(first: str, second: str) -> None:
    builds = [
        ready_nimbuild("a-late", created=second, output={"name": "p-late"}),
        ready_nimbuild("z-early", created=first, output={"name": "p-early"}),
    ]
    added = publish.plan(decorator_request(nimcache_target(), builds)).added
    assert added == ("p-early", "p-late")


def test_pure_and_does_not_mutate_its_input() -> None:
    req = decorator_request(nimcache_target(), [ready_nimbuild("b")])
    snapshot = copy.deepcopy(req)
    publish.sync(req)
    publish.customize(req)
    assert req == snapshot


# --- HTTP contract --------------------------------------------------------------------------------

BAD_REQUESTS = [
    pytest.param(b"{nope", "not valid JSON", id="malformed-json"),
    pytest.param(b"[1]", "JSON object", id="not-an-object"),
    pytest.param(b"{}", "parent", id="no-target"),
    pytest.param(b'{"parent": 7}', "parent", id="target-not-object"),
    pytest.param(b'{"parent": {"spec": {}}}', "parent.metadata", id="target-without-metadata"),
    pytest.param(b'{"parent": {"metadata": {"name": "c"}}}', "namespace", id="no-namespace"),
    pytest.param(
        b'{"parent": {"metadata": {"name": "c", "namespace": 3}}}', "namespace", id="bad-namespace"
    ),
]
SHAPE_ERRORS = [
    pytest.param(b'"related": []', "related", id="related-not-a-map"),
    pytest.param(b'"related": {"' + NIMBUILD_KEY.encode() + b'": []}', "related", id="group-list"),
    pytest.param(
        b'"related": {"' + NIMBUILD_KEY.encode() + b'": {"default/b": 3}}',
        "related",
        id="entry-not-object",
    ),
]
TARGET = (
    b'"parent": {"metadata": {"name": "c", "namespace": "default"}, "status": {"state": "Ready"}}'
)


@pytest.mark.parametrize(("body", "needle"), BAD_REQUESTS)
@pytest.mark.parametrize("path", ["/nimcache/sync", "/nimcache/customize"])
def test_bad_requests_get_400(client: FlaskClient, body: bytes, needle: str, path: str) -> None:
    response = client.post(path, data=body, content_type="application/json")
    assert needle in error_of(response, 400)


SHAPE_ERRORS += [
    # As /sync reads them (DESIGN §3): the v2 fields have one shape.
    pytest.param(b'"children": []', "children", id="children-not-a-map"),
    pytest.param(b'"finalizing": "yes"', "finalizing", id="finalizing-not-bool"),
]


@pytest.mark.parametrize(("shape", "needle"), SHAPE_ERRORS)
def test_wrong_map_shapes_get_400_on_sync(client: FlaskClient, shape: bytes, needle: str) -> None:
    body = b"{" + TARGET + b", " + shape + b"}"
    response = client.post("/nimcache/sync", data=body, content_type="application/json")
    assert needle in error_of(response, 400)
    # customize reads the target only: the rest of the body is not its business
    customize = client.post("/nimcache/customize", data=body, content_type="application/json")
    assert customize.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/nimcache/sync"), ("put", "/nimcache/sync"), ("delete", "/nimcache/customize")],
)
def test_wrong_method_is_405(client: FlaskClient, method: str, path: str) -> None:
    response = getattr(client, method)(path)
    error_of(response, 405)
    assert response.headers["Allow"]


def test_body_over_the_limit_is_413(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "SETTINGS": Settings(max_body_bytes=1024)})
    body = json.dumps(decorator_request(nimcache_target(), [ready_nimbuild("b")])).encode()
    assert len(body) > 1024
    for path in ("/nimcache/sync", "/nimcache/customize"):
        response = app.test_client().post(path, data=body, content_type="application/json")
        assert "larger than 1024" in error_of(response, 413)


def test_unexpected_exception_is_500_not_a_200(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(publish, "plan", explode)
    response = client.post(
        "/nimcache/sync", json=decorator_request(nimcache_target(), [ready_nimbuild("b")])
    )
    assert error_of(response, 500) == "internal error: RuntimeError"


@pytest.mark.parametrize(("header", "status"), [(None, 401), ("Bearer no", 401), ("Bearer t", 200)])
def test_bearer_token_is_checked(
    app_config: dict[str, Any], header: str | None, status: int
) -> None:
    app = create_app({**app_config, "SETTINGS": Settings(auth_token="t")})
    headers = {"Authorization": header} if header else {}
    body = decorator_request(nimcache_target())
    for path in ("/nimcache/sync", "/nimcache/customize"):
        response = app.test_client().post(path, json=body, headers=headers)
        assert response.status_code == status, path
        if status == 401:
            assert response.headers["WWW-Authenticate"] == "Bearer"


def test_metrics_have_their_own_hook_label(client: FlaskClient) -> None:
    post(client, decorator_request(nimcache_target()))
    post(client, decorator_request(nimcache_target()), "/nimcache/customize")
    client.post("/nimcache/sync", data=b"{}", content_type="application/json")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'nimbuild_hook_requests_total{code="200",hook="nimcache/sync"} 1.0' in text
    assert 'nimbuild_hook_requests_total{code="400",hook="nimcache/sync"} 1.0' in text
    assert 'nimbuild_hook_requests_total{code="200",hook="nimcache/customize"} 1.0' in text
    assert 'nimbuild_hook_duration_seconds_count{hook="nimcache/sync"} 2.0' in text
    assert "nimbuild_sync_decisions_total{" not in text, "NIMBuild decisions are not counted here"


def test_a_log_line_names_the_nimcache_and_the_profiles_added(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="nimbuild.hook"):
        post(client, decorator_request(nimcache_target(), [ready_nimbuild("b")]))
        post(client, decorator_request(nimcache_target()))  # nothing added: no line
    (record,) = [r for r in caplog.records if r.name == "nimbuild.hook"]
    assert record.__dict__["object"] == "default/test-nimcache"
    assert "buildable-profile-built-b" in record.getMessage()


def test_json_log_lines_carry_the_object() -> None:
    from hooks.jsonlog import JsonFormatter

    record = logging.LogRecord("nimbuild.hook", logging.INFO, __file__, 1, "m", None, None)
    record.__dict__["object"] = "ns/cache"
    assert json.loads(JsonFormatter().format(record))["object"] == "ns/cache"


# --- spec.build.publishProfile in the NIMBuild hook ---------------------------------------------


@pytest.mark.parametrize("value", [True, False])
def test_publish_profile_parses_in_the_nimbuild_hook(client: FlaskClient, value: bool) -> None:
    cache = nimcache(profiles=[buildable(tp="1")])
    plain = post(client, request(nimbuild(), caches=[cache]), "/sync")[1]
    opted = post(
        client, request(nimbuild(build={"publishProfile": value}), caches=[cache]), "/sync"
    )
    assert opted[1] == plain, "the build does not depend on publishing"


def test_publish_profile_of_the_wrong_type_is_an_invalid_spec(client: FlaskClient) -> None:
    cache = nimcache(profiles=[buildable(tp="1")])
    _, answer = post(
        client, request(nimbuild(build={"publishProfile": "no"}), caches=[cache]), "/sync"
    )
    assert answer["status"]["state"] == "Failed"
    assert "spec.build.publishProfile" in json.dumps(answer["status"])
