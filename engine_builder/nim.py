"""Backend `nim`: the NIM server in the sidecar builds; we wait, then report what it built.

The NIM server builds a `trtllm_buildable` profile as a side effect of starting, records it in
`local_cache/local_manifest.yaml` and then answers 200 on `GET /v1/health/ready` (reference
trtllm-build.md §2.1). This backend turns that into a Job that ends: poll readiness with
backoff (poll starts at most 2 s apart, the probe's own timeout included, so GPUs are released
promptly), watch the NIM processes so a crash fails the build at once instead of at the
deadline, then read the manifest, check the engine files and return the output profile.

The waiting loop takes its clock, sleep and probe as arguments so it can be driven in tests;
the decisions it makes between polls (`next_interval`, `should_log`) are pure.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import urllib.parse
from collections.abc import Callable
from typing import Final

from engine_builder.errors import BuildError
from engine_builder.manifest import (
    MANIFEST_PATH,
    ManifestError,
    engine_layout,
    find_profile,
    parse_manifest,
)
from engine_builder.procwatch import ProcessWatch, describe
from engine_builder.result import Built, OutputProfile
from engine_builder.settings import Settings

log = logging.getLogger("engine_builder")

READY_PATH: Final = "/v1/health/ready"
FIRST_INTERVAL: Final = 0.25  # seconds between the first poll starts
MAX_INTERVAL: Final = 1.5  # DESIGN §6: poll starts at most 2 s apart (margin for a busy node)
PROBE_TIMEOUT: Final = 1.0  # wall-clock budget of one probe, connect to status line
WATCH_SLICE: Final = 0.25  # process checks between polls
LOG_EVERY: Final = 30.0  # one "still waiting" line per this many seconds


def next_interval(interval: float) -> float:
    """Backoff: grow by half, never beyond MAX_INTERVAL."""
    return min(interval * 1.5, MAX_INTERVAL)


def should_log(now: float, last_logged: float) -> bool:
    return now - last_logged >= LOG_EVERY


def probe_ready(url: str, timeout: float) -> tuple[bool, str]:
    """One `GET <url>/v1/health/ready` within `timeout` seconds of wall clock, however slowly
    the server answers: (ready?, what was seen, for the logs). Only the status line is read."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    end = time.monotonic() + timeout
    request = (
        f"GET {parts.path.rstrip('/')}{READY_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection((host, port), timeout=max(timeout, 0.01)) as sock:
            sock.settimeout(max(end - time.monotonic(), 0.01))
            sock.sendall(request)
            head = b""
            while b"\r\n" not in head and len(head) < 1024:
                left = end - time.monotonic()
                if left <= 0:
                    return False, "no answer (timed out)"
                sock.settimeout(left)
                chunk = sock.recv(256)
                if not chunk:
                    break
                head += chunk
    except TimeoutError:
        return False, "no answer (timed out)"
    except OSError as exc:
        return False, f"no answer ({exc.strerror or exc.__class__.__name__})"
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[0].startswith(b"HTTP/") or not status[1].isdigit():
        return False, "bad answer (no HTTP status line)"
    return status[1] == b"200", f"HTTP {status[1].decode()}"


def crash_message(watch: ProcessWatch) -> str:
    pod = os.environ.get("HOSTNAME") or "<pod>"
    return (
        f"the NIM server exited before it was ready ({describe(watch.watched)} gone): the "
        f"engine build crashed; see `kubectl logs {pod} -c nim-build-ctr --previous`"
    )


def wait_until_ready(
    settings: Settings,
    watch: ProcessWatch,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    probe: Callable[[str, float], tuple[bool, str]] = probe_ready,
) -> float:
    """Block until the NIM server is ready; return the seconds waited. BuildError otherwise."""
    start = clock()
    deadline = start + settings.timeout_seconds
    interval = FIRST_INTERVAL
    last_logged = start
    last_seen = "not asked yet"
    announced = False
    log.info(
        "waiting for the NIM server at %s%s (timeout %.0f s, watching %s)",
        settings.nim_url,
        READY_PATH,
        settings.timeout_seconds,
        f"pid {settings.nim_pid}" if settings.nim_pid else "the pod's other processes",
    )

    def watch_ok() -> None:
        nonlocal announced
        state = watch.check()
        if state == "gone":
            raise BuildError(crash_message(watch))
        if state == "alive" and not announced:
            announced = True
            log.info("watching NIM server process(es): %s", describe(watch.watched))

    while True:
        poll_start = clock()
        watch_ok()
        if poll_start >= deadline:
            raise BuildError(
                f"the NIM server at {settings.nim_url} was not ready within "
                f"{settings.timeout_seconds:g} s (last answer: {last_seen})"
            )
        ready, last_seen = probe(settings.nim_url, min(PROBE_TIMEOUT, deadline - poll_start))
        if ready:
            waited = clock() - start
            log.info("NIM server ready after %.1f s", waited)
            return waited
        now = clock()
        if should_log(now, last_logged):
            last_logged = now
            log.info(
                "still waiting for the NIM server: %.0f s elapsed, last answer: %s",
                now - start,
                last_seen,
            )
        # Next poll starts `interval` after this one (or now, if the probe took longer).
        next_start = min(poll_start + interval, deadline)
        interval = next_interval(interval)
        while (now := clock()) < next_start:
            sleep(min(WATCH_SLICE, next_start - now))
            watch_ok()


def read_built_profile(settings: Settings, build_seconds: float) -> Built:
    """After ready: manifest → the profile for our model name → engine files checked."""
    path = settings.model_store / MANIFEST_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BuildError(
            f"the NIM server is ready but wrote no manifest: {path} does not exist"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"cannot read the manifest {path}: {exc}") from exc
    try:
        manifest = parse_manifest(text)
        log.info(
            "read %s (%s format, %d profile(s))", path, manifest.format, len(manifest.profiles)
        )
        profile = find_profile(manifest, settings.model_name)
        layout = engine_layout(profile, settings.model_store, settings.model_name)
    except ManifestError as exc:
        raise BuildError(f"{path}: {exc}") from exc
    log.info("picked profile %s (tags.model_name=%s)", profile.id, settings.model_name)
    missing = [p for p in layout.required if not p.is_file() or p.stat().st_size == 0]
    if missing:
        raise BuildError(
            f"profile {profile.id} is in the manifest but its engine is incomplete: "
            f"missing or empty {', '.join(str(p) for p in missing)}"
        )
    total = sum(p.stat().st_size for p in layout.required)
    log.info(
        "engine files present in %s: %s (%d bytes)",
        layout.engine_dir,
        ", ".join(p.name for p in layout.required),
        total,
    )
    return Built(
        profile=OutputProfile(
            name=profile.id, model=profile.model, release=profile.release, config=profile.tags
        ),
        engine_dir=layout.engine_dir,
        build_seconds=build_seconds,
    )


def run(settings: Settings) -> Built:
    """The whole `nim` backend."""
    watch = ProcessWatch(settings.nim_pid)
    waited = wait_until_ready(settings, watch)
    return read_built_profile(settings, waited)
