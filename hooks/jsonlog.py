"""One JSON object per log line, so log pipelines parse the hook's logs without regexes.

Used by gunicorn's `logconfig_dict`; request bodies and headers are never logged.
"""

from __future__ import annotations

import logging

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # The object a line is about, `namespace/name` (log(..., extra={"object": ...})).
        if isinstance(getattr(record, "object", None), str):
            entry["object"] = record.__dict__["object"]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()
