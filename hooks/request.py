"""A Metacontroller v2 sync or customize request, decoded into the views the decision reads.

`parse_sync_request` raises `RequestError` (HTTP 400) only for what makes the body not a
Metacontroller request; the parent's `spec` is kept raw here and parsed by the decision table,
so an invalid spec becomes status (Failed, InvalidSpec) rather than a refused request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from hooks import vocabulary as v
from hooks.errors import RequestError, describe_errors
from hooks.observed import Job, NIMCache, ObjectMeta, ObservedStatus, Pod, parse_status
from hooks.wire import JSON_OBJECT, Wire

_M = TypeVar("_M", bound=BaseModel)


class Parent(Wire):
    metadata: ObjectMeta
    spec: Any = None
    status: Any = None


class SyncRequest(NamedTuple):
    """What `decide` needs, decoded; the spec is parsed later so its errors become status.
    A named tuple: its parts are models already, validating them again cost µs a sync."""

    parent: Parent
    status: ObservedStatus
    jobs: tuple[Job, ...]
    nimcaches: tuple[NIMCache, ...]
    pods: tuple[Pod, ...]
    finalizing: bool = False


def keyed_objects(
    container: Mapping[str, Any], key: str, where: str
) -> list[tuple[str, Mapping[str, Any]]]:
    """`(v2 key, object)` of each entry of `children[key]` / `related[key]`, in key order; a
    missing map counts as empty. An object without `metadata` gets its name and namespace
    from its key."""
    group = container.get(key)
    if group is None:
        return []
    if not isinstance(group, JSON_OBJECT):
        raise RequestError(f"{where}[{key!r}] must be an object keyed by namespace/name")
    objects = []
    for name in sorted(group):
        item = group[name]
        if not isinstance(item, JSON_OBJECT):
            raise RequestError(f"{where}[{key!r}][{name!r}] must be an object")
        if "metadata" not in item:
            # The v2 key is `namespace/name` (or `name`): enough to know the object by.
            namespace, _, short = name.rpartition("/")
            item = {**item, "metadata": {"name": short, "namespace": namespace}}
        objects.append((name, item))
    return objects


def object_map(container: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    """The objects of `children[key]` / `related[key]` (see `keyed_objects`)."""
    return [item for _, item in keyed_objects(container, key, where)]


def section(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    section = body.get(key)
    if section is None:
        return {}
    if not isinstance(section, JSON_OBJECT):
        raise RequestError(f"{key} must be an object")
    return section


def _validate(model: type[_M], raw: Mapping[str, Any], where: str) -> _M:
    try:
        # The validator itself: `model_validate` adds a Python call with six keyword arguments.
        parsed: _M = model.__pydantic_validator__.validate_python(raw)
    except ValidationError as error:
        raise RequestError("; ".join(describe_errors(error, where))) from None
    return parsed


def parse_parent(body: Mapping[str, Any]) -> Parent:
    """`parent` of a sync or customize request; 400 when it is not an object with metadata."""
    raw = body.get("parent")
    if not isinstance(raw, JSON_OBJECT):
        raise RequestError("request has no 'parent' object")
    return _validate(Parent, raw, "parent")


def parse_sync_request(body: Mapping[str, Any]) -> SyncRequest:
    """A decoded JSON body → SyncRequest, or RequestError naming what is malformed."""
    parent = parse_parent(body)
    children = section(body, "children")
    related = section(body, "related")
    jobs = tuple(_job(raw) for raw in object_map(children, v.JOB_KEY, "children"))
    nimcaches = tuple(
        _validate(NIMCache, raw, "related.NIMCache")
        for raw in object_map(related, v.NIMCACHE_KEY, "related")
    )
    pods = tuple(
        _validate(Pod, raw, "related.Pod") for raw in object_map(related, v.POD_KEY, "related")
    )
    finalizing = body.get("finalizing", False)
    if not isinstance(finalizing, bool):
        raise RequestError("finalizing must be a boolean")
    return SyncRequest(
        parent=parent,
        status=parse_status(parent.status),
        jobs=jobs,
        nimcaches=nimcaches,
        pods=pods,
        finalizing=finalizing,
    )


def _job(raw: Mapping[str, Any]) -> Job:
    if "raw" not in raw:
        # `raw` validated with the rest (a copy of the object) costs less than model_copy.
        return _validate(Job, {**raw, "raw": raw}, "children.Job")
    job = _validate(Job, raw, "children.Job")  # its own `raw` key is checked, then replaced
    return job.model_copy(update={"raw": dict(raw)})
