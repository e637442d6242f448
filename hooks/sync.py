"""The web layer: decode the request, call the pure core, encode the answer.

`create_app(test_config=None)` reads the settings once; the module-level `app` is what
gunicorn serves (`hooks.sync:app`). Every error is a JSON body with the right status code and
never a 200: Metacontroller deletes any child a 200 answer leaves out, while on a 4xx/5xx it
keeps children and status as they are and retries.

Every sync writes one JSON log line (logger `nimbuild.sync`) naming the object under `object`
(`namespace`, `name`, `uid`, as kopf does), with `state`, the Ready `reason`, the HTTP `code`
and `duration_ms`; a refused or failed one (400, 500) says why and on which object. Request
bodies, and so the spec's env values, are never logged.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from werkzeug.exceptions import ClientDisconnected, HTTPException, MethodNotAllowed, NotFound
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_content_length, get_input_stream

from hooks import core, publish
from hooks.errors import RequestError
from hooks.extend import CustomizerError
from hooks.startup import load_settings
from hooks.wire import JSON_OBJECT

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("nimbuild.hook")
sync_log = logging.getLogger("nimbuild.sync")

# How much of an oversized body we read and throw away so the client sees our 413 rather
# than a reset connection; past this we close without reading further.
DRAIN_LIMIT = 64 * 1024 * 1024
CHUNK = 64 * 1024
# Hook paths (without the leading slash), also the `hook` label of the request metrics.
HOOKS = ("sync", "customize", "nimcache/sync", "nimcache/customize")


class Answer(NamedTuple):
    """A JSON answer before it is a response: status, body (keys sorted, so byte-stable) and
    extra headers. The hook paths send it as is; Flask routes wrap it in a Response."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    def response(self) -> Response:
        response = Response(self.body, status=self.status, mimetype="application/json")
        for name, value in self.headers:
            response.headers[name] = value
        return response


def _json(payload: Mapping[str, Any], status: int = 200, **headers: str) -> Answer:
    body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return Answer(status, body, tuple((k.replace("_", "-"), val) for k, val in headers.items()))


def _error(status: int, message: str, **headers: str) -> Answer:
    return _json({"error": message}, status, **headers)


