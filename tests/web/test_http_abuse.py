"""The hook under gunicorn, over real sockets on 127.0.0.1, against bad input and bad clients:
malformed JSON, deep nesting, invalid UTF-8, huge strings, wrong content types, bodies over the
limit (413, read by a client that sends its whole body first, with Content-Length or chunked),
a client that trickles its body (others are still served), 16 concurrent clients sending the
same request (same answer for all), and schemathesis fuzzing `docs/openapi.yaml` (no 5xx,
answers that fit the description).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from builders import buildable, nimbuild, nimcache, request
from e2e.server import HOST, HookServer
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    not_a_server_error,
)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.slow

LIMIT = 16 * 1024 * 1024  # the default NIMBUILD_HOOK_MAX_BODY_BYTES
OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


@pytest.fixture(scope="module")
def server() -> Iterator[HookServer]:
    hook = HookServer()
    hook.start()
    yield hook
    hook.close()


def post(
    server: HookServer,
    path: str,
    body: bytes,
    content_type: str = "application/json",
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    """An ordinary client: sends the whole body, then reads the answer."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        conn.close()


def json_error(status: int, data: bytes) -> str:
    body = json.loads(data)
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    message: str = body["error"]
    return message


def alive(server: HookServer) -> None:
    status, _, data = post(server, "/customize", json.dumps({"parent": nimbuild()}).encode())
    assert status == 200, data


def fixpoint_request(server: HookServer) -> dict[str, Any]:
    """A request whose answer depends on nothing but itself (its status is the fixpoint, so no
    fresh `lastTransitionTime` appears): any two answers to it must be byte-identical."""
    body = request(nimbuild(), caches=[nimcache(profiles=[buildable(tp="2")])])
    status, _, data = post(server, "/sync", json.dumps(body).encode())
    assert status == 200
    body["parent"]["status"] = json.loads(data)["status"]
    return body


# --- bad bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        pytest.param(b'{"parent": {"metadata": ', "not valid JSON", id="truncated-json"),
        pytest.param(b"{'parent': {}}", "not valid JSON", id="single-quotes"),
        pytest.param(b'{"parent": {"a": Infinity}}', "not valid JSON", id="infinity"),
        pytest.param(b'{"parent": "\xc3\x28"}', "not valid JSON", id="invalid-utf8"),
        pytest.param(b'{"parent": "\\udc00"}', "not valid JSON", id="lone-low-surrogate"),
        pytest.param(b"\xef\xbb\xbf{}", "", id="utf8-bom"),
        pytest.param(b"[" * 50_000 + b"]" * 50_000, "not valid JSON", id="50000-deep-arrays"),
        pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "not valid JSON", id="deep-objects"),
        pytest.param(b'{"parent": 1' + b"0" * 400 + b"}", "", id="huge-integer"),
        pytest.param(b'"' + b"x" * (4 * 1024 * 1024) + b'"', "JSON object", id="4MiB-string-root"),
        pytest.param(b"null", "JSON object", id="null-root"),
        pytest.param(b'{"parent": {"metadata": {"name": ["x"]}}}', "parent", id="name-not-string"),
    ],
)
@pytest.mark.parametrize("path", ["/sync", "/customize", "/nimcache/sync", "/nimcache/customize"])
def test_malformed_bodies_get_a_json_400(
    server: HookServer, body: bytes, needle: str, path: str
) -> None:
    status, headers, data = post(server, path, body)
    assert status == 400, data[:300]
    assert headers["Content-Type"] == "application/json"
    assert needle in json_error(400, data)


def test_huge_strings_inside_a_valid_request_are_answered_and_clipped(server: HookServer) -> None:
    huge = "E" * (6 * 1024 * 1024)
    body = request(
        nimbuild(status={"state": "InProgress"}),
        caches=[nimcache(profiles=[buildable(tp="1")])],
        jobs=[],
        pods=[],
    )
    body["parent"]["metadata"]["annotations"] = {"note": huge}
    # A condition that no longer holds is kept as False with its old message: clipped.
    cond = {
        "type": "NIM_BUILD_NIM_CACHE_NOT_FOUND",
        "status": "True",
        "reason": "X",
        "message": huge,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    body["parent"]["status"]["conditions"] = [cond]
    started = time.monotonic()
    status, _, data = post(server, "/sync", json.dumps(body).encode())
    assert status == 200
    assert time.monotonic() - started < 5
    assert len(data) < 64 * 1024  # the old message is not echoed back whole
    answer = json.loads(data)
    assert all(len(c["message"]) <= 32768 for c in answer["status"]["conditions"])
    cleared = next(
        c for c in answer["status"]["conditions"] if c["type"] == "NIM_BUILD_NIM_CACHE_NOT_FOUND"
    )
    assert cleared["status"] == "False" and cleared["message"].endswith("(truncated)")


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 200),
        ("application/x-www-form-urlencoded", 200),
        ("multipart/form-data; boundary=x", 200),
        ("application/xml", 200),
        ("application/json; charset=utf-8", 200),
        ("application/merge-patch+json", 200),
    ],
)
def test_content_types(server: HookServer, content_type: str, status: int) -> None:
    """The body decides, not the Content-Type (DESIGN §3; what `curl -d` sends is served)."""
    body = json.dumps({"parent": nimbuild()}).encode()
    got, _, data = post(server, "/customize", body, content_type)
    assert got == status, data
    assert json.loads(data) == json.loads(post(server, "/customize", body)[2])
    assert "not valid JSON" in json_error(400, post(server, "/customize", b"a=1", content_type)[2])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/sync", 405),
        ("PUT", "/customize", 405),
        ("POST", "/readyz", 405),
        *(
            ("OPTIONS", path, 405)
            for path in ("/sync", "/customize", "/nimcache/sync", "/nimcache/customize", "/healthz")
        ),
        ("GET", "/x", 404),
    ],
)
def test_other_methods_and_paths_get_json_errors(
    server: HookServer, method: str, path: str, status: int
) -> None:
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        conn.request(method, path, body=b"{}" if method != "GET" else None)
        answer = conn.getresponse()
        assert answer.status == status
        json_error(status, answer.read())
        if status == 405:
            assert answer.getheader("Allow")
    finally:
        conn.close()


