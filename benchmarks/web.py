"""What the web layer costs per request, piece by piece, in-process (issue 11): a whole POST /sync
through the WSGI app as gunicorn serves it, and each piece of it on its own, with the shipped
logging (gunicorn's logconfig_dict: JSON lines to a stream) and prometheus_client's
multiprocess mode on (as `hooks.gunicorn_conf` sets it). Run by `benchmarks/run.py --only web`
(times) and `--only web-instructions` (callgrind counts); by hand:

    python benchmarks/web.py time
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce \\
        --dump-after=functools_reduce python benchmarks/web.py count 40   # a dump per piece

PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is imported, so this runs as its
own process (a temporary folder is made when the environment names none).
"""

from __future__ import annotations

import functools
import logging
import logging.config
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_folder = ""
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _folder = tempfile.mkdtemp(prefix="nimbuild-bench-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _folder

import orjson  # noqa: E402

from benchmarks.run import (  # noqa: E402
    NOW,
    SETTINGS,
    WEB_PIECES,
    following,
)
from benchmarks.run import gunicorn_environ as environ  # noqa: E402
from hooks import core, gunicorn_conf, jsonlog  # noqa: E402
from hooks import sync as web  # noqa: E402

PROFILES = 40


def shipped_logging() -> None:
    """gunicorn's logconfig_dict, its stream a file on /dev/null (a worker writes to a pipe)."""
    config: dict[str, Any] = dict(gunicorn_conf.logconfig_dict)
    config["handlers"] = {
        "console": {**config["handlers"]["console"], "stream": open(os.devnull, "w")}
    }
    logging.config.dictConfig(config)


def pieces() -> dict[str, Callable[[], object]]:
    """Each piece of a POST /sync, as a call without arguments."""
    shipped_logging()
    raw = orjson.dumps(following(PROFILES))
    body = orjson.loads(raw)
    result = core.sync(body, SETTINGS, NOW)
    app = web.create_app({"SETTINGS": SETTINGS, "CLOCK": lambda: NOW})
    metrics: web.Metrics = app.extensions["nimbuild"]["metrics"]
    sock, _other = socket.socketpair()
    keep.append(_other)
    status = result["status"]
    state = status["state"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    reason = ready["reason"]
    formatter = jsonlog.JsonFormatter()
    started = time.perf_counter()
    record = web.sync_log.makeRecord(
        web.sync_log.name,
        logging.INFO,
        __file__,
        1,
        "sync %s: %s",
        (state, reason),
        None,
        extra=web._about(body, started, 200, state=state, reason=reason),
    )

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        pass

    def wsgi() -> object:
        return b"".join(app(environ(raw, sock), start))

    def read_body() -> object:
        return web._read_body(environ(raw, sock), SETTINGS.max_body_bytes, 5.0)

    def read_body_no_timeout() -> object:
        return web._read_body(environ(raw, None), SETTINGS.max_body_bytes, 5.0)

    def settimeout_pair() -> None:
        prior = sock.gettimeout()
        sock.settimeout(5.0)
        sock.settimeout(prior)

    def log() -> None:
        about = web._about(body, started, 200, state=state, reason=reason)
        web.sync_log.info("sync %s: %s", state, reason, extra=about)

    made: dict[str, Callable[[], object]] = {
        "wsgi": wsgi,
        "environ": lambda: environ(raw, sock),
        "read_body": read_body,
        "read_body_no_timeout": read_body_no_timeout,
        "settimeout_pair": settimeout_pair,
        "loads": lambda: orjson.loads(raw),
        "core.sync": lambda: core.sync(body, SETTINGS, NOW),
        "encode": lambda: web._json(result),
        "answered": lambda: metrics.answered("sync", 200, 0.001),
        "decided": lambda: metrics.decided(state, reason),
        "log": log,
        "format": lambda: formatter.format(record),
        "log:about": lambda: web._about(body, started, 200, state=state, reason=reason),
        "log:findCaller": lambda: web.sync_log.findCaller(False, 1),
        "log:makeRecord": lambda: web.sync_log.makeRecord(
            web.sync_log.name, logging.INFO, __file__, 1, "sync %s: %s", (state, reason), None
        ),
        "log:handlers": lambda: web.sync_log.callHandlers(record),
    }
    assert tuple(made) == WEB_PIECES
    return made


keep: list[socket.socket] = []


def best_us(fn: Callable[[], object], seconds: float) -> float:
    """Best µs per call over 7 batches sized to fill `seconds`."""
    for _ in range(50):
        fn()
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 7:
        fn()
        calls += 1
    best = float("inf")
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t) / calls * 1e6)
    return best


def main() -> None:
    try:
        if sys.argv[1] == "time":
            seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
            for name, fn in pieces().items():
                print(f"{name:<22}{best_us(fn, seconds):>10.2f} µs")
        else:  # count CALLS: each piece in its own functools.reduce (one callgrind dump each)
            calls = int(sys.argv[2])
            made = pieces()
            for fn in made.values():
                for _ in range(50):
                    fn()
            for fn in made.values():
                functools.reduce(lambda _, __, fn=fn: fn(), range(calls), None)
    finally:
        if _folder:
            shutil.rmtree(_folder, ignore_errors=True)


if __name__ == "__main__":
    main()
