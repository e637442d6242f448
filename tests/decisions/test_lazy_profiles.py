"""`status.profiles` of a NIMCache is checked whole but modelled only when read (issue 11).

The lazy path must answer exactly as the eager model did: the same profiles when the list is
well-formed, the same validation errors (so the same 400 and message) when any entry is not.
Each case is compared against an eager reference model, not against written-down answers:
hand-picked cases first, then generated JSON-shaped lists (hypothesis), also through
`parse_sync_request`, whose 400 message must not depend on which path checked the list.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from builders import nimbuild, nimcache, request
from hypothesis import event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hooks.errors import RequestError, describe_errors
from hooks.observed import NIMCache, NIMProfile, Profiles, _NIMCacheStatus
from hooks.request import parse_sync_request

pytestmark = pytest.mark.slow  # hypothesis properties (tests/conftest.py, layout rules)


class EagerStatus(BaseModel):
    """The NIMCache status as modelled before issue 11: every profile a NIMProfile."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)
    state: str = ""
    profiles: tuple[NIMProfile, ...] = ()


class Overriding(dict[str, Any]):
    """A dict whose own methods answer otherwise: pydantic reads a subclass through them."""

    def __getitem__(self, key: str) -> Any:
        return 5

    def get(self, key: str, default: Any = None) -> Any:
        return 5

    def items(self) -> Any:
        return [(key, 5) for key in self]


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
    "entry a dict subclass": [good("a"), Overriding(good("b"))],
    "config a dict subclass": [{**good("a"), "config": Overriding(tp="1")}],
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


# --- generated lists (hypothesis) --------------------------------------------------------------


class EagerCacheStatus(_NIMCacheStatus):
    profiles: tuple[NIMProfile, ...] = ()  # type: ignore[assignment]


class EagerCache(NIMCache):
    """NIMCache with the eager profiles: the reference for the 400 of `parse_sync_request`."""

    status: EagerCacheStatus = Field(default_factory=EagerCacheStatus)


NAMES = ("a", "b", "", "a b")  # few, so that names repeat and `named` has several to choose
TEXT = st.sampled_from(NAMES) | st.text(max_size=3)  # "" too: str.startswith stops there
SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
)
JSON = st.recursive(
    SCALAR | TEXT,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(TEXT, inner, max_size=2),
    max_leaves=4,
)


def mostly(good: st.SearchStrategy[Any], odds: int) -> st.SearchStrategy[Any]:
    """`good`, and one time in `odds` any JSON value (most lists stay well-formed)."""
    return st.integers(1, odds).flatmap(lambda draw: JSON if draw == 1 else good)


MOSTLY_TEXT = mostly(TEXT, 25)
CONFIG = st.dictionaries(
    st.sampled_from(["trtllm_buildable", "tp", "llm_engine"]) | st.text(max_size=2),
    mostly(st.sampled_from(["true", "false"]) | TEXT, 25),
    max_size=4,
)
ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "name": mostly(st.sampled_from(NAMES), 25),
        "model": MOSTLY_TEXT,
        "release": MOSTLY_TEXT,
        "config": mostly(CONFIG, 15),
        "extra": JSON,  # not modelled: ignored whatever it is
    },
)
PROFILE_LISTS = st.lists(mostly(ENTRY, 25), max_size=6)


def cache_outcome(model: type[NIMCache], raw: dict[str, Any]) -> Any:
    try:
        cache = model.model_validate(raw)
    except ValidationError as error:
        return ("error", describe_errors(error, "related.NIMCache"))
    return ("ok", [p.model_dump() for p in cache.status.profiles])


@settings(max_examples=150)
@given(PROFILE_LISTS, st.booleans())
def test_generated_lists_answer_as_the_eager_model(profiles: list[Any], decoded: bool) -> None:
    """Any JSON-shaped list: the same profiles or the same errors as the eager model, and, when
    well-formed, the same answers from len, iteration, `buildable()` and `named()`."""
    if decoded:  # as the hook sees it: decoded by orjson, keys reused across entries
        profiles = orjson.loads(orjson.dumps(profiles))
    assert outcome(_NIMCacheStatus, profiles) == outcome(EagerStatus, profiles)
    try:
        eager = EagerStatus.model_validate({"profiles": profiles}).profiles
    except ValidationError:
        event("malformed")
        return
    lazy = _NIMCacheStatus.model_validate({"profiles": profiles}).profiles
    event("well-formed, " + ("lazy" if lazy._parsed is None else "modelled whole"))
    assert len(lazy) == len(eager)
    assert lazy.buildable() == [p for p in eager if p.buildable]
    for name in {*NAMES, "missing", *(p.name for p in eager)}:
        assert lazy.named(name) == next((p for p in eager if p.name == name), None)
    assert list(lazy) == list(eager)


@settings(max_examples=100)
@given(PROFILE_LISTS)
def test_generated_lists_give_the_same_400_through_the_request(profiles: list[Any]) -> None:
    """`parse_sync_request` on the decoded body: a malformed list is the RequestError (400) the
    eager model's errors make, word for word; a well-formed one, the eager model's profiles."""
    body = orjson.loads(orjson.dumps(request(nimbuild(), caches=[nimcache(profiles=profiles)])))
    (raw,) = body["related"]["NIMCache.apps.nvidia.com/v1alpha1"].values()
    expected = cache_outcome(EagerCache, raw)
    assert cache_outcome(NIMCache, raw) == expected
    if expected[0] == "error":
        with pytest.raises(RequestError) as raised:
            parse_sync_request(body)
        assert str(raised.value) == "; ".join(expected[1])
    else:
        (cache,) = parse_sync_request(body).nimcaches
        assert [p.model_dump() for p in cache.status.profiles] == expected[1]
