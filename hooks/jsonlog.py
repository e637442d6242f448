"""One JSON object per log line, so log pipelines parse the hook's logs without regexes.

Used by gunicorn's `logconfig_dict`. Fields passed as `extra=` (the object reference under
`object`, `state`, `reason`, `code`, `duration_ms`) become keys of the line, so an operator
greps one NIMBuild's history by `object.uid`. Request bodies and headers are never logged.
"""

from __future__ import annotations

import logging

import orjson

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
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