def test_an_oversized_header_is_refused_and_the_server_lives_on(server: HookServer) -> None:
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(b"POST /sync HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 4"), reply[:100]
    alive(server)


# --- bodies over the limit --------------------------------------------------------------------


def test_body_over_the_limit_is_413_for_a_client_that_sends_everything_first(
    server: HookServer,
) -> None:
    body = b'{"parent": "' + b"x" * (LIMIT + 1024) + b'"}'
    status, _, data = post(server, "/sync", body)
    assert status == 413
    assert "larger than" in json_error(413, data)
    alive(server)


def test_body_past_the_drain_bound_does_not_hurt_the_server(server: HookServer) -> None:
    """Past the hook's drain bound (64 MiB) the client may see the 413 or a reset; either
    way the server is unharmed. (gunicorn drops the hook's hop-by-hop `Connection: close`
    and drains or closes by its own bounded rules.)"""
    body = b'{"parent": "' + b"x" * (80 * 1024 * 1024) + b'"}'
    try:
        status, _, data = post(server, "/sync", body)
    except (ConnectionResetError, BrokenPipeError):
        pass
    else:
        assert status == 413
        json_error(413, data)
    alive(server)


def test_chunked_body_over_the_limit_is_413(server: HookServer) -> None:
    chunk = b"x" * (1024 * 1024)
    conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        conn.putrequest("POST", "/sync")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for _ in range(LIMIT // len(chunk) + 2):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        answer = conn.getresponse()
        assert answer.status == 413
        json_error(413, answer.read())
    finally:
        conn.close()
    alive(server)


def test_chunked_body_under_the_limit_is_read(server: HookServer) -> None:
    body = json.dumps({"parent": nimbuild()}).encode()
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        conn.request(
            "POST",
            "/customize",
            body=iter([body[:10], body[10:]]),
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        answer = conn.getresponse()
        assert answer.status == 200
        assert json.loads(answer.read())["relatedResources"]
    finally:
        conn.close()


def test_a_client_that_claims_a_huge_body_and_leaves_does_not_hurt(server: HookServer) -> None:
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10737418240\r\n\r\n" + b"x" * (1024 * 1024)
        )
    alive(server)


# --- slow and concurrent clients --------------------------------------------------------------


def test_a_client_trickling_its_body_does_not_block_others(server: HookServer) -> None:
    body = json.dumps({"parent": nimbuild()}).encode()
    slow_answer: list[bytes] = []

    def trickle() -> None:
        with socket.create_connection((HOST, server.port), timeout=30) as sock:
            sock.sendall(
                b"POST /customize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
            )
            for index in range(0, len(body), len(body) // 15 + 1):
                sock.sendall(body[index : index + len(body) // 15 + 1])
                time.sleep(0.1)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            slow_answer.append(data)

    slow = [threading.Thread(target=trickle) for _ in range(3)]
    for thread in slow:
        thread.start()
    time.sleep(0.2)  # the slow clients hold their threads now
    latencies = []
    for _ in range(20):
        started = time.monotonic()
        alive(server)
        latencies.append(time.monotonic() - started)
    fast_done = time.monotonic()
    for thread in slow:
        thread.join(timeout=30)
    assert max(latencies) < 0.5, latencies
    assert len(slow_answer) == 3
    assert all(answer.startswith(b"HTTP/1.1 200") for answer in slow_answer)
    assert time.monotonic() >= fast_done  # the fast ones finished while the slow ones trickled


def test_concurrent_identical_requests_get_identical_answers(server: HookServer) -> None:
    body = json.dumps(fixpoint_request(server)).encode()

    def client(_: int) -> list[bytes]:
        out = []
        conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
        try:
            for _ in range(4):  # keep-alive: several requests on one connection
                conn.request(
                    "POST", "/sync", body=body, headers={"Content-Type": "application/json"}
                )
                answer = conn.getresponse()
                assert answer.status == 200
                out.append(answer.read())
        finally:
            conn.close()
        return out

    with ThreadPoolExecutor(16) as pool:
        answers = [a for batch in pool.map(client, range(16)) for a in batch]
    assert len(answers) == 64
    assert len(set(answers)) == 1
    assert json.loads(answers[0])["children"][0]["kind"] == "Job"


# --- schemathesis against docs/openapi.yaml ---------------------------------------------------

SCHEMA = schemathesis.openapi.from_path(OPENAPI)
SCHEMA.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
FUZZED: list[int] = []
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@SCHEMA.parametrize()
@settings(max_examples=60, suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_server_error(case: Any, server: HookServer) -> None:
    case.call_and_validate(base_url=server.url, checks=CHECKS)
    FUZZED.append(1)


def test_schemathesis_sent_enough_requests() -> None:
    """Guard against a fuzz run that silently sends nothing (runs after the cases above)."""
    print(f"schemathesis sent {len(FUZZED)} requests")  # shown with -rA / -s
    assert len(FUZZED) >= 150, len(FUZZED)
