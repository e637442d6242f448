"""Manifest reading and writing (pure): the four shapes, the pick, the engine layout.

Grid: format v1 / list / v2 / wrapped (`{id}` entries) / wrapped-keyed (`{<id>: {...}}`
entries) x (model and release kept or empty, tags as str:str, workspace paths) ; first match
in file order ; no match names the models present ; not YAML / not a map or list / none of
the shapes (names the shapes tried) ; wrapped: `model_profile` fills a missing model, empty
list / non-mapping entry / duplicate id / bad id / two-key entry without id are errors, a
`schema_version` or a missing or empty `model_profile` makes it not wrapped ; tp x pp ranks
from `tp` or `tensorParallelism` ; writing a profile into each format keeps the other
profiles, replaces the model's old one and reads back the same ; a malformed wrapped manifest
is refused, not overwritten.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from standins import nim_server

from engine_builder.manifest import (
    ManifestError,
    engine_layout,
    find_profile,
    parse_manifest,
    rank_count,
    with_profile,
)

STORE = Path("/model-store")


def profile(pid: str, model_name: str, files: list[str] | None = None, **tags: str) -> dict:
    entry: dict = {
        "id": pid,
        "model": "nim/meta/llama",
        "release": "1.8.4",
        "tags": {"model_name": model_name, "tp": "1", **tags},
    }
    if files:
        entry["files"] = files
    return entry


def text(fmt: str, *profiles: dict) -> str:
    return yaml.safe_dump(nim_server.manifest_data(fmt, list(profiles)), sort_keys=False)


@pytest.mark.parametrize("fmt", nim_server.FORMATS)
def test_reads_each_format_in_file_order(fmt: str) -> None:
    manifest = parse_manifest(text(fmt, profile("p1", "a"), profile("p2", "b"), profile("p3", "c")))
    assert manifest.format == nim_server.read_as(fmt)
    assert [p.id for p in manifest.profiles] == ["p1", "p2", "p3"]
    first = manifest.profiles[0]
    assert first.tags == {"model_name": "a", "tp": "1"}
    if fmt == "v2":
        assert (first.model, first.release) == ("", "")
    else:
        assert (first.model, first.release) == ("nim/meta/llama", "1.8.4")


@pytest.mark.parametrize("fmt", nim_server.FORMATS)
def test_first_profile_with_the_model_name_wins(fmt: str) -> None:
    manifest = parse_manifest(text(fmt, profile("p1", "x"), profile("p2", "m"), profile("p3", "m")))
    assert find_profile(manifest, "m").id == "p2"


def test_no_match_names_the_models_that_are_there() -> None:
    manifest = parse_manifest(text("v1", profile("p1", "x"), profile("p2", "y")))
    with pytest.raises(ManifestError, match=r"model_name='m'.*2 profile.*present: x, y"):
        find_profile(manifest, "m")


def test_tags_become_strings_as_go_would_read_them() -> None:
    data = "p1:\n  model: m\n  release: 1.0\n  tags: {tp: 2, feat_lora: false, x: null}\n"
    p = parse_manifest(data).profiles[0]
    assert p.tags == {"tp": "2", "feat_lora": "false", "x": ""}
    assert p.release == "1.0"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param("p1: [unclosed\n", "not valid YAML", id="not-yaml"),
        pytest.param("", "empty", id="empty"),
        pytest.param("just a string\n", "str, not a map", id="scalar"),
        pytest.param(
            "manifest:\n- id: p1\n  tags: {model_name: m}\n",
            r"none of the known shapes \(top-level 'manifest' is not a profile\)",
            id="manifest-list-without-model-profile",
        ),
        pytest.param(
            "model_profile: ''\nmanifest:\n- id: p1\n",
            "'model_profile', 'manifest' are not",
            id="empty-model-profile",
        ),
        pytest.param(
            "model_profile: 7\nmanifest:\n- id: p1\n",
            "none of the known shapes",
            id="model-profile-not-a-string",
        ),
        pytest.param(
            "schema_version: '1.0'\nmodel_profile: M\nmanifest:\n- id: p1\n",
            "none of the known shapes",
            id="wrapped-with-schema-version",
        ),
        pytest.param("p1: {tags: {}}\nversion: 3\n", "'version' is not a profile", id="v1-scalar"),
    ],
)
def test_unreadable_manifests_are_errors(data: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message) as caught:
        parse_manifest(data)
    if "not valid YAML" not in message:
        for shape in ("v1 (", "list (", "v2 (", "wrapped ("):
            assert shape in str(caught.value)


MOLMIM = (
    "model_profile: MolMIM\nmanifest:\n"
    "  - id: a1\n    tags: {backend: tensorrt, precision: fp16, gpu: A100}\n"
    "  - b2:\n      model: other\n      release: '1.0'\n      tags: {backend: pytorch}\n"
)


def test_wrapped_reads_both_entry_forms_and_fills_the_model() -> None:
    manifest = parse_manifest(MOLMIM)
    assert manifest.format == "wrapped"
    assert [(p.id, p.model, p.release) for p in manifest.profiles] == [
        ("a1", "MolMIM", ""),
        ("b2", "other", "1.0"),
    ]
    assert manifest.profiles[0].tags == {"backend": "tensorrt", "precision": "fp16", "gpu": "A100"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param("model_profile: M\nmanifest: []\n", "list is empty", id="empty-list"),
        pytest.param("model_profile: M\nmanifest: {a: 1}\n", "dict, not a list", id="not-list"),
        pytest.param("model_profile: M\nmanifest: [x]\n", "entry 0 is str, not a map", id="scalar"),
        pytest.param(
            "model_profile: M\nmanifest:\n- id: a\n- a: {tags: {}}\n",
            "duplicate profile id 'a'",
            id="duplicate-id-across-forms",
        ),
        pytest.param(
            "model_profile: M\nmanifest:\n- id: ''\n", "not a non-empty string", id="empty-id"
        ),
        pytest.param(
            "model_profile: M\nmanifest:\n- {tags: {}, release: r}\n",
            "no id and is not a single-key",
            id="two-keys-no-id",
        ),
        pytest.param(
            "model_profile: M\nmanifest:\n- a: [1]\n", "profile 'a' is list", id="keyed-not-map"
        ),
    ],
)
def test_malformed_wrapped_manifests_are_errors(data: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest(data)


def test_wrapped_engine_files_follow_the_workspace_as_elsewhere() -> None:
    files = ["eng/config.json", "eng/rank0.engine", "eng/rank1.engine"]
    p = parse_manifest(text("wrapped-keyed", profile("p1", "m", files=files, tp="2"))).profiles[0]
    layout = engine_layout(p, STORE, "m")
    assert layout.required == tuple(STORE / "local_cache/m" / f for f in files)


def test_v2_is_chosen_by_schema_version_and_v1_skips_it() -> None:
    v2 = "schema_version: '2.1.0'\nprofiles:\n- id: q\n  tags: {model_name: m}\n"
    assert parse_manifest(v2).format == "v2"
    v1 = "schema_version: '1.0'\np1:\n  tags: {model_name: m}\n"
    parsed = parse_manifest(v1)
    assert parsed.format == "v1"
    assert [p.id for p in parsed.profiles] == ["p1"]


@pytest.mark.parametrize(
    ("tags", "ranks"),
    [
        ({}, 1),
        ({"tp": "2"}, 2),
        ({"tensorParallelism": "4", "tp": "1"}, 4),
        ({"tp": "2", "pp": "2"}, 4),
    ],
)
def test_rank_count(tags: dict[str, str], ranks: int) -> None:
    assert rank_count(tags) == ranks


@pytest.mark.parametrize("tags", [{"tp": "two"}, {"tp": "0"}, {"pp": "-1"}])
def test_bad_rank_tags(tags: dict[str, str]) -> None:
    with pytest.raises(ManifestError):
        rank_count(tags)


def test_engine_folder_defaults_to_trtllm_engine() -> None:
    p = parse_manifest(text("v1", profile("p1", "m", tp="2"))).profiles[0]
    layout = engine_layout(p, STORE, "m")
    folder = STORE / "local_cache/m/trtllm_engine"
    assert layout.engine_dir == folder
    assert layout.required == (
        folder / "config.json",
        folder / "rank0.engine",
        folder / "rank1.engine",
    )


@pytest.mark.parametrize("fmt", nim_server.FORMATS)
def test_workspace_paths_move_the_engine_folder(fmt: str) -> None:
    files = ["eng/config.json", "eng/rank0.engine"]
    p = parse_manifest(text(fmt, profile("p1", "m", files=files))).profiles[0]
    layout = engine_layout(p, STORE, "m")
    assert layout.engine_dir == STORE / "local_cache/m/eng"
    assert layout.required[-1] == STORE / "local_cache/m/eng/rank0.engine"


def test_absolute_and_file_uris_are_taken_as_they_are() -> None:
    data = (
        "- id: p1\n  tags: {model_name: m, tp: '2'}\n  workspace:\n    files:\n"
        "      trtllm_engine/rank0.engine: {uri: 'file:///elsewhere/e/rank0.engine'}\n"
        "      trtllm_engine/rank1.engine: {uri: /other/rank1.engine}\n"
    )
    layout = engine_layout(parse_manifest(data).profiles[0], STORE, "m")
    assert layout.engine_dir == Path("/elsewhere/e")
    assert layout.required == (
        Path("/elsewhere/e/config.json"),
        Path("/elsewhere/e/rank0.engine"),
        Path("/other/rank1.engine"),
    )


@pytest.mark.parametrize("fmt", nim_server.FORMATS)
def test_adding_a_profile_keeps_the_format_and_the_others(fmt: str) -> None:
    old = text(fmt, profile("keep", "other"), profile("stale", "m"))
    new = with_profile(
        old, "fresh", "m", "", {"model_name": "m", "tp": "1"}, {"nimbuild": {"a": 1}}
    )
    manifest = parse_manifest(new)
    assert manifest.format == nim_server.read_as(fmt)
    assert [p.id for p in manifest.profiles] == ["keep", "fresh"]  # stale one replaced
    assert find_profile(manifest, "m").tags == {"model_name": "m", "tp": "1"}
    if fmt == "v2":
        assert yaml.safe_load(new)["schema_version"] == "2.0.0"  # header fields kept


def test_adding_to_no_manifest_writes_v1() -> None:
    new = with_profile(None, "fresh", "m", "r", {"model_name": "m"}, {})
    assert yaml.safe_load(new) == {
        "fresh": {"model": "m", "release": "r", "tags": {"model_name": "m"}}
    }


@pytest.mark.parametrize(
    "old",
    [
        pytest.param("a: [", id="not-yaml"),
        pytest.param("model_profile: M\nmanifest:\n- id: a\n- id: a\n", id="wrapped-duplicate"),
        pytest.param("manifest: [{id: a}]\n", id="unknown-shape"),
    ],
)
def test_adding_to_a_broken_manifest_refuses(old: str) -> None:
    with pytest.raises(ManifestError):
        with_profile(old, "fresh", "m", "", {"model_name": "m"}, {})


def test_adding_to_a_wrapped_manifest_keeps_its_header_and_entry_forms() -> None:
    new = with_profile(MOLMIM, "fresh", "m", "", {"model_name": "m"}, {"nimbuild": {"a": 1}})
    data = yaml.safe_load(new)
    assert data["model_profile"] == "MolMIM"
    assert data["manifest"][:2] == yaml.safe_load(MOLMIM)["manifest"]  # untouched, both forms
    assert data["manifest"][2] == {
        "id": "fresh",
        "model": "m",
        "release": "",
        "tags": {"model_name": "m"},
        "nimbuild": {"a": 1},
    }
    assert find_profile(parse_manifest(new), "m").model == "m"
