"""Publish built profiles to their NIMCache: the pure core of the NIMCache DecoratorController.

A NIMService sizes its pod's GPUs from the profile it finds in `NIMCache.status.profiles`, so
a built engine is only usable once its profile is listed there (DESIGN §9). Metacontroller's
DecoratorController calls `sync` for every NIMCache, with the NIMBuilds of its namespace as
related objects (`customize`), and writes the `status` we answer, when it differs, with the
resourceVersion it read (a stale write gets 409 and is dropped; the next event retries).

The decision, a function of the request only:
- the NIMCache's `status.state` is `Ready`, and
- some related NIMBuild names this NIMCache (`spec.nimCache.name`, same namespace), is
  `Ready` with a non-empty `status.outputProfile.name`, does not opt out
  (`spec.build.publishProfile: false`), and its profile name is not listed yet
→ `status` = the observed status verbatim, plus at the end of `profiles` one
`{name, model, release, config}` per such profile (`config.input_profile` =
`status.inputProfile.name`), ordered by the NIMBuild's creationTimestamp then name, one per
name. Otherwise `status: null`, which Metacontroller reads as "leave the status alone".

So an entry is never removed or changed, the NIM Operator's own entries stay as they are, and
when the operator rewrites the status without our entries (it does, from a stale copy, and
clears `profiles` whenever the NIMCache leaves Ready), the next sync adds them again. Once
everything is listed the answer is null: no write, no event, no hot loop.

The wire contract, read from Metacontroller v4.17.2 (`pkg/controller/decorator/api/v2`): a v2
decorator request is `{controller, parent, children, related, finalizing}` (`object` and
`attachments` are the v1 names; `object` is read too). The v2 response is parsed strictly:
only `labels`, `annotations`, `status`, `attachments`, `resyncAfterSeconds`, `finalized`.
We answer `{status}` alone: v2 drops `labels` and `annotations` anyway, a missing
`attachments` means none, and with no attachment rules there is nothing to delete.

A malformed request (no target object, maps of the wrong shape) raises RequestError (400);
a related NIMBuild whose fields we read have the wrong shape is skipped, not fatal: one bad
object must not keep every other NIMBuild's profile from being published.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, StrictBool, StrictStr, ValidationError

from hooks import vocabulary as v
from hooks.errors import RequestError
from hooks.request import keyed_objects, section
from hooks.timestamps import time_key
from hooks.wire import StrictWire, Wire

NIMBUILDS_RESOURCE = "nimbuilds"


# --- the target NIMCache ------------------------------------------------------------------------


class _TargetMeta(StrictWire):
    name: StrictStr = Field(min_length=1)
    namespace: StrictStr = Field(min_length=1)


def _request(body: object) -> tuple[Mapping[str, Any], Mapping[str, Any], _TargetMeta]:
    """The request as a map, the decorated NIMCache (`parent` in hook version v2; `object`,
    the v1 name, is read too) and its name and namespace."""
    if not isinstance(body, Mapping):
        raise RequestError("request body must be a JSON object")
    raw = body.get("parent")
    if raw is None:
        raw = body.get("object")
    if not isinstance(raw, Mapping):
        raise RequestError("request has no 'parent' object (the NIMCache)")
    meta = raw.get("metadata")
    if not isinstance(meta, Mapping):
        raise RequestError("parent.metadata must be an object")
    try:
        return body, raw, _TargetMeta.model_validate(meta)
    except ValidationError:
        # A NIMCache is namespaced: without its namespace the NIMBuild rule would list every
        # namespace, and the profiles of another namespace's builds could be published here.
        raise RequestError("parent.metadata needs a non-empty name and namespace") from None


# --- related NIMBuilds: only the fields read ------------------------------------------------------


class _BuildMeta(StrictWire):
    name: StrictStr = ""
    namespace: StrictStr = ""
    creation_timestamp: StrictStr = Field("", alias="creationTimestamp")


class _CacheRef(Wire):
    name: StrictStr = ""


class _Build(Wire):
    publish_profile: StrictBool = Field(True, alias="publishProfile")


class _Spec(Wire):
    nim_cache: _CacheRef = Field(default_factory=_CacheRef, alias="nimCache")
    build: _Build = Field(default_factory=_Build)


class _Profile(StrictWire):
    name: StrictStr = ""
    model: StrictStr = ""
    release: StrictStr = ""
    config: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class _InputProfile(Wire):
    name: StrictStr = ""


class _Status(Wire):
    state: StrictStr = ""
    input_profile: _InputProfile | None = Field(None, alias="inputProfile")
    output_profile: _Profile | None = Field(None, alias="outputProfile")


class _NIMBuild(Wire):
    metadata: _BuildMeta
    spec: _Spec = Field(default_factory=_Spec)
    status: _Status = Field(default_factory=_Status)

    def sort_key(self) -> tuple[tuple[bool, datetime, str], str]:
        return time_key(self.metadata.creation_timestamp), self.metadata.name

    def entry(self) -> dict[str, Any]:
        """The `status.profiles[]` entry upstream's NIMBuild appends: `{name, model, release,
        config}` of the built profile, `config.input_profile` = the input profile's name
        (kept from the builder's own report when the status names no input profile)."""
        built = self.status.output_profile
        assert built is not None
        config = dict(built.config)
        if self.status.input_profile is not None and self.status.input_profile.name:
            config["input_profile"] = self.status.input_profile.name
        out: dict[str, Any] = {"name": built.name}
        if built.model:
            out["model"] = built.model
        if built.release:
            out["release"] = built.release
        if config:
            out["config"] = config
        return out


def _nimbuilds(body: Mapping[str, Any]) -> list[_NIMBuild]:
    """The related NIMBuilds that parse; one with a wrongly shaped field we read is left out."""
    found = []
    for key, raw in keyed_objects(section(body, "related"), v.NIMBUILD_KEY, "related"):
        try:
            build = _NIMBuild.model_validate(raw)
        except ValidationError:
            continue
        if not build.metadata.namespace:  # the v2 key names it, as /sync reads it too
            meta = build.metadata.model_copy(update={"namespace": key.rpartition("/")[0]})
            build = build.model_copy(update={"metadata": meta})
        found.append(build)
    return found


def _publishes(build: _NIMBuild, cache: _TargetMeta) -> bool:
    built = build.status.output_profile
    return (
        build.metadata.namespace == cache.namespace
        and build.spec.nim_cache.name == cache.name
        and build.spec.build.publish_profile
        and build.status.state == v.READY
        and built is not None
        and bool(built.name)
    )


# --- entry points -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Publication:
    """What one sync decided: the NIMCache (`namespace/name`), the profile names it adds (in
    order) and the status to answer (None: leave it alone)."""

    cache: str
    added: tuple[str, ...]
    status: dict[str, Any] | None


def plan(body: object) -> Publication:
    """The decision of `sync`, with what the web layer logs."""
    request, raw, cache = _request(body)
    builds = _nimbuilds(request)
    # The other v2 fields, as /sync reads them: a wrong shape is a bad request (400).
    section(request, "children")
    if not isinstance(request.get("finalizing", False), bool):
        raise RequestError("finalizing must be a boolean")
    ref = f"{cache.namespace}/{cache.name}"
    status = raw.get("status")
    if not isinstance(status, Mapping) or status.get("state") != v.READY:
        return Publication(ref, (), None)
    profiles = status.get("profiles")
    if profiles is None:
        profiles = []
    if not isinstance(profiles, list):
        return Publication(ref, (), None)  # not ours to repair; a 200 never erases a status
    listed = {
        p["name"] for p in profiles if isinstance(p, Mapping) and isinstance(p.get("name"), str)
    }
    added = []
    for build in sorted(builds, key=_NIMBuild.sort_key):
        if not _publishes(build, cache):
            continue
        entry = build.entry()
        if entry["name"] in listed:
            continue
        listed.add(entry["name"])
        added.append(entry)
    if not added:
        return Publication(ref, (), None)
    new_status = {**status, "profiles": [*profiles, *added]}
    return Publication(ref, tuple(e["name"] for e in added), new_status)


def sync(body: object) -> dict[str, Any]:
    """POST /nimcache/sync: `{controller, parent, children, related, finalizing}` (v2) →
    `{status}`, where `status` is null (leave it alone) or the NIMCache's observed `status`
    with the missing built profiles appended to `status.profiles`."""
    return {"status": plan(body).status}


def customize(body: object) -> dict[str, Any]:
    """POST /nimcache/customize: every NIMBuild of the NIMCache's own namespace (no label
    filter; the namespace is always explicit, since a v2 rule without one lists them all)."""
    _, _, cache = _request(body)
    return {
        "relatedResources": [
            {
                "apiVersion": v.NIM_API_VERSION,
                "resource": NIMBUILDS_RESOURCE,
                "namespace": cache.namespace,
            }
        ]
    }
