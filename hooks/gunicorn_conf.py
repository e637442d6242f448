"""gunicorn settings for the hook (`gunicorn -c python:hooks.gunicorn_conf hooks.sync:app`).

Two gthread workers of 4 threads, chosen by measurement for the hook's 2-core pod
(docs/performance.md, `benchmarks/run.py --only sweep` and `--only stall`): one worker per core,
since one Python process runs on one core at a time, and a few threads each, so a slow client or
a large body never holds a whole worker. The worker is gunicorn's gthread with two changes
(hooks/gunicorn_worker.py): silent connections hold no thread, stalled headers time out.
Metacontroller runs several workers per controller, so the hook must answer concurrently.

With more than one worker, `/metrics` is served in prometheus_client's multiprocess mode:
each worker writes its values under PROMETHEUS_MULTIPROC_DIR (set here to a fresh folder
under /tmp when the environment does not name one) and a scrape adds up every worker's.
"""

import glob
import os
import shutil
import sys
import tempfile

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8080')}"
worker_class = "hooks.gunicorn_worker.ThreadWorker"  # gthread, no thread held by a silent client
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30  # Metacontroller's hook timeout is 10 s by default
graceful_timeout = 20  # under the pod's 30 s termination grace period
keepalive = 5
limit_request_line = 8190
limit_request_fields = 100
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
# No control socket: the root filesystem is read-only in the hook's pod.
control_socket_disable = True
certfile = os.environ.get("TLS_CERT_FILE") or None
keyfile = os.environ.get("TLS_KEY_FILE") or None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "hooks.jsonlog.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"level": os.environ.get("LOG_LEVEL", "INFO"), "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}


_created: list[str] = []  # a folder made here is removed again when gunicorn exits


def on_starting(server: object) -> None:
    """Before any worker starts: the hook settings checked once, in the master (a malformed
    NIMBUILD_HOOK_* value stops gunicorn with one log line naming the variable, instead of a
    worker traceback and a restart loop); then, before any worker imports prometheus_client,
    an empty metrics folder, so values of an earlier run never add to this one's."""
    from hooks.settings import SettingsError
    from hooks.startup import load_settings

    try:
        load_settings(os.environ)
    except SettingsError as error:
        server.log.error("invalid hook settings: %s", error)  # type: ignore[attr-defined]
        sys.exit(1)
    if workers <= 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if not folder:
        folder = tempfile.mkdtemp(prefix="nimbuild-metrics-")
        _created.append(folder)
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(folder, "*.db")):
        os.remove(stale)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def child_exit(server: object, worker: object) -> None:
    """A worker that ends leaves its counters in the folder (they still count); only its
    live gauges, if any, are dropped."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined,no-untyped-call]


def on_exit(server: object) -> None:
    for folder in _created:
        shutil.rmtree(folder, ignore_errors=True)
