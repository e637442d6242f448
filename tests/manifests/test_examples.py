"""The examples, end to end through the hook: each example NIMBuild, against the example
NIMCache once it is Ready with the profiles it names, renders a valid, restricted build Job
whose NIM container gets every `spec.env` entry unchanged (the late-1.x legacy-backend
variables of the fine-tuned example included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from builders import buildable, request
from flask.testing import FlaskClient
from restricted import violations

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NIMBUILDS = sorted(EXAMPLES.glob("nimbuild-*.yaml"))


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    doc["metadata"].setdefault("namespace", "nim-service")
    doc["metadata"].setdefault("uid", "0b6d5e2a-0000-4000-8000-000000000001")
    doc["metadata"].setdefault("generation", 1)
    return doc


def ready_cache(named: str | None, lora: bool) -> dict[str, Any]:
    cache = load(EXAMPLES / "nimcache.yaml")
    tags = {"tp": "1", "precision": "bf16", "llm_engine": "tensorrt_llm"}
    if lora:
        tags["feat_lora"] = "true"
    cache["status"] = {
        "state": "Ready",
        "profiles": [buildable(named or "a" * 64, **tags)],
    }
    return cache


def test_there_are_examples() -> None:
    assert len(NIMBUILDS) >= 4


@pytest.mark.parametrize("path", NIMBUILDS, ids=[p.stem for p in NIMBUILDS])
def test_example_renders_a_valid_restricted_job(client: FlaskClient, path: Path) -> None:
    parent = load(path)
    named = parent["spec"]["nimCache"].get("profile")
    cache = ready_cache(named, lora="lora" in path.stem)
    response = client.post("/sync", json=request(parent, caches=[cache]))
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["status"]["state"] == "Started", answer["status"]
    [job] = answer["children"]
    for version in ("1.29", "1.37"):
        kubernetes_validate.validate(job, version, strict=True)
    assert violations(job) == []
    pod = job["spec"]["template"]["spec"]
    if parent["spec"].get("build", {}).get("backend") == "trtllm":
        assert "initContainers" not in pod
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    else:
        assert pod["initContainers"][0]["name"] == "nim-build-ctr"
        env = {e["name"]: e.get("value") for e in pod["initContainers"][0]["env"]}
        assert ("NIM_PEFT_SOURCE" in env) == ("lora" in path.stem)
        # spec.env reaches the NIM container entry for entry, unchanged.
        nim_env = pod["initContainers"][0]["env"]
        for entry in parent["spec"].get("env", []):
            assert [e for e in nim_env if e["name"] == entry["name"]] == [entry]


def test_fine_tuned_late_1x_example_passes_the_legacy_backend_switches(
    client: FlaskClient,
) -> None:
    parent = load(EXAMPLES / "nimbuild-fine-tuned-late-1x.yaml")
    cache = ready_cache(parent["spec"]["nimCache"]["profile"], lora=False)
    [job] = client.post("/sync", json=request(parent, caches=[cache])).get_json()["children"]
    pod = job["spec"]["template"]["spec"]
    [nim] = pod["initContainers"]
    env = [(e["name"], e.get("value")) for e in nim["env"]]
    for name in ("NIM_USE_TRTLLM_LEGACY_BACKEND", "NIM_DISABLE_TRTLLM_PYTORCH_RT"):
        assert env.count((name, "1")) == 1, name
    assert ("NIM_FT_MODEL", "/model-store/fine-tuned/llama-3.1-8b-my-domain") in env
    assert ("NIM_CACHE_PATH", "/model-store") in env  # the defaults stay
    # The builder container (nim backend) gets its own NIMBUILD_* contract, not the NIM's env.
    [builder] = pod["containers"]
    assert not {e["name"] for e in builder["env"]} & {n for n, _ in env if n.startswith("NIM_")}
