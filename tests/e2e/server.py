"""Run the real hook the way the Deployment does (gunicorn, `hooks.gunicorn_conf`), on
127.0.0.1, and a tiny fault-injecting HTTP proxy to put in front of it.

`HookServer` starts `python -m gunicorn -c python:hooks.gunicorn_conf hooks.sync:app` in its
own process group on a free port, waits for `/readyz`, and can stop it gracefully (SIGTERM),
crash it (SIGKILL to its process group: master and worker) and start it again on the same
port. Its stdout/stderr go to a file so tests can read the logs.

`FaultProxy` forwards requests to an upstream URL and, following a plan, answers some of them
itself: `500` (an error page), `delay` (answers only after a pause, so a client with a short
timeout gives up) or `reset` (closes the connection without an answer).
"""

from __future__ import annotations

import collections
import http.client
import http.server
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
APP = "hooks.sync:app"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class HookServer:
    """The hook under gunicorn on 127.0.0.1:<port>, with `env` added to a clean environment."""

    def __init__(self, env: Mapping[str, str] | None = None, port: int | None = None) -> None:
        self.env = dict(env or {})
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        handle, name = tempfile.mkstemp(prefix="nimbuild-hook-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _environment(self) -> dict[str, str]:
        env = {k: val for k, val in os.environ.items() if not k.startswith("NIMBUILD_")}
        env.update(HOST=HOST, PORT=str(self.port), PYTHONUNBUFFERED="1")
        env.update(self.env)
        return env

    def start(self, timeout: float = 15.0) -> None:
        assert self.process is None, "already running"
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "python:hooks.gunicorn_conf", APP],
                cwd=ROOT,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: we can end master and worker
            )
        finally:
            log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"gunicorn exited at start:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"gunicorn not ready after {timeout}s:\n{self.log()}")

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sig)  # the group we created: gunicorn master + worker
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        """Graceful stop (SIGTERM, as the kubelet sends), then SIGKILL if it hangs."""
        if self.process is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """A crash: SIGKILL to master and worker at once, no graceful shutdown."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 that fails requests on purpose, as planned.

    `fail(n, kind)` makes the next `n` requests fail with `kind` (`"500"`, `"delay"`,
    `"reset"`); everything else is forwarded to `upstream` unchanged.
    """

    def __init__(self, upstream: str, delay: float = 1.0) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.delay = delay
        self.plan: collections.deque[str] = collections.deque()
        self.counts: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.forward()

            def do_POST(self) -> None:
                self.forward()

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    action = proxy.plan.popleft() if proxy.plan else "pass"
                    proxy.counts[action] += 1
                if action == "reset":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if action == "500":
                    payload = b'{"error": "injected by the test proxy"}'
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if action == "delay":
                    time.sleep(proxy.delay)
                host, port = proxy.upstream.split(":")
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                try:
                    headers = {k: val for k, val in self.headers.items() if k.lower() != "host"}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    payload = answer.read()
                except OSError:
                    self.send_error(502)
                    return
                finally:
                    conn.close()
                try:
                    self.send_response(answer.status)
                    for key, val in answer.getheaders():
                        if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                            self.send_header(key, val)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (a planned delay past its timeout)

        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, count: int, kind: str = "500") -> None:
        with self.lock:
            self.plan.extend([kind] * count)

    def pending(self) -> int:
        with self.lock:
            return len(self.plan)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
