"""Turn decided facts into `status.conditions[]`, with timestamps that make status a fixpoint.

`lastTransitionTime` is copied from the parent's current condition unless its `status` flips
(upstream resets it on every update, which Metacontroller would turn into a hot loop, since
every status write triggers another sync). Conditions come out in a fixed order, each type at
most once, each carrying `observedGeneration`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hooks import vocabulary as v
from hooks.observed import ObservedStatus

MESSAGE_LIMIT = 4096
_REASON = re.compile(v.REASON_PATTERN)
_ORDERED = frozenset(v.CONDITION_ORDER)


@dataclass(frozen=True)
class Fact:
    """A condition before timestamps: what the hook established in this sync."""

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
    unordered = set(decided) - _ORDERED
    if unordered:
        raise ValueError(f"condition types not in CONDITION_ORDER: {sorted(unordered)}")
    for old in prior.conditions:
        if old.type in decided or old.type not in _ORDERED or old.type == v.COND_READY:
            continue
        if old.status == "True":
            message = f"{v.NO_LONGER_TRUE}{old.message}"
            decided[old.type] = Fact(old.type, False, v.R_RESOLVED, message)
        elif old.status == "False":
            reason = safe_reason(old.reason, v.R_RESOLVED)
            decided[old.type] = Fact(old.type, False, reason, old.message)
    out = []
    for kind in v.CONDITION_ORDER:
        fact = decided.get(kind)
        if fact is None:
            continue
        status = "True" if fact.status else "False"
        before = prior.condition(kind)
        if before is not None and before.status == status and before.last_transition_time:
            since = before.last_transition_time
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
