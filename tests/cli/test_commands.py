"""The `nimbuild` console script (hooks/cli), run in-process through `main(argv)`.

- render: each example NIMBuild answers what the hook answers over HTTP for the same objects;
  every sync fixture, given as YAML files, renders its expected status and children;
  what a manifest leaves to the API server (namespace, uid, generation) is filled in, stably;
  settings come from NIMBUILD_HOOK_* (or --no-env), overridden by options;
- fixture: the sync fixtures come back byte-identical (request.json and expected.json) from
  their objects as YAML files; the request it writes is accepted by the hook over HTTP;
- validate: the examples pass (the transition rule reported as not evaluated without --old);
  specific bad NIMBuilds fail naming the field and its exact line; `--old` runs
  `self == oldSelf`; the fields it refuses are those an oracle sharing none of its code finds
  (plain jsonschema on the CRD file, and a walk for fields the schema does not declare);
- every input error (missing file, bad YAML, wrong kind, bad option) exits 2 with one line on
  stderr naming the file, never a traceback;
- the packaged CRD is crds/nimbuild.yaml, byte for byte, and pyproject installs the script.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from builders import buildable, request
from conftest import CLOCK, TEST_SETTINGS
from flask.testing import FlaskClient

from hooks import vocabulary as v
from hooks.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NIMBUILDS = sorted(EXAMPLES.glob("nimbuild-*.yaml"))
SYNC = ROOT / "tests" / "fixtures" / "sync"
NOW = "2026-01-01T12:00:00Z"
assert CLOCK.isoformat().replace("+00:00", "Z") == NOW
# The options that make the CLI's settings equal the tests' TEST_SETTINGS.
AS_TESTS = ["--now", NOW, "--no-env", "--builder-image", TEST_SETTINGS.builder_image]
JOB_KEY, NIMCACHE_KEY, POD_KEY = v.JOB_KEY, v.NIMCACHE_KEY, v.POD_KEY


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, *documents: Any) -> Path:
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")
    return path


def as_list(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """What `kubectl get … -o yaml` writes for several objects."""
    return {"apiVersion": "v1", "kind": "List", "items": objects}


def rendered(out: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(status, children) from render's YAML documents."""
    first, *children = list(yaml.safe_load_all(out))
    assert first["kind"] == "NIMBuild"
    return first["status"], children


# --- the package ------------------------------------------------------------------------------


def test_packaged_crd_is_the_canonical_crd() -> None:
    packaged = ROOT / "hooks" / "cli" / "crds" / "nimbuild.yaml"
    assert packaged.read_bytes() == (ROOT / "crds" / "nimbuild.yaml").read_bytes(), (
        "copy crds/nimbuild.yaml to hooks/cli/crds/nimbuild.yaml"
    )


def test_pyproject_installs_the_script_and_the_crd() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["nimbuild"] == "hooks.cli:main"
    assert "crds/*.yaml" in project["tool"]["setuptools"]["package-data"]["hooks.cli"]
    runtime = " ".join(project["project"]["dependencies"])
    assert "jsonschema" in runtime and "cel-python" in runtime


# --- render -----------------------------------------------------------------------------------


def example(path: Path) -> dict[str, Any]:
    """An example NIMBuild as stored: namespace, uid and generation given explicitly."""
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["metadata"].update(
        namespace="nim-service",
        uid="0b6d5e2a-0000-4000-8000-000000000001",
        generation=3,
        creationTimestamp="2026-01-01T00:00:00Z",
    )
    return doc


def ready_cache(parent: dict[str, Any]) -> dict[str, Any]:
    """examples/nimcache.yaml, Ready, with the profile the NIMBuild names (or one)."""
    cache: dict[str, Any] = yaml.safe_load((EXAMPLES / "nimcache.yaml").read_text())
    if "namespace" in parent["metadata"]:
        cache["metadata"]["namespace"] = parent["metadata"]["namespace"]
    named = parent["spec"]["nimCache"].get("profile") or "a" * 64
    tags = {"tp": "1", "precision": "bf16"}
    if parent["metadata"]["name"].endswith("lora"):
        tags["feat_lora"] = "true"
    cache["status"] = {"state": "Ready", "profiles": [buildable(named, **tags)]}
    return cache


