"""Logs an operator can follow (issue 10, point 6): one JSON line per sync, naming the object.

- Every fixture's sync writes exactly one line (logger `nimbuild.sync`) with the object under
  `object` (`namespace`, `name`, `uid`), the answer's `state`, the Ready condition's `reason`,
  `code` 200 and `duration_ms`.
- A refused request (400) and a failed one (500, an unexpected exception or a Job customizer
  that breaks a rule) say so, naming the object they failed on and why.
- No value of `spec.env` ever reaches the logs, whatever the sync decided (all fixtures, an
  invalid spec, a failing customizer), at DEBUG level.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import UID, buildable, nimbuild, nimcache, request

from hooks.jsonlog import JsonFormatter
from hooks.settings import Settings
from hooks.sync import create_app

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sync"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "request.json").exists())
SECRET = "nvapi-LOGGED-NEVER-0123456789"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything the hook logs, at DEBUG, formatted as gunicorn's logconfig does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO, logger: str = "nimbuild.sync") -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [entry for entry in parsed if entry["logger"] == logger]


@pytest.mark.parametrize("case", CASES)
def test_each_sync_logs_one_line_naming_the_object_state_and_reason(
    case: str, app_config: dict[str, Any], log_lines: io.StringIO
) -> None:
    body = json.loads((FIXTURES / case / "request.json").read_text())
    answer = create_app(app_config).test_client().post("/sync", json=body)
    assert answer.status_code == 200
    status = answer.get_json()["status"]
    ready = next(c for c in status.get("conditions", []) if c["type"] == "Ready")
    [entry] = lines(log_lines)
    meta = body["parent"]["metadata"]
    assert entry["object"] == {k: meta[k] for k in ("namespace", "name", "uid") if k in meta}
    assert (entry["state"], entry["reason"], entry["code"]) == (
        status["state"],
        ready["reason"],
        200,
    )
    assert entry["level"] == "INFO"
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
    assert status["state"] in entry["message"]


def test_a_refused_request_names_the_object(
    app_config: dict[str, Any], log_lines: io.StringIO
) -> None:
    body = request(nimbuild())
    body["children"] = []
    answer = create_app(app_config).test_client().post("/sync", json=body)
    assert answer.status_code == 400
    [entry] = lines(log_lines)
    assert entry["level"] == "WARNING" and entry["code"] == 400
    assert entry["object"] == {"namespace": "default", "name": "test-nimbuild", "uid": UID}
    assert "children must be an object" in entry["message"]


def test_a_500_names_the_object_it_failed_on(
    app_config: dict[str, Any], log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hooks.core

    def broken(*args: object) -> dict[str, Any]:
        raise KeyError("boom")

    monkeypatch.setattr(hooks.core, "sync", broken)
    answer = create_app(app_config).test_client().post("/sync", json=request(nimbuild()))
    assert answer.status_code == 500
    [entry] = lines(log_lines, "nimbuild.hook")
    assert entry["level"] == "ERROR" and entry["code"] == 500
    assert entry["object"]["uid"] == UID and entry["object"]["name"] == "test-nimbuild"
    assert "KeyError: 'boom'" in entry["exception"]


def _leaky_customizer(job: dict[str, Any], context: Any) -> dict[str, Any]:
    job["spec"]["template"]["spec"]["hostNetwork"] = True
    return job


@pytest.mark.parametrize(
    "parent",
    [
        pytest.param(nimbuild(env=[{"name": "NGC_API_KEY", "value": SECRET}]), id="valid"),
        pytest.param(
            nimbuild(
                env=[
                    {
                        "name": "NGC_API_KEY",
                        "value": SECRET,
                        "valueFrom": {"fieldRef": {"fieldPath": SECRET}},
                    }
                ]
            ),
            id="invalid-env",
        ),
        pytest.param(
            nimbuild(env=[{"name": "NGC_API_KEY", "value": SECRET}], image={"repository": 1}),
            id="invalid-spec",
        ),
        pytest.param(
            nimbuild(env=[{"name": SECRET, "value": 7}]),
            id="env-value-of-a-wrong-type",
        ),
    ],
)
@pytest.mark.parametrize("customizer", [None, _leaky_customizer], ids=["plain", "customizer"])
def test_no_spec_env_value_is_ever_logged(
    parent: dict[str, Any],
    customizer: Any,
    app_config: dict[str, Any],
    log_lines: io.StringIO,
) -> None:
    settings = Settings(job_customizer=customizer)
    app = create_app({**app_config, "SETTINGS": settings})
    body = request(parent, caches=[nimcache(profiles=[buildable(tp="1")])])
    answer = app.test_client().post("/sync", json=body)
    assert answer.status_code in (200, 500)
    logged = log_lines.getvalue()
    assert lines(log_lines) or lines(log_lines, "nimbuild.hook")  # something was logged...
    assert SECRET not in logged  # ...and never the value
