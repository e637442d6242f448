"""Typed, frozen views of the parts of a Metacontroller v2 sync request that the hook reads.

Only the fields we read are modelled (never whole Pods, Jobs or `managedFields`), with wire
names as aliases and `extra="ignore"`, so parsing stays fast and the models document exactly
what the decision depends on. Nothing here mutates its input.

Two kinds of failure are kept apart:
- `RequestError`: the request itself is malformed (not a Metacontroller request) → HTTP 400.
- `SpecError`: the request is fine but the NIMBuild's `spec` is not → state Failed, InvalidSpec.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from itertools import chain, repeat
from typing import Annotated, Any, Literal, TypeVar, overload

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import CoreSchema, core_schema

from hooks import vocabulary as v

_M = TypeVar("_M", bound=BaseModel)

# --- errors -----------------------------------------------------------------------------------


class RequestError(ValueError):
    """The request is not a well-formed Metacontroller hook request (answered with 400)."""


class SpecError(ValueError):
    """The NIMBuild spec cannot be used; `fields` names every offending `spec.*` path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def describe_errors(error: ValidationError, prefix: str) -> list[str]:
    """Turn pydantic errors into `spec.image.repository: Field required` style lines."""
    lines = []
    for item in error.errors(include_url=False, include_context=False):
        path = ".".join([prefix, *(str(part) for part in item["loc"])])
        lines.append(f"{path}: {item['msg']}")
    return lines


# --- field checks -----------------------------------------------------------------------------

_QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _quantity(value: str | int | float) -> str:
    """Quantities are int-or-string on the wire; the Job gets the string form."""
    if isinstance(value, bool):
        raise ValueError("must be a quantity such as '1' or '16Gi'")
    text = str(value)
    if not _QUANTITY.fullmatch(text):
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    return text


_SUFFIX: dict[str, Decimal | int] = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip


def quantity_value(text: str) -> Decimal:
    """The amount a (pattern-checked) Kubernetes quantity stands for, to compare two."""
    match = re.fullmatch(r"([+-]?[0-9.]+)(.*)", text)
    assert match is not None
    number, suffix = Decimal(match.group(1)), match.group(2)
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * _SUFFIX[suffix]


