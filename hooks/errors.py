"""The two ways a sync request can be unusable, kept apart because they are answered apart.

- `RequestError`: the request itself is malformed (not a Metacontroller request) → HTTP 400.
- `SpecError`: the request is fine but the NIMBuild's `spec` is not → state Failed, InvalidSpec.
"""

from __future__ import annotations

from pydantic import ValidationError


class RequestError(ValueError):
    """The request is not a well-formed Metacontroller hook request (answered with 400)."""


class SpecError(ValueError):
    """The NIMBuild spec cannot be used; `problems` names every offending `spec.*` path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def describe_errors(error: ValidationError, prefix: str) -> list[str]:
    """Pydantic errors as `spec.image.repository: Field required` lines (never the input)."""
    lines = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        path = ".".join([prefix, *(str(part) for part in item["loc"])])
        lines.append(f"{path}: {item['msg']}")
    return lines
