"""The NIMBuild `spec` as the hook reads it: frozen, strictly typed models of every field the
build depends on, checked the way the API server would check them in the rendered Job.

The CRD schema is the first check; this is the second, for what a schema cannot say (quantity
syntax, requests within limits, label keys, exactly one `valueFrom` source). A spec that fails
here is not a bad request: `parse_spec` raises `SpecError` naming every offending field, and
the decision table turns that into state Failed, reason InvalidSpec.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictInt, StrictStr, ValidationError, model_validator

from hooks import vocabulary as v
from hooks.errors import SpecError, describe_errors
from hooks.names import check_annotations, check_labels
from hooks.quantity import quantity_text, quantity_value
from hooks.wire import JSON_OBJECT, ClosedWire, StrictWire


def _labels(value: dict[str, str]) -> dict[str, str]:
    check_labels(value)
    return value


def _annotations(value: dict[str, str]) -> dict[str, str]:
    check_annotations(value)
    return value


def _model_name(value: str) -> str:
    """It names a folder (`local_cache/<model name>/`) on the shared volume."""
    if value in (".", "..") or "/" in value or "\0" in value:
        raise ValueError(f"{value!r} must be a plain folder name (no '/', not '.' or '..')")
    return value


Quantity = Annotated[StrictStr | StrictInt | float, AfterValidator(quantity_text)]
Labels = Annotated[dict[StrictStr, StrictStr], AfterValidator(_labels)]
AnnotationMap = Annotated[dict[StrictStr, StrictStr], AfterValidator(_annotations)]
NonEmpty = Annotated[StrictStr, Field(min_length=1)]


class NIMCacheReference(StrictWire):
    name: NonEmpty
    profile: StrictStr = ""


class Image(StrictWire):
    repository: NonEmpty
    tag: NonEmpty
    pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(None, alias="pullPolicy")
    pull_secrets: list[NonEmpty] = Field(default_factory=list, alias="pullSecrets")

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


class Resources(StrictWire):
    limits: dict[StrictStr, Quantity] = Field(default_factory=dict)
    requests: dict[StrictStr, Quantity] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for name, request in self.requests.items():
            limit = self.limits.get(name)
            if limit is not None and quantity_value(str(request)) > quantity_value(str(limit)):
                raise ValueError(f"requests[{name!r}]={request} is above limits[{name!r}]={limit}")
        return self


class Toleration(StrictWire):
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

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class _KeyRef(ClosedWire):
    name: StrictStr | None = None
    key: NonEmpty
    optional: bool | None = None


class _FieldRef(ClosedWire):
    field_path: NonEmpty = Field(alias="fieldPath")
    api_version: StrictStr | None = Field(None, alias="apiVersion")


class _ResourceFieldRef(ClosedWire):
    resource: NonEmpty
    container_name: StrictStr | None = Field(None, alias="containerName")
    divisor: Quantity | None = None


class _FileKeyRef(ClosedWire):
    volume_name: NonEmpty = Field(alias="volumeName")
    path: NonEmpty
    key: NonEmpty
    optional: bool | None = None


class EnvVarSource(ClosedWire):
    """`valueFrom`: exactly one source, shaped as Kubernetes accepts it."""

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


class EnvVar(StrictWire):
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


class TrtllmLimits(StrictWire):
    max_batch_size: Annotated[StrictInt, Field(ge=1)] = Field(8, alias="maxBatchSize")
    max_seq_len: Annotated[StrictInt, Field(ge=1)] = Field(4096, alias="maxSeqLen")
    max_num_tokens: Annotated[StrictInt, Field(ge=1)] = Field(8192, alias="maxNumTokens")


class BuildSettings(StrictWire):
    """`spec.build`, our optional addition; unset fields fall back to the hook's settings."""

    backend: Literal["nim", "trtllm"] = v.BACKEND_NIM
    backoff_limit: Annotated[StrictInt, Field(ge=0, le=10)] | None = Field(
        None, alias="backoffLimit"
    )
    active_deadline_seconds: Annotated[StrictInt, Field(ge=60)] | None = Field(
        None, alias="activeDeadlineSeconds"
    )
    trtllm: TrtllmLimits = TrtllmLimits()
    # Read by the NIMCache decorator (hooks/publish.py), not by the build: false keeps the
    # built profile out of NIMCache.status.profiles.
    publish_profile: bool = Field(True, alias="publishProfile")


# Defaults are shared instances, never changed: hashable ones as plain defaults (pydantic
# copies an unhashable default deeply, for each spec), Resources (dicts) through a factory.
_NO_RESOURCES = Resources()


class NIMBuildSpec(StrictWire):
    nim_cache: NIMCacheReference = Field(alias="nimCache")
    image: Image
    model_name: Annotated[StrictStr, AfterValidator(_model_name)] = Field("", alias="modelName")
    resources: Resources = Field(default_factory=lambda: _NO_RESOURCES)
    tolerations: list[Toleration] = Field(default_factory=list)
    node_selector: Labels = Field(default_factory=dict, alias="nodeSelector")
    env: list[EnvVar] = Field(default_factory=list)
    labels: Labels = Field(default_factory=dict)
    annotations: AnnotationMap = Field(default_factory=dict)
    build: BuildSettings = BuildSettings()


def parse_spec(raw: object) -> NIMBuildSpec:
    """`parent.spec` → NIMBuildSpec, or SpecError naming every offending field."""
    if not isinstance(raw, JSON_OBJECT):
        raise SpecError(["spec: must be an object"])
    try:
        return NIMBuildSpec.model_validate(raw)
    except ValidationError as error:
        raise SpecError(describe_errors(error, "spec")) from None
