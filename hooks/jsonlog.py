"""One JSON object per log line, so log pipelines parse the hook's logs without regexes.

Used by gunicorn's `logconfig_dict`. Fields passed as `extra=` (the object reference under
`object`, `state`, `reason`, `code`, `duration_ms`) become keys of the line, so an operator
greps one NIMBuild's history by `object.uid`. Request bodies and headers are never logged.
"""

from __future__ import annotations

import logging
import time

import orjson

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """`time` is `formatTime(record, TIME_FORMAT)`: the local time to the second, formatted
    once per second (strftime per record was a fifth of the formatter's cost) and kept as
    one tuple, so a thread never pairs one second with another second's text."""

    _stamp: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        created = record.created
        second = int(created)  # what `converter` (time.localtime) keeps of it
        stamp = self._stamp
        if stamp[0] != second:
            stamp = self._stamp = (second, time.strftime(TIME_FORMAT, self.converter(created)))
        entry: dict[str, object] = {
            "time": stamp[1],
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
