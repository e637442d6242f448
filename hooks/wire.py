"""The three ways the hook reads a wire object, as pydantic base classes.

- `Wire`: objects the API server wrote (NIMCache, Pod, Job, our own earlier status): frozen,
  unknown fields ignored, lax types (the server already validated them).
- `StrictWire`: the user's NIMBuild spec, which only the CRD schema checked: strict types.
- `ClosedWire`: a spec object whose unknown fields Kubernetes itself rejects (`valueFrom`
  sources), so a typo fails here and not when the Job is created.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

# A JSON object as `isinstance` should test it: `dict` first, which answers for every decoded
# object in C, so the `Mapping` ABC's Python-level check runs only for other mappings.
JSON_OBJECT = (dict, Mapping)


class Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class StrictWire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, strict=True)


class ClosedWire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, strict=True)
