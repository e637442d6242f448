"""The web layer: decode the request, call the pure core, encode the answer.

`create_app(test_config=None)` reads the settings once; the module-level `app` is what
gunicorn serves (`hooks.sync:app`). Every error is a JSON body with the right status code and
never a 200: Metacontroller deletes any child a 200 answer leaves out, while on a 4xx/5xx it
keeps children and status as they are and retries.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from werkzeug.exceptions import ClientDisconnected, HTTPException

from hooks import core, publish
from hooks.model import RequestError
from hooks.settings import Settings

log = logging.getLogger("nimbuild.hook")

# How much of an oversized body we read and throw away so the client sees our 413 rather
# than a reset connection; past this we close without reading further.
DRAIN_LIMIT = 64 * 1024 * 1024
CHUNK = 64 * 1024
# Hook paths (without the leading slash), also the `hook` label of the request metrics.
HOOKS = ("sync", "customize", "nimcache/sync", "nimcache/customize")


def _json(payload: Mapping[str, Any], status: int = 200, **headers: str) -> Response:
    body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    response = Response(body, status=status, mimetype="application/json")
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def _error(status: int, message: str, **headers: str) -> Response:
    return _json({"error": message}, status, **headers)


class Metrics:
    """One registry per app, so tests can build apps freely."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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


def _drain(stream: Any, remaining: int) -> None:
    while remaining > 0:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)


def _read_body(limit: int, timeout: float) -> bytes | Response:
    """The request body, or a 413 once it is known to be over `limit`, or a 408 when the
    client stops sending for `timeout` seconds (so a stalled client frees its thread)."""
    sock = request.environ.get("gunicorn.socket")
    prior = sock.gettimeout() if sock is not None else None
    if sock is not None:
        sock.settimeout(timeout)
    try:
        stream = request.stream
        length = request.content_length
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


def _decode(limit: int, timeout: float) -> object | Response:
    data = _read_body(limit, timeout)
    if isinstance(data, Response):
        return data
    # DESIGN §3 judges a request by its body: the Content-Type is not checked (Metacontroller
    # sends application/json; a JSON body under any other type is served the same way).
    try:
        # orjson rejects invalid UTF-8, unpaired surrogates, NaN/Infinity and deep nesting.
        decoded: object = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        return _error(400, f"request body is not valid JSON: {error}")
    return decoded


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the hook app. `test_config` may hold `ENV` (settings source, default os.environ),
    `SETTINGS` (a ready Settings) and `CLOCK` (a callable returning an aware datetime)."""
    config = dict(test_config or {})
    settings = config.get("SETTINGS") or Settings.from_env(config.get("ENV", os.environ))
    clock: Callable[[], datetime] = config.get("CLOCK") or (lambda: datetime.now(UTC))
    metrics = Metrics()

    app = Flask(__name__)
    # No automatic OPTIONS answer (an empty 200 text/html): every method a route does not
    # name gets the JSON 405 (DESIGN §3). Read when each route below is registered.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.config.update(TESTING=bool(config.get("TESTING", False)))
    app.extensions["nimbuild"] = {"settings": settings, "metrics": metrics}

    @app.before_request
    def start_clock() -> Response | None:
        g.started = time.perf_counter()
        if settings.auth_token and request.path.strip("/") in HOOKS:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            expected = settings.auth_token.encode()
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), expected
            ):
                return _error(401, "missing or wrong bearer token", WWW_Authenticate="Bearer")
        return None

    @app.after_request
    def count(response: Response) -> Response:
        hook = request.path.strip("/")
        if hook in HOOKS:
            metrics.requests.labels(hook, str(response.status_code)).inc()
            metrics.duration.labels(hook).observe(time.perf_counter() - g.get("started", 0.0))
        return response

    def answer(handler: Callable[[object], dict[str, Any]]) -> Response:
        body = _decode(settings.max_body_bytes, settings.body_timeout_seconds)
        if isinstance(body, Response):
            return body
        try:
            result = handler(body)
        except RequestError as error:
            return _error(400, str(error))
        return _json(result)

    def decided(body: object) -> dict[str, Any]:
        result = core.sync(body, settings, clock())
        status = result["status"]
        ready: dict[str, Any] = next(
            (c for c in status.get("conditions", ()) if c.get("type") == "Ready"), {}
        )
        metrics.decisions.labels(str(status.get("state", "")), str(ready.get("reason", ""))).inc()
        return result

    @app.post("/sync")
    def sync() -> Response:
        return answer(decided)

    @app.post("/customize")
    def customize() -> Response:
        return answer(core.customize)

    def published(body: object) -> dict[str, Any]:
        decision = publish.plan(body)
        if decision.added:
            log.info(
                "adding %s to NIMCache.status.profiles",
                ", ".join(decision.added),
                extra={"object": decision.cache},
            )
        return {"status": decision.status}

    # The NIMCache DecoratorController (DESIGN §9): same contract, its own pure core.
    @app.post("/nimcache/sync")
    def nimcache_sync() -> Response:
        return answer(published)

    @app.post("/nimcache/customize")
    def nimcache_customize() -> Response:
        return answer(publish.customize)

    @app.get("/healthz")
    def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        return _json({"status": "ready"})

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        headers = {}
        if error.code == 405:
            allowed = error.get_headers()
            headers = {k: val for k, val in allowed if k.lower() == "allow"}
        return _error(error.code or 500, error.description or error.name, **headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        # Never a 200 with a partial answer: Metacontroller keeps everything and retries.
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return _error(500, f"internal error: {type(error).__name__}")

    return app


app = create_app()
