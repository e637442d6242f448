"""`local_cache/local_manifest.yaml`: which profile a build produced, and where its files are.

The NIM server records a locally built engine in this manifest; the NIM operator reads it with
its `nimparser` (reference nim-operator-nimbuild.md §2.2, trtllm-build.md §2.4). Four shapes
exist and all are read here:

* v1, a map `profile id → {model, release, tags, workspace: {components: [...]}}`;
* later 1.x, a list `[{id, tags, workspace: {files: {"trtllm_engine/rank0.engine": {uri}}}}]`;
* v2, `{schema_version: 2.x, profiles: [{id, tags, workspace}]}` (no model or release);
* wrapped (some non-LLM NIMs; the NIM Operator's `NormalizeLegacyManifest`), a map with a
  non-empty string `model_profile` and a `manifest` list, no `schema_version`, whose entries
  are `{id: <profile id>, tags, ...}` or `{<profile id>: {tags, ...}}`; an entry without a
  `model` takes `model_profile`. An empty list, a non-mapping entry or a duplicate id is an
  error, as upstream.

Anything else is an error that names the shapes tried: a file read as "a v1 manifest with no
profiles" would only say, misleadingly, that the build wrote nothing.

The output profile is the first (file order) whose `tags.model_name` is the model name, as
upstream picks it (§3.6). Its engine lives in `local_cache/<model name>/trtllm_engine/` unless
the workspace names other paths. The trtllm backend also *adds* a profile, keeping the file's
shape and every field it does not understand. Everything here is pure: text in, data out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal

import yaml

from engine_builder.result import tag_text, to_config

MANIFEST_PATH: Final = PurePosixPath("local_cache/local_manifest.yaml")
ENGINE_FOLDER: Final = "trtllm_engine"

Format = Literal["v1", "list", "v2", "wrapped"]

SHAPES_TRIED: Final = (
    "v1 (a map of profile id to {model, release, tags, workspace}), "
    "list (a list of {id, tags, ...}, or a map with a `profiles` list), "
    "v2 (`schema_version: 2.x` with a `profiles` list), "
    "wrapped (a non-empty string `model_profile` and a `manifest` list)"
)


class ManifestError(ValueError):
    """The manifest cannot be read or has no usable profile."""


@dataclass(frozen=True)
class ManifestProfile:
    """One profile: id, model/release ("" where the format has none), tags as str:str."""

    id: str
    model: str
    release: str
    tags: Mapping[str, str]
    # Workspace file name (relative, e.g. "trtllm_engine/rank0.engine") → uri or path ("" if none).
    files: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    format: Format
    profiles: tuple[ManifestProfile, ...]


@dataclass(frozen=True)
class EngineLayout:
    """Where a profile's engine is: its folder and every file that must be there."""

    engine_dir: Path
    required: tuple[Path, ...]


