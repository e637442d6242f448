"""Clients that connect and stay silent, or stop in the middle of their headers or body
(gunicorn's threaded worker has no read timeout of its own): silent connections wait in the
worker's poller without a thread (hooks/gunicorn_worker.py), headers and body each get
`NIMBUILD_HOOK_BODY_TIMEOUT_SECONDS` of silence (then the connection is closed, or for a body
answered 408), so more stalled clients than threads cannot stop the hook from answering
Metacontroller."""

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


def customize_takes(port: int) -> float:
    """Seconds until POST /customize is answered (200) on a new connection."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    conn.request("POST", "/customize", json.dumps({"parent": nimbuild()}))
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200
    return time.monotonic() - started


def test_silent_connections_hold_no_thread(server: HookServer) -> None:
    # gthread as shipped by gunicorn gives each new connection a thread that waits up to 5 s
    # for a first byte: with more silent clients than threads, a request waited for them.
    silent = [socket.create_connection((HOST, server.port)) for _ in range(THREADS + 2)]
    try:
        time.sleep(0.3)  # accepted before the request below
        assert customize_takes(server.port) < 2
    finally:
        for sock in silent:
            sock.close()


def test_stalled_headers_are_dropped_and_free_their_threads(server: HookServer) -> None:
    stuck = [socket.create_connection((HOST, server.port), timeout=10) for _ in range(THREADS + 2)]
    try:
        for sock in stuck:
            sock.sendall(b"POST /sync HTTP/1.1\r\nHost: x\r\n")  # and no more
        time.sleep(0.3)
        # Served once the stalled headers timed out (1 s here), not when their clients hang up.
        assert customize_takes(server.port) < 8
        for sock in stuck:
            assert sock.recv(4096) == b""  # closed without an answer: there is no request yet
    finally:
        for sock in stuck:
            sock.close()
    # A client gone quiet is no server error: no ERROR line, no traceback in the log.
    errors = [line for line in server.log().splitlines() if '"level":"ERROR"' in line]
    assert errors == [], errors[:2]
    assert "Traceback" not in server.log()


def test_dropping_a_stalled_header_client_does_not_freeze_the_worker() -> None:
    # gthread closes a dropped connection on its event loop, waiting up to 2 s for the client
    # to hang up; one that never does froze the worker (no accept, no kept-alive request).
    hook = HookServer({"NIMBUILD_HOOK_BODY_TIMEOUT_SECONDS": "1", "WEB_CONCURRENCY": "1"})
    hook.start()
    stuck = socket.create_connection((HOST, hook.port), timeout=10)
    try:
        stuck.sendall(b"POST /sync HTTP/1.1\r\n")  # and never reads nor hangs up
        conn = http.client.HTTPConnection(HOST, hook.port, timeout=10)
        slowest, until = 0.0, time.monotonic() + 3  # the drop happens after 1 s
        while time.monotonic() < until:
            started = time.monotonic()
            conn.request("POST", "/customize", json.dumps({"parent": nimbuild()}))
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.05)
        conn.close()
        assert slowest < 1.0, f"a request waited {slowest:.2f} s"
    finally:
        stuck.close()
        hook.stop()
        hook.close()


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