@pytest.mark.parametrize("path", NIMBUILDS, ids=[p.stem for p in NIMBUILDS])
def test_render_of_each_example_is_what_the_hook_answers(
    capsys: pytest.CaptureFixture[str], client: FlaskClient, tmp_path: Path, path: Path
) -> None:
    parent = example(path)
    cache = ready_cache(parent)
    code, out, err = run(
        capsys,
        "render",
        "-f",
        write(tmp_path / "nimbuild.yaml", parent),
        "--nimcache",
        write(tmp_path / "nimcache.yaml", cache),
        *AS_TESTS,
    )
    assert (code, err) == (0, "")
    # The core shares some objects between the containers: printed in full, never `&id001`.
    assert "&id" not in out and "*id" not in out
    status, children = rendered(out)

    response = client.post("/sync", json=request(parent, caches=[cache]))
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["status"]["state"] == "Started"
    assert len(answer["children"]) == 1
    assert status == answer["status"]
    assert children == answer["children"]


def fixture_cases() -> list[Any]:
    """The sync fixtures whose request has the shape the CLI writes: every map present, each
    object keyed by its own namespace/name (all but the one about missing maps)."""
    cases = []
    for folder in sorted(SYNC.iterdir()):
        req = json.loads((folder / "request.json").read_text(encoding="utf-8"))
        maps = [req.get("children", {}).get(JOB_KEY)]
        maps += [req.get("related", {}).get(k) for k in (NIMCACHE_KEY, POD_KEY)]
        shaped = all(isinstance(m, dict) for m in maps) and all(
            key == f"{o['metadata']['namespace']}/{o['metadata']['name']}"
            for m in maps
            for key, o in m.items()
        )
        if shaped:
            cases.append(pytest.param(folder, id=folder.name))
    return cases


FIXTURES = fixture_cases()


def test_almost_every_fixture_is_a_cli_case() -> None:
    assert len(FIXTURES) >= len(list(SYNC.iterdir())) - 1 >= 30


def as_files(req: dict[str, Any], folder: Path) -> list[str]:
    """The objects of a sync request as YAML files, and the CLI options naming them."""
    argv = ["-f", str(write(folder / "nimbuild.yaml", req["parent"]))]
    for option, objects in (
        ("--nimcache", req["related"][NIMCACHE_KEY]),
        ("--job", req["children"][JOB_KEY]),
        ("--pod", req["related"][POD_KEY]),
    ):
        path = write(folder / f"{option[2:]}.yaml", as_list(list(objects.values())))
        argv += [option, str(path)]
    if req["finalizing"]:
        argv.append("--finalizing")
    return argv


@pytest.mark.parametrize("folder", FIXTURES)
def test_fixture_rebuilds_the_sync_fixture_byte_for_byte(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, folder: Path
) -> None:
    req = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    out_dir = tmp_path / "out"
    argv = ["fixture", *as_files(req, tmp_path), *AS_TESTS, "-o", str(out_dir), "--expected"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert out == ""
    assert (out_dir / "request.json").read_bytes() == (folder / "request.json").read_bytes()
    assert (out_dir / "expected.json").read_bytes() == (folder / "expected.json").read_bytes()


@pytest.mark.parametrize("folder", FIXTURES)
def test_render_of_each_fixture_is_its_expected_answer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, folder: Path
) -> None:
    req = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    code, out, err = run(capsys, "render", *as_files(req, tmp_path), *AS_TESTS)
    assert code == 0, err
    status, children = rendered(out)
    assert status == expected["status"]
    assert children == expected["children"]
    assert ("# no child" in out) == (not expected["children"])
    if "resyncAfterSeconds" in expected:
        assert f"# resyncAfterSeconds: {expected['resyncAfterSeconds']}\n" in out


