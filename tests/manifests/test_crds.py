"""Our CRDs against upstream's, the hook's statuses against ours, and the CEL rule.

Cases:
- upstream copies in tests/fixtures/upstream/ are the ones named in their README (sha256);
- NIMBuild CRD: identity, names, printer columns, status subresource, corrected description;
- NIMBuild schema = upstream schema + our additions (nothing removed, nothing tightened);
- spec.build: no CRD defaults, defaults documented, bounds (grid of valid/invalid values);
- status.observedGeneration; vocabulary.py agrees with the CRD patterns;
- every upstream-valid NIMBuild / NIMCache fixture is valid against upstream AND ours, strictly;
- every `status` in tests/fixtures/sync/*/expected.json validates strictly against our CRD;
- `self == oldSelf` on spec (read from the CRD) evaluated with cel-python: a spec change is
  rejected, a label-only change accepted; no other CEL rule exists unchecked;
- NIMCache subset: labelled standalone, not in crds/kustomization.yaml, no stricter than
  upstream on any field it models, preserves the rest, models every field NIMBuild reads.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import celpy
import crd_schema as cs
import pytest
import yaml

from hooks import vocabulary as v

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
UPSTREAM_OBJECTS = FIXTURES / "upstream_nimbuilds"
SYNC_EXPECTED = sorted((FIXTURES / "sync").glob("*/expected.json"))

ADDED_SPEC_FIELDS = {"build"}
ADDED_STATUS_FIELDS = {"observedGeneration"}


def _without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_descriptions(x) for k, x in node.items() if k != "description"}
    if isinstance(node, list):
        return [_without_descriptions(x) for x in node]
    return node


def _node(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The schema node at `path` (property names; `[]` steps into array items)."""
    node: dict[str, Any] | None = schema
    for step in path:
        if node is None:
            return None
        node = node.get("items") if step == "[]" else (node.get("properties") or {}).get(step)
    return node


def _walk(schema: dict[str, Any], path: tuple[str, ...] = ()):
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from _walk(child, (*path, name))
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], (*path, "[]"))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], (*path, "{}"))


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    return cs.load_crd(cs.NIMBUILD_CRD)


@pytest.fixture(scope="module")
def ours() -> dict[str, Any]:
    return cs.openapi_schema(cs.NIMBUILD_CRD)


@pytest.fixture(scope="module")
def upstream() -> dict[str, Any]:
    return cs.openapi_schema(cs.UPSTREAM_NIMBUILD_CRD)


# --- upstream copies ------------------------------------------------------------------------


