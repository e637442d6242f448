"""Manifest reading and writing (pure): the three formats, the pick, the engine layout.

Grid: format v1 / list / v2 x (model and release kept or empty, tags as str:str, workspace
paths) ; first match in file order ; no match names the models present ; not YAML / not a
map or list ; tp x pp ranks from `tp` or `tensorParallelism` ; writing a profile into each
format keeps the other profiles, replaces the model's old one and reads back the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

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
    assert manifest.format == fmt
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
    ],
)
def test_unreadable_manifests_are_errors(data: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest(data)


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
    assert manifest.format == fmt
    assert [p.id for p in manifest.profiles] == ["keep", "fresh"]  # stale one replaced
    assert find_profile(manifest, "m").tags == {"model_name": "m", "tp": "1"}
    if fmt == "v2":
        assert yaml.safe_load(new)["schema_version"] == "2.0.0"  # header fields kept


def test_adding_to_no_manifest_writes_v1() -> None:
    new = with_profile(None, "fresh", "m", "r", {"model_name": "m"}, {})
    assert yaml.safe_load(new) == {
        "fresh": {"model": "m", "release": "r", "tags": {"model_name": "m"}}
    }


def test_adding_to_a_broken_manifest_refuses() -> None:
    with pytest.raises(ManifestError):
        with_profile("a: [", "fresh", "m", "", {"model_name": "m"}, {})
