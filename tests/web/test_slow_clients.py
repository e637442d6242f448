"""Clients that start a request and never finish its body (gunicorn's threaded worker has no
read timeout of its own): the hook gives each body `NIMBUILD_HOOK_BODY_TIMEOUT_SECONDS` of
silence, answers 408 and frees the thread, so more stalled clients than threads cannot stop
it from answering Metacontroller."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator

import pytest
from builders import nimbuild
from e2e.server import HOST, HookServer

pytestmark = pytest.mark.slow

THREADS = 2


@pytest.fixture(scope="module")
def server() -> Iterator[HookServer]:
    hook = HookServer({"NIMBUILD_HOOK_BODY_TIMEOUT_SECONDS": "1", "GUNICORN_THREADS": str(THREADS)})
    hook.start()
    yield hook
    hook.stop()


def stalled(port: int) -> socket.socket:
    """Headers promising 100 bytes of body, then 10 bytes, then silence."""
    sock = socket.create_connection((HOST, port), timeout=10)
    sock.sendall(
        b"POST /sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n" + b'{"parent":'
    )
    return sock


def answer_of(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_stalled_bodies_get_408_and_free_their_threads(server: HookServer) -> None:
    stuck = [stalled(server.port) for _ in range(THREADS + 2)]
    try:
        started = time.monotonic()
        conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
        conn.request(
            "POST",
            "/customize",
            json.dumps({"parent": nimbuild()}),
            {"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 200
        assert time.monotonic() - started < 8  # served once the stalled bodies timed out
        for sock in stuck:
            head = answer_of(sock)
            assert head.startswith(b"HTTP/1.1 408"), head[:80]
    finally:
        for sock in stuck:
            sock.close()


def test_a_body_that_arrives_in_time_is_read(server: HookServer) -> None:
    sock = stalled(server.port)
    try:
        time.sleep(0.3)
        rest = json.dumps({"metadata": {"name": "x"}}).encode() + b"}"
        sock.sendall(rest.ljust(100 - len(b'{"parent":'), b" "))
        head = answer_of(sock)
        assert head.startswith(b"HTTP/1.1 200"), head[:80]
    finally:
        sock.close()
