"""The examples, end to end through the hook: each example NIMBuild, against the example
NIMCache once it is Ready with the profiles it names, renders a valid, restricted build Job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from builders import buildable, request
from flask.testing import FlaskClient
from restricted import violations

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
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
