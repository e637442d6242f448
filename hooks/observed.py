"""What the hook observes, as frozen views of the fields it reads: the parent's own earlier
status, the NIMCache (related), the build pods (related) and the build Job (child).

Only the fields a decision reads are modelled (never whole Pods, Jobs or `managedFields`), with
wire names as aliases and unknown fields ignored, so parsing stays fast and each model
documents what the decision depends on. Nothing here mutates its input. A nested model's
default is one shared instance: frozen and hashable, pydantic neither copies it nor builds it
anew for each object that leaves the field out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain, repeat
from typing import Annotated, Any, Literal, Protocol, TypeVar, overload

from pydantic import BaseModel, Field, GetCoreSchemaHandler, StrictInt, ValidationError
from pydantic_core import CoreSchema, core_schema

from hooks import vocabulary as v
from hooks.timestamps import time_key
from hooks.wire import JSON_OBJECT, StrictWire, Wire

# --- NIM profiles -----------------------------------------------------------------------------


class NIMProfile(Wire):
    """A profile of `NIMCache.status.profiles[]`, or `status.inputProfile`/`outputProfile`."""

    name: str = ""
    model: str = ""
    release: str = ""
    config: dict[str, str] = Field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        """`status.inputProfile` / `outputProfile` shape: empty strings left out."""
        out: dict[str, Any] = {"name": self.name}
        if self.model:
            out["model"] = self.model
        if self.release:
            out["release"] = self.release
        if self.config:
            out["config"] = dict(self.config)
        return out

    @property
    def buildable(self) -> bool:
        return self.config.get("trtllm_buildable") == "true"


# --- the parent's status (our own earlier output) ---------------------------------------------


class Condition(StrictWire):
    """A condition of our own earlier status; all five fields are required by the CRD."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str
    last_transition_time: str = Field(alias="lastTransitionTime")
    observed_generation: Annotated[int, Field(ge=0)] | None = Field(
        None, alias="observedGeneration"
    )

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class ObservedStatus(Wire):
    state: str = ""
    observed_generation: int | None = Field(None, alias="observedGeneration")
    input_profile: NIMProfile | None = Field(None, alias="inputProfile")
    output_profile: NIMProfile | None = Field(None, alias="outputProfile")
    conditions: tuple[Condition, ...] = ()

    def condition(self, kind: str) -> Condition | None:
        for item in self.conditions:
            if item.type == kind:
                return item
        return None

    def wire(self) -> dict[str, Any]:
        """The status as read, less any part that could not be read."""
        out: dict[str, Any] = {"state": self.state}
        if self.observed_generation is not None:
            out["observedGeneration"] = self.observed_generation
        if self.input_profile is not None:
            out["inputProfile"] = self.input_profile.wire()
        if self.output_profile is not None:
            out["outputProfile"] = self.output_profile.wire()
        if self.conditions:
            out["conditions"] = [c.wire() for c in self.conditions]
        return out


_M = TypeVar("_M", bound=BaseModel)


def _lenient(model: type[_M], raw: object) -> _M | None:
    try:
        parsed: _M = model.__pydantic_validator__.validate_python(raw)
    except ValidationError:
        return None
    return parsed


# Field names that `populate_by_name` would read where `parse_status` reads only the wire name.
_STATUS_FIELD_NAMES = frozenset({"observed_generation", "input_profile", "output_profile"})


def parse_status(raw: object) -> ObservedStatus:
    """The parent's current status, entry by entry: a part we cannot read is left out, the
    rest (a terminal state, transition times) still counts."""
    if not isinstance(raw, JSON_OBJECT):
        return ObservedStatus()
    state = raw.get("state")
    generation = raw.get("observedGeneration")
    found = raw.get("conditions")
    if (
        (type(state) is str or "state" not in raw)
        and (generation is None or (type(generation) is int and 0 <= generation < 2**63))
        and (type(found) is list or "conditions" not in raw)
        and _STATUS_FIELD_NAMES.isdisjoint(raw)
    ):
        # Plainly well-formed (our own earlier output, almost always): the whole status in one
        # validation reads it as entry by entry would; anything it refuses takes that path.
        try:
            status: ObservedStatus = ObservedStatus.__pydantic_validator__.validate_python(raw)
        except ValidationError:
            pass
        else:
            return status
    return _status_by_entry(raw, state, generation, found)


