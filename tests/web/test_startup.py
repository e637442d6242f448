"""hooks.startup under gunicorn: settings that do not parse stop the hook before it serves,
with one log line naming the setting and no traceback (the parsing itself, in-process:
test_settings.py)."""

from __future__ import annotations

import pytest
from e2e.server import HookServer

pytestmark = pytest.mark.slow


def test_gunicorn_refuses_to_start_with_one_line_naming_the_setting() -> None:
    server = HookServer({"NIMBUILD_HOOK_JOB_LABELS": '{"a b": "c"}'})
    try:
        with pytest.raises(RuntimeError, match="gunicorn exited at start"):
            server.start()
        log = server.log()
    finally:
        if server.process is not None:
            server.kill()
        server.log_path.unlink(missing_ok=True)
    assert "invalid hook settings: NIMBUILD_HOOK_JOB_LABELS: key 'a b'" in log
    assert "Traceback" not in log
