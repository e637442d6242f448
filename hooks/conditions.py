"""Turn decided facts into `status.conditions[]`, with timestamps that make status a fixpoint.

`lastTransitionTime` is copied from the parent's current condition unless its `status` flips
(upstream resets it on every update, which Metacontroller would turn into a hot loop, since
every status write triggers another sync). Conditions come out in a fixed order, each type at
most once, each carrying `observedGeneration`.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from hooks import vocabulary as v
from hooks.observed import Condition, ObservedStatus

MESSAGE_LIMIT = 4096
_REASON = re.compile(v.REASON_PATTERN)
_RANK = {kind: rank for rank, kind in enumerate(v.CONDITION_ORDER)}


class Fact(NamedTuple):
    """A condition before timestamps: what the hook established in this sync. A named tuple:
    a sync makes several, and a frozen dataclass costs twice as much to build."""

    type: str
    status: bool
    reason: str
    message: str


def safe_reason(reason: str, fallback: str) -> str:
    """Reasons copied from pods or Jobs must still match the CRD pattern (the whole string:
    the API server's RE2 `$` does not allow a trailing newline, Python's `match` would)."""
    return reason if reason and len(reason) <= 1024 and _REASON.fullmatch(reason) else fallback


def copied_reason(reason: str, fallback: str, message: str) -> tuple[str, str]:
    """(reason, message) for a reason copied from a pod or Job: one the CRD pattern refuses
    becomes `fallback`, and the message keeps the original."""
    safe = safe_reason(reason, fallback)
    if safe == reason or not reason:
        return safe, message
    original = f"reason {reason[:256]!r}"
    return safe, f"{original}: {message}" if message else original


def clip(message: str) -> str:
    if len(message) <= MESSAGE_LIMIT:
        return message
    return message[: MESSAGE_LIMIT - 15] + " …(truncated)"


def render_conditions(
    facts: list[Fact], prior: ObservedStatus, generation: int, now: str
) -> list[dict[str, Any]]:
    """Facts of this sync plus earlier conditions that no longer hold (turned False).

    A fact of a type missing from `CONDITION_ORDER` is a programming error, raised rather
    than dropped from the status without a word."""
    decided = {fact.type: fact for fact in facts}
    unordered = decided.keys() - _RANK.keys()
    if unordered:
        raise ValueError(f"condition types not in CONDITION_ORDER: {sorted(unordered)}")
    before: dict[str, Condition] = {}
    for old in prior.conditions:
        before.setdefault(old.type, old)  # the first of each type, as `prior.condition` reads
        if old.type in decided or old.type not in _RANK or old.type == v.COND_READY:
            continue
        if old.status == "True":
            message = f"{v.NO_LONGER_TRUE}{old.message}"
            decided[old.type] = Fact(old.type, False, v.R_RESOLVED, message)
        elif old.status == "False":
            reason = safe_reason(old.reason, v.R_RESOLVED)
            decided[old.type] = Fact(old.type, False, reason, old.message)
    out = []
    for kind in sorted(decided, key=_RANK.__getitem__):
        fact = decided[kind]
        status = "True" if fact.status else "False"
        earlier = before.get(kind)
        if earlier is not None and earlier.status == status and earlier.last_transition_time:
            since = earlier.last_transition_time
        else:
            since = now
        out.append(
            {
                "type": kind,
                "status": status,
                "reason": fact.reason,
                "message": clip(fact.message),
                "lastTransitionTime": since,
                "observedGeneration": generation,
            }
        )
    return out