def test_fixture_request_is_accepted_by_the_hook(
    capsys: pytest.CaptureFixture[str], client: FlaskClient, tmp_path: Path
) -> None:
    """From manifests as a user writes them (no namespace, uid or status): the request the
    CLI writes gets a 200 from the hook, and that answer is the expected.json it wrote."""
    argv = ["fixture", "-f", EXAMPLES / "nimbuild-auto-profile.yaml"]
    argv += ["--nimcache", EXAMPLES / "nimcache.yaml", *AS_TESTS, "-o", tmp_path, "--expected"]
    code, _, err = run(capsys, *argv)
    assert code == 0
    assert f"answered at {NOW}" in err
    req = json.loads((tmp_path / "request.json").read_text(encoding="utf-8"))
    response = client.post("/sync", json=req)
    assert response.status_code == 200
    assert response.get_json() == json.loads((tmp_path / "expected.json").read_text())
    assert set(req) == {"controller", "parent", "children", "related", "finalizing"}
    assert list(req["related"][NIMCACHE_KEY]) == ["default/meta-llama3-8b-instruct"]


def test_fixture_without_out_prints_the_request(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["fixture", "-f", EXAMPLES / "nimbuild-lora.yaml", "--now", NOW]
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    req = json.loads(out)
    assert req["parent"]["metadata"]["name"] == "meta-llama3-8b-instruct-lora"
    assert req["related"] == {NIMCACHE_KEY: {}, POD_KEY: {}}
    assert out == json.dumps(req, indent=2, sort_keys=True) + "\n"


def test_render_fills_what_the_api_server_would(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """No namespace, uid or generation in the manifest: `default` (or -n), a uid that depends
    only on namespace and name, generation 1; given values are kept."""
    nimbuild = EXAMPLES / "nimbuild-auto-profile.yaml"
    parent = yaml.safe_load(nimbuild.read_text())
    cache = write(tmp_path / "cache.yaml", ready_cache(parent))

    def job(*extra: str | Path) -> dict[str, Any]:
        code, out, err = run(capsys, "render", "-f", *extra, "--nimcache", cache, *AS_TESTS)
        assert code == 0, err
        status, children = rendered(out)
        (child,) = children
        child["observedGeneration"] = status["observedGeneration"]
        return child

    first, again = job(nimbuild), job(nimbuild)
    assert first == again
    assert first["observedGeneration"] == 1
    assert first["metadata"]["namespace"] == "default"
    label = "nimbuild.apps.nvidia.com/nimbuild-uid"
    uid = first["spec"]["template"]["metadata"]["labels"][label]
    assert len(uid) == 36
    elsewhere = job(nimbuild, "-n", "default", "--namespace", "default")
    assert elsewhere == first
    # Another namespace: the NIMCache must be there too (it has no namespace of its own).
    other = job(nimbuild, "-n", "team-a")
    assert other["metadata"]["namespace"] == "team-a"
    assert other["spec"]["template"]["metadata"]["labels"][label] not in ("", uid)
    stored = copy.deepcopy(parent)
    stored["metadata"].update(namespace="default", uid="given-uid", generation=7)
    given = job(write(tmp_path / "stored.yaml", stored))
    assert given["spec"]["template"]["metadata"]["labels"][label] == "given-uid"
    assert given["observedGeneration"] == 7


def builder_image(out: str) -> str:
    _, (job,) = rendered(out)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    image: str = container["image"]
    return image


@pytest.fixture
def started_argv(tmp_path: Path) -> list[str]:
    parent = example(EXAMPLES / "nimbuild-auto-profile.yaml")
    return [
        "render",
        "-f",
        str(write(tmp_path / "nimbuild.yaml", parent)),
        "--nimcache",
        str(write(tmp_path / "nimcache.yaml", ready_cache(parent))),
        "--now",
        NOW,
    ]


def test_settings_come_from_the_hook_environment_then_the_options(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, started_argv: list[str]
) -> None:
    monkeypatch.setenv("NIMBUILD_HOOK_BUILDER_IMAGE", "env.example.com/builder:1")
    monkeypatch.setenv("NIMBUILD_HOOK_AUTH_TOKEN_FILE", "/nonexistent/token")  # never read
    monkeypatch.setenv("NIMBUILD_HOOK_BACKOFF_LIMIT", "4")
    code, out, err = run(capsys, *started_argv)
    assert (code, err) == (0, "")
    assert builder_image(out) == "env.example.com/builder:1"
    assert "backoffLimit: 4\n" in out
    _, out, _ = run(capsys, *started_argv, "--builder-image", "opt.example.com/b:2")
    assert builder_image(out) == "opt.example.com/b:2"
    _, out, _ = run(capsys, *started_argv, "--set", "NIMBUILD_HOOK_BACKOFF_LIMIT=2")
    assert "backoffLimit: 2\n" in out
    _, out, _ = run(capsys, *started_argv, "--no-env")
    from hooks.settings import Settings

    assert builder_image(out) == Settings().builder_image
    assert f"backoffLimit: {Settings().backoff_limit}\n" in out


def test_render_reads_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import io
    import sys

    both = (EXAMPLES / "nimbuild-lora.yaml").read_text() + "---\n"
    both += (EXAMPLES / "nimcache.yaml").read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(both))
    code, out, err = run(capsys, "render", "-f", "-", "--nimcache", "-", "--now", NOW)
    assert (code, err) == (0, "")
    status, children = rendered(out)
    # The NIMCache has no status yet: the hook waits for it, and answers no Job.
    assert (status["state"], children) == ("Pending", [])
    assert "Waiting for NIMCache meta-llama3-8b-instruct" in status["conditions"][0]["message"]


def test_render_without_now_uses_the_current_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "render", "-f", EXAMPLES / "nimbuild-lora.yaml")
    assert code == 0
    status, _ = rendered(out)
    stamp = status["conditions"][0]["lastTransitionTime"]
    assert stamp != NOW and len(stamp) == len(NOW) and stamp.endswith("Z")


