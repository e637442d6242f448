"""Benchmarks for the hook's hot path (DESIGN §8), each against a baseline from the same run.

1. Pure sync: `hooks.core.sync` on requests whose NIMCache has 1…160 profiles, for a NIMBuild
   starting a build and one following a running Job (with pods carrying managedFields, as
   Metacontroller sends them). Baseline: decoding the same body with orjson. Prints µs per
   call, the cost per extra profile (linearity) and the ratio to the baseline.
2. Publish (the NIMCache decorator, DESIGN §9): `hooks.publish.sync` on a Ready NIMCache of 40
   profiles with 1…160 related NIMBuilds (Ready, with managedFields), everything already
   listed (the steady state: answer null) and nothing listed yet (every profile appended).
   Baseline: orjson.loads of the same body. Prints µs per call and the cost per NIMBuild.
3. HTTP: the hook under gunicorn (`hooks.gunicorn_conf`) against `benchmarks/baseline_app.py`
   (same stack, only parses the body), both on 127.0.0.1, driven by a few keep-alive clients.
   Prints requests/s and latency percentiles for both and their ratio.

Usage: `make bench` (or `python benchmarks/run.py --quick`). Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from builders import (  # noqa: E402
    RUNNING,
    as_observed_job,
    buildable,
    container,
    nimbuild,
    nimcache,
    pod,
    profile,
    request,
)
from make_nimcache_fixtures import (  # noqa: E402
    built_profile,
    decorator_request,
    nimcache_target,
    ready_nimbuild,
)

from hooks import publish  # noqa: E402
from hooks.core import sync  # noqa: E402
from hooks.settings import Settings  # noqa: E402

SETTINGS = Settings()
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def cache_with(n: int) -> dict[str, Any]:
    tags = {
        "tp": "1",
        "precision": "fp16",
        "llm_engine": "tensorrt_llm",
        "gpu": "H100",
        "gpu_device": "2330:10de",
        "profile": "throughput",
        "feat_lora": "false",
    }
    profiles = [profile(f"{i:064x}", trtllm_buildable="false", **tags) for i in range(n - 1)]
    return nimcache(profiles=[*profiles, buildable("b" * 64, tp="1")])


def starting(n: int) -> dict[str, Any]:
    return request(nimbuild(), caches=[cache_with(n)])


def following(n: int) -> dict[str, Any]:
    first = sync(starting(n), SETTINGS, NOW)
    job = as_observed_job(first["children"][0])
    job["metadata"]["managedFields"] = [
        {"manager": "kube-controller-manager", "fieldsV1": {f"f:k{i}": {} for i in range(200)}}
    ]
    running = pod(
        nim=container("nim-build-ctr", RUNNING), builder=container("engine-builder", RUNNING)
    )
    running["metadata"]["managedFields"] = job["metadata"]["managedFields"]
    return request(
        nimbuild(status=first["status"]), caches=[cache_with(n)], jobs=[job], pods=[running]
    )


def per_call(fn: Any, arg: Any, seconds: float) -> float:
    """Median µs per call over five timed batches sized to fill `seconds`."""
    for _ in range(50):
        fn(arg)
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 5:
        fn(arg)
        calls += 1
    samples = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(calls):
            fn(arg)
        samples.append((time.perf_counter() - t) / calls * 1e6)
    return statistics.median(samples)


def bench_pure(seconds: float) -> None:
    print("== pure sync (µs per call; baseline = orjson.loads of the same body) ==")
    print(f"{'request':<22}{'profiles':>9}{'body KiB':>10}{'baseline':>10}{'sync':>10}{'ratio':>8}")
    for shape, make in (("starting a build", starting), ("following a Job", following)):
        rows = []
        for n in (1, 10, 40, 160):
            raw = orjson.dumps(make(n))
            body = orjson.loads(raw)
            base = per_call(orjson.loads, raw, seconds)
            cost = per_call(lambda b: sync(b, SETTINGS, NOW), body, seconds)
            rows.append((n, cost))
            print(
                f"{shape:<22}{n:>9}{len(raw) / 1024:>10.1f}{base:>10.1f}{cost:>10.1f}"
                f"{cost / base:>8.1f}"
            )
        slope = (rows[-1][1] - rows[0][1]) / (rows[-1][0] - rows[0][0])
        mid = rows[0][1] + slope * (40 - 1)
        print(
            f"  {shape}: {slope:.2f} µs per extra profile; linear fit predicts {mid:.0f} µs "
            f"at 40 profiles, measured {rows[2][1]:.0f} µs"
        )


def decorated(builds: int, listed: bool) -> dict[str, Any]:
    """A NIMCache of 40 profiles and `builds` Ready NIMBuilds of it (their profiles listed or
    not), each NIMBuild carrying managedFields as the API server returns them."""
    nimbuilds = []
    for i in range(builds):
        build = ready_nimbuild(
            f"build-{i:03d}", created=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"
        )
        build["metadata"]["managedFields"] = [
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}},
            {"manager": "metacontroller", "operation": "Update", "subresource": "status"},
        ]
        nimbuilds.append(build)
    cached = [cache_with(40)["status"]["profiles"][i] for i in range(40)]
    published = [built_profile(b["metadata"]["name"]) for b in nimbuilds] if listed else []
    return decorator_request(nimcache_target(profiles=cached + published), nimbuilds)


def bench_publish(seconds: float) -> None:
    print("== publish: NIMCache decorator sync (µs per call; baseline = orjson.loads) ==")
    print(
        f"{'request':<22}{'nimbuilds':>9}{'body KiB':>10}{'baseline':>10}{'sync':>10}{'ratio':>8}"
    )
    for shape, listed in (("all listed (null)", True), ("none listed", False)):
        rows = []
        for n in (1, 10, 40, 160):
            raw = orjson.dumps(decorated(n, listed))
            body = orjson.loads(raw)
            base = per_call(orjson.loads, raw, seconds)
            cost = per_call(publish.sync, body, seconds)
            rows.append((n, cost))
            print(
                f"{shape:<22}{n:>9}{len(raw) / 1024:>10.1f}{base:>10.1f}{cost:>10.1f}"
                f"{cost / base:>8.1f}"
            )
        slope = (rows[-1][1] - rows[0][1]) / (rows[-1][0] - rows[0][0])
        print(f"  {shape}: {slope:.2f} µs per extra NIMBuild")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(app: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:hooks.gunicorn_conf",
            "--access-logfile",
            "/dev/null",
            "--error-logfile",
            "/dev/null",
            app,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{app} did not start on port {port}")


def load(port: int, body: bytes, clients: int, seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        while time.monotonic() < stop:
            t = time.perf_counter()
            conn.request("POST", "/sync", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
            mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.monotonic() - start), sorted(latencies)


def bench_http(seconds: float, clients: int) -> None:
    print(
        f"\n== HTTP, gunicorn gthread on 127.0.0.1, {clients} keep-alive clients, "
        f"{seconds:.0f} s each =="
    )
    print(f"{'server':<34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    body = orjson.dumps(following(40))
    results = {}
    for name, app in (
        ("baseline (parse only)", "benchmarks.baseline_app:app"),
        ("hook /sync (40 profiles, Job)", "hooks.sync:app"),
    ):
        port = free_port()
        proc = serve(app, port)
        try:
            load(port, body, clients, 1.0)  # warm-up
            rate, lat = load(port, body, clients, seconds)
        finally:
            proc.terminate()
            proc.wait(10)
        results[name] = rate
        p50 = lat[len(lat) // 2] * 1e3
        p99 = lat[int(len(lat) * 0.99)] * 1e3
        print(f"{name:<34}{rate:>9.0f}{p50:>9.2f}{p99:>9.2f}")
    base, hook = results.values()
    print(
        f"hook throughput is {hook / base:.0%} of the parse-only baseline "
        f"(body {len(body) / 1024:.1f} KiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke check)")
    args = parser.parse_args()
    bench_pure(0.2 if args.quick else 1.0)
    bench_publish(0.2 if args.quick else 1.0)
    bench_http(1.0 if args.quick else 5.0, clients=4)


if __name__ == "__main__":
    main()
