"""docs/extending.md's worked example, run as written: its env block, its customizer module
and the YAML it promises are read from the page, so the page cannot drift from the code.

The Job of a NIMBuild in namespace `team-a` must contain the promised YAML (maps compared key
by key, each promised list item found in the actual list), pass kubernetes-validate --strict
and Pod Security "restricted"; once the Job exists it is handed back without another call.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from builders import as_observed_job, buildable, nimbuild, nimcache, request
from restricted import violations

from hooks import vocabulary as v
from hooks.sync import create_app

DOC = Path(__file__).parents[2] / "docs" / "extending.md"
WORKED = DOC.read_text().split("## 3. Worked example", 1)[1]


def block(language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", WORKED, re.DOTALL)
    assert match is not None, f"no {language} block in the worked example"
    return match.group(1)


def contains(actual: Any, promised: Any, where: str = "job") -> list[str]:
    """Where `actual` lacks what `promised` says (maps by key, list items anywhere)."""
    if isinstance(promised, dict):
        if not isinstance(actual, dict):
            return [f"{where} is not a map"]
        return [
            problem
            for key, value in promised.items()
            for problem in (
                contains(actual[key], value, f"{where}.{key}")
                if key in actual
                else [f"{where}.{key} is missing"]
            )
        ]
    if isinstance(promised, list):
        if not isinstance(actual, list):
            return [f"{where} is not a list"]
        return [
            f"{where} has no item like {item}"
            for item in promised
            if all(contains(candidate, item) for candidate in actual)
        ]
    return [] if actual == promised else [f"{where} is {actual!r}, not {promised!r}"]


@pytest.fixture
def platform_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    (tmp_path / "nimbuild_platform.py").write_text(block("python"))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("nimbuild_platform", None)


def team_a_request() -> dict[str, Any]:
    parent = nimbuild()
    cache = nimcache(profiles=[buildable(tp="1")])
    for obj in (parent, cache):
        obj["metadata"]["namespace"] = "team-a"
    return request(parent, caches=[cache])


def test_the_worked_example_renders_what_the_page_promises(
    platform_module: None, app_config: dict[str, Any]
) -> None:
    env = dict(line.split("=", 1) for line in block("env").splitlines() if line.strip())
    assert env["NIMBUILD_HOOK_JOB_CUSTOMIZER"] == "nimbuild_platform:customize"
    client = create_app({"ENV": env, "CLOCK": app_config["CLOCK"]}).test_client()
    body = team_a_request()

    answer = client.post("/sync", json=body)
    assert answer.status_code == 200, answer.get_json()
    [job] = answer.get_json()["children"]
    assert contains(job, yaml.safe_load(block("yaml"))) == []
    kubernetes_validate.validate(job, "1.33", strict=True)
    assert violations(job) == []

    # Once the Job exists it is the record: handed back as created, not customized again.
    import nimbuild_platform

    calls = 0
    original = nimbuild_platform.customize

    def counting(job: dict[str, Any], context: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        result: dict[str, Any] = original(job, context)
        return result

    nimbuild_platform.customize = counting  # type: ignore[attr-defined]
    client = create_app({"ENV": env, "CLOCK": app_config["CLOCK"]}).test_client()
    body["children"][v.JOB_KEY] = {f"team-a/{job['metadata']['name']}": as_observed_job(job)}
    again = client.post("/sync", json=body).get_json()
    assert calls == 0
    assert again["children"][0]["spec"]["template"] == job["spec"]["template"]


def test_every_setting_the_page_lists_is_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name in re.findall(r"\| `(NIMBUILD_HOOK_[A-Z_]+)` \|", DOC.read_text()):
        assert f"`{name}`" in readme, name