# --- validate ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", NIMBUILDS, ids=[p.stem for p in NIMBUILDS])
def test_validate_accepts_the_examples(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, out, err = run(capsys, "validate", "-f", path)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[-1].endswith(": valid")
    assert any("note: spec: rule `self == oldSelf` not evaluated" in line for line in lines)


GOOD = yaml.safe_load((EXAMPLES / "nimbuild-lora.yaml").read_text(encoding="utf-8"))


def _set(path: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "field", "says", "line"),
    [
        pytest.param(
            _set("spec.modelname", "x"),
            "spec.modelname",
            "unknown field",
            "modelname: x",
            id="typo",
        ),
        pytest.param(
            _set("spec.image.tag", 1.3), "spec.image.tag", "must be of type string", "tag: 1.3"
        ),
        # A missing field: its parent's line.
        pytest.param(
            _set("spec.image.repository", _DELETE), "spec.image.repository", "Required", "image:"
        ),
        pytest.param(_set("spec.nimCache", _DELETE), "spec.nimCache", "Required value", "spec:"),
        pytest.param(
            _set("spec.resources", {"limits": {"memory": "lots"}}),
            "spec.resources.limits.memory",
            "must be a quantity",
            "memory: lots",
            id="quantity",
        ),
        pytest.param(
            _set("spec.resources", {"limits": {"cpu": "1\n"}}),
            "spec.resources.limits.cpu",
            "must be a quantity",
            "cpu: '1",
            id="quantity-trailing-newline",
        ),
        pytest.param(
            _set("metadata.labels.team", "ml\n"),
            "metadata.labels.team",
            "a label value",
            "team: 'ml",
            id="label-value-trailing-newline",
        ),
        pytest.param(
            _set("metadata.name", "lora\n"),
            "metadata.name",
            "RFC 1123",
            "name: 'lora",
            id="name-newline",
        ),
        pytest.param(
            _set("spec.build", {"backend": "vllm"}),
            "spec.build.backend",
            "Unsupported value",
            "backend: vllm",
        ),
        pytest.param(
            _set("spec.build", {"backoffLimit": 11}),
            "spec.build.backoffLimit",
            "less than or equal to 10",
            "backoffLimit: 11",
            id="backoff-limit",
        ),
        # A list item without its required field: the item's own line.
        pytest.param(
            _set("spec.env", [{"value": "x"}]),
            "spec.env[0].name",
            "Required value",
            "- value: x",
            id="env",
        ),
        pytest.param(
            _set("metadata.name", "Upper_Case"),
            "metadata.name",
            "RFC 1123 subdomain",
            "name: Upper_Case",
        ),
        pytest.param(
            _set("metadata.labels.team", 7), "metadata.labels.team", "type string", "team: 7"
        ),
        pytest.param(_set("metadata.labelz", {}), "metadata.labelz", "unknown field", "labelz: {}"),
        pytest.param(
            _set("status", {"state": 5}), "status.state", "must be of type string", "state: 5"
        ),
    ],
)
def test_validate_rejects_a_bad_nimbuild_naming_the_field(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    change: Any,
    field: str,
    says: str,
    line: str,
) -> None:
    doc = copy.deepcopy(GOOD)
    change(doc)
    path = write(tmp_path / "bad.yaml", doc)
    code, out, err = run(capsys, "validate", "-f", path)
    assert (code, err) == (2, "")
    errors = [text for text in out.splitlines()[:-1] if ": note: " not in text]
    assert len(errors) == 1, out
    where, _, rest = errors[0].partition(f": {field}: ")
    assert rest and says in rest, out
    # The line named is exactly the field's own (for a missing field, its parent's; for a
    # list item without the field, the item's), and that text is on no other line.
    lines = [text.strip() for text in path.read_text().splitlines()]
    assert lines.count(line) == 1, lines
    assert where == f"{path}:{lines.index(line) + 1}", (errors[0], line)
    assert out.splitlines()[-1].endswith(": 1 error(s)")


