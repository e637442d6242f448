"""The HTTP contract (DESIGN §3) through the Flask test client: what a malformed request
gets (a JSON error, never a 200), auth, health, metrics and customize."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from builders import UID, nimbuild, nimcache, request
from flask.testing import FlaskClient
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hooks.settings import Settings
from hooks.startup import load_settings
from hooks.sync import HOOKS, create_app
from hooks.vocabulary import REASON_PATTERN


def error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]
    message: str = body["error"]
    return message


# Malformed wherever the hook looks: the body itself and its parent (both hooks read them).
BAD_ANYWHERE = [
    pytest.param(b"{not json", "not valid JSON", id="malformed-json"),
    pytest.param(b"", "not valid JSON", id="empty-body"),
    pytest.param(b'{"parent": {"a": NaN}}', "not valid JSON", id="nan"),
    pytest.param(b'{"parent": "\xff"}', "not valid JSON", id="invalid-utf8"),
    pytest.param(b'{"parent": "\\ud800"}', "not valid JSON", id="unpaired-surrogate"),
    pytest.param(b"[" * 20000 + b"]" * 20000, "not valid JSON", id="deep-nesting"),
    pytest.param(b"[1, 2]", "JSON object", id="not-an-object"),
    pytest.param(b"{}", "parent", id="no-parent"),
    pytest.param(b'{"parent": []}', "parent", id="parent-not-object"),
    pytest.param(b'{"parent": {"spec": {}}}', "parent.metadata", id="parent-without-metadata"),
]
# Malformed only in what /sync reads: /customize reads the parent alone.
BAD_FOR_SYNC = [
    pytest.param(
        b'{"parent": {"metadata": {"name": "x"}}, "children": []}',
        "children",
        id="children-not-a-map",
    ),
    pytest.param(
        b'{"parent": {"metadata": {"name": "x"}}, "related": {"Pod.v1": {"a/b": 3}}}',
        "related",
        id="related-entry-not-object",
    ),
    pytest.param(
        b'{"parent": {"metadata": {"name": "x"}}, "related": {"Pod.v1": {"a/b": '
        b'{"metadata": []}}}}',
        "related.Pod.metadata",
        id="pod-metadata-not-an-object",
    ),
    pytest.param(
        b'{"parent": {"metadata": {"name": "x"}}, "finalizing": "yes"}',
        "finalizing",
        id="finalizing-not-bool",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        *(
            pytest.param(path, *case.values, id=f"{path}-{case.id}")
            for path in ("/customize", "/sync")
            for case in BAD_ANYWHERE
        ),
        *(pytest.param("/sync", *case.values, id=f"/sync-{case.id}") for case in BAD_FOR_SYNC),
    ],
)
def test_bad_requests_get_400_with_a_json_error(
    client: FlaskClient, path: str, body: bytes, needle: str
) -> None:
    response = client.post(path, data=body, content_type="application/json")
    assert needle in error_of(response, 400)


@pytest.mark.parametrize(
    "body", [pytest.param(case.values[0], id=case.id) for case in BAD_FOR_SYNC]
)
def test_customize_ignores_what_it_does_not_read(client: FlaskClient, body: bytes) -> None:
    """customize reads only the parent; the rest of the body is not its business."""
    response = client.post("/customize", data=body, content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert set(response.get_json()) == {"relatedResources"}


def test_unparseable_spec_is_a_200_with_failed_state_naming_the_fields(client: FlaskClient) -> None:
    parent = nimbuild(image={"repository": 7}, nimCache={})
    response = client.post("/sync", json=request(parent, caches=[nimcache()]))
    assert response.status_code == 200
    status = response.get_json()["status"]
    assert status["state"] == "Failed"
    failed = next(c for c in status["conditions"] if c["type"] == "NIM_BUILD_RECONCILE_FAILED")
    assert failed["reason"] == "InvalidSpec"
    for field in ("spec.image.repository", "spec.image.tag", "spec.nimCache.name"):
        assert field in failed["message"]
    assert response.get_json()["children"] == []


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"labels": {"team": "ml\n"}}, "spec.labels"),
        ({"nodeSelector": {"gpu\n": "a100"}}, "spec.nodeSelector"),
        ({"resources": {"limits": {"cpu": "1\n"}}}, "spec.resources.limits.cpu"),
    ],
)
def test_a_value_with_a_trailing_newline_is_invalid_spec(
    client: FlaskClient, spec: dict[str, Any], field: str
) -> None:
    """The API server matches with RE2 (`$` is the end of the text): a Job with label value
    "ml\n" would be refused on every sync, so the hook says Failed/InvalidSpec instead."""
    response = client.post("/sync", json=request(nimbuild(**spec), caches=[nimcache()]))
    status = response.get_json()["status"]
    assert status["state"] == "Failed", status
    failed = next(c for c in status["conditions"] if c["type"] == "NIM_BUILD_RECONCILE_FAILED")
    assert failed["reason"] == "InvalidSpec" and field in failed["message"], failed
    assert response.get_json()["children"] == []


FIXTURES = Path(__file__).parents[1] / "fixtures" / "sync"


@pytest.mark.parametrize(
    ("fixture", "where", "fallback"),
    [
        ("pod-unschedulable", ("related", "Pod.v1"), "PodPending"),
        ("job-failed-deadline", ("children", "Job.batch/v1"), "JobFailed"),
    ],
)
@pytest.mark.parametrize("bad", ["Unschedulable\n", "bad reason", "x" * 1025])
def test_a_copied_reason_off_the_crd_pattern_is_replaced_and_kept_in_the_message(
    client: FlaskClient, fixture: str, where: tuple[str, str], fallback: str, bad: str
) -> None:
    body = json.loads((FIXTURES / fixture / "request.json").read_text(encoding="utf-8"))
    expected = json.loads((FIXTURES / fixture / "expected.json").read_text(encoding="utf-8"))
    copied = {c["reason"] for c in expected["status"]["conditions"]}
    for obj in body[where[0]][where[1]].values():
        for cond in obj["status"]["conditions"]:
            if cond["reason"] in copied and cond["status"] in ("True", "False"):
                cond["reason"] = bad
    status = client.post("/sync", json=body).get_json()["status"]
    reasons = [c["reason"] for c in status["conditions"]]
    assert all(re.fullmatch(REASON_PATTERN, r) for r in reasons), reasons
    assert bad not in reasons
    replaced = [c for c in status["conditions"] if c["reason"] == fallback]
    assert replaced and all(repr(bad[:256]) in c["message"] for c in replaced), replaced


def test_the_newest_pod_is_newest_by_time_not_by_text(client: FlaskClient) -> None:
    """The same instant with an offset: as text it sorts before the older pod (DESIGN §4)."""
    folder = FIXTURES / "several-pods-newest-speaks"
    body = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    pod = body["related"]["Pod.v1"]["default/test-nimbuild-engine-build-zzzzz"]
    assert pod["metadata"]["creationTimestamp"] == "2026-01-01T00:30:00Z"
    pod["metadata"]["creationTimestamp"] = "2025-12-31T23:30:00-01:00"
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    assert client.post("/sync", json=body).get_json() == expected


@pytest.mark.parametrize("meta", [{"name": "b", "namespace": ""}, {"name": "b", "namespace": 3}])
def test_customize_refuses_a_parent_without_a_namespace(
    client: FlaskClient, meta: dict[str, Any]
) -> None:
    """A v2 related rule with namespace "" lists every namespace (as /nimcache/customize)."""
    parent = nimbuild()
    parent["metadata"].update(meta)
    error_of(client.post("/customize", json={"parent": parent}), 400)


def test_body_over_the_limit_is_413(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "SETTINGS": Settings(max_body_bytes=1024)})
    response = app.test_client().post(
        "/sync", data=b'{"parent": "' + b"x" * 5000 + b'"}', content_type="application/json"
    )
    assert "larger than 1024" in error_of(response, 413)


def test_body_at_the_limit_is_read(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "SETTINGS": Settings(max_body_bytes=1024)})
    body = b'{"parent": "' + b"x" * (1024 - 14) + b'"}'
    assert len(body) == 1024
    response = app.test_client().post("/sync", data=body, content_type="application/json")
    assert "parent" in error_of(response, 400)


@pytest.mark.parametrize(
    "content_type", ["text/html", "application/x-www-form-urlencoded", "text/plain", None]
)
def test_the_body_not_the_content_type_decides(
    client: FlaskClient, content_type: str | None
) -> None:
    """DESIGN §3 judges a request by its body: a JSON object under any (or no) content type is
    served, and a body that is not JSON is 400 whatever the content type claims."""
    body = json.dumps({"parent": nimbuild()}).encode()
    served = client.post("/customize", data=body, content_type=content_type)
    assert served.status_code == 200, served.data
    assert (
        served.get_json()
        == client.post("/customize", data=body, content_type="application/json").get_json()
    )
    assert "not valid JSON" in error_of(
        client.post("/customize", data=b"parent=x", content_type=content_type), 400
    )


def test_oversized_body_with_a_wrong_content_type_is_still_413(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "SETTINGS": Settings(max_body_bytes=1024)})
    response = app.test_client().post("/sync", data=b"x" * 4096, content_type="text/plain")
    error_of(response, 413)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/sync"),
        ("put", "/sync"),
        ("delete", "/customize"),
        ("post", "/healthz"),
        *(("options", f"/{p}") for p in (*HOOKS, "healthz", "readyz", "metrics")),
    ],
)
def test_wrong_method_is_405(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method.upper())
    error_of(response, 405)
    assert "Allow" in response.headers


def test_unknown_path_is_404_json(client: FlaskClient) -> None:
    error_of(client.get("/nope"), 404)


def test_unexpected_exception_is_500_json_not_a_partial_200(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hooks.core

    def explode(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hooks.core, "decide", explode)
    response = client.post("/sync", json=request(nimbuild(), caches=[nimcache()]))
    assert error_of(response, 500) == "internal error: RuntimeError"


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        ("Basic s3cret", 401),
        ("Bearer s3cret", 200),
        ("bearer s3cret", 200),
    ],
)
def test_bearer_token_is_checked_when_configured(
    app_config: dict[str, Any], header: str | None, status: int
) -> None:
    app = create_app({**app_config, "SETTINGS": Settings(auth_token="s3cret")})
    headers = {"Authorization": header} if header else {}
    for path, body in (("/sync", request(nimbuild())), ("/customize", {"parent": nimbuild()})):
        response = app.test_client().post(path, json=body, headers=headers)
        assert response.status_code == status
        if status == 401:
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert app.test_client().get("/healthz").status_code == 200


def test_token_is_read_from_a_mounted_file(tmp_path: Any) -> None:
    token = tmp_path / "token"
    token.write_text("from-file\n")
    env = {"NIMBUILD_HOOK_AUTH_TOKEN_FILE": str(token)}
    assert load_settings(env).auth_token == "from-file"
    # The pure settings read no file: the web layer hands the content in.
    assert Settings.from_env(env).auth_token == ""


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_metrics_content_type_is_prometheus_text_once(client: FlaskClient) -> None:
    """Prometheus 3 refuses a Content-Type it cannot parse: the charset must appear once."""
    response = client.get("/metrics")
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert response.headers["Content-Type"].count("charset") == 1


def test_metrics_count_requests_and_decisions(client: FlaskClient) -> None:
    client.post("/sync", json=request(nimbuild()))
    client.post("/sync", data=b"nope", content_type="application/json")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'nimbuild_hook_requests_total{code="200",hook="sync"} 1.0' in text
    assert 'nimbuild_hook_requests_total{code="400",hook="sync"} 1.0' in text
    assert 'nimbuild_sync_decisions_total{reason="NIMCacheNotFound",state="Pending"} 1.0' in text
    assert "nimbuild_hook_duration_seconds_bucket" in text


def test_customize_selects_the_nimcache_by_name_and_the_build_pods_by_label(
    client: FlaskClient,
) -> None:
    response = client.post("/customize", json={"controller": {}, "parent": nimbuild()})
    assert response.status_code == 200
    assert response.get_json() == {
        "relatedResources": [
            {
                "apiVersion": "apps.nvidia.com/v1alpha1",
                "resource": "nimcaches",
                "namespace": "default",
                "names": ["test-nimcache"],
            },
            {
                "apiVersion": "v1",
                "resource": "pods",
                "namespace": "default",
                "labelSelector": {"matchLabels": {"nimbuild.apps.nvidia.com/nimbuild-uid": UID}},
            },
        ]
    }


def test_customize_depends_on_the_parent_only(client: FlaskClient) -> None:
    a = client.post("/customize", json={"parent": nimbuild(status={"state": "Ready"})})
    b = client.post("/customize", json={"parent": nimbuild(), "controller": {"x": 1}})
    assert a.get_data() == b.get_data()


def test_finalizing_answers_finalized_with_status(client: FlaskClient) -> None:
    response = client.post("/sync", json=request(nimbuild(), finalizing=True))
    body = response.get_json()
    assert body["finalized"] is True
    assert body["status"]["state"] == "Pending"


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({}, "builder_image", "ghcr.io/nimbuild-controller/nimbuild-controller:0.1.0"),
        ({"NIMBUILD_HOOK_BUILDER_IMAGE": "r.example/b:1"}, "builder_image", "r.example/b:1"),
        ({"NIMBUILD_HOOK_BACKOFF_LIMIT": "3"}, "backoff_limit", 3),
        ({"NIMBUILD_HOOK_ACTIVE_DEADLINE_SECONDS": "600"}, "active_deadline_seconds", 600),
        ({"NIMBUILD_HOOK_MAX_BODY_BYTES": "2048"}, "max_body_bytes", 2048),
        ({"NIMBUILD_HOOK_BODY_TIMEOUT_SECONDS": "3"}, "body_timeout_seconds", 3),
        ({"NIMBUILD_HOOK_AUTH_TOKEN": " t "}, "auth_token", "t"),
    ],
)
def test_settings_come_from_the_environment(env: dict[str, str], field: str, value: object) -> None:
    assert getattr(Settings.from_env(env), field) == value


@pytest.mark.parametrize(
    "env",
    [
        {"NIMBUILD_HOOK_BACKOFF_LIMIT": "many"},
        {"NIMBUILD_HOOK_ACTIVE_DEADLINE_SECONDS": "5"},
        {"NIMBUILD_HOOK_AUTH_TOKEN_FILE": "/nonexistent/token"},
    ],
)
def test_bad_settings_stop_the_app_from_starting(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="NIMBUILD_HOOK_"):
        create_app({"ENV": env})


def test_settings_reach_the_rendered_job(app_config: dict[str, Any]) -> None:
    env = {
        "NIMBUILD_HOOK_BUILDER_IMAGE": "registry.internal/nimbuild:2",
        "NIMBUILD_HOOK_BACKOFF_LIMIT": "4",
        "NIMBUILD_HOOK_ACTIVE_DEADLINE_SECONDS": "1200",
    }
    app = create_app({"ENV": env, "CLOCK": app_config["CLOCK"]})
    from builders import buildable

    body = request(nimbuild(), caches=[nimcache(profiles=[buildable(tp="1")])])
    job = app.test_client().post("/sync", json=body).get_json()["children"][0]
    assert job["spec"]["backoffLimit"] == 4
    assert job["spec"]["activeDeadlineSeconds"] == 1200
    builder = job["spec"]["template"]["spec"]["containers"][0]
    assert builder["image"] == "registry.internal/nimbuild:2"
    timeout = next(e for e in builder["env"] if e["name"] == "NIMBUILD_TIMEOUT_SECONDS")
    assert 1000 <= int(timeout["value"]) < 1200


def test_related_objects_without_metadata_are_known_by_their_v2_key(client: FlaskClient) -> None:
    from builders import buildable

    cache = nimcache(profiles=[buildable(tp="1")])
    del cache["metadata"]
    body = request(nimbuild())
    body["related"]["NIMCache.apps.nvidia.com/v1alpha1"] = {"default/test-nimcache": cache}
    answer = client.post("/sync", json=body).get_json()
    assert answer["status"]["state"] == "Started"
