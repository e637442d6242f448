"""Security properties of the hook and of the Job it renders.

- Optional bearer token (Metacontroller's `webhook.authorization`): from a mounted file or the
  environment; without the right `Authorization: Bearer …` the hook endpoints answer 401, the
  probes and metrics stay open; the comparison is `hmac.compare_digest`. A full build runs
  through a token-protected hook served by gunicorn.
- No secret in the logs: gunicorn runs with a token and at DEBUG level, gets right and wrong
  tokens and requests full of secret-looking values; its whole output is searched for them.
- `spec.env` cannot remove or override the builder's `NIMBUILD_*` contract: with the `nim`
  backend it goes only to the NIM sidecar; with `trtllm` it is merged into the builder, where
  our `NIMBUILD_*` (and `TMPDIR`) win.
- The rendered pod passes Pod Security "restricted" (tests/restricted.py), whatever the
  NIMBuild and NIMCache ask for. No exception is needed: the NIM sidecar has no
  `readOnlyRootFilesystem` (it writes its own caches), which "restricted" does not require.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import buildable, nimbuild, nimcache, request
from crd_schema import status_validator
from e2e.fake_cluster import FakeCluster
from e2e.server import HOST, HookServer
from restricted import violations

import hooks.sync
from hooks.settings import Settings
from hooks.sync import create_app

pytestmark = pytest.mark.slow

TOKEN = "tok-3b9f1c7e5a2d4e6f8a0b1c2d3e4f5a6b"  # what Metacontroller's Secret holds
NGC_SECRET = "ngc-secret-name-7f3a"  # a Secret *name*: it may appear in the Job, never a value
SECRET_VALUES = ["nvapi-SECRETVALUE-0123456789", "hf_SECRETVALUE_abcdef"]
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


def secret_world() -> dict[str, Any]:
    """A request whose objects carry secret-looking values everywhere a user could put them."""
    env = [
        {"name": "HF_TOKEN", "value": SECRET_VALUES[1]},
        {"name": "NGC_API_KEY", "value": SECRET_VALUES[0]},
    ]
    parent = nimbuild(env=env, annotations={"note": SECRET_VALUES[0]})
    cache = nimcache(
        profiles=[buildable(tp="1")],
        source={"ngc": {"modelPuller": "nvcr.io/nim/x", "authSecret": NGC_SECRET}},
    )
    return request(parent, caches=[cache])


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


def test_the_rendered_job_references_the_ngc_secret_and_holds_no_value(client: Any) -> None:
    world = secret_world()
    world["parent"]["spec"].pop("env")
    job = client.post("/sync", json=world).get_json()["children"][0]
    nim = job["spec"]["template"]["spec"]["initContainers"][0]
    key = next(e for e in nim["env"] if e["name"] == "NGC_API_KEY")
    assert key == {
        "name": "NGC_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": NGC_SECRET, "key": "NGC_API_KEY"}},
    }


# --- spec.env and the builder's contract ------------------------------------------------------

HOSTILE_ENV = [
    {"name": "NIMBUILD_INPUT_PROFILE", "value": "evil-profile"},
    {"name": "NIMBUILD_RESULT_FILE", "value": "/tmp/elsewhere"},
    {"name": "NIMBUILD_NIM_URL", "value": "http://attacker.example:8000"},
    {"name": "NIMBUILD_TIMEOUT_SECONDS", "value": "999999"},
    {"name": "NIMBUILD_BACKEND", "value": "nim"},
    {"name": "NIMBUILD_MODEL_STORE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    {"name": "TMPDIR", "value": "/"},
    {"name": "HF_HOME", "value": "/model-store/hf"},
    {"name": "NIM_MODEL_PROFILE", "value": "user-choice"},
]


def render(client: Any, backend: str) -> dict[str, Any]:
    parent = nimbuild(env=HOSTILE_ENV, build={"backend": backend})
    body = request(parent, caches=[nimcache(profiles=[buildable(tp="1")])])
    response = client.post("/sync", json=body)
    assert response.status_code == 200
    [job] = response.get_json()["children"]
    return dict(job)


def containers(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = job["spec"]["template"]["spec"]
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), f"duplicate env names in {container['name']}: {names}"
    return {e["name"]: e for e in container["env"]}


EXPECTED_BUILDER = {
    "NIMBUILD_INPUT_PROFILE": "buildable-profile",
    "NIMBUILD_RESULT_FILE": "/dev/termination-log",
    "NIMBUILD_NIM_URL": "http://127.0.0.1:8000",
    "NIMBUILD_MODEL_STORE": "/model-store",
}


def test_nim_backend_user_env_goes_only_to_the_nim_sidecar(client: Any) -> None:
    job = render(client, "nim")
    found = containers(job)
    builder = env_of(found["engine-builder"])
    for name, value in EXPECTED_BUILDER.items():
        assert builder[name] == {"name": name, "value": value}
    assert builder["NIMBUILD_BACKEND"]["value"] == "nim"
    assert int(builder["NIMBUILD_TIMEOUT_SECONDS"]["value"]) < 7200
    assert not {"TMPDIR", "HF_HOME", "NIM_MODEL_PROFILE"} & set(builder)
    nim = env_of(found["nim-build-ctr"])
    for entry in HOSTILE_ENV:  # the sidecar gets the user's env, and it wins there
        assert nim[entry["name"]] == entry


def test_trtllm_backend_user_env_is_merged_but_ours_wins(client: Any) -> None:
    job = render(client, "trtllm")
    found = containers(job)
    assert set(found) == {"engine-builder"}
    builder = env_of(found["engine-builder"])
    for name, value in EXPECTED_BUILDER.items():
        assert builder[name] == {"name": name, "value": value}
    assert builder["NIMBUILD_BACKEND"]["value"] == "trtllm"
    assert builder["TMPDIR"]["value"] == "/scratch"
    assert builder["HF_HOME"] == {"name": "HF_HOME", "value": "/model-store/hf"}
    assert builder["NIM_MODEL_PROFILE"]["value"] == "user-choice"
    # The contract entries come after the user's, so `$(VAR)` in user values cannot see
    # a user-set NIMBUILD_* either.
    names = [e["name"] for e in found["engine-builder"]["env"]]
    assert names.index("HF_HOME") < names.index("NIMBUILD_INPUT_PROFILE")


# --- Pod Security "restricted" ----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["nim", "trtllm"])
def test_the_rendered_pod_is_restricted_even_when_asked_for_more(client: Any, backend: str) -> None:
    parent = nimbuild(
        build={"backend": backend},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        nodeSelector={"nvidia.com/gpu.present": "true"},
        image={"repository": "nvcr.io/nim/x", "tag": "1", "pullSecrets": ["ngc-pull"]},
    )
    cache = nimcache(profiles=[buildable(tp="2")], userID=1234, groupID=5678)
    cache["spec"]["runtimeClassName"] = "nvidia"
    [job] = client.post("/sync", json=request(parent, caches=[cache])).get_json()["children"]
    assert violations(job) == []
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsUser"] == 1234
    assert pod["securityContext"]["fsGroup"] == 5678
    for container in containers(job).values():
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert containers(job)["engine-builder"]["securityContext"]["readOnlyRootFilesystem"]


def test_a_nimcache_asking_for_root_fails_instead_of_rendering(client: Any) -> None:
    cache = nimcache(profiles=[buildable(tp="1")], userID=0)
    answer = client.post("/sync", json=request(nimbuild(), caches=[cache])).get_json()
    assert answer["status"]["state"] == "Failed"
    assert answer["children"] == []


@pytest.mark.parametrize(
    "ids",
    [{"userID": -1}, {"groupID": -5}, {"userID": 2**31}],
    ids=["negative-user", "negative-group", "user-over-int32"],
)
def test_a_nimcache_with_out_of_range_ids_fails_instead_of_rendering(
    client: Any, ids: dict[str, int]
) -> None:
    cache = nimcache(profiles=[buildable(tp="1")], **ids)
    answer = client.post("/sync", json=request(nimbuild(), caches=[cache])).get_json()
    assert answer["status"]["state"] == "Failed"
    assert answer["children"] == []
