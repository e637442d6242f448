"""Round trip hook → Job → engine_builder → termination message → hook: the contract, end to end.

The hook and the builder meet only through the Job's env and the result file. Here both sides
run for real: `/sync` renders the Job for a NIMBuild whose NIMCache is Ready; the Job's
`engine-builder` command runs with the Job's own env (only the model store, the result file,
the NIM URL and the NIM PID pointed at temporary things) against the NIM server stand-in, or,
for `spec.build.backend: trtllm`, against the TensorRT-LLM and nvidia-smi stand-ins; the result
file goes back to `/sync` as the builder container's `state.terminated.message` of a Succeeded
pod under a Complete Job, and the NIMBuild turns Ready with that output profile.

Cases: backend nim (model name from spec.modelName), backend trtllm.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import builders
import pytest
from flask.testing import FlaskClient
from standins import fake_bin, harness, nim_server

from engine_builder import tiny_llama

pytestmark = pytest.mark.slow

INPUT = "a3f1c2d4" * 8


def sync(client: FlaskClient, request: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/sync", json=request)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert isinstance(body, dict)
    return body


def the_job(body: dict[str, Any]) -> dict[str, Any]:
    jobs = [c for c in body["children"] if c["kind"] == "Job"]
    assert len(jobs) == 1
    return jobs[0]


def containers(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    pod = job["spec"]["template"]["spec"]
    return {c["name"]: c for c in [*pod.get("initContainers", []), *pod["containers"]]}


def plain_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def run_job_command(container: dict[str, Any], env: dict[str, str], result: Path) -> str:
    command = list(container["command"])
    assert command[:3] == ["python3", "-m", "engine_builder"]
    command[0] = sys.executable  # the image's python
    done = subprocess.run(
        command,
        env={**harness.base_env(), **env},
        cwd=harness.REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return result.read_text()


def feed_back(
    client: FlaskClient,
    first: dict[str, Any],
    parent: dict[str, Any],
    cache: dict[str, Any],
    message: str,
) -> dict[str, Any]:
    """The finished build as Metacontroller would show it on the next sync."""
    job = builders.as_observed_job(the_job(first), conditions=builders.COMPLETE)
    pod = builders.pod(
        phase="Succeeded",
        nim=builders.container("nim-build-ctr", builders.terminated(0, "Completed")),
        builder=builders.container("engine-builder", builders.terminated(0, "Completed", message)),
    )
    parent = {**parent, "status": first["status"]}
    return sync(client, builders.request(parent, caches=[cache], jobs=[job], pods=[pod]))


def expected_status_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """`status.outputProfile` leaves empty strings out (hook's wire form)."""
    return {k: v for k, v in profile.items() if v not in ("", {})}


def test_nim_backend_round_trip(client: FlaskClient, tmp_path: Path) -> None:
    parent = builders.nimbuild(modelName="my-llama-custom")
    cache = builders.nimcache(profiles=[builders.buildable(INPUT, tp="1", precision="bf16")])
    first = sync(client, builders.request(parent, caches=[cache]))
    assert first["status"]["state"] == "Started"
    job = the_job(first)
    by_name = containers(job)
    builder, nim = by_name["engine-builder"], by_name["nim-build-ctr"]
    env = plain_env(builder)
    # The contract as the hook renders it.
    assert env["NIMBUILD_MODEL_STORE"] == "/model-store"
    assert env["NIMBUILD_NIM_URL"] == "http://127.0.0.1:8000"
    assert env["NIMBUILD_INPUT_PROFILE"] == INPUT
    assert (
        env["NIMBUILD_MODEL_NAME"] == plain_env(nim)["NIM_CUSTOM_MODEL_NAME"] == "my-llama-custom"
    )
    assert env.get("NIMBUILD_BACKEND", "nim") == "nim"

    store = tmp_path / "model-store"
    store.mkdir()
    result = tmp_path / "termination-log"
    with nim_server.spawn(store, env["NIMBUILD_MODEL_NAME"]) as standin:
        env.update(
            NIMBUILD_MODEL_STORE=str(store),
            NIMBUILD_RESULT_FILE=str(result),
            NIMBUILD_NIM_URL=standin.url,
            NIMBUILD_NIM_PID=str(standin.process.pid),
        )
        message = run_job_command(builder, env, result)

    second = feed_back(client, first, parent, cache, message)
    status = second["status"]
    assert status["state"] == "Ready", json.dumps(status, indent=1)
    built = json.loads(message)["outputProfile"]
    assert built["name"] == nim_server.profile_id("my-llama-custom", "v1")
    assert status["outputProfile"] == expected_status_profile(built)
    assert status["inputProfile"]["name"] == INPUT
    ready = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"


def test_trtllm_backend_round_trip(client: FlaskClient, tmp_path: Path) -> None:
    parent = builders.nimbuild(build={"backend": "trtllm", "trtllm": {"maxSeqLen": 32}})
    cache = builders.nimcache(profiles=[builders.buildable(INPUT, tp="2", precision="fp16")])
    first = sync(client, builders.request(parent, caches=[cache]))
    assert first["status"]["state"] == "Started", json.dumps(first["status"], indent=1)
    builder = containers(the_job(first))["engine-builder"]
    env = plain_env(builder)
    assert env["NIMBUILD_BACKEND"] == "trtllm"
    assert (env["NIMBUILD_TP"], env["NIMBUILD_PRECISION"]) == ("2", "fp16")
    assert env["NIMBUILD_SCRATCH_DIR"] == env["TMPDIR"] == "/scratch"

    store = tmp_path / "model-store"
    tiny_llama.write_tiny_llama(store / "ngc/hub/models--nim--test--tiny/snapshots/hf-test-b")
    result = tmp_path / "termination-log"
    env.update(fake_bin.environment(tmp_path))
    env.update(
        NIMBUILD_MODEL_STORE=str(store),
        NIMBUILD_RESULT_FILE=str(result),
        NIMBUILD_SCRATCH_DIR=str(tmp_path / "scratch"),
        TMPDIR=str(tmp_path / "scratch"),
    )
    message = run_job_command(builder, env, result)

    second = feed_back(client, first, parent, cache, message)
    status = second["status"]
    assert status["state"] == "Ready", json.dumps(status, indent=1)
    built = json.loads(message)["outputProfile"]
    assert built["config"]["input_profile"] == INPUT
    assert built["config"]["model_name"] == env["NIMBUILD_MODEL_NAME"]
    assert status["outputProfile"] == expected_status_profile(built)
