"""What every method on every path gets, at the WSGI interface gunicorn serves (issue 11): the
status line, the headers in order, the body, the metric samples it adds and the log lines it
writes. Pinned before the hook paths' two implementations (a WSGI fast path for POST, a Flask
route with before/after-request hooks for the rest) became one, so the refactor had to keep
every answer as it was.

The order of checks on a hook path (a path that is one of `HOOKS` once its slashes are stripped
at both ends, which is also the `hook` label of the request metrics):

1. the bearer token, when one is configured: 401 with `WWW-Authenticate: Bearer`, whatever the
   method, before anything else (a GET /sync with a wrong token is 401, not 405);
2. the route: a path that is the hook only with a trailing slash (`/sync/`) is 404, one with
   extra leading slashes (`//sync`) is the hook (werkzeug routes `"/" + path.lstrip("/")`);
3. the method: anything but POST is 405 with `Allow: POST`; a HEAD gets the headers only;
4. POST: the body (413/408), JSON (400), the core (400, 500), the answer.

Every one of those answers counts in `nimbuild_hook_requests_total{hook, code}` and the
duration histogram. Any other path is Flask's: no token, no request metrics (`/nimcache//sync`
is routed to the hook by merging slashes: a redirect for POST, 405 for the rest).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from builders import UID, nimbuild, nimcache, request
from make_nimcache_fixtures import decorator_request, nimcache_target, ready_nimbuild
from prometheus_client.parser import text_string_to_metric_families

from hooks.jsonlog import JsonFormatter
from hooks.settings import Settings
from hooks.sync import HOOKS, create_app

TOKEN = "s3cret"
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"]
AUTH = {
    "absent": None,
    "right": f"Bearer {TOKEN}",
    "right-lowercase-scheme": f"bearer {TOKEN}",
    "wrong": "Bearer guess",
    "wrong-scheme": f"Basic {TOKEN}",
}
BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "sync": lambda: request(nimbuild(), caches=[nimcache()]),
    "customize": lambda: {"parent": nimbuild()},
    "nimcache/sync": lambda: decorator_request(nimcache_target(), [ready_nimbuild("b")]),
    "nimcache/customize": lambda: {"parent": nimcache_target()},
}
ANSWER_KEYS = {
    "sync": {"status", "children"},
    "customize": {"relatedResources"},
    "nimcache/sync": {"status"},
    "nimcache/customize": {"relatedResources"},
}
JSON = ("Content-Type", "application/json")
UNAUTHORIZED = b'{"error":"missing or wrong bearer token"}'
NOT_ALLOWED = b'{"error":"The method is not allowed for the requested URL."}'
NOT_FOUND = (
    b'{"error":"The requested URL was not found on the server. If you entered the URL manually '
    b'please check your spelling and try again."}'
)

# Paths whose stripped form is a hook, and the hook they route to (None: 404).
HOOK_PATHS: dict[str, tuple[str, str | None]] = {
    **{f"/{hook}": (hook, hook) for hook in HOOKS},
    "//sync": ("sync", "sync"),
    "///nimcache/customize": ("nimcache/customize", "nimcache/customize"),
    "/sync/": ("sync", None),
    "/customize//": ("customize", None),
    "//nimcache/sync/": ("nimcache/sync", None),
}
OTHER_PATHS = ["/healthz", "/readyz", "/metrics", "/nope", "/", "/Sync", "/nimcache//sync"]


def environ(
    method: str, path: str, body: bytes, auth: str | None, terminated: bool = False
) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8080",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if auth is not None:
        env["HTTP_AUTHORIZATION"] = auth
    if terminated:  # as gunicorn says: it ends the body stream itself
        env["wsgi.input_terminated"] = True
    return env


class Seen:
    """One request as gunicorn would serialise it, with what it added to the metrics and logs."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.logs: list[dict[str, Any]] = []