def test_validate_points_at_the_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        "apiVersion: apps.nvidia.com/v1alpha1\nkind: NIMBuild\nmetadata:\n  name: a\nspec:\n"
        "  nimCache:\n    name: c\n  image:\n    repository: r\n    tag: '1'\n"
        "    pullPolicy: Always\n    pulSecrets: [x]\n  env:\n  modelName: a\n  modelName: b\n"
    )
    code, out, _ = run(capsys, "validate", "-f", path)
    assert code == 2
    assert f"{path}:12: spec.image.pulSecrets: unknown field" in out
    assert f"{path}:15: spec.modelName: duplicate field" in out  # the API server refuses it too
    assert "spec.env" not in out  # `env:` is null: dropped, as the API server drops it


def test_validate_runs_the_transition_rule_with_old(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    changed = copy.deepcopy(GOOD)
    changed["spec"]["image"]["tag"] = "1.4.0"
    relabelled = copy.deepcopy(GOOD)
    relabelled["metadata"]["labels"] = {"team": "other"}
    stored = EXAMPLES / "nimbuild-lora.yaml"
    code, out, _ = run(
        capsys, "validate", "-f", write(tmp_path / "c.yaml", changed), "--old", stored
    )
    assert code == 2
    assert ": spec: Invalid value: spec is immutable (rule `self == oldSelf`)" in out
    code, out, _ = run(
        capsys, "validate", "-f", write(tmp_path / "r.yaml", relabelled), "--old", stored
    )
    assert code == 0
    assert "not evaluated" not in out
    other = copy.deepcopy(changed)
    other["metadata"]["name"] = "another"
    code, out, _ = run(capsys, "validate", "-f", write(tmp_path / "o.yaml", other), "--old", stored)
    assert code == 0
    assert "transition rule, no stored NIMBuild of this namespace and name in" in out


def test_validate_checks_every_nimbuild_of_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = copy.deepcopy(GOOD)
    bad["metadata"]["name"] = "second"
    bad["spec"]["image"]["tag"] = 2
    cache = yaml.safe_load((EXAMPLES / "nimcache.yaml").read_text())
    path = write(tmp_path / "all.yaml", GOOD, cache, as_list([bad]))
    code, out, _ = run(capsys, "validate", "-f", path)
    assert code == 2
    verdicts = [
        line.partition(": NIMBuild ")[2] for line in out.splitlines() if ": NIMBuild " in line
    ]
    assert verdicts == ["meta-llama3-8b-instruct-lora: valid", "second: 1 error(s)"]


def _crd_says(doc: dict[str, Any]) -> set[str]:
    """The fields the API server would refuse in `doc` outside `metadata`, found without
    `hooks.cli.checks`: plain jsonschema on the CRD's openAPIV3Schema as the file has it (types,
    required, enums, bounds; a missing field is named by its own path) plus a walk for fields
    the schema does not declare (an object node with `properties` is closed, a map is not)."""
    crd = yaml.safe_load((ROOT / "crds" / "nimbuild.yaml").read_text(encoding="utf-8"))
    (version,) = [e for e in crd["spec"]["versions"] if e["name"] == "v1alpha1"]
    schema = version["schema"]["openAPIV3Schema"]
    body = {k: value for k, value in doc.items() if k != "metadata"}

    def dotted(path: tuple[Any, ...]) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")

    found = set()
    for error in jsonschema.Draft202012Validator(schema).iter_errors(body):
        path = tuple(error.absolute_path)
        if error.validator == "required":
            found |= {dotted((*path, k)) for k in error.validator_value if k not in error.instance}
        else:
            found.add(dotted(path))

    def undeclared(value: Any, node: dict[str, Any], path: tuple[Any, ...]) -> None:
        if isinstance(value, dict):
            props, extra = node.get("properties"), node.get("additionalProperties")
            for key, item in value.items():
                if props is not None and key in props:
                    undeclared(item, props[key], (*path, key))
                elif isinstance(extra, dict):
                    undeclared(item, extra, (*path, key))
                elif props is not None and not node.get("x-kubernetes-preserve-unknown-fields"):
                    found.add(dotted((*path, key)))
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for index, item in enumerate(value):
                undeclared(item, node["items"], (*path, index))

    undeclared(body, schema, ())
    return found


def _validate_says(doc: dict[str, Any]) -> set[str]:
    from hooks.cli import checks
    from hooks.cli.documents import Document

    return {f.field for f in checks.check(Document(doc, "x", 1)) if f.error}


@pytest.mark.parametrize("path", NIMBUILDS, ids=[p.stem for p in NIMBUILDS])
def test_validate_and_the_crd_itself_accept_the_examples(path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert _crd_says(doc) == set() == _validate_says(doc)


_CONDITION = {
    "type": "Ready",
    "status": "False",
    "reason": "NIMCacheNotReady",
    "message": "waiting",
    "lastTransitionTime": "2026-01-01T00:00:00Z",
}


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        pytest.param({"spec.nodeSelectr": {}}, {"spec.nodeSelectr"}, id="spec"),
        pytest.param({"spec.image.pullSecret": ["s"]}, {"spec.image.pullSecret"}, id="image"),
        pytest.param(
            {"spec.env": [{"name": "A", "valueFrm": {}}]}, {"spec.env[0].valueFrm"}, id="list-item"
        ),
        pytest.param(
            {"spec.tolerations": [{"operator": "Exists", "keyy": "a"}]},
            {"spec.tolerations[0].keyy"},
            id="toleration",
        ),
        pytest.param({"spec.resources": {"limitz": {}}}, {"spec.resources.limitz"}, id="resources"),
        pytest.param({"spec.build": {"backendd": "nim"}}, {"spec.build.backendd"}, id="build"),
        pytest.param(
            {"status": {"conditions": [{**_CONDITION, "severity": "Info"}]}},
            {"status.conditions[0].severity"},
            id="condition",
        ),
        pytest.param({"status": {"phase": "Ready"}}, {"status.phase"}, id="status"),
        # Maps (additionalProperties) take any key.
        pytest.param(
            {"spec.nodeSelector": {"any.example.com/key": "v"}, "spec.labels": {"x": "y"}},
            set(),
            id="maps-are-open",
        ),
        pytest.param(
            {"spec.resources": {"limits": {"example.com/fpga": "1"}}}, set(), id="quantity-map"
        ),
        pytest.param(
            {"spec.image.tag": 5, "spec.build": {"backend": "vllm"}},
            {"spec.image.tag", "spec.build.backend"},
            id="type-and-enum",
        ),
        pytest.param(
            {"spec.image": {"tag": "1"}, "spec.env": [{"value": "x"}]},
            {"spec.image.repository", "spec.env[0].name"},
            id="required",
        ),
    ],
)
def test_validate_finds_what_the_crd_itself_says(changes: dict[str, Any], fields: set[str]) -> None:
    """`nimbuild validate` against an oracle that shares none of its code (not `strict()`, not
    its validator): the same fields, and the ones each case is about."""
    doc = copy.deepcopy(GOOD)
    for path, value in changes.items():
        _set(path, value)(doc)
    assert _crd_says(doc) == fields
    assert _validate_says(doc) == fields