def test_upstream_copies_match_their_readme_hashes() -> None:
    readme = (cs.UPSTREAM_DIR / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+\.yaml)` \|.*\| `([0-9a-f]{64})` \|$", readme, re.MULTILINE)
    assert {name for name, _ in rows} == {p.name for p in cs.UPSTREAM_DIR.glob("*.yaml")}, (
        "every copied upstream file is listed in README.md, and only those"
    )
    for name, digest in rows:
        actual = hashlib.sha256((cs.UPSTREAM_DIR / name).read_bytes()).hexdigest()
        assert actual == digest, f"{name} differs from the upstream copy named in README.md"
    assert "Apache" in readme and "175eac0" in readme and "f63f74d" in readme


# --- NIMBuild CRD identity ------------------------------------------------------------------


def test_nimbuild_crd_identity(crd: dict[str, Any]) -> None:
    spec = crd["spec"]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "nimbuilds.apps.nvidia.com"
    assert spec["group"] == "apps.nvidia.com"
    assert spec["scope"] == "Namespaced"
    names = spec["names"]
    assert (names["kind"], names["listKind"], names["plural"], names["singular"]) == (
        "NIMBuild",
        "NIMBuildList",
        "nimbuilds",
        "nimbuild",
    )
    assert "nimb" in names["shortNames"]
    assert "all" not in names.get("categories", []), "`kubectl get all` must not list builds"
    versions = spec["versions"]
    assert [x["name"] for x in versions] == ["v1alpha1"]
    version = versions[0]
    assert version["served"] is True and version["storage"] is True
    # Metacontroller ignores a parent CRD without the status subresource.
    assert version["subresources"] == {"status": {}}


def test_nimbuild_printer_columns(crd: dict[str, Any]) -> None:
    columns = cs.crd_version(crd)["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"]) for c in columns] == [
        ("State", ".status.state"),
        ("Input", ".status.inputProfile.name"),
        ("Output", ".status.outputProfile.name"),
        ("Age", ".metadata.creationTimestamp"),
    ]
    assert columns[-1]["type"] == "date"
    assert all(c["type"] == "string" for c in columns[:-1])


def test_upstream_description_slip_is_fixed(ours: dict[str, Any], upstream: dict[str, Any]) -> None:
    assert "nimcaches API" in upstream["description"]
    assert "nimcaches" not in ours["description"]
    assert "nimbuilds API" in ours["description"]


# --- NIMBuild schema = upstream + additions -------------------------------------------------


def test_schema_is_upstream_plus_additions(ours: dict[str, Any], upstream: dict[str, Any]) -> None:
    """Removing our additions gives upstream's schema back (descriptions aside).

    So every field upstream declares is still there with the same type and constraints:
    nothing an upstream-valid NIMBuild holds is pruned or newly rejected.
    """
    reduced = copy.deepcopy(ours)
    spec_props = reduced["properties"]["spec"]["properties"]
    status_props = reduced["properties"]["status"]["properties"]
    assert ADDED_SPEC_FIELDS <= spec_props.keys()
    assert ADDED_STATUS_FIELDS <= status_props.keys()
    for name in ADDED_SPEC_FIELDS:
        del spec_props[name]
    for name in ADDED_STATUS_FIELDS:
        del status_props[name]
    assert _without_descriptions(reduced) == _without_descriptions(upstream)


def test_additions_are_optional(ours: dict[str, Any]) -> None:
    spec = ours["properties"]["spec"]
    assert not ADDED_SPEC_FIELDS & set(spec.get("required", []))
    status = ours["properties"]["status"]
    assert not ADDED_STATUS_FIELDS & set(status.get("required", []))


def test_no_crd_defaults_anywhere(ours: dict[str, Any]) -> None:
    """The hook applies the spec.build defaults; a CRD default would be stored in objects."""
    build = ours["properties"]["spec"]["properties"]["build"]
    assert [path for path, node in _walk(build) if "default" in node] == []


@pytest.mark.parametrize(
    ("path", "default"),
    [
        pytest.param(("backend",), '"nim"', id="backend"),
        pytest.param(("backoffLimit",), "1", id="backoffLimit"),
        pytest.param(("activeDeadlineSeconds",), "7200", id="activeDeadlineSeconds"),
        pytest.param(("trtllm", "maxBatchSize"), "8", id="maxBatchSize"),
        pytest.param(("trtllm", "maxSeqLen"), "4096", id="maxSeqLen"),
        pytest.param(("trtllm", "maxNumTokens"), "8192", id="maxNumTokens"),
        pytest.param(("publishProfile",), "true", id="publishProfile"),
    ],
)
def test_build_defaults_are_documented(
    ours: dict[str, Any], path: tuple[str, ...], default: str
) -> None:
    node = _node(ours["properties"]["spec"]["properties"]["build"], path)
    assert node is not None
    assert re.search(rf"Default\b[^.]*{re.escape(default)}", node["description"]), node[
        "description"
    ]


_BUILD_CASES = [
    # (build block, valid?)
    ({}, True),
    ({"backend": "nim"}, True),
    ({"backend": "trtllm"}, True),
    ({"backend": "vllm"}, False),
    ({"backend": "TRTLLM"}, False),
    ({"backoffLimit": 0}, True),
    ({"backoffLimit": 10}, True),
    ({"backoffLimit": 11}, False),
    ({"backoffLimit": -1}, False),
    ({"backoffLimit": "1"}, False),
    ({"activeDeadlineSeconds": 60}, True),
    ({"activeDeadlineSeconds": 7200}, True),
    ({"activeDeadlineSeconds": 59}, False),
    ({"activeDeadlineSeconds": 1.5}, False),
    ({"trtllm": {"maxBatchSize": 1, "maxSeqLen": 1, "maxNumTokens": 1}}, True),
    ({"trtllm": {"maxBatchSize": 0}}, False),
    ({"trtllm": {"maxSeqLen": 0}}, False),
    ({"trtllm": {"maxNumTokens": 0}}, False),
    ({"trtllm": {"maxBatchSize": 8, "maxInputLen": 2}}, False),
    ({"ttlSecondsAfterFinished": 60}, False),
    ({"publishProfile": True}, True),
    ({"publishProfile": False}, True),
    ({"publishProfile": "false"}, False),
]


@pytest.mark.parametrize(
    ("build", "valid"),
    [pytest.param(b, ok, id=f"{'ok' if ok else 'bad'}-{json.dumps(b)}") for b, ok in _BUILD_CASES],
)
def test_spec_build_bounds(build: dict[str, Any], valid: bool) -> None:
    spec = {
        "nimCache": {"name": "cache"},
        "image": {"repository": "nvcr.io/nim/x", "tag": "1"},
        "build": build,
    }
    problems = cs.errors(cs.spec_validator(), spec)
    assert (problems == []) is valid, problems


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        pytest.param(0, True, id="zero"),
        pytest.param(7, True, id="positive"),
        pytest.param(-1, False, id="negative"),
        pytest.param("1", False, id="string"),
    ],
)
def test_status_observed_generation(value: object, valid: bool) -> None:
    problems = cs.errors(cs.status_validator(), {"observedGeneration": value})
    assert (problems == []) is valid, problems


def test_condition_observed_generation_and_strictness() -> None:
    condition = {
        "type": v.COND_READY,
        "status": "False",
        "reason": v.R_NIM_CACHE_NOT_FOUND,
        "message": "NIMCache x not found",
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": 3,
    }
    validator = cs.status_validator()
    assert cs.errors(validator, {"conditions": [condition]}) == []
    assert cs.errors(validator, {"conditions": [{**condition, "observedGeneration": -1}]})
    assert cs.errors(validator, {"conditions": [{**condition, "reason": "NIMCache not found"}]})
    assert cs.errors(validator, {"conditions": [{**condition, "lastTransitionTime": "yesterday"}]})
    assert cs.errors(validator, {"conditions": [{**condition, "severity": "Info"}]}), "strict"
    assert cs.errors(validator, {"phase": "Ready"}), "unknown status field must fail strictly"


def test_strict_closes_objects_but_not_maps_or_preserved_nodes() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "object", "properties": {"b": {"type": "string"}}},
            "m": {"type": "object", "additionalProperties": {"type": "string"}},
            "p": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"q": {"type": "integer"}},
            },
        },
    }
    validator = cs.validator(cs.strict(schema))
    assert cs.errors(validator, {"a": {"b": "x"}, "m": {"k": "v"}, "p": {"q": 1, "r": 2}}) == []
    assert cs.errors(validator, {"a": {"c": "x"}})
    assert cs.errors(validator, {"z": 1})
    assert cs.errors(validator, {"p": {"q": "not an int"}})
    assert "additionalProperties" not in schema["properties"]["a"], "strict() copies"


# --- vocabulary agrees with the CRD ---------------------------------------------------------


def test_vocabulary_matches_crd_patterns(ours: dict[str, Any]) -> None:
    condition = ours["properties"]["status"]["properties"]["conditions"]["items"]
    reason = condition["properties"]["reason"]
    ctype = condition["properties"]["type"]
    assert v.REASON_PATTERN == reason["pattern"]
    reasons = [value for name, value in vars(v).items() if name.startswith("R_")]
    assert reasons, "vocabulary has reasons"
    for value in reasons:
        assert re.match(reason["pattern"], value), value
        assert reason["minLength"] <= len(value) <= reason["maxLength"]
    for value in v.CONDITION_ORDER:
        assert re.match(ctype["pattern"], value), value
        assert len(value) <= ctype["maxLength"]
    assert len(set(v.CONDITION_ORDER)) == len(v.CONDITION_ORDER)


# --- upstream-valid objects stay valid ------------------------------------------------------


def _upstream_objects(filename: str) -> list[Any]:
    return [
        pytest.param(doc, id=doc["metadata"]["name"])
        for doc in cs.load_documents(UPSTREAM_OBJECTS / filename)
    ]


@pytest.mark.parametrize("obj", _upstream_objects("nimbuilds.yaml"))
def test_upstream_nimbuild_is_valid_against_upstream_and_ours(obj: dict[str, Any]) -> None:
    upstream_strict = cs.validator(cs.strict(cs.openapi_schema(cs.UPSTREAM_NIMBUILD_CRD)))
    assert cs.errors(upstream_strict, obj) == [], "fixture must be valid for the NIM Operator"
    assert cs.errors(cs.object_validator(), obj) == []


def test_upstream_nimbuild_fixtures_cover_the_cases() -> None:
    docs = cs.load_documents(UPSTREAM_OBJECTS / "nimbuilds.yaml")
    cases = {
        case
        for doc in docs
        for case in doc["metadata"]["annotations"]["upstream.nvidia.com/cases"].split(",")
    }
    # The 22 upstream cases minus the helper-function ones (10, 11, 12), plus the CSV sample.
    wanted = {str(n) for n in range(1, 23)} - {"10", "11", "12"}
    assert wanted | {"csv-alm-example"} <= cases


@pytest.mark.parametrize("obj", _upstream_objects("nimcaches.yaml"))
def test_upstream_nimcache_is_valid_against_upstream_and_ours(obj: dict[str, Any]) -> None:
    upstream_strict = cs.validator(cs.strict(cs.openapi_schema(cs.UPSTREAM_NIMCACHE_CRD)))
    assert cs.errors(upstream_strict, obj) == [], "fixture must be valid for the NIM Operator"
    assert cs.errors(cs.nimcache_validator(), obj) == []


def test_strict_validation_catches_a_misspelt_field() -> None:
    obj = cs.load_documents(UPSTREAM_OBJECTS / "nimbuilds.yaml")[0]
    bad = copy.deepcopy(obj)
    bad["spec"]["nodeSelecter"] = {"a": "b"}
    assert cs.errors(cs.object_validator(), bad)
    lenient = cs.validator(cs.nimbuild_schema(strict_mode=False))
    assert cs.errors(lenient, bad) == [], "plain jsonschema lets it through: why strict() exists"


# --- statuses the hook produces -------------------------------------------------------------


def test_sync_fixtures_exist() -> None:
    assert SYNC_EXPECTED, "tests/fixtures/sync/*/expected.json: no hook fixtures found"


@pytest.mark.parametrize("path", [pytest.param(p, id=p.parent.name) for p in SYNC_EXPECTED])
def test_hook_status_fits_our_crd(path: Path) -> None:
    response = json.loads(path.read_text(encoding="utf-8"))
    status = response["status"]
    assert cs.errors(cs.status_validator(), status) == []
    assert status["state"] in v.STATES
    types = [c["type"] for c in status.get("conditions", [])]
    assert len(types) == len(set(types)), "each condition type at most once"
    assert v.COND_READY in types, "the summary Ready condition is always present"


# --- CEL ------------------------------------------------------------------------------------


def _rules(schema: dict[str, Any]) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    return [
        (path, rule)
        for path, node in _walk(schema)
        for rule in node.get("x-kubernetes-validations", [])
    ]


def _evaluate(rule: str, new: Any, old: Any) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(rule))
    activation = {"self": celpy.json_to_cel(new), "oldSelf": celpy.json_to_cel(old)}
    return bool(program.evaluate(activation))


def test_only_known_cel_rules(ours: dict[str, Any]) -> None:
    """Every CEL rule in our CRDs is evaluated below; a new one must get a test."""
    found = [(path, r["rule"], r.get("message")) for path, r in _rules(ours)]
    assert found == [(("spec",), "self == oldSelf", "spec is immutable")]
    assert _rules(cs.openapi_schema(cs.NIMCACHE_CRD)) == []


@pytest.fixture(scope="module")
def spec_rule(ours: dict[str, Any]) -> str:
    (rule,) = ours["properties"]["spec"]["x-kubernetes-validations"]
    return rule["rule"]


@pytest.fixture
def stored() -> dict[str, Any]:
    return copy.deepcopy(cs.load_documents(UPSTREAM_OBJECTS / "nimbuilds.yaml")[-1])


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda o: o["spec"]["image"].update(tag="2.0.0"), id="image-tag"),
        pytest.param(lambda o: o["spec"]["nimCache"].update(profile="other"), id="profile"),
        pytest.param(lambda o: o["spec"].update(build={"backend": "trtllm"}), id="add-build"),
        pytest.param(lambda o: o["spec"]["env"].pop(), id="drop-env"),
        pytest.param(lambda o: o["spec"]["env"].reverse(), id="reorder-env"),
        pytest.param(
            lambda o: o["spec"]["resources"]["limits"].update(memory="65Gi"), id="resources"
        ),
    ],
)
def test_spec_change_is_rejected(spec_rule: str, stored: dict[str, Any], change: Any) -> None:
    updated = copy.deepcopy(stored)
    change(updated)
    assert updated["spec"] != stored["spec"]
    assert _evaluate(spec_rule, updated["spec"], stored["spec"]) is False


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda o: o["metadata"].setdefault("labels", {}).update(a="b"), id="labels"),
        pytest.param(
            lambda o: o["metadata"].setdefault("annotations", {}).update(a="b"), id="annotations"
        ),
        pytest.param(lambda o: o["status"].update(state="Failed"), id="status"),
        pytest.param(lambda o: None, id="no-change"),
    ],
)
def test_metadata_or_status_change_is_accepted(
    spec_rule: str, stored: dict[str, Any], change: Any
) -> None:
    updated = copy.deepcopy(stored)
    change(updated)
    assert _evaluate(spec_rule, updated["spec"], stored["spec"]) is True


# --- NIMCache subset ------------------------------------------------------------------------

# Fields NIMBuild reads (reference nim-operator-nimbuild.md §2.1), as schema paths.
NIMCACHE_READ_PATHS = [
    ("spec", "source", "ngc", "authSecret"),
    ("spec", "storage", "pvc", "name"),
    ("spec", "storage", "pvc", "subPath"),
    ("spec", "userID"),
    ("spec", "groupID"),
    ("spec", "runtimeClassName"),
    ("status", "state"),
    ("status", "pvc"),
    ("status", "profiles", "[]", "name"),
    ("status", "profiles", "[]", "model"),
    ("status", "profiles", "[]", "release"),
    ("status", "profiles", "[]", "config"),
    ("status", "conditions", "[]", "type"),
]


def test_nimcache_models_what_nimbuild_reads() -> None:
    schema = cs.openapi_schema(cs.NIMCACHE_CRD)
    for path in NIMCACHE_READ_PATHS:
        assert _node(schema, path) is not None, path
    config = _node(schema, ("status", "profiles", "[]", "config"))
    assert config == {"type": "object", "additionalProperties": {"type": "string"}}


def test_nimcache_is_no_stricter_than_upstream() -> None:
    """Every node we model has upstream's type and no constraint upstream lacks."""
    ours = cs.openapi_schema(cs.NIMCACHE_CRD)
    upstream = cs.openapi_schema(cs.UPSTREAM_NIMCACHE_CRD)
    checked = 0
    for path, node in _walk(ours):
        theirs = _node(upstream, tuple(s for s in path if s != "{}"))
        if "{}" in path:
            theirs = _node(upstream, path[: path.index("{}")])
            theirs = theirs and theirs.get("additionalProperties")
        assert theirs is not None, f"{path} is not an upstream NIMCache field"
        for key in ("type", "format", "x-kubernetes-int-or-string", "pattern", "enum"):
            if key in node:
                assert node[key] == theirs.get(key), (path, key)
        for key in ("minimum", "minLength", "minItems"):
            if key in node:
                assert node[key] <= theirs.get(key, float("-inf")) or node[key] == theirs[key]
        for key in ("maximum", "maxLength", "maxItems"):
            if key in node:
                assert key in theirs and node[key] >= theirs[key], (path, key)
        assert set(node.get("required", [])) <= set(theirs.get("required", [])), path
        assert "x-kubernetes-validations" not in node, path
        checked += 1
    assert checked > 20


@pytest.mark.parametrize(
    "path",
    [
        ("spec",),
        ("spec", "source"),
        ("spec", "source", "ngc"),
        ("spec", "storage"),
        ("spec", "storage", "pvc"),
        ("status",),
    ],
)
def test_nimcache_keeps_fields_it_does_not_model(path: tuple[str, ...]) -> None:
    node = _node(cs.openapi_schema(cs.NIMCACHE_CRD), path)
    assert node is not None and node.get("x-kubernetes-preserve-unknown-fields") is True


def test_nimcache_crd_is_labelled_standalone_and_optional() -> None:
    text = cs.NIMCACHE_CRD.read_text(encoding="utf-8")
    assert "WITHOUT THE NIM OPERATOR" in text.splitlines()[0].upper()
    crd = cs.load_crd(cs.NIMCACHE_CRD)
    assert "WITHOUT" in crd["metadata"]["annotations"]["nimbuild-controller/purpose"]
    schema = cs.crd_version(crd)["schema"]["openAPIV3Schema"]
    assert "WITHOUT the NIM" in schema["description"]
    assert cs.crd_version(crd)["subresources"] == {"status": {}}
    assert crd["spec"]["names"] == {
        "kind": "NIMCache",
        "listKind": "NIMCacheList",
        "plural": "nimcaches",
        "singular": "nimcache",
    }
    kustomization = yaml.safe_load((cs.CRD_DIR / "kustomization.yaml").read_text("utf-8"))
    assert "nimcache.yaml" not in kustomization["resources"]
    assert "nimbuild.yaml" in kustomization["resources"]


def test_nimcache_rejects_wrong_types_in_modelled_fields() -> None:
    validator = cs.nimcache_validator()
    base = {"apiVersion": "apps.nvidia.com/v1alpha1", "kind": "NIMCache", "metadata": {}}
    assert cs.errors(validator, {**base, "spec": {"userID": "1000"}})
    assert cs.errors(validator, {**base, "spec": {"storage": {"pvc": {"subPath": 3}}}})
    assert cs.errors(validator, {**base, "status": {"profiles": [{"config": {"tp": 8}}]}})
    assert cs.errors(validator, {**base, "status": {"profiles": [{"nmae": "x"}]}}), "strict"
    assert cs.errors(validator, {**base, "spec": {"anything": {"goes": 1}}}) == []