def _check_qualified_name(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        raise ValueError(f"key {key!r} has an invalid prefix")
    if len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        raise ValueError(f"key {key!r} is not a valid label or annotation key")


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        _check_qualified_name(key)
        if text and (len(text) > 63 or not _LABEL_NAME.fullmatch(text)):
            raise ValueError(f"label value {text!r} (key {key!r}) is not a valid label value")
    return value


def _node_selector(value: dict[str, str]) -> dict[str, str]:
    return _labels(value)


def _model_name(value: str) -> str:
    """It names a folder (`local_cache/<model name>/`) on the shared volume."""
    if value in (".", "..") or "/" in value or "\0" in value:
        raise ValueError(f"{value!r} must be a plain folder name (no '/', not '.' or '..')")
    return value


def _annotations(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        _check_qualified_name(key)
    return value


Quantity = Annotated[StrictStr | StrictInt | float, AfterValidator(_quantity)]
Labels = Annotated[dict[StrictStr, StrictStr], AfterValidator(_labels)]
AnnotationMap = Annotated[dict[StrictStr, StrictStr], AfterValidator(_annotations)]
NonEmpty = Annotated[StrictStr, Field(min_length=1)]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class _StrictWire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, strict=True)


# --- NIMBuild spec ----------------------------------------------------------------------------


class NIMCacheReference(_StrictWire):
    name: NonEmpty
    profile: StrictStr = ""


class Image(_StrictWire):
    repository: NonEmpty
    tag: NonEmpty
    pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(None, alias="pullPolicy")
    pull_secrets: list[NonEmpty] = Field(default_factory=list, alias="pullSecrets")

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


class Resources(_StrictWire):
    limits: dict[StrictStr, Quantity] = Field(default_factory=dict)
    requests: dict[StrictStr, Quantity] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for name, request in self.requests.items():
            limit = self.limits.get(name)
            if limit is not None and quantity_value(str(request)) > quantity_value(str(limit)):
                raise ValueError(f"requests[{name!r}]={request} is above limits[{name!r}]={limit}")
        return self


class Toleration(_StrictWire):
    key: StrictStr | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: StrictStr | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: StrictInt | None = Field(None, alias="tolerationSeconds")

    @model_validator(mode="after")
    def _as_kubernetes_validates(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("value must be empty when operator is 'Exists'")
        if not self.key and self.operator != "Exists":
            raise ValueError("operator must be 'Exists' when key is empty")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("effect must be 'NoExecute' when tolerationSeconds is set")
        return self


class _KeyRef(_StrictWire):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    name: StrictStr | None = None
    key: NonEmpty
    optional: bool | None = None


class _FieldRef(_StrictWire):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    field_path: NonEmpty = Field(alias="fieldPath")
    api_version: StrictStr | None = Field(None, alias="apiVersion")


class _ResourceFieldRef(_StrictWire):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    resource: NonEmpty
    container_name: StrictStr | None = Field(None, alias="containerName")
    divisor: Quantity | None = None


class _FileKeyRef(_StrictWire):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    volume_name: NonEmpty = Field(alias="volumeName")
    path: NonEmpty
    key: NonEmpty
    optional: bool | None = None


class EnvVarSource(_StrictWire):
    """`valueFrom`: exactly one source, shaped as Kubernetes accepts it."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    secret_key_ref: _KeyRef | None = Field(None, alias="secretKeyRef")
    config_map_key_ref: _KeyRef | None = Field(None, alias="configMapKeyRef")
    field_ref: _FieldRef | None = Field(None, alias="fieldRef")
    resource_field_ref: _ResourceFieldRef | None = Field(None, alias="resourceFieldRef")
    file_key_ref: _FileKeyRef | None = Field(None, alias="fileKeyRef")

    @model_validator(mode="after")
    def _exactly_one(self) -> EnvVarSource:
        chosen = [name for name, value in self if value is not None]
        if len(chosen) != 1:
            raise ValueError(
                "must set exactly one of secretKeyRef, configMapKeyRef, fieldRef, "
                "resourceFieldRef, fileKeyRef"
            )
        return self


class EnvVar(_StrictWire):
    name: NonEmpty
    value: StrictStr | None = None
    value_from: EnvVarSource | None = Field(None, alias="valueFrom")

    @model_validator(mode="after")
    def _one_kind_of_value(self) -> EnvVar:
        if self.value_from is not None and self.value is not None:
            raise ValueError("value and valueFrom cannot both be set")
        return self

    def wire(self) -> dict[str, Any]:
        """The entry as it goes into a container's `env` (unset fields absent)."""
        entry: dict[str, Any] = {"name": self.name}
        if self.value is not None:
            entry["value"] = self.value
        if self.value_from is not None:
            entry["valueFrom"] = self.value_from.model_dump(by_alias=True, exclude_none=True)
        return entry


class TrtllmLimits(_StrictWire):
    max_batch_size: Annotated[StrictInt, Field(ge=1)] = Field(8, alias="maxBatchSize")
    max_seq_len: Annotated[StrictInt, Field(ge=1)] = Field(4096, alias="maxSeqLen")
    max_num_tokens: Annotated[StrictInt, Field(ge=1)] = Field(8192, alias="maxNumTokens")


class BuildSettings(_StrictWire):
    """`spec.build`, our optional addition; unset fields fall back to the hook's settings."""

    backend: Literal["nim", "trtllm"] = v.BACKEND_NIM
    backoff_limit: Annotated[StrictInt, Field(ge=0, le=10)] | None = Field(
        None, alias="backoffLimit"
    )
    active_deadline_seconds: Annotated[StrictInt, Field(ge=60)] | None = Field(
        None, alias="activeDeadlineSeconds"
    )
    trtllm: TrtllmLimits = Field(default_factory=TrtllmLimits)
    # Read by the NIMCache decorator (hooks/publish.py), not by the build: false keeps the
    # built profile out of NIMCache.status.profiles.
    publish_profile: bool = Field(True, alias="publishProfile")


class NIMBuildSpec(_StrictWire):
    nim_cache: NIMCacheReference = Field(alias="nimCache")
    image: Image
    model_name: Annotated[StrictStr, AfterValidator(_model_name)] = Field("", alias="modelName")
    resources: Resources = Field(default_factory=Resources)
    tolerations: list[Toleration] = Field(default_factory=list)
    node_selector: Annotated[dict[StrictStr, StrictStr], AfterValidator(_node_selector)] = Field(
        default_factory=dict, alias="nodeSelector"
    )
    env: list[EnvVar] = Field(default_factory=list)
    labels: Labels = Field(default_factory=dict)
    annotations: AnnotationMap = Field(default_factory=dict)
    build: BuildSettings = Field(default_factory=BuildSettings)


def parse_spec(raw: object) -> NIMBuildSpec:
    """`parent.spec` → NIMBuildSpec, or SpecError naming every offending field."""
    if not isinstance(raw, Mapping):
        raise SpecError(["spec: must be an object"])
    try:
        return NIMBuildSpec.model_validate(raw)
    except ValidationError as error:
        raise SpecError(describe_errors(error, "spec")) from None


# --- observed status (our own earlier output) -------------------------------------------------


class NIMProfile(_Wire):
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


class Condition(_StrictWire):
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


class ObservedStatus(_Wire):
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


# --- parent -----------------------------------------------------------------------------------


class ObjectMeta(_Wire):
    name: str
    namespace: str = "default"
    uid: str = ""
    generation: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: str = Field("", alias="creationTimestamp")


class _NameMeta(_Wire):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: str = Field("", alias="creationTimestamp")


# --- NIMCache (related) -----------------------------------------------------------------------


class _NGCSource(_Wire):
    auth_secret: str = Field("", alias="authSecret")


class _HFSource(_Wire):
    auth_secret: str = Field("", alias="authSecret")


class _Source(_Wire):
    ngc: _NGCSource | None = None
    hf: _HFSource | None = None
    data_store: _HFSource | None = Field(None, alias="dataStore")


class _PVC(_Wire):
    name: str = ""
    sub_path: str = Field("", alias="subPath")


class _Storage(_Wire):
    pvc: _PVC = Field(default_factory=_PVC)


class _NIMCacheSpec(_Wire):
    source: _Source = Field(default_factory=_Source)
    storage: _Storage = Field(default_factory=_Storage)
    user_id: int | None = Field(None, alias="userID")
    group_id: int | None = Field(None, alias="groupID")
    runtime_class_name: str = Field("", alias="runtimeClassName")


_NO_CONFIG: dict[str, str] = {}


def _plain_profiles(items: list[Any]) -> bool:
    """True only when every entry is one NIMProfile would accept as is: an object whose name,
    model and release are strings when present and whose config is an object of strings.
    Checked with C-level loops (map, join): a fraction of a µs a profile, not a model each."""
    if set(map(type, items)) - {dict}:
        return False
    join = "".join
    try:
        for key in ("name", "model", "release"):
            join(map(dict.get, items, repeat(key), repeat("")))
        configs = list(map(dict.get, items, repeat("config"), repeat(_NO_CONFIG)))
        if set(map(type, configs)) - {dict}:
            return False
        # Values only: the keys of a decoded JSON object are strings.
        join(chain.from_iterable(map(dict.values, configs)))
    except TypeError:
        return False
    return True


class Profiles(Sequence[NIMProfile]):
    """`status.profiles` of a NIMCache: checked whole as a tuple of NIMProfile would be (a
    malformed entry is the same 400 with the same message), but modelled only when read.

    A NIMCache can list a thousand profiles and a sync reads at most the buildable ones or one
    by name; modelling each was 2.5 µs a profile, most of a sync at 1,000 profiles (issue 11).
    """

    __slots__ = ("_parsed", "_raw")

    def __init__(
        self,
        raw: list[dict[str, Any]] | None = None,
        parsed: tuple[NIMProfile, ...] | None = None,
    ) -> None:
        self._raw = raw if raw is not None else []
        self._parsed = parsed

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        whole = handler.generate_schema(tuple[NIMProfile, ...])
        return core_schema.no_info_wrap_validator_function(cls._validate, whole)

    @classmethod
    def _validate(cls, value: Any, whole: Callable[[Any], tuple[NIMProfile, ...]]) -> Profiles:
        if isinstance(value, Profiles):
            return value
        if type(value) is list and _plain_profiles(value):
            return cls(raw=value)
        # Anything else (a tuple, a bad entry) takes the full path: same result, same errors.
        return cls(parsed=whole(value))

    def __iter__(self) -> Iterator[NIMProfile]:
        if self._parsed is None:
            self._parsed = tuple(NIMProfile.model_validate(item) for item in self._raw)
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
        configs = map(dict.get, self._raw, repeat("config"), repeat(_NO_CONFIG))
        flags = list(map(dict.get, configs, repeat("trtllm_buildable")))
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
        names = list(map(dict.get, self._raw, repeat("name"), repeat("")))
        return NIMProfile.model_validate(self._raw[names.index(name)]) if name in names else None


class _NIMCacheStatus(_Wire):
    state: str = ""
    type: str = ""  # `native` or `model-free`: no profiles are listed (hooks.unbuildable)
    profiles: Profiles = Field(default_factory=Profiles)


class NIMCache(_Wire):
    metadata: _NameMeta
    spec: _NIMCacheSpec = Field(default_factory=_NIMCacheSpec)
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


class Terminated(_Wire):
    exit_code: int | None = Field(None, alias="exitCode")
    reason: str = ""
    message: str = ""


class Waiting(_Wire):
    reason: str = ""
    message: str = ""


class ContainerState(_Wire):
    waiting: Waiting | None = None
    running: dict[str, Any] | None = None
    terminated: Terminated | None = None


class ContainerStatus(_Wire):
    name: str
    restart_count: int = Field(0, alias="restartCount")
    state: ContainerState = Field(default_factory=ContainerState)
    last_state: ContainerState = Field(default_factory=ContainerState, alias="lastState")


class StatusCondition(_Wire):
    """A condition in a Pod's or Job's `status.conditions[]`."""

    type: str
    status: str = "Unknown"
    reason: str = ""
    message: str = ""


class _OwnerRef(_Wire):
    uid: str = ""


class _PodMeta(_NameMeta):
    owner_references: tuple[_OwnerRef, ...] = Field((), alias="ownerReferences")


class _PodStatus(_Wire):
    phase: str = ""
    reason: str = ""
    message: str = ""
    conditions: tuple[StatusCondition, ...] = ()
    container_statuses: tuple[ContainerStatus, ...] = Field((), alias="containerStatuses")
    init_container_statuses: tuple[ContainerStatus, ...] = Field((), alias="initContainerStatuses")


class Pod(_Wire):
    metadata: _PodMeta
    status: _PodStatus = Field(default_factory=_PodStatus)

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


class _JobStatus(_Wire):
    conditions: tuple[StatusCondition, ...] = ()


class Job(_Wire):
    """An observed build Job; `raw` is kept to hand the Job back unchanged (see decide)."""

    metadata: _NameMeta
    status: _JobStatus = Field(default_factory=_JobStatus)
    raw: dict[str, Any] = Field(default_factory=dict, exclude=True)

    def condition_true(self, kind: str) -> StatusCondition | None:
        for item in self.status.conditions:
            if item.type == kind and item.status == "True":
                return item
        return None

    @property
    def complete(self) -> bool:
        return self.condition_true("Complete") is not None

    @property
    def failed(self) -> StatusCondition | None:
        return self.condition_true("Failed")

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


# --- the request ------------------------------------------------------------------------------


class Parent(_Wire):
    metadata: ObjectMeta
    spec: Any = None
    status: Any = None


class SyncRequest(BaseModel):
    """What `decide` needs, decoded; the spec is parsed later so its errors become status."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    parent: Parent
    status: ObservedStatus
    jobs: tuple[Job, ...]
    nimcaches: tuple[NIMCache, ...]
    pods: tuple[Pod, ...]
    finalizing: bool = False


def object_map(container: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    """The objects of `children[key]` / `related[key]`; a missing map counts as empty."""
    group = container.get(key)
    if group is None:
        return []
    if not isinstance(group, Mapping):
        raise RequestError(f"{where}[{key!r}] must be an object keyed by namespace/name")
    objects = []
    for name in sorted(group):
        item = group[name]
        if not isinstance(item, Mapping):
            raise RequestError(f"{where}[{key!r}][{name!r}] must be an object")
        if "metadata" not in item:
            # The v2 key is `namespace/name` (or `name`): enough to know the object by.
            namespace, _, short = name.rpartition("/")
            item = {**item, "metadata": {"name": short, "namespace": namespace}}
        objects.append(item)
    return objects


def section(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    section = body.get(key)
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise RequestError(f"{key} must be an object")
    return section


def _validate(model: type[_M], raw: Mapping[str, Any], where: str) -> _M:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise RequestError("; ".join(describe_errors(error, where))) from None


def parse_parent(body: Mapping[str, Any]) -> Parent:
    """`parent` of a sync or customize request; 400 when it is not an object with metadata."""
    raw = body.get("parent")
    if not isinstance(raw, Mapping):
        raise RequestError("request has no 'parent' object")
    return _validate(Parent, raw, "parent")


def _lenient(model: type[_M], raw: object) -> _M | None:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def parse_status(raw: object) -> ObservedStatus:
    """The parent's current status, entry by entry: a part we cannot read is left out, the
    rest (a terminal state, transition times) still counts."""
    if not isinstance(raw, Mapping):
        return ObservedStatus()
    state = raw.get("state")
    generation = raw.get("observedGeneration")
    found = raw.get("conditions")
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
    job = _validate(Job, raw, "children.Job")
    return job.model_copy(update={"raw": dict(raw)})
