"""Security of the hook as a server (the Job it renders: decisions/test_job_security.py).

- Optional bearer token (Metacontroller's `webhook.authorization`): from a mounted file or the
  environment; without the right `Authorization: Bearer …` the hook endpoints answer 401, the
  probes and metrics stay open; the comparison is `hmac.compare_digest`. A full build runs
  through a token-protected hook served by gunicorn.
- No secret in the logs: gunicorn runs with a token and at DEBUG level, gets right and wrong
  tokens and requests full of secret-looking values; its whole output is searched for them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import buildable, nimbuild, nimcache, request
from crd_schema import status_validator
from decisions.test_job_security import SECRET_VALUES, secret_world
from e2e.fake_cluster import FakeCluster
from e2e.server import HOST, HookServer

import hooks.sync
from hooks.settings import Settings
from hooks.sync import create_app

pytestmark = pytest.mark.slow

TOKEN = "tok-3b9f1c7e5a2d4e6f8a0b1c2d3e4f5a6b"  # what Metacontroller's Secret holds
HOOK_PATHS = ["/sync", "/customize", "/nimcache/sync", "/nimcache/customize"]


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "token"
    path.write_text(TOKEN + "\n")  # mounted Secrets often end with a newline
    return path


@pytest.fixture(scope="module")
def secured(token_file: Path) -> Iterator[HookServer]:
    server = HookServer({"NIMBUILD_HOOK_AUTH_TOKEN_FILE": str(token_file), "LOG_LEVEL": "DEBUG"})
    server.start()
    yield server
    server.close()


def call(
    server: HookServer, method: str, path: str, body: Any = None, auth: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    import http.client

    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers=headers)
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        conn.close()


# --- bearer token -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(None, id="no-header"),
        pytest.param("", id="empty-header"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Bearer ", id="empty-token"),
        pytest.param(f"Basic {TOKEN}", id="basic-scheme"),
        pytest.param(f"Bearer {TOKEN[:-1]}", id="prefix"),
        pytest.param(f"Bearer {TOKEN}x", id="longer"),
        pytest.param(f"Bearer {TOKEN[:-1]}X", id="same-length-last-char"),
        pytest.param(f"Bearer {TOKEN.upper()}", id="other-case"),
        pytest.param(f"{TOKEN}", id="token-without-scheme"),
    ],
)
@pytest.mark.parametrize("path", HOOK_PATHS)
def test_wrong_or_missing_token_is_401(secured: HookServer, auth: str | None, path: str) -> None:
    status, headers, data = call(secured, "POST", path, {"parent": nimbuild()}, auth)
    assert status == 401
    assert headers["WWW-Authenticate"] == "Bearer"
    assert json.loads(data) == {"error": "missing or wrong bearer token"}


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
@pytest.mark.parametrize("path", HOOK_PATHS)
def test_right_token_is_200(secured: HookServer, scheme: str, path: str) -> None:
    body = request(nimbuild()) if path == "/sync" else {"parent": nimbuild()}
    status, _, data = call(secured, "POST", path, body, f"{scheme} {TOKEN}")
    assert status == 200, data


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_need_no_token(secured: HookServer, path: str) -> None:
    status, _, _ = call(secured, "GET", path)
    assert status == 200


def test_a_build_runs_through_a_token_protected_hook(secured: HookServer) -> None:
    cluster = FakeCluster(secured.url, token=TOKEN, status_validator=status_validator())
    cluster.create(nimcache(profiles=[buildable(tp="1")]))
    cluster.create(nimbuild("secured"))
    cluster.converge()
    for step in (cluster.scheduled, cluster.running):
        step("secured")
        cluster.converge()
    result = json.dumps(
        {
            "outputProfile": {"name": "built", "model": "m", "release": "1", "config": {}},
            "engineDir": "/model-store/x",
            "buildSeconds": 1,
        }
    )
    cluster.builder_exits("secured", 0, result)
    cluster.converge()
    assert cluster.status("secured")["state"] == "Ready"
    assert cluster.stats.hook_errors == 0 and cluster.violations == []
    cluster.token = "not-the-token"
    assert not cluster.sync(("default", "secured"))
    assert "unsupported status code: 401" in cluster.stats.errors[-1]


def test_token_from_the_environment(app_config: dict[str, Any]) -> None:
    app = create_app({"ENV": {"NIMBUILD_HOOK_AUTH_TOKEN": TOKEN}, "CLOCK": app_config["CLOCK"]})
    client = app.test_client()
    assert client.post("/customize", json={"parent": nimbuild()}).status_code == 401
    ok = client.post(
        "/customize", json={"parent": nimbuild()}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert ok.status_code == 200


def test_the_token_is_compared_in_constant_time(
    app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[bytes, bytes]] = []
    real = hooks.sync.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hooks.sync.hmac, "compare_digest", spy)
    app = create_app({**app_config, "SETTINGS": Settings(auth_token=TOKEN)})
    response = app.test_client().post(
        "/customize", json={"parent": nimbuild()}, headers={"Authorization": "Bearer guess"}
    )
    assert response.status_code == 401
    assert seen == [(b"guess", TOKEN.encode())]


def test_no_token_configured_means_no_check(client: Any) -> None:
    response = client.post(
        "/customize", json={"parent": nimbuild()}, headers={"Authorization": "Bearer anything"}
    )
    assert response.status_code == 200


# --- logs -------------------------------------------------------------------------------------


def test_no_secret_reaches_the_logs(secured: HookServer) -> None:
    world = secret_world()
    good = f"Bearer {TOKEN}"
    assert call(secured, "POST", "/sync", world, good)[0] == 200
    assert call(secured, "POST", "/customize", world, good)[0] == 200
    assert call(secured, "POST", "/sync", world, f"Bearer {SECRET_VALUES[0]}")[0] == 401
    assert call(secured, "POST", "/sync", world)[0] == 401
    broken = dict(world, related={"Pod.v1": {"a/b": {"metadata": {"name": SECRET_VALUES[1]}}}})
    broken["related"]["Pod.v1"]["a/b"]["status"] = {"phase": {"x": SECRET_VALUES[0]}}
    assert call(secured, "POST", "/sync", broken, good)[0] == 400
    assert call(secured, "POST", f"/sync?token={TOKEN[:4]}", {"parent": 1}, good)[0] == 400
    log = secured.log()
    assert log.count('"POST /sync') >= 4, log[-2000:]  # the requests were logged...
    assert "DEBUG" in log or "INFO" in log
    for secret in [TOKEN, *SECRET_VALUES]:  # ...and nothing secret with them
        assert secret not in log
    assert "Authorization" not in log and "Bearer" not in log


def test_gunicorn_writes_one_json_line_per_sync_naming_the_object(secured: HookServer) -> None:
    world = secret_world()
    uid = world["parent"]["metadata"]["uid"]
    before = len(secured.log().splitlines())
    assert call(secured, "POST", "/sync", world, f"Bearer {TOKEN}")[0] == 200
    entries = [json.loads(line) for line in secured.log().splitlines()[before:] if line[:1] == "{"]
    [entry] = [e for e in entries if e.get("logger") == "nimbuild.sync"]
    assert entry["object"] == {"namespace": "default", "name": "test-nimbuild", "uid": uid}
    assert (entry["state"], entry["reason"], entry["code"]) == (
        "Started",
        "EngineBuildJobCreated",
        200,
    )
    assert entry["duration_ms"] > 0
