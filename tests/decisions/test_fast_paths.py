"""The core's fast paths read a well-formed request in one step; each must answer exactly as
the full path it stands in front of (issue 11). Properties over generated input, each compared
against that full path, not against written-down answers:

- `parse_status` (the whole earlier status in one validation) against `_status_by_entry`
  (entry by entry, what cannot be read left out);
- `request._job` (the observed Job and its `raw` validated together) against validating the
  Job and then copying `raw` in, the same model or the same 400 message;
- `core.timestamp` (formatted by hand) against `strftime`.
"""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from datetime import datetime as Datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hooks.core import timestamp
from hooks.errors import RequestError
from hooks.observed import Job, _status_by_entry, parse_status
from hooks.request import _job, _validate

pytestmark = pytest.mark.slow

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
GOOD_CONDITION = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Ready", "PodCreated"]),
        "status": st.sampled_from(["True", "False", "Unknown"]),
        "reason": st.just("R"),
        "message": st.text(max_size=3),
        "lastTransitionTime": st.just("2026-01-01T00:00:00Z"),
    },
    optional={"observedGeneration": st.integers(min_value=0, max_value=5), "x": JUNK},
)


def spoiled(good: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """A well-formed object, one with a field replaced or dropped, or junk."""
    replaced = st.tuples(good, st.text(max_size=20), JUNK).map(
        lambda t: {**t[0], (sorted(t[0])[len(t[1]) % len(t[0])] if t[0] else "k"): t[2]}
    )
    dropped = st.tuples(good, st.integers(min_value=0)).map(
        lambda t: {k: x for i, (k, x) in enumerate(t[0].items()) if i != t[1] % max(len(t[0]), 1)}
    )
    return st.one_of(good, good, replaced, dropped, JUNK)


PROFILE = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=3),
        "model": st.just("m"),
        "config": st.dictionaries(st.sampled_from(["tp", "trtllm_buildable"]), st.just("1")),
    },
)
STATUS = st.fixed_dictionaries(
    {},
    optional={
        "state": st.one_of(st.sampled_from(["Ready", "Failed", "InProgress"]), JUNK),
        "observedGeneration": st.one_of(
            st.integers(min_value=0, max_value=2**63 - 1), st.just(2**63), JUNK
        ),
        "conditions": st.one_of(st.lists(spoiled(GOOD_CONDITION), max_size=4), JUNK),
        "inputProfile": spoiled(PROFILE),
        "outputProfile": spoiled(PROFILE),
        # What populate_by_name would read if the fast path did not look for it.
        "observed_generation": st.integers(min_value=0, max_value=3),
        "input_profile": PROFILE,
        "output_profile": PROFILE,
        "profiles": JUNK,
    },
)


@given(STATUS)
def test_parse_status_reads_as_entry_by_entry(raw: dict[str, Any]) -> None:
    expected = _status_by_entry(
        raw, raw.get("state"), raw.get("observedGeneration"), raw.get("conditions")
    )
    assert parse_status(raw) == expected


JOB_META = st.fixed_dictionaries(
    {"name": st.text(max_size=3)},
    optional={"namespace": st.just("ns"), "uid": st.just("u"), "labels": st.just({"a": "b"})},
)
JOB = st.fixed_dictionaries(
    {"metadata": spoiled(JOB_META)},
    optional={
        "status": spoiled(st.fixed_dictionaries({"conditions": st.just([])})),
        "spec": JUNK,
        "raw": st.one_of(JUNK, st.just({"spec": {}})),
    },
)


def _outcome(parse: Any, raw: dict[str, Any]) -> tuple[str, Any]:
    try:
        job = parse(raw)
    except RequestError as error:
        return "400", str(error)
    return "job", (job, job.raw)


def _job_then_raw(raw: dict[str, Any]) -> Job:
    return _validate(Job, raw, "children.Job").model_copy(update={"raw": dict(raw)})


@given(JOB)
def test_job_reads_as_validate_then_copy(raw: dict[str, Any]) -> None:
    assert _outcome(_job, raw) == _outcome(_job_then_raw, raw)


ZONES = st.one_of(
    st.just(UTC),
    st.integers(min_value=-23 * 60, max_value=23 * 60).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    ),
)


@given(st.datetimes(min_value=Datetime(2, 1, 1), timezones=ZONES))
def test_timestamp_reads_as_strftime(moment: Datetime) -> None:
    assert timestamp(moment) == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