class Metrics:
    """One registry per app, so tests can build apps freely.

    Under several gunicorn workers (`PROMETHEUS_MULTIPROC_DIR` set, as `hooks.gunicorn_conf`
    does), every worker writes its values to files there and `/metrics` adds up all workers'
    files, so whichever worker answers a scrape tells the whole truth."""

    def __init__(self, multiprocess_dir: str = "") -> None:
        self.registry = CollectorRegistry()
        self.exposed = self.registry
        if multiprocess_dir:
            self.exposed = CollectorRegistry()
            MultiProcessCollector(self.exposed, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        self.requests = Counter(
            "nimbuild_hook_requests",
            "Hook requests by hook and HTTP status code.",
            ["hook", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "nimbuild_hook_duration_seconds",
            "Time to answer a hook request.",
            ["hook"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "nimbuild_sync_decisions",
            "Sync answers by resulting state and Ready reason.",
            ["state", "reason"],
            registry=self.registry,
        )
        # Labelled children bound once per label set: `labels()` validates and hashes its
        # arguments and takes a lock on every call, which is per-request cost on the hot path.
        self._answered: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._decided: dict[tuple[str, str], Any] = {}

    def answered(self, hook: str, code: int, seconds: float) -> None:
        bound = self._answered.get((hook, code))
        if bound is None:
            requests = self.requests.labels(hook, str(code))
            bound = self._answered[hook, code] = (requests, self.duration.labels(hook))
        bound[0].inc()
        bound[1].observe(seconds)

    def decided(self, state: str, reason: str) -> None:
        bound = self._decided.get((state, reason))
        if bound is None:
            bound = self._decided[state, reason] = self.decisions.labels(state, reason)
        bound.inc()


def _drain(stream: Any, remaining: int) -> None:
    while remaining > 0:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)


def _read_body(environ: WSGIEnvironment, limit: int, timeout: float) -> bytes | Answer:
    """The request body, or a 413 once it is known to be over `limit`, or a 408 when the
    client stops sending for `timeout` seconds (so a stalled client frees its thread)."""
    sock = environ.get("gunicorn.socket")
    prior = sock.gettimeout() if sock is not None else None
    if sock is not None:
        sock.settimeout(timeout)
    try:
        # As Flask's `request.content_length` and `request.stream` read them; a server that
        # ends the body stream itself (gunicorn sets `wsgi.input_terminated`) is read as is,
        # which is what werkzeug's `get_input_stream` returns there, without asking it.
        length = get_content_length(environ)
        if environ.get("wsgi.input_terminated"):
            stream = environ["wsgi.input"]
        else:
            stream = get_input_stream(environ, max_content_length=None)
        if length is not None and length > limit:
            _drain(stream, min(length, DRAIN_LIMIT))
            return _error(413, f"request body is larger than {limit} bytes")
        data: bytes = stream.read(limit + 1)
        if len(data) > limit:
            _drain(stream, DRAIN_LIMIT)
            return _error(413, f"request body is larger than {limit} bytes")
        return data
    except (TimeoutError, ClientDisconnected):
        return _error(408, f"request body not received (no data for {timeout:g} s)")
    finally:
        if sock is not None:
            sock.settimeout(prior)


def _decode(environ: WSGIEnvironment, limit: int, timeout: float) -> object | Answer:
    data = _read_body(environ, limit, timeout)
    if isinstance(data, Answer):
        return data
    # DESIGN §3 judges a request by its body: the Content-Type is not checked (Metacontroller
    # sends application/json; a JSON body under any other type is served the same way).
    try:
        # orjson rejects invalid UTF-8, unpaired surrogates, NaN/Infinity and deep nesting.
        decoded: object = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        return _error(400, f"request body is not valid JSON: {error}")
    return decoded


def _http_error(error: HTTPException) -> Answer:
    headers = {}
    if error.code == 405:
        allowed = error.get_headers()
        headers = {k: val for k, val in allowed if k.lower() == "allow"}
    return _error(error.code or 500, error.description or error.name, **headers)


# What a hook path answers to a path that is the hook only with a trailing slash, and to a
# method other than POST: werkzeug's own 404 and 405 (Allow: POST), as JSON errors.
NOT_FOUND = _http_error(NotFound())
NOT_ALLOWED = _http_error(MethodNotAllowed(valid_methods=["POST"]))


def _send(answer: Answer, start_response: StartResponse, head: bool = False) -> Iterable[bytes]:
    """The answer as werkzeug's Response would send it: same status line and headers, and no
    body to a HEAD request."""
    status = f"{answer.status} {HTTP_STATUS_CODES.get(answer.status, 'UNKNOWN').upper()}"
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(answer.body))),
        *answer.headers,
    ]
    start_response(status, headers)
    return [] if head else [answer.body]


def object_ref(body: object) -> dict[str, str]:
    """`parent.metadata`'s namespace, name and uid, as far as the body has them (for logs)."""
    parent = body.get("parent") if isinstance(body, JSON_OBJECT) else None
    meta = parent.get("metadata") if isinstance(parent, JSON_OBJECT) else None
    if not isinstance(meta, JSON_OBJECT):
        return {}
    return {key: meta[key] for key in ("namespace", "name", "uid") if type(meta.get(key)) is str}


