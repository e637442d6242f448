"""docs/status.md cannot fall behind the code.

* every state, condition type and reason in hooks/vocabulary.py appears in the page (in
  backticks), and so does every reason the fixtures' answers carry (pod and Job reasons
  passed through included);
* the `kubectl get` header is the CRD's printer columns, in order;
* each `kubectl describe` excerpt is the status of the fixture it names, laid out as kubectl
  describes a custom resource (keys sorted, camelCase split into words; an approximation of
  its alignment, not kubectl itself);
* the README's compatibility table pairs each of our reasons that differ from the NIM
  Operator's with upstream's exact string.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hooks import vocabulary as v

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "status.md").read_text()
README = (ROOT / "README.md").read_text()
FIXTURES = ROOT / "tests" / "fixtures" / "sync"

REASONS = sorted(
    value for name, value in vars(v).items() if name.startswith("R_") and isinstance(value, str)
)


def quoted(word: str) -> bool:
    return f"`{word}`" in PAGE


@pytest.mark.parametrize("word", [*v.STATES, *v.CONDITION_ORDER, *REASONS])
def test_every_word_of_the_vocabulary_is_documented(word: str) -> None:
    assert quoted(word), word


def test_every_reason_the_fixtures_write_is_documented() -> None:
    written = set()
    for expected in FIXTURES.glob("*/expected.json"):
        for cond in json.loads(expected.read_text())["status"].get("conditions", []):
            written.add(cond["reason"])
    assert written - set(REASONS)  # pod and Job reasons pass through: they must be here too
    assert sorted(r for r in written if not quoted(r)) == []


def test_kubectl_get_header_is_the_printer_columns() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "nimbuild.yaml").read_text())
    columns = [c["name"].upper() for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    headers = [line.split() for line in PAGE.splitlines() if line.startswith("NAME ")]
    assert headers == [["NAME", *columns]]


def label(key: str) -> str:
    """kubectl describe's label for a field: camelCase split into words, first letter upper."""
    words = re.sub(r"(?<=[a-z0-9])([A-Z])", r" \1", key)
    return key if "_" in key else words[:1].upper() + words[1:]


def describe(obj: Any, indent: int = 0) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(obj, list):
        for item in obj:
            lines += describe(item, indent)
        return lines
    width = max((len(label(k)) + 1 for k in obj), default=0)
    for key in sorted(obj):
        value = obj[key]
        if isinstance(value, dict | list):
            lines += [f"{pad}{label(key)}:", *describe(value, indent + 1)]
        else:
            lines.append(f"{pad}{(label(key) + ':').ljust(width)}  {value}")
    return lines


def describe_status(fixture: str) -> str:
    status = json.loads((FIXTURES / fixture / "expected.json").read_text())["status"]
    return "\n".join(["Status:", *describe(status, 1)]) + "\n"


EXCERPTS = re.findall(r"\(fixture `([a-z0-9-]+)`[^)\n]*\):\n\n```text\n(.*?)```", PAGE, re.S)


def test_there_is_an_excerpt_for_every_state() -> None:
    states = {
        json.loads((FIXTURES / name / "expected.json").read_text())["status"]["state"]
        for name, _ in EXCERPTS
    }
    assert states == set(v.STATES)


@pytest.mark.parametrize(("fixture", "excerpt"), EXCERPTS, ids=[name for name, _ in EXCERPTS])
def test_describe_excerpt_is_the_fixture_answer(fixture: str, excerpt: str) -> None:
    assert excerpt == describe_status(fixture)


# ours → upstream's exact string (reference nim-operator-nimbuild.md §3.3-3.6)
DIFFERENT_FROM_UPSTREAM = [
    (v.R_NIM_CACHE_NOT_FOUND, "NIMCache not found"),
    (v.R_NIM_CACHE_FAILED, "NIMCache failed"),
    (v.R_NIM_CACHE_NOT_READY, "NIMCache not ready"),
    (v.R_INVALID_SPEC, "ReconcileFailed"),
    (v.R_INVALID_RESOURCES, "ReconcileFailed"),
    (v.R_JOB_CREATED, "EngineBuildPodCreated"),
    (v.R_JOB_COMPLETE, "PodReady"),
    (v.R_OUTPUT_PROFILE_READ, "PodCompleted"),
]


@pytest.mark.parametrize(("ours", "theirs"), DIFFERENT_FROM_UPSTREAM)
def test_readme_pairs_each_different_reason_with_upstreams(ours: str, theirs: str) -> None:
    rows = [line for line in README.splitlines() if line.startswith("|")]
    assert any(f"`{ours}`" in row and f"`{theirs}`" in row for row in rows), (ours, theirs)
