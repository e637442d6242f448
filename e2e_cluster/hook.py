"""The hook as `make run` serves it: `gunicorn -c python:hooks.gunicorn_conf hooks.sync:app`,
with HOST/PORT from the environment, on 127.0.0.1 and a port picked once per run (a restart
keeps it, so Metacontroller's URL stays right)."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e_cluster import mclog, procs
from e2e_cluster.controlplane import free_ports

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Hook:
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: procs.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not self.port:
            self.port = free_ports(1)[0]
        gunicorn = Path(sys.executable).parent / "gunicorn"
        env = {
            "PATH": f"{gunicorn.parent}:/usr/bin:/bin",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PYTHONDONTWRITEBYTECODE": "1",
            **self.env,
        }
        self.process = procs.start(
            "hook",
            [str(gunicorn), "-c", "python:hooks.gunicorn_conf", "hooks.sync:app"],
            self.log,
            env=env,
            cwd=REPO,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise RuntimeError(f"the hook exited; log: {self.log}\n{procs.log_tail(self.log)}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the hook did not become ready; log: {self.log}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def requests(self) -> list[dict[str, Any]]:
        """The JSON access-log records of every request so far (all runs on this log)."""
        return mclog.records(self.log)

    def posts(self, path: str) -> int:
        """How many POSTs to `path` the access log shows."""
        needle = f'"POST {path} '
        return sum(1 for r in self.requests() if needle in str(r.get("message", "")))