# --- input errors -----------------------------------------------------------------------------


def _files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "broken": "apiVersion: v1\nkind: [NIMBuild\nmetadata: {}\n",
        "tabs": "apiVersion: v1\nkind: NIMBuild\n\tmetadata: x\n",
        "empty": "# nothing here\n",
        "scalar": "just a string\n",
        "binary": "apiVersion: v1\nkind: Pod\ndata: !!binary aGVsbG8=\n",
        "nan": "apiVersion: v1\nkind: Pod\nx: .nan\n",
        "intkey": "apiVersion: v1\nkind: Pod\nx:\n  y: {1: a}\n",
        "latin1": "apiVersion: v1\nkind: Pod\nmetadata: {name: caf\xe9}\n",
        "recursive": "apiVersion: v1\nkind: Pod\nspec: &a\n  x: *a\n",
        "badpod": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: 5\n",
        "emptylist": "apiVersion: v1\nkind: List\nitems: []\n",
    }
    out = {}
    for name, text in files.items():
        path = tmp_path / f"{name}.yaml"
        path.write_bytes(text.encode("latin-1"))
        out[name] = path
    nimbuild = (EXAMPLES / "nimbuild-lora.yaml").read_text()
    out["two"] = tmp_path / "two.yaml"
    out["two"].write_text(nimbuild + "---\n" + nimbuild.replace("-lora", "-other"))
    out["v1beta1"] = tmp_path / "v1beta1.yaml"
    out["v1beta1"].write_text(nimbuild.replace("v1alpha1", "v1beta1"))
    out["noname"] = write(tmp_path / "noname.yaml", {**GOOD, "metadata": {"labels": {}}})
    return out