def samples(app: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Request counts, duration observations and decisions, from /metrics (read directly)."""
    got: dict[str, Any] = {}

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        got["status"] = status

    text = b"".join(app(environ("GET", "/metrics", b"", None), start)).decode()
    assert got["status"] == "200 OK"
    wanted = {
        "nimbuild_hook_requests_total",
        "nimbuild_hook_duration_seconds_count",
        "nimbuild_sync_decisions_total",
    }
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in wanted
    }


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    kept: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record)

    handler = Keep()
    logger = logging.getLogger("nimbuild")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield kept
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def call(
    app: Any,
    records: list[logging.LogRecord],
    method: str,
    path: str,
    body: bytes = b"",
    auth: str | None = None,
    terminated: bool = False,
) -> Seen:
    before = samples(app)
    del records[:]
    got: dict[str, Any] = {}

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        got["status"], got["headers"] = status, list(headers)

    data = b"".join(app(environ(method, path, body, auth, terminated), start))
    seen = Seen(got["status"], got["headers"], data)
    after = samples(app)
    seen.metrics = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
    formatter = JsonFormatter()
    for record in records:
        line = json.loads(formatter.format(record))
        for moving in ("time", "duration_ms", "exception"):
            line.pop(moving, None)
        seen.logs.append(line)
    return seen


def counted(hook: str, code: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        ("nimbuild_hook_requests_total", (("code", str(code)), ("hook", hook))): 1.0,
        ("nimbuild_hook_duration_seconds_count", (("hook", hook),)): 1.0,
    }


def json_headers(body: bytes, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [JSON, ("Content-Length", str(len(body))), *extra]


@pytest.fixture(params=["token", "no-token"])
def token(request: pytest.FixtureRequest) -> str:
    return TOKEN if request.param == "token" else ""


@pytest.fixture
def hook_app(app_config: dict[str, Any], token: str) -> Any:
    return create_app({**app_config, "SETTINGS": Settings(auth_token=token)})


@pytest.mark.parametrize("auth", AUTH)
@pytest.mark.parametrize("path", HOOK_PATHS)
@pytest.mark.parametrize("method", METHODS)
def test_hook_paths_check_token_then_route_then_method(
    hook_app: Any, token: str, records: list[logging.LogRecord], method: str, path: str, auth: str
) -> None:
    hook, routed = HOOK_PATHS[path]
    body = json.dumps(BODIES[hook]()).encode()
    seen = call(hook_app, records, method, path, body, AUTH[auth])
    refused = bool(token) and not auth.startswith("right")
    if refused:
        code, want_body = 401, UNAUTHORIZED
        headers = json_headers(UNAUTHORIZED, ("WWW-Authenticate", "Bearer"))
    elif routed is None:
        code, want_body, headers = 404, NOT_FOUND, json_headers(NOT_FOUND)
    elif method != "POST":
        code, want_body = 405, NOT_ALLOWED
        headers = json_headers(NOT_ALLOWED, ("Allow", "POST"))
    else:
        code = 200
        want_body = call(hook_app, records, "POST", f"/{hook}", body, AUTH[auth]).body
        headers = json_headers(want_body)
        assert set(json.loads(want_body)) == ANSWER_KEYS[hook]
    reason = {200: "OK", 401: "UNAUTHORIZED", 404: "NOT FOUND", 405: "METHOD NOT ALLOWED"}
    assert seen.status == f"{code} {reason[code]}"
    assert seen.headers == headers
    assert seen.body == (b"" if method == "HEAD" else want_body)
    expected_metrics = counted(hook, code)
    expected_logs: list[dict[str, Any]] = []
    if code == 200 and hook == "sync":
        expected_metrics[
            (
                "nimbuild_sync_decisions_total",
                (("reason", "NoBuildableProfilesFound"), ("state", "Failed")),
            )
        ] = 1.0
        expected_logs = [
            {
                "level": "INFO",
                "logger": "nimbuild.sync",
                "message": "sync Failed: NoBuildableProfilesFound",
                "object": {"namespace": "default", "name": "test-nimbuild", "uid": UID},
                "state": "Failed",
                "reason": "NoBuildableProfilesFound",
                "code": 200,
            }
        ]
    if code == 200 and hook == "nimcache/sync":
        expected_logs = [
            {
                "level": "INFO",
                "logger": "nimbuild.hook",
                "message": "adding buildable-profile-built-b to NIMCache.status.profiles",
                "object": "default/test-nimcache",
            }
        ]
    assert seen.metrics == expected_metrics
    assert seen.logs == expected_logs


@pytest.mark.parametrize("auth", AUTH)
@pytest.mark.parametrize("path", OTHER_PATHS)
@pytest.mark.parametrize("method", METHODS)
def test_other_paths_need_no_token_and_count_no_hook_request(
    hook_app: Any, records: list[logging.LogRecord], method: str, path: str, auth: str
) -> None:
    body = json.dumps({"parent": nimbuild()}).encode()
    seen = call(hook_app, records, method, path, body, AUTH[auth])
    get = method in ("GET", "HEAD")
    if path in ("/healthz", "/readyz"):
        want = {"/healthz": b'{"status":"ok"}', "/readyz": b'{"status":"ready"}'}[path]
        if get:
            expected = ("200 OK", json_headers(want), want)
        else:
            allow = ("Allow", "HEAD, GET")  # werkzeug lists a set: either order
            expected = ("405 METHOD NOT ALLOWED", json_headers(NOT_ALLOWED, allow), NOT_ALLOWED)
    elif path == "/metrics":
        if get:
            assert seen.status == "200 OK"
            assert seen.headers[0] == ("Content-Type", "text/plain; version=1.0.0; charset=utf-8")
            assert seen.headers[1][0] == "Content-Length" and len(seen.headers) == 2
            assert (seen.body == b"") == (method == "HEAD")
            assert seen.metrics == {} and seen.logs == []
            return
        allow = ("Allow", "HEAD, GET")
        expected = ("405 METHOD NOT ALLOWED", json_headers(NOT_ALLOWED, allow), NOT_ALLOWED)
    elif path == "/nimcache//sync":
        if method == "POST":
            assert seen.status == "308 PERMANENT REDIRECT"
            assert ("Location", "http://127.0.0.1:8080/nimcache/sync") in seen.headers
            assert seen.metrics == {} and seen.logs == []
            return
        expected = (
            "405 METHOD NOT ALLOWED",
            json_headers(NOT_ALLOWED, ("Allow", "POST")),
            NOT_ALLOWED,
        )
    else:
        expected = ("404 NOT FOUND", json_headers(NOT_FOUND), NOT_FOUND)
    status, headers, want_body = expected
    assert seen.status == status
    if headers[-1][0] == "Allow":
        assert seen.headers[:-1] == headers[:-1]
        assert seen.headers[-1][0] == "Allow"
        assert set(seen.headers[-1][1].split(", ")) == set(headers[-1][1].split(", "))
    else:
        assert seen.headers == headers
    assert seen.body == (b"" if method == "HEAD" else want_body)
    assert seen.metrics == {} and seen.logs == []


@pytest.mark.parametrize("terminated", [False, True], ids=["werkzeug-stream", "server-ends-input"])
@pytest.mark.parametrize("path", ["/sync", "//sync"])
def test_the_token_comes_before_the_body_limit(
    app_config: dict[str, Any], records: list[logging.LogRecord], path: str, terminated: bool
) -> None:
    app = create_app({**app_config, "SETTINGS": Settings(auth_token=TOKEN, max_body_bytes=64)})
    seen = call(app, records, "POST", path, b"x" * 1000, "Bearer guess", terminated)
    assert (seen.status, seen.body) == ("401 UNAUTHORIZED", UNAUTHORIZED)
    seen = call(app, records, "POST", path, b"x" * 1000, f"Bearer {TOKEN}", terminated)
    assert seen.status == "413 REQUEST ENTITY TOO LARGE"
    assert seen.body == b'{"error":"request body is larger than 64 bytes"}'
    assert seen.metrics == counted("sync", 413) and seen.logs == []


@pytest.mark.parametrize("case", ["answer", "empty", "at-the-limit", "over-the-limit"])
def test_a_server_that_ends_the_input_is_read_the_same(
    app_config: dict[str, Any], records: list[logging.LogRecord], case: str
) -> None:
    """gunicorn sets `wsgi.input_terminated` (its stream stops at the body's end): the hook
    reads that stream as is, and answers exactly what it answers through werkzeug's stream."""
    good = json.dumps(request(nimbuild(), caches=[nimcache()])).encode()
    limit = len(good)
    body = {
        "answer": good,
        "empty": b"",
        "at-the-limit": b"x" * limit,
        "over-the-limit": b"x" * (limit + 1),
    }[case]
    app = create_app({**app_config, "SETTINGS": Settings(max_body_bytes=limit)})
    answers = [call(app, records, "POST", "/sync", body, None, t) for t in (False, True)]
    code = {"answer": 200, "empty": 400, "at-the-limit": 400, "over-the-limit": 413}[case]
    assert answers[0].status.startswith(f"{code} ")
    assert (answers[1].status, answers[1].headers, answers[1].body) == (
        answers[0].status,
        answers[0].headers,
        answers[0].body,
    )
    assert (
        answers[1].metrics
        == answers[0].metrics
        == counted("sync", code)
        | (
            {
                (
                    "nimbuild_sync_decisions_total",
                    (("reason", "NoBuildableProfilesFound"), ("state", "Failed")),
                ): 1.0
            }
            if code == 200
            else {}
        )
    )


@pytest.mark.parametrize("path", ["/sync", "//sync"])
def test_a_400_from_the_core_is_counted_and_logged_once(
    app_config: dict[str, Any], records: list[logging.LogRecord], path: str
) -> None:
    app = create_app({**app_config, "SETTINGS": Settings(auth_token=TOKEN)})
    body = request(nimbuild())
    body["children"] = []
    seen = call(app, records, "POST", path, json.dumps(body).encode(), f"Bearer {TOKEN}")
    assert seen.status == "400 BAD REQUEST"
    assert json.loads(seen.body) == {"error": "children must be an object"}
    assert seen.metrics == counted("sync", 400)
    assert seen.logs == [
        {
            "level": "WARNING",
            "logger": "nimbuild.sync",
            "message": "sync refused: children must be an object",
            "object": {"namespace": "default", "name": "test-nimbuild", "uid": UID},
            "code": 400,
        }
    ]


def _customizer(job: dict[str, Any], context: Any) -> dict[str, Any]:
    job["spec"]["template"]["spec"]["hostNetwork"] = True
    return job


@pytest.mark.parametrize("path", ["/sync", "//sync"])
def test_a_customizer_failure_is_500_counted_and_logged(
    app_config: dict[str, Any], records: list[logging.LogRecord], path: str
) -> None:
    from builders import buildable

    app = create_app({**app_config, "SETTINGS": Settings(job_customizer=_customizer)})
    body = request(nimbuild(), caches=[nimcache(profiles=[buildable(tp="1")])])
    seen = call(app, records, "POST", path, json.dumps(body).encode())
    assert seen.status == "500 INTERNAL SERVER ERROR"
    error = json.loads(seen.body)["error"]
    assert error.startswith("job customizer failed: ") and "hostNetwork" in error
    assert seen.metrics == counted("sync", 500)
    [line] = seen.logs
    assert line == {
        "level": "ERROR",
        "logger": "nimbuild.sync",
        "message": f"sync failed: {error.removeprefix('job customizer failed: ')}",
        "object": {"namespace": "default", "name": "test-nimbuild", "uid": UID},
        "code": 500,
    }


@pytest.mark.parametrize("path", ["/sync", "//sync"])
def test_a_core_that_raises_is_500_with_the_object_in_the_log(
    app_config: dict[str, Any],
    records: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    import hooks.core

    def explode(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hooks.core, "sync", explode)
    app = create_app(app_config)
    seen = call(app, records, "POST", path, json.dumps(request(nimbuild())).encode())
    assert seen.status == "500 INTERNAL SERVER ERROR"
    assert seen.headers == json_headers(seen.body)
    assert seen.body == b'{"error":"internal error: RuntimeError"}'
    assert seen.metrics == counted("sync", 500)
    assert seen.logs == [
        {
            "level": "ERROR",
            "logger": "nimbuild.hook",
            "message": "unexpected error answering POST /sync",
            "object": {"namespace": "default", "name": "test-nimbuild", "uid": UID},
            "code": 500,
        }
    ]
    assert records[0].exc_info is not None and "boom" in str(records[0].exc_info[1])


@pytest.mark.parametrize("path", ["/sync", "//sync", "/customize", "///customize"])
def test_an_answer_that_cannot_be_sent_is_500_without_the_object(
    app_config: dict[str, Any],
    records: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    """Past the handler (counting the decision, encoding the answer): still a JSON 500."""
    import hooks.core

    hook = path.strip("/")
    if hook == "sync":
        monkeypatch.setattr(hooks.core, "sync", lambda *_: {"children": []})
        body, kind = request(nimbuild()), "KeyError"
    else:
        monkeypatch.setattr(hooks.core, "customize", lambda *_: {"relatedResources": {1j}})
        body, kind = {"parent": nimbuild()}, "TypeError"
    app = create_app(app_config)
    seen = call(app, records, "POST", path, json.dumps(body).encode())
    assert seen.status == "500 INTERNAL SERVER ERROR"
    assert seen.body == b'{"error":"internal error: %s"}' % kind.encode()
    assert seen.metrics == counted(hook, 500)
    assert seen.logs == [
        {
            "level": "ERROR",
            "logger": "nimbuild.hook",
            "message": f"unexpected error answering POST /{hook}",
        }
    ]
