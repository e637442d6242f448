"""`/metrics` under the shipped gunicorn settings (several workers, issue 11): every scrape,
whichever worker answers it, counts the requests of all workers."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from builders import nimbuild
from e2e.server import HOST, HookServer

from hooks import gunicorn_conf

pytestmark = pytest.mark.slow
BATCH = 8


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("metrics")


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[HookServer]:
    # The shipped settings (no WEB_CONCURRENCY, GUNICORN_THREADS); the folder named so the
    # test can see which workers wrote values.
    hook = HookServer({"PROMETHEUS_MULTIPROC_DIR": str(folder)})
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


def writers(folder: Path) -> set[str]:
    return {path.stem.rsplit("_", 1)[-1] for path in folder.glob("counter_*.db")}


def test_every_scrape_counts_every_workers_requests(server: HookServer, folder: Path) -> None:
    body = json.dumps({"parent": nimbuild()}).encode()
    sent = 0
    # Concurrent connections until more than one worker has answered (the kernel picks).
    with ThreadPoolExecutor(BATCH) as pool:
        while len(writers(folder)) < 2 and sent < 50 * BATCH:
            calls = [(server, "POST", "/customize", body)] * BATCH
            list(pool.map(lambda args: on_new_connection(*args), calls))
            sent += BATCH
    assert len(writers(folder)) >= 2, "only one worker answered"
    line = re.compile(r'^nimbuild_hook_requests_total\{code="200",hook="customize"\} (\S+)$', re.M)
    seen = []
    for _ in range(3 * gunicorn_conf.workers):
        text = on_new_connection(server, "GET", "/metrics").decode()
        found = line.search(text)
        assert found is not None, text
        seen.append(float(found.group(1)))
    assert seen == [float(sent)] * len(seen)
