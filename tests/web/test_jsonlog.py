"""The JSON log formatter writes exactly the line it always wrote (issue 11 made it cheaper: the
time is formatted once per second, not per record). The reference below is the formatter as it
was, on the standard library's `formatTime`; every line must match it byte for byte."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import pytest

from hooks.jsonlog import _STANDARD, JsonFormatter


class Reference(logging.Formatter):
    """The formatter before issue 11's change, kept as the oracle."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def record(created: float, level: int = logging.INFO, **extra: Any) -> logging.LogRecord:
    made = logging.getLogger("nimbuild.sync").makeRecord(
        "nimbuild.sync", level, __file__, 1, "sync %s: %s", ("Started", "X"), None, extra=extra
    )
    made.created = created
    made.msecs = (created - int(created)) * 1000
    return made


# Seconds in any order, several records within one second, the second's first and last
# instants, a day and a year boundary, and going back in time.
TIMES = [
    1767225600.0,
    1767225600.999999,
    1767225600.5,
    1767225601.0,
    1767225599.999,
    1767225601.25,
    1735689599.999,
    1735689600.0,
    1767225600.123,
    1798761599.5,
    1.5,
]
EXTRAS: list[dict[str, Any]] = [
    {},
    {
        "object": {"namespace": "default", "name": "b", "uid": "u"},
        "state": "Started",
        "reason": "EngineBuildJobCreated",
        "code": 200,
        "duration_ms": 0.123,
    },
    {"object": "default/test-nimcache"},
    {"code": 500, "odd": {1, 2}.__class__, "when": object()},  # not JSON: default=str
]


@pytest.mark.parametrize("extra", EXTRAS, ids=range(len(EXTRAS)))
def test_every_line_is_the_reference_line(extra: dict[str, Any]) -> None:
    ours, reference = JsonFormatter(), Reference()
    for created in TIMES * 2:
        made = record(created, **extra)
        line = ours.format(made)
        assert line == reference.format(made), created
        assert list(orjson.loads(line))[:4] == ["time", "level", "logger", "message"]


def test_an_exception_is_formatted_as_before() -> None:
    try:
        raise KeyError("boom")
    except KeyError:
        made = logging.getLogger("nimbuild.hook").makeRecord(
            "nimbuild.hook", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    ours, reference = JsonFormatter(), Reference()
    assert ours.format(made) == reference.format(made)
    assert "KeyError: 'boom'" in orjson.loads(ours.format(made))["exception"]


def test_a_record_formatted_by_another_formatter_first_is_still_the_reference_line() -> None:
    """Another handler's formatter sets `message` and `asctime` on the shared record."""
    made = record(TIMES[0], code=200)
    logging.Formatter("%(asctime)s %(message)s").format(made)
    assert JsonFormatter().format(made) == Reference().format(made)
