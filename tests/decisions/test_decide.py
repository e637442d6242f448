"""hooks.decide as a reader meets it: the module docstring lists the rows in the order the
code tries them, and the file defines them in that order, so "where is state X decided?" has
one answer. (The behaviour of each row is in test_decision_table.py and the fixtures.)"""

from __future__ import annotations

import inspect
import re

from hooks import decide


def test_the_docstring_lists_the_rows_in_the_order_the_table_tries_them() -> None:
    doc = decide.__doc__ or ""
    listed = re.findall(r"^\d+\. `(\w+)`", doc, re.MULTILINE)
    listed += [name for name in re.findall(r"then `(\w+)`", doc)]
    order = {name: doc.index(f"`{name}`") for name in listed}
    rows = [row.__name__ for row in (*decide.WITHOUT_JOB, *decide.WITH_JOB)]
    assert set(rows) <= set(order), set(rows) - set(order)
    assert sorted(rows, key=order.__getitem__) == rows


def test_the_rows_are_defined_in_the_table_order() -> None:
    rows = [decide.terminal, decide.invalid_spec, *decide.WITHOUT_JOB, *decide.WITH_JOB]
    lines = [inspect.getsourcelines(row)[1] for row in rows]
    assert lines == sorted(lines)


def test_job_deleted_mid_build_keeps_the_pending_condition_true() -> None:
    """Seen on the real control plane (make e2e): a Job deleted while its pod ran used to turn
    NIM_BUILD_ENGINE_BUILD_POD_PENDING False ("Resolved") for one sync, then True again around
    the re-created Job: a flap. The build is not over, so the condition stays True."""
    import datetime

    from builders import buildable, nimbuild, nimcache, request

    from hooks import vocabulary as v
    from hooks.core import sync
    from hooks.settings import Settings

    running = {
        "state": "InProgress",
        "conditions": [
            {"type": v.COND_POD_PENDING, "status": "True", "reason": "PodRunning",
             "message": "The engine build is in progress",
             "lastTransitionTime": "2026-01-01T00:00:05Z"},
        ],
    }  # fmt: skip
    body = request(nimbuild(status=running), caches=[nimcache(profiles=[buildable(tp="1")])])
    now = datetime.datetime(2026, 1, 1, 0, 1, tzinfo=datetime.UTC)
    answer = sync(body, Settings(), now)
    status = answer["status"]
    assert status["state"] == v.STARTED
    assert len(answer["children"]) == 1, "the Job is rendered again"
    (pending,) = [c for c in status["conditions"] if c["type"] == v.COND_POD_PENDING]
    assert pending["status"] == "True"
    assert pending["lastTransitionTime"] == "2026-01-01T00:00:05Z", "no transition"
    assert "created again" in pending["message"]