def load_yaml(text: str) -> Any:
    """YAML text → data; ManifestError (with the parser's position) when it is not YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ManifestError(f"manifest is not valid YAML: {' '.join(str(exc).split())}") from exc


def detect_format(data: Any) -> Format:
    """Which of the four shapes `data` has; ManifestError naming the shapes tried otherwise."""
    if isinstance(data, list):
        return "list"
    if data is None or not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise ManifestError(
            f"manifest is {kind}, not a map or list of profiles; tried {SHAPES_TRIED}"
        )
    version = data.get("schema_version")
    if version is not None and str(version).strip().startswith("2"):
        return "v2"
    model_profile = data.get("model_profile")
    wrapped = "manifest" in data and "schema_version" not in data
    if wrapped and isinstance(model_profile, str) and model_profile:
        return "wrapped"
    if isinstance(data.get("profiles"), list):
        return "list"
    odd = [
        str(key)
        for key, entry in data.items()
        if key != "schema_version" and not isinstance(entry, dict)
    ]
    if not odd:
        return "v1"
    raise ManifestError(
        f"manifest is none of the known shapes (top-level {', '.join(map(repr, odd[:8]))} "
        f"{'is' if len(odd) == 1 else 'are'} not a profile); tried {SHAPES_TRIED}"
    )


def parse_manifest(text: str) -> Manifest:
    """Manifest text in any of the four shapes → Manifest (profiles in file order)."""
    return _manifest(load_yaml(text))


def _manifest(data: Any) -> Manifest:
    """Loaded manifest data in any of the four shapes → Manifest (profiles in file order)."""
    fmt = detect_format(data)
    profiles: list[ManifestProfile] = []
    if fmt == "v1":
        for key, entry in data.items():
            if key != "schema_version":
                profiles.append(_profile(str(key), entry))
    elif fmt == "wrapped":
        profiles = _wrapped_profiles(data["model_profile"], data["manifest"])
    else:
        items = data if isinstance(data, list) else data.get("profiles") or []
        for entry in items:
            if isinstance(entry, dict) and entry.get("id") is not None:
                profiles.append(_profile(str(entry["id"]), entry, with_model=fmt != "v2"))
    return Manifest(format=fmt, profiles=tuple(profiles))


def _wrapped_entry(index: int, entry: Any) -> tuple[str, Mapping[str, Any]]:
    """One `manifest` list entry → (profile id, profile fields); ManifestError when neither form."""
    where = f"wrapped manifest: entry {index}"
    if not isinstance(entry, dict):
        raise ManifestError(f"{where} is {type(entry).__name__}, not a mapping")
    if "id" in entry:
        profile_id = entry["id"]
        if not isinstance(profile_id, str) or not profile_id:
            raise ManifestError(f"{where} has an id that is not a non-empty string: {profile_id!r}")
        return profile_id, {key: value for key, value in entry.items() if key != "id"}
    if len(entry) == 1:
        ((key, body),) = entry.items()
        if not isinstance(body, dict):
            raise ManifestError(f"{where}: profile {key!r} is {type(body).__name__}, not a mapping")
        if key is None or str(key) == "":
            raise ManifestError(f"{where} has an empty profile id")
        return str(key), body
    raise ManifestError(
        f"{where} has no id and is not a single-key mapping {{<profile id>: {{tags: ...}}}}"
    )


def _wrapped_profiles(model_profile: str, items: Any) -> list[ManifestProfile]:
    if not isinstance(items, list):
        raise ManifestError(
            f"wrapped manifest: `manifest` is {type(items).__name__}, not a list of profiles"
        )
    if not items:
        raise ManifestError("wrapped manifest: the `manifest` list is empty")
    profiles: list[ManifestProfile] = []
    seen: set[str] = set()
    for index, entry in enumerate(items):
        profile_id, body = _wrapped_entry(index, entry)
        if profile_id in seen:
            raise ManifestError(f"wrapped manifest: duplicate profile id {profile_id!r}")
        seen.add(profile_id)
        profile = _profile(profile_id, body)
        if not profile.model:
            profile = replace(profile, model=model_profile)
        profiles.append(profile)
    return profiles


def _profile(profile_id: str, entry: Mapping[str, Any], with_model: bool = True) -> ManifestProfile:
    tags = entry.get("tags")
    return ManifestProfile(
        id=profile_id,
        model=tag_text(entry.get("model")) if with_model else "",
        release=tag_text(entry.get("release")) if with_model else "",
        tags=to_config(tags) if isinstance(tags, dict) else {},
        files=_workspace_files(entry.get("workspace")),
    )


def _workspace_files(workspace: Any) -> dict[str, str]:
    """Workspace → {relative file name: uri or ""}, for both the v1 and the files-map shapes."""
    files: dict[str, str] = {}
    if not isinstance(workspace, dict):
        return files
    listed = workspace.get("files")
    if isinstance(listed, dict):
        for name, spec in listed.items():
            uri = spec.get("uri") if isinstance(spec, dict) else spec
            files[str(name)] = uri if isinstance(uri, str) else ""
    elif isinstance(listed, list):
        for item in listed:
            if isinstance(item, str):
                files[item] = ""
            elif isinstance(item, dict) and isinstance(item.get("path"), str):
                files[item["path"]] = str(item.get("uri") or "")
    for component in workspace.get("components") or []:
        if not isinstance(component, dict):
            continue
        dst = str(component.get("dst") or "")
        src = component.get("src")
        names = src.get("files") if isinstance(src, dict) else None
        for item in names or []:
            name = item if isinstance(item, str) else None
            if isinstance(item, dict):
                name = item.get("path") or item.get("name")
            if isinstance(name, str):
                files[str(PurePosixPath(dst, name)) if dst else name] = ""
    return files


def find_profile(manifest: Manifest, model_name: str) -> ManifestProfile:
    """The first profile with `tags.model_name == model_name`; ManifestError naming the others."""
    for profile in manifest.profiles:
        if profile.tags.get("model_name") == model_name:
            return profile
    seen = sorted({p.tags["model_name"] for p in manifest.profiles if "model_name" in p.tags})
    others = f"; model names present: {', '.join(seen)}" if seen else ""
    raise ManifestError(
        f"no profile with tags.model_name={model_name!r} among the "
        f"{len(manifest.profiles)} profile(s) of the {manifest.format} manifest{others}"
    )


def rank_count(tags: Mapping[str, str]) -> int:
    """tp x pp from the tags (`tensorParallelism` or `tp`, `pp`; each defaults to 1)."""
    tp_text = tags.get("tensorParallelism") or tags.get("tp") or "1"
    pp_text = tags.get("pp") or "1"
    try:
        tp, pp = int(tp_text), int(pp_text)
    except ValueError as exc:
        raise ManifestError(f"profile tags tp={tp_text!r}, pp={pp_text!r} are not numbers") from exc
    if tp < 1 or pp < 1:
        raise ManifestError(f"profile tags tp={tp}, pp={pp} must be >= 1")
    return tp * pp


def engine_layout(profile: ManifestProfile, model_store: Path, model_name: str) -> EngineLayout:
    """Expected engine files: `config.json` and `rank{N}.engine` for N < tp x pp.

    The folder is `local_cache/<model name>/trtllm_engine/` under the model store, unless the
    workspace lists a `rank0.engine`: then its folder. Workspace paths are relative to
    `local_cache/<model name>/`; a `file://` uri or an absolute path is taken as it is.
    """
    workspace_root = model_store / "local_cache" / model_name
    resolved: dict[str, Path] = {}
    for name, uri in profile.files.items():
        if uri.startswith("file://"):
            path = Path(uri.removeprefix("file://"))
        elif uri.startswith("/"):
            path = Path(uri)
        else:
            path = workspace_root / name
        resolved[PurePosixPath(name).name] = path
    rank0 = resolved.get("rank0.engine")
    engine_dir = rank0.parent if rank0 is not None else workspace_root / ENGINE_FOLDER
    required = [engine_dir / "config.json"]
    for rank in range(rank_count(profile.tags)):
        required.append(resolved.get(f"rank{rank}.engine", engine_dir / f"rank{rank}.engine"))
    return EngineLayout(engine_dir=engine_dir, required=tuple(required))


def with_profile(
    text: str | None,
    profile_id: str,
    model: str,
    release: str,
    tags: Mapping[str, str],
    extra: Mapping[str, Any],
) -> str:
    """Manifest text with a profile added, in the file's own shape (v1 when there is no file).

    The file is read (as `parse_manifest` reads it) first, so one in no known shape, or a
    wrapped one with a duplicate id, is refused rather than overwritten. Profiles with the same
    `tags.model_name` are removed first: their engine folder is the one we just replaced, so
    they would point at files that no longer exist. A wrapped manifest keeps `model_profile`
    and its other keys; the new entry is the `{id: ...}` form with its own `model`.
    """
    data = load_yaml(text) if text and text.strip() else None
    fmt: Format = "v1" if data is None else _manifest(data).format
    model_name = tags.get("model_name")

    def keep(entry: Any) -> bool:
        return _entry_model_name(entry) != model_name

    body: dict[str, Any] = {"tags": dict(tags), **extra}
    if fmt == "v1":
        old = data if isinstance(data, dict) else {}
        new: dict[str, Any] = {k: v for k, v in old.items() if k == "schema_version" or keep(v)}
        new[profile_id] = {"model": model, "release": release, **body}
        return _dump(new)
    entry = {"id": profile_id, **body}
    if fmt == "list" and isinstance(data, list):
        return _dump([*(e for e in data if keep(e)), entry])
    assert isinstance(data, dict)
    if fmt == "wrapped":
        entry = {"id": profile_id, "model": model, "release": release, **body}
        return _dump({**data, "manifest": [*(e for e in data["manifest"] if keep(e)), entry]})
    profiles: Sequence[Any] = data.get("profiles") or []
    return _dump({**data, "profiles": [*(e for e in profiles if keep(e)), entry]})


def _entry_model_name(entry: Any) -> object:
    """`tags.model_name` of one raw entry, also of a wrapped `{<id>: {tags: ...}}` one."""
    if not isinstance(entry, dict):
        return None
    if "tags" not in entry and "id" not in entry and len(entry) == 1:
        (entry,) = entry.values()
        if not isinstance(entry, dict):
            return None
    entry_tags = entry.get("tags")
    return entry_tags.get("model_name") if isinstance(entry_tags, dict) else None


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
