"""hooks.conditions: facts → status.conditions[], with timestamps that make status a fixpoint."""

from __future__ import annotations

import pytest

from hooks import vocabulary as v
from hooks.conditions import Fact, render_conditions
from hooks.observed import ObservedStatus


def test_transition_time_is_copied_unless_the_status_flips() -> None:
    prior = ObservedStatus.model_validate(
        {
            "conditions": [
                {
                    "type": v.COND_POD_PENDING,
                    "status": "True",
                    "reason": "PodRunning",
                    "message": "old",
                    "lastTransitionTime": "2025-01-01T00:00:00Z",
                },
                {
                    "type": v.COND_NIM_CACHE_FAILED,
                    "status": "True",
                    "reason": "NIMCacheFailed",
                    "message": "cache broke",
                    "lastTransitionTime": "2025-01-01T00:00:00Z",
                },
                {
                    "type": "SomeoneElses",
                    "status": "True",
                    "reason": "X",
                    "message": "",
                    "lastTransitionTime": "2025-01-01T00:00:00Z",
                },
            ]
        }
    )
    now = "2026-06-01T00:00:00Z"
    out = render_conditions(
        [
            Fact(v.COND_POD_PENDING, True, "PodRunning", "new message"),
            Fact(v.COND_READY, False, "PodRunning", "new message"),
        ],
        prior,
        3,
        now,
    )
    by_type = {c["type"]: c for c in out}
    assert by_type[v.COND_POD_PENDING]["lastTransitionTime"] == "2025-01-01T00:00:00Z"
    assert by_type[v.COND_POD_PENDING]["message"] == "new message"
    assert by_type[v.COND_NIM_CACHE_FAILED]["status"] == "False"
    assert by_type[v.COND_NIM_CACHE_FAILED]["lastTransitionTime"] == now
    assert by_type[v.COND_READY]["lastTransitionTime"] == now
    assert "SomeoneElses" not in by_type
    assert {c["observedGeneration"] for c in out} == {3}


def test_every_condition_type_has_a_place_in_the_order() -> None:
    """A type missing from CONDITION_ORDER would vanish from status: list it there."""
    types = {value for name, value in vars(v).items() if name.startswith("COND_")}
    assert types == set(v.CONDITION_ORDER)
    assert len(v.CONDITION_ORDER) == len(set(v.CONDITION_ORDER))


def test_a_fact_of_an_unordered_type_fails_instead_of_vanishing() -> None:
    with pytest.raises(ValueError, match="NIM_BUILD_SOMETHING_NEW"):
        render_conditions(
            [Fact("NIM_BUILD_SOMETHING_NEW", True, "New", "m")], ObservedStatus(), 1, "now"
        )