def _status_by_entry(
    raw: Mapping[str, Any], state: object, generation: object, found: object
) -> ObservedStatus:
    conditions = [_lenient(Condition, c) for c in found] if isinstance(found, list) else []
    return ObservedStatus(
        state=state if isinstance(state, str) else "",
        observedGeneration=generation
        if type(generation) is int and 0 <= generation < 2**63
        else None,
        inputProfile=_lenient(NIMProfile, raw.get("inputProfile")),
        outputProfile=_lenient(NIMProfile, raw.get("outputProfile")),
        conditions=tuple(c for c in conditions if c is not None),
    )


# --- metadata ---------------------------------------------------------------------------------


class ObjectMeta(Wire):
    """The parent's metadata: the name, namespace and uid every decision and log line uses."""

    name: str
    namespace: str = "default"
    uid: str = ""
    # Strict: the API server writes an integer; `true` or `1.0` is no Kubernetes object (400),
    # and copying it into status.observedGeneration would make a status the CRD refuses.
    generation: StrictInt = 0
    labels: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: str = Field("", alias="creationTimestamp")


class NameMeta(Wire):
    """Metadata of a related object or child, which may be known only by its v2 key."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: str = Field("", alias="creationTimestamp")


class _Named(Protocol):
    @property
    def metadata(self) -> NameMeta: ...


_N = TypeVar("_N", bound=_Named)


def newest(objects: Iterable[_N]) -> _N | None:
    """The object that speaks for several: the newest by `creationTimestamp` (as a time,
    `hooks.timestamps`), then name."""
    return max(
        objects,
        key=lambda o: (time_key(o.metadata.creation_timestamp), o.metadata.name),
        default=None,
    )


# --- NIMCache (related) -----------------------------------------------------------------------


class _AuthSource(Wire):
    """`spec.source.ngc`, `.hf` or `.dataStore`: all the build reads is the auth secret."""

    auth_secret: str = Field("", alias="authSecret")


class _Source(Wire):
    ngc: _AuthSource | None = None
    hf: _AuthSource | None = None
    data_store: _AuthSource | None = Field(None, alias="dataStore")


class _PVC(Wire):
    name: str = ""
    sub_path: str = Field("", alias="subPath")


class _Storage(Wire):
    pvc: _PVC = _PVC()


class _NIMCacheSpec(Wire):
    source: _Source = _Source()
    storage: _Storage = _Storage()
    user_id: int | None = Field(None, alias="userID")
    group_id: int | None = Field(None, alias="groupID")
    runtime_class_name: str = Field("", alias="runtimeClassName")


_NO_CONFIG: dict[str, str] = {}
_FIELDS = ("name", "model", "release")
_BUILDABLE_TAG = "trtllm_buildable"


def _keyed_as(sample: dict[str, Any], key: str) -> str:
    """`key` as the decoded document's own string object when `sample` has it, else `key`.

    A JSON decoder makes each key once and reuses it (orjson caches keys, `json` memoizes them),
    so lookups of the list's entries by that object match by identity, without comparing
    strings: about 70 instructions fewer per lookup. Only the speed depends on it."""
    return {k: k for k in sample}.get(key, key)


def _plain_profiles(items: list[Any]) -> tuple[tuple[str, ...], list[dict[str, Any]]] | None:
    """When every entry is one NIMProfile accepts as is (an object whose name, model and release
    are strings when present and whose config is an object of strings): the entries' strings,
    their names first, and their configs. Else None.

    C-level loops only (map, chain, list.count, one tuple): a fraction of a µs a profile, not a
    model each. Entries and configs must be exact dicts (`type` counted): pydantic reads a
    subclass through its own methods, `dict.get` and `dict.values` would not. The keys of a
    decoded object are strings, so only values are checked: `str.startswith` refuses (TypeError)
    a tuple holding anything but strings and, unlike `str.join`, builds nothing; it stops at the
    first empty string, so a tuple holding one is checked again whole by `str.join`."""
    if list(map(type, items)).count(dict) != len(items):
        return None
    first = items[0] if items else _NO_CONFIG
    configs = list(map(dict.get, items, repeat(_keyed_as(first, "config")), repeat(_NO_CONFIG)))
    if list(map(type, configs)).count(dict) != len(configs):
        return None
    strings: list[Any] = []
    for key in _FIELDS:
        strings.extend(map(dict.get, items, repeat(_keyed_as(first, key)), repeat("")))
    strings.extend(chain.from_iterable(map(dict.values, configs)))
    checked = tuple(strings)
    try:
        if "".startswith(checked):
            "".join(checked)
    except TypeError:
        return None
    return checked, configs


class Profiles(Sequence[NIMProfile]):
    """`status.profiles` of a NIMCache: checked whole as a tuple of NIMProfile would be (a
    malformed entry is the same 400 with the same message), but modelled only when read.

    A NIMCache can list a thousand profiles and a sync reads at most the buildable ones or one
    by name; modelling each was 2.5 µs a profile, most of a sync at 1,000 profiles (issue 11).
    The check leaves the names and configs behind, so `buildable()` and `named()` do not walk
    the entries again.
    """

    __slots__ = ("_configs", "_parsed", "_raw", "_strings")

    def __init__(self, parsed: tuple[NIMProfile, ...] = ()) -> None:
        self._parsed: tuple[NIMProfile, ...] | None = parsed
        self._raw: list[dict[str, Any]] = []
        self._strings: tuple[str, ...] = ()  # names, in order, then other strings (unmodelled)
        self._configs: list[dict[str, Any]] = []

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        whole = handler.generate_schema(tuple[NIMProfile, ...])
        return core_schema.no_info_wrap_validator_function(cls._validate, whole)

    @classmethod
    def _validate(cls, value: Any, whole: Callable[[Any], tuple[NIMProfile, ...]]) -> Profiles:
        if isinstance(value, Profiles):
            return value
        checked = _plain_profiles(value) if type(value) is list else None
        if checked is None:
            # Anything else (a tuple, a bad entry) takes the full path: same result, same errors.
            return cls(whole(value))
        lazy = cls()
        lazy._parsed, lazy._raw, (lazy._strings, lazy._configs) = None, value, checked
        return lazy

    def __iter__(self) -> Iterator[NIMProfile]:
        if self._parsed is None:
            self._parsed = tuple(map(NIMProfile.model_validate, self._raw))
        return iter(self._parsed)

    def __len__(self) -> int:
        return len(self._parsed) if self._parsed is not None else len(self._raw)

    @overload
    def __getitem__(self, index: int) -> NIMProfile: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[NIMProfile, ...]: ...
    def __getitem__(self, index: int | slice) -> NIMProfile | tuple[NIMProfile, ...]:
        return tuple(self)[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Profiles) and tuple(self) == tuple(other)

    def __hash__(self) -> int:  # as the tuple of models it stands for
        return hash(tuple(self))

    def buildable(self) -> list[NIMProfile]:
        """Profiles whose config has `trtllm_buildable: "true"`, in order."""
        if self._parsed is not None:
            return [p for p in self._parsed if p.buildable]
        tag = _keyed_as(self._configs[0], _BUILDABLE_TAG) if self._configs else _BUILDABLE_TAG
        flags = list(map(dict.get, self._configs, repeat(tag)))
        found, at = [], 0
        for _ in range(flags.count("true")):
            at = flags.index("true", at)
            found.append(NIMProfile.model_validate(self._raw[at]))
            at += 1
        return found

    def named(self, name: str) -> NIMProfile | None:
        """The first profile called `name`."""
        if self._parsed is not None:
            return next((p for p in self._parsed if p.name == name), None)
        try:
            at = self._strings.index(name, 0, len(self._raw))
        except ValueError:
            return None
        return NIMProfile.model_validate(self._raw[at])


class _NIMCacheStatus(Wire):
    state: str = ""
    type: str = ""  # `native` or `model-free`: no profiles are listed (hooks.unbuildable)
    profiles: Profiles = Field(default_factory=Profiles)


class NIMCache(Wire):
    metadata: NameMeta
    spec: _NIMCacheSpec = _NIMCacheSpec()
    status: _NIMCacheStatus = Field(default_factory=_NIMCacheStatus)

    @property
    def pvc_name(self) -> str:
        """Upstream rule: `spec.storage.pvc.name`, else `<nimcache>-pvc`."""
        return self.spec.storage.pvc.name or f"{self.metadata.name}-pvc"

    @property
    def user_id(self) -> int:
        return 1000 if self.spec.user_id is None else self.spec.user_id

    @property
    def group_id(self) -> int:
        return 2000 if self.spec.group_id is None else self.spec.group_id

    def profile(self, name: str) -> NIMProfile | None:
        return self.status.profiles.named(name)


# --- Pods and Jobs (related / children) -------------------------------------------------------


class Terminated(Wire):
    exit_code: int | None = Field(None, alias="exitCode")
    reason: str = ""
    message: str = ""


class Waiting(Wire):
    reason: str = ""
    message: str = ""


class ContainerState(Wire):
    waiting: Waiting | None = None
    running: dict[str, Any] | None = None
    terminated: Terminated | None = None


class ContainerStatus(Wire):
    name: str
    restart_count: int = Field(0, alias="restartCount")
    state: ContainerState = ContainerState()
    last_state: ContainerState = Field(ContainerState(), alias="lastState")


class StatusCondition(Wire):
    """A condition in a Pod's or Job's `status.conditions[]`."""

    type: str
    status: str = "Unknown"
    reason: str = ""
    message: str = ""


class _OwnerRef(Wire):
    uid: str = ""


class _PodMeta(NameMeta):
    owner_references: tuple[_OwnerRef, ...] = Field((), alias="ownerReferences")


class _PodStatus(Wire):
    phase: str = ""
    reason: str = ""
    message: str = ""
    conditions: tuple[StatusCondition, ...] = ()
    container_statuses: tuple[ContainerStatus, ...] = Field((), alias="containerStatuses")
    init_container_statuses: tuple[ContainerStatus, ...] = Field((), alias="initContainerStatuses")


class Pod(Wire):
    metadata: _PodMeta
    status: _PodStatus = _PodStatus()

    def container(self, name: str) -> ContainerStatus | None:
        for item in (*self.status.init_container_statuses, *self.status.container_statuses):
            if item.name == name:
                return item
        return None

    def owned_by(self, job_uid: str) -> bool:
        """Pods of an older Job (same label, other owner) must not speak for this one."""
        if not job_uid:
            return True
        owners = {ref.uid for ref in self.metadata.owner_references}
        labelled = {
            self.metadata.labels.get("batch.kubernetes.io/controller-uid"),
            self.metadata.labels.get("controller-uid"),
        } - {None}
        if not owners and not labelled:
            return True
        return job_uid in owners or job_uid in labelled


class _JobStatus(Wire):
    conditions: tuple[StatusCondition, ...] = ()


class _JobMeta(NameMeta):
    # Required: the Job is handed back by name (a child without one would be a failed sync).
    # When the whole `metadata` is missing, the v2 key names it (hooks.request).
    name: str


class Job(Wire):
    """An observed build Job; `raw` is kept to hand the Job back unchanged (see decide)."""

    metadata: _JobMeta
    status: _JobStatus = _JobStatus()
    raw: dict[str, Any] = Field(default_factory=dict, exclude=True)

    def condition_true(self, kind: str) -> StatusCondition | None:
        for item in self.status.conditions:
            if item.type == kind and item.status == "True":
                return item
        return None

    @property
    def complete(self) -> bool:
        """`Complete` is True (`SuccessCriteriaMet` alone is not enough)."""
        return self.condition_true("Complete") is not None

    @property
    def failure(self) -> StatusCondition | None:
        """The True `Failed` condition (its reason and message), if the Job has failed."""
        return self.condition_true("Failed")

    @property
    def finished(self) -> bool:
        """Complete or failed: the builder has exited and the Job holds no GPUs any more."""
        return self.complete or self.failure is not None

    def builder_env(self, name: str) -> str | None:
        """A plain env value of the engine-builder container, e.g. NIMBUILD_INPUT_PROFILE."""
        spec = self.raw.get("spec")
        template = spec.get("template") if isinstance(spec, Mapping) else None
        pod_spec = template.get("spec") if isinstance(template, Mapping) else None
        containers = pod_spec.get("containers") if isinstance(pod_spec, Mapping) else None
        for container in containers if isinstance(containers, list) else ():
            if not isinstance(container, Mapping) or container.get("name") != v.BUILDER_CONTAINER:
                continue
            env = container.get("env")
            for entry in env if isinstance(env, list) else ():
                if isinstance(entry, Mapping) and entry.get("name") == name:
                    value = entry.get("value")
                    return value if isinstance(value, str) else None
        return None
