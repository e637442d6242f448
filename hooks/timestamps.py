"""Order objects by `metadata.creationTimestamp` as times, not as strings (DESIGN §9: "ordered
by the NIMBuild's creationTimestamp, then name"; §4: the newest pod or Job speaks).

The API server writes RFC 3339 in UTC at second precision (`2026-01-01T10:00:00Z`), where the
string order is the time order; a hand-written object may carry an offset or fractions, where
it is not (`10:00:00+05:00` is before `06:00:00Z`).
"""

from __future__ import annotations

from datetime import UTC, datetime

_NEVER = datetime.min.replace(tzinfo=UTC)


def time_key(text: str) -> tuple[bool, datetime, str]:
    """A sort key for a timestamp: a missing or unparsable one sorts first (as "" did), by its
    text; the rest by the instant they name (no offset given: UTC)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return False, _NEVER, text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return True, moment, ""
