"""`status.profiles` of a NIMCache is checked whole but modelled only when read (issue 11).

The lazy path must answer exactly as the eager model did: the same profiles when the list is
well-formed, the same validation errors (so the same 400 and message) when any entry is not.
Each case is compared against an eager reference model, not against written-down answers.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from hooks.observed import NIMCache, NIMProfile, Profiles, _NIMCacheStatus


class EagerStatus(BaseModel):
    """The NIMCache status as modelled before issue 11: every profile a NIMProfile."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)
    state: str = ""
    profiles: tuple[NIMProfile, ...] = ()


def good(name: str, **config: str) -> dict[str, Any]:
    return {"name": name, "model": "m", "release": "1", "config": dict(config)}


WELL_FORMED: dict[str, list[Any]] = {
    "well-formed": [good("a", tp="1"), good("b", trtllm_buildable="true"), good("c")],
    "optional fields missing": [{"name": "a"}, {"config": {"trtllm_buildable": "true"}}, {}],
    "extra fields ignored": [{**good("a"), "extra": [1, 2], "other": None}],
    "two buildable, a name twice": [good("a", trtllm_buildable="true"), good("a"), good("b")],
    "empty": [],
}
CASES: dict[str, list[Any]] = {
    **WELL_FORMED,
    "entry not an object": [good("a"), "b"],
    "entry null": [None],
    "name a number": [good("a"), {**good("b"), "name": 2}],
    "model null": [{**good("a"), "model": None}],
    "release a list": [{**good("a"), "release": ["1"]}],
    "config a list": [{**good("a"), "config": ["tp"]}],
    "config null": [{**good("a"), "config": None}],
    "config value a number": [good("a"), {**good("b"), "config": {"tp": 1}}],
    "config value an object": [{**good("a"), "config": {"tp": {"x": "1"}}}],
    "config value null": [{**good("a"), "config": {"tp": None}}],
    "config value a bool": [{**good("a"), "config": {"trtllm_buildable": True}}],
}


def outcome(model: type[BaseModel], profiles: list[Any]) -> Any:
    try:
        status = model.model_validate({"state": "Ready", "profiles": profiles})
    except ValidationError as error:
        return ("error", error.errors(include_url=False))
    return ("ok", [p.model_dump() for p in status.profiles])  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", CASES)
def test_lazy_profiles_answer_as_the_eager_model(case: str) -> None:
    assert outcome(_NIMCacheStatus, CASES[case]) == outcome(EagerStatus, CASES[case])


@pytest.mark.parametrize("case", WELL_FORMED)
def test_buildable_and_named_match_a_scan_of_every_profile(case: str) -> None:
    eager = EagerStatus.model_validate({"profiles": WELL_FORMED[case]}).profiles
    lazy = _NIMCacheStatus.model_validate({"profiles": WELL_FORMED[case]}).profiles
    assert lazy.buildable() == [p for p in eager if p.buildable]
    for name in ("a", "b", "c", "", "missing"):
        assert lazy.named(name) == next((p for p in eager if p.name == name), None)


def test_a_well_formed_list_is_not_modelled_until_read() -> None:
    cache = NIMCache.model_validate(
        {"metadata": {"name": "c"}, "status": {"profiles": [good("a"), good("b")]}}
    )
    profiles = cache.status.profiles
    assert isinstance(profiles, Profiles)
    assert profiles._parsed is None
    assert len(profiles) == 2
    assert [p.name for p in profiles] == ["a", "b"]
    assert profiles._parsed is not None
    eager = EagerStatus.model_validate({"profiles": [good("a"), good("b")]}).profiles
    assert profiles[1] == eager[1]