NB = str(EXAMPLES / "nimbuild-lora.yaml")
NC = str(EXAMPLES / "nimcache.yaml")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        pytest.param(["render", "-f", "{tmp}/missing.yaml"], "missing.yaml: no such file"),
        pytest.param(["render", "-f", "{tmp}"], ": is a directory", id="directory"),
        pytest.param(["render", "-f", "{broken}"], "broken.yaml:3:9: not valid YAML", id="yaml"),
        pytest.param(["render", "-f", "{tabs}"], "tabs.yaml:3:1: not valid YAML", id="tabs"),
        pytest.param(["render", "-f", "{empty}"], "empty.yaml: holds no NIMBuild", id="empty"),
        pytest.param(["render", "-f", "{scalar}"], "scalar.yaml:1: a str, not a Kubernetes"),
        pytest.param(["render", "-f", "{binary}"], "binary.yaml:1: a bytes value is not JSON"),
        pytest.param(["render", "-f", "{nan}"], "nan.yaml:1: nan is not a JSON number"),
        pytest.param(["render", "-f", "{intkey}"], "intkey.yaml:1: key 1 is not a string (JSON"),
        pytest.param(["render", "-f", "{latin1}"], "latin1.yaml: not UTF-8 text", id="latin1"),
        pytest.param(["render", "-f", "{recursive}"], "recursive.yaml: nested too deeply"),
        pytest.param(
            ["render", "-f", NC], "nimcache.yaml:11: holds no NIMBuild (found kind NIMCache)"
        ),
        pytest.param(["render", "-f", NB, "--nimcache", NB], "lora.yaml:4: holds no NIMCache"),
        pytest.param(["render", "-f", NB, "--pod", NC], "nimcache.yaml:11: holds no Pod"),
        pytest.param(["render", "-f", NB, "--job", NB], "lora.yaml:4: holds no Job"),
        pytest.param(["render", "-f", "{two}"], "two.yaml:31: holds 2 NIMBuilds", id="two"),
        pytest.param(["render", "-f", "{emptylist}"], "emptylist.yaml: holds no NIMBuild"),
        pytest.param(["fixture", "-f", "{emptylist}"], "emptylist.yaml: holds no NIMBuild"),
        pytest.param(["render", "-f", "{v1beta1}"], "v1beta1.yaml:4: NIMBuild has apiVersion"),
        pytest.param(["render", "-f", "{noname}"], "noname.yaml:3: NIMBuild has no metadata.name"),
        pytest.param(["render", "-f", NB, "--nimcache", NC, "--nimcache", NC], "given twice"),
        pytest.param(
            ["render", "-f", NB, "--pod", "{badpod}"],
            "badpod.yaml: the hook refuses this request (HTTP 400): related.Pod",
            id="hook-400",
        ),
        pytest.param(["render", "-f", NB, "--now", "noon"], "--now 'noon': not an RFC 3339"),
        pytest.param(["render", "-f", NB, "--now", "2026-01-01T12:00:00"], "give a time zone"),
        pytest.param(["render", "-f", NB, "--set", "X=1"], "expected NIMBUILD_HOOK_<NAME>"),
        pytest.param(
            ["render", "-f", NB, "--set", "NIMBUILD_HOOK_BACKOFF_LIMIT=-1"], "hook settings:"
        ),
        pytest.param(["render"], "required: -f/--filename", id="usage"),
        pytest.param(["render", "-f", NB, "--bogus"], "unrecognized arguments: --bogus"),
        pytest.param(["fixture", "-f", NB, "--expected"], "--expected writes DIR/expected"),
        pytest.param(["fixture", "-f", "{broken}"], "broken.yaml:3:9: not valid YAML"),
        pytest.param(["fixture", "-f", NB, "-o", "{scalar}"], "scalar.yaml: ", id="out-is-file"),
        pytest.param(["validate", "-f", "{tmp}/missing.yaml"], "missing.yaml: no such file"),
        pytest.param(["validate", "-f", "{broken}"], "broken.yaml:3:9: not valid YAML"),
        pytest.param(["validate", "-f", NC], "nimcache.yaml:11: holds no NIMBuild"),
        pytest.param(["validate", "-f", NB, "--old", NC], "nimcache.yaml:11: holds no NIMBuild"),
        pytest.param([], "required: command", id="no-command"),
    ],
)
def test_input_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], says: str
) -> None:
    files = {name: str(path) for name, path in _files(tmp_path).items()}
    argv = [a.format(tmp=tmp_path, **files) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = int(str(exit_.code))
    assert code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert says in err, err
    assert "Traceback" not in err
    assert err.startswith("nimbuild")
