"""`/metrics` under the shipped gunicorn settings (several workers, issue 11): every scrape,
whichever worker answers it, counts the requests of all workers."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import nimbuild
from e2e.server import HOST, HookServer

from hooks import gunicorn_conf

pytestmark = pytest.mark.slow
REQUESTS = 12


@pytest.fixture(scope="module")
def server() -> Iterator[HookServer]:
    hook = HookServer()  # the shipped settings: no WEB_CONCURRENCY, GUNICORN_THREADS
    hook.start()
    yield hook
    hook.close()


def workers_of(server: HookServer) -> list[int]:
    assert server.process is not None
    master = server.process.pid
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def on_new_connection(server: HookServer, method: str, path: str, body: bytes = b"") -> bytes:
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        headers = {"Content-Type": "application/json", "Connection": "close"}
        conn.request(method, path, body or None, headers)
        response = conn.getresponse()
        assert response.status == 200
        return response.read()
    finally:
        conn.close()


def test_the_shipped_setting_runs_several_workers(server: HookServer) -> None:
    assert gunicorn_conf.workers >= 2
    assert len(workers_of(server)) == gunicorn_conf.workers


def counted(server: HookServer) -> float:
    line = re.compile(r'^nimbuild_hook_requests_total\{code="200",hook="customize"\} (\S+)$', re.M)
    text = on_new_connection(server, "GET", "/metrics").decode()
    found = line.search(text)
    assert found is not None, text
    return float(found.group(1))


def replace_workers(server: HookServer) -> None:
    """End every worker (SIGTERM, by pid) and wait until gunicorn has started new ones."""
    old = set(workers_of(server))
    for pid in old:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = set(workers_of(server))
        if len(now) == gunicorn_conf.workers and not now & old:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("gunicorn did not replace its workers")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            on_new_connection(server, "GET", "/readyz")
            return
        except (OSError, AssertionError):
            time.sleep(0.1)


def test_every_scrape_counts_every_workers_requests(server: HookServer) -> None:
    """Which worker takes a connection is the kernel's choice, so the requests are answered by
    one set of workers and the scrapes by another: the scrapes can only count them by adding up
    the other processes' values."""
    body = json.dumps({"parent": nimbuild()}).encode()
    for _ in range(REQUESTS):
        on_new_connection(server, "POST", "/customize", body)
    answered_by = set(workers_of(server))
    replace_workers(server)
    assert not answered_by & set(workers_of(server))
    scrapes = [counted(server) for _ in range(3 * gunicorn_conf.workers)]
    assert scrapes == [float(REQUESTS)] * len(scrapes)
    for _ in range(REQUESTS):
        on_new_connection(server, "POST", "/customize", body)
    assert counted(server) == 2.0 * REQUESTS