def _about(body: object, started: float, code: int, **fields: str) -> dict[str, Any]:
    """The `extra` of a sync's log line: the object it is about, the answer's code, the time."""
    elapsed = round((time.perf_counter() - started) * 1000, 3)
    return {"object": object_ref(body), **fields, "code": code, "duration_ms": elapsed}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the hook app. `test_config` may hold `ENV` (settings source, default os.environ),
    `SETTINGS` (a ready Settings) and `CLOCK` (a callable returning an aware datetime)."""
    config = dict(test_config or {})
    settings = config.get("SETTINGS") or load_settings(config.get("ENV", os.environ))
    clock: Callable[[], datetime] = config.get("CLOCK") or (lambda: datetime.now(UTC))
    # Process-wide, not a setting: prometheus_client picks file-backed values at import time.
    metrics = Metrics(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""))

    app = Flask(__name__)
    # No automatic OPTIONS answer (an empty 200 text/html): every method a route does not
    # name gets the JSON 405 (DESIGN §3). Read when each route below is registered.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.config.update(TESTING=bool(config.get("TESTING", False)))
    app.extensions["nimbuild"] = {"settings": settings, "metrics": metrics}
    expected_token = settings.auth_token.encode()

    def unauthorized(environ: WSGIEnvironment) -> Answer | None:
        if not expected_token:
            return None
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected_token
        ):
            return _error(401, "missing or wrong bearer token", WWW_Authenticate="Bearer")
        return None

    def sync(body: object) -> dict[str, Any]:
        return core.sync(body, settings, clock())

    def count_and_log(body: object, result: dict[str, Any], started: float) -> None:
        """A sync's decision counted in metrics and written to the log, one line."""
        status = result["status"]
        ready: dict[str, Any] = next(
            (c for c in status.get("conditions", ()) if c.get("type") == "Ready"), {}
        )
        state, reason = str(status.get("state", "")), str(ready.get("reason", ""))
        metrics.decided(state, reason)
        if sync_log.isEnabledFor(logging.INFO):
            about = _about(body, started, 200, state=state, reason=reason)
            sync_log.info("sync %s: %s", state, reason, extra=about)

    def answer(environ: WSGIEnvironment, path: str, hook: str, started: float) -> Answer:
        """A hook path's answer, its checks in this order: token, route, method, body, core."""
        refused = unauthorized(environ)
        if refused is not None:
            return refused
        if path.lstrip("/") != hook:  # `/sync/`: werkzeug routes "/" + path.lstrip("/")
            return NOT_FOUND
        if environ.get("REQUEST_METHOD") != "POST":
            return NOT_ALLOWED
        handler = handlers[hook]
        body = _decode(environ, settings.max_body_bytes, settings.body_timeout_seconds)
        if isinstance(body, Answer):
            return body
        try:
            result = handler(body)
        except RequestError as error:
            if hook == "sync":
                sync_log.warning("sync refused: %s", error, extra=_about(body, started, 400))
            return _error(400, str(error))
        except CustomizerError as error:
            # The platform's code is wrong, not the request: say why, create no Job, retry.
            sync_log.error("sync failed: %s", error, extra=_about(body, started, 500))
            return _error(500, f"job customizer failed: {error}")
        except Exception as error:
            # Never a 200 with a partial answer: Metacontroller keeps everything and retries.
            log.exception(
                "unexpected error answering POST /%s", hook, extra=_about(body, started, 500)
            )
            return _error(500, f"internal error: {type(error).__name__}")
        if hook == "sync":
            count_and_log(body, result, started)
        return _json(result)

    def published(body: object) -> dict[str, Any]:
        decision = publish.plan(body)
        if decision.added:
            log.info(
                "adding %s to NIMCache.status.profiles",
                ", ".join(decision.added),
                extra={"object": decision.cache},
            )
        return {"status": decision.status}

    # The hook paths are answered here, every method, without Flask's request machinery
    # (request context, routing, before/after hooks, Response object): they are the hot path
    # (issue 11, docs/performance.md). A hook path is a path that is one of HOOKS once stripped
    # of its slashes, which is also its metrics label. Every other path goes to Flask.
    # /nimcache/*: the NIMCache DecoratorController (DESIGN §9), same contract, its own core.
    handlers: dict[str, Callable[[object], dict[str, Any]]] = {
        "sync": sync,
        "customize": core.customize,
        "nimcache/sync": published,
        "nimcache/customize": publish.customize,
    }
    flask_app: WSGIApplication = app.wsgi_app

    def hook_paths(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        hook = path.strip("/")
        if hook not in handlers:
            return flask_app(environ, start_response)
        started = time.perf_counter()
        try:
            result = answer(environ, path, hook, started)
        except HTTPException as error:
            result = _http_error(error)
        except Exception as error:
            # Never a 200 with a partial answer: Metacontroller keeps everything and retries.
            method = environ.get("REQUEST_METHOD")
            log.exception("unexpected error answering %s %s", method, "/" + path.lstrip("/"))
            result = _error(500, f"internal error: {type(error).__name__}")
        metrics.answered(hook, result.status, time.perf_counter() - started)
        return _send(result, start_response, environ.get("REQUEST_METHOD") == "HEAD")

    app.wsgi_app = hook_paths  # type: ignore[method-assign]

    # Known to routing only for paths that reach Flask and merge slashes into a hook path
    # (`/nimcache//sync`): werkzeug redirects such a POST and answers 405 to the rest, so no
    # request is ever dispatched to these rules (they have no view).
    for hook in HOOKS:
        app.add_url_rule(f"/{hook}", endpoint=hook, methods=["POST"])

    @app.get("/healthz")
    def healthz() -> Response:
        return _json({"status": "ok"}).response()

    @app.get("/readyz")
    def readyz() -> Response:
        return _json({"status": "ready"}).response()

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.exposed), content_type=CONTENT_TYPE_LATEST)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return _http_error(error).response()

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        # Never a 200 with a partial answer: Metacontroller keeps everything and retries.
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return _error(500, f"internal error: {type(error).__name__}").response()

    return app


app = create_app()
