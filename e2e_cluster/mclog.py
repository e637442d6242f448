"""Reading JSON-lines logs: Metacontroller's (--zap-log-level=4 logs one "Sync" line per parent
sync) and the hook's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def records(log: Path) -> list[dict[str, Any]]:
    result = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                result.append(record)
    return result


def about(record: dict[str, Any], namespace: str, name: str | None = None) -> bool:
    for key in ("object", "parent"):
        obj = record.get(key)
        if isinstance(obj, dict) and obj.get("namespace") == namespace:
            if name is None or obj.get("name") == name:
                return True
    return False


def syncs(log: Path, namespace: str, name: str) -> int:
    """Parent syncs of one NIMBuild so far."""
    return sum(1 for r in records(log) if r.get("msg") == "Sync" and about(r, namespace, name))


def errors(log: Path, namespace: str) -> list[str]:
    """Error records about objects of `namespace` (failed hooks, refused writes, ...)."""
    found = []
    for r in records(log):
        text = json.dumps(r)
        if r.get("level") == "error" and (about(r, namespace) or f'"{namespace}"' in text):
            found.append(text[:600])
    return found


def forbidden(log: Path) -> list[str]:
    return [
        line[:400] for line in log.read_text(errors="replace").splitlines() if "forbidden" in line
    ]
