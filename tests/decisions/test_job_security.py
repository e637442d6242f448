"""Security of the Job the hook renders, whatever the NIMBuild and NIMCache ask for (the hook
as a server, its token and its logs: web/test_security.py).

- The NGC API key reaches the NIM container by reference to the NIMCache's Secret, never as a
  value, even when the request is full of secret-looking values.
- `spec.env` cannot remove or override the builder's `NIMBUILD_*` contract: with the `nim`
  backend it goes only to the NIM sidecar; with `trtllm` it is merged into the builder, where
  our `NIMBUILD_*` (and `TMPDIR`) win.
- The rendered pod passes Pod Security "restricted" (tests/restricted.py), whatever the
  NIMBuild and NIMCache ask for. No exception is needed: the NIM sidecar has no
  `readOnlyRootFilesystem` (it writes its own caches), which "restricted" does not require.
"""

from __future__ import annotations

from typing import Any

import pytest
from builders import buildable, nimbuild, nimcache, request
from restricted import violations

NGC_SECRET = "ngc-secret-name-7f3a"  # a Secret *name*: it may appear in the Job, never a value
SECRET_VALUES = ["nvapi-SECRETVALUE-0123456789", "hf_SECRETVALUE_abcdef"]


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
