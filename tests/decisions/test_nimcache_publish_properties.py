"""Properties of the NIMCache decorator's pure core (`hooks.publish.sync`) over generated
worlds: a NIMCache (Ready or not, some profiles listed) and up to six related NIMBuilds drawn
from small pools (namespace, NIMCache named, state, output profile name, opt-out, creation
time), so that collisions — two builds of one profile, a listed name, a foreign build — are
common. Hand-written strategies (hypothesis-jsonschema breaks on object schemas).

For every world:
- the answer is exactly `{status}`, null unless the NIMCache is Ready and something is missing;
- afterwards every eligible built profile is listed exactly once, nothing else is added, and
  the observed entries and other status fields are unchanged, in place;
- the order of the related map does not change the bytes; fed back, the answer is null;
- every status fits the upstream NIMCache CRD status schema.
"""

from __future__ import annotations

import copy
from typing import Any

import crd_schema as cs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from make_nimcache_fixtures import (
    CACHE,
    NIMBUILD_KEY,
    built_profile,
    decorator_request,
    nimcache_target,
    ready_nimbuild,
)

from hooks import publish

pytestmark = pytest.mark.slow

UPSTREAM_STATUS = cs.validator(
    cs.strict(cs.openapi_schema(cs.UPSTREAM_NIMCACHE_CRD)["properties"]["status"])
)
OUTPUTS = ["engine-1", "engine-2", "engine-3", ""]


@st.composite
def nimbuilds(draw: st.DrawFn, name: str) -> dict[str, Any]:
    output = built_profile(name)
    output["name"] = draw(st.sampled_from(OUTPUTS))  # "" too: a Ready build without a name
    opt = draw(st.sampled_from([None, True, False]))
    spec = {} if opt is None else {"build": {"publishProfile": opt}}
    return ready_nimbuild(
        name,
        namespace=draw(st.sampled_from(["default", "default", "other"])),
        cache=draw(st.sampled_from([CACHE, CACHE, "another-cache"])),
        state=draw(st.sampled_from(["Ready", "Ready", "Failed", "InProgress"])),
        created=draw(st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"])),
        output=output,
        **spec,
    )


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from("abcdef"), unique=True, max_size=6))
    builds = [draw(nimbuilds(f"build-{n}")) for n in names]
    listed = draw(st.lists(st.sampled_from(OUTPUTS[:3]), unique=True, max_size=2))
    cache = nimcache_target(
        state=draw(st.sampled_from(["Ready", "Ready", "InProgress", "Failed"])),
        profiles=[built_profile("cached", name=n) for n in listed],
    )
    return decorator_request(cache, builds)


def eligible(req: dict[str, Any]) -> set[str]:
    """The built profile names DESIGN §9 says belong in the NIMCache (stated independently)."""
    names = set()
    for build in req["related"][NIMBUILD_KEY].values():
        status, spec = build["status"], build["spec"]
        if (
            build["metadata"]["namespace"] == "default"
            and spec["nimCache"]["name"] == CACHE
            and spec.get("build", {}).get("publishProfile", True) is not False
            and status["state"] == "Ready"
            and status.get("outputProfile", {}).get("name")
        ):
            names.add(status["outputProfile"]["name"])
    return names


@given(worlds())
def test_publishes_exactly_the_missing_eligible_profiles_once(req: dict[str, Any]) -> None:
    answer = publish.sync(req)
    assert set(answer) == {"status"}
    observed = req["parent"]["status"]
    before = [p["name"] for p in observed["profiles"]]
    missing = eligible(req) - set(before)
    if observed["state"] != "Ready" or not missing:
        assert answer["status"] is None
        return
    status = answer["status"]
    assert status["profiles"][: len(before)] == observed["profiles"]
    added = [p["name"] for p in status["profiles"][len(before) :]]
    assert sorted(added) == sorted(missing)
    assert {k: v for k, v in status.items() if k != "profiles"} == {
        k: v for k, v in observed.items() if k != "profiles"
    }
    assert cs.errors(UPSTREAM_STATUS, status) == []


@given(worlds(), st.randoms(use_true_random=False))
def test_related_order_does_not_matter_and_the_answer_is_a_fixpoint(
    req: dict[str, Any], rng: Any
) -> None:
    first = orjson.dumps(publish.sync(req))
    shuffled = copy.deepcopy(req)
    items = list(shuffled["related"][NIMBUILD_KEY].items())
    rng.shuffle(items)
    shuffled["related"][NIMBUILD_KEY] = dict(items)
    assert orjson.dumps(publish.sync(shuffled)) == first
    status = publish.sync(req)["status"]
    if status is not None:
        again = copy.deepcopy(req)
        again["parent"]["status"] = status
        assert publish.sync(again) == {"status": None}
