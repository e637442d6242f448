"""Benchmarks for the hook's hot path (DESIGN §8, issue 11), each against a floor from the same run.

1. In-process: `hooks.core.sync` against `orjson.loads` of the same body, at 40 profiles, for a
   NIMBuild starting a build and one following a running Job (Job and pod with managedFields, as
   Metacontroller sends them), and the cost per extra profile the decision does not select
   (40 → 1,000 profiles). Best of several batches: the least disturbed by other work.
2. HTTP: the hook (`hooks.sync:app`) against the floor (`benchmarks/baseline_app.py`: Flask's
   stock `request.get_json()` and a fixed `jsonify` answer), both served by the same gunicorn
   command (`-c python:hooks.gunicorn_conf`, the shipped settings unless --workers/--threads),
   driven by `benchmarks/loadgen.c` (8 keep-alive connections, closed loop) at 40 and 1,000
   profiles, in rounds A B A B so that both see the same machine. Prints req/s per round, the
   ratio hook/floor, p50/p99 and each worker's RSS after the runs.
3. Publish (the NIMCache decorator, DESIGN §9): `hooks.publish.sync` on a Ready NIMCache of 40
   profiles with 1…160 related NIMBuilds (Ready, with managedFields), everything already
   listed (the steady state: answer null) and nothing listed yet (every profile appended).
   Baseline: orjson.loads of the same body. Prints µs per call and the cost per NIMBuild.
4. `--only profile`: pyinstrument's top entries for the core and for one whole WSGI request
   (the web layer: gunicorn's body reader, Flask, the hook) on both payloads.
5. `--only sweep`: the hook alone under several gunicorn settings (workers x threads), to choose
   what the Deployment ships (docs/performance.md).
6. `--only instructions`: the in-process figures as instruction counts (valgrind's callgrind),
   which do not move with the load of a shared machine.
7. `--only web` / `--only web-instructions`: what the web layer costs per request, piece by
   piece (reading the body, decoding, the core, encoding, metrics, the log line), in µs and in
   instructions, with the shipped logging and multiprocess metrics (`benchmarks/web.py`).

Usage: `make bench` (or `python benchmarks/run.py --quick`). Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
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
FLOOR = "benchmarks.baseline_app:app"
HOOK = "hooks.sync:app"


# --- requests ---------------------------------------------------------------------------------


def cache_with(n: int) -> dict[str, Any]:
    """A Ready NIMCache of `n` profiles, one of them buildable (the one a build selects)."""
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
    """A NIMBuild following its running Job; the Job and pod carry managedFields."""
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


# --- in-process -------------------------------------------------------------------------------


def per_call(fn: Callable[[Any], object], arg: Any, seconds: float) -> float:
    """Best µs per call over 7 batches sized to fill `seconds`: the least disturbed batch."""
    for _ in range(20):
        fn(arg)
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 7:
        fn(arg)
        calls += 1
    best = float("inf")
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(calls):
            fn(arg)
        best = min(best, (time.perf_counter() - t) / calls * 1e6)
    return best


def core_call(body: Any) -> object:
    return sync(body, SETTINGS, NOW)


def bench_pure(seconds: float) -> None:
    print("== in-process, µs per call (best batch); floor = orjson.loads of the same body ==")
    print(f"{'request':<20}{'profiles':>9}{'body KiB':>10}{'loads':>9}{'sync':>9}{'ratio':>7}")
    for shape, make in (("starting a build", starting), ("following a Job", following)):
        costs = {}
        for n in (40, 1000):
            raw = orjson.dumps(make(n))
            body = orjson.loads(raw)
            base = per_call(orjson.loads, raw, seconds)
            costs[n] = per_call(core_call, body, seconds)
            print(
                f"{shape:<20}{n:>9}{len(raw) / 1024:>10.1f}{base:>9.1f}{costs[n]:>9.1f}"
                f"{costs[n] / base:>7.2f}"
            )
        slope = (costs[1000] - costs[40]) / (1000 - 40)
        print(f"  {shape}: {slope:.3f} µs per extra (unselected) profile, 40 → 1,000")


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


# --- HTTP -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(app: str, port: int, env_extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "PYTHONPATH": str(ROOT)}
    env.update(env_extra)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "-c", "python:hooks.gunicorn_conf"),
            *("--access-logfile", "/dev/null", "--error-logfile", "/dev/null", app),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
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


@contextmanager
def served(app: str, env_extra: dict[str, str]) -> Iterator[tuple[int, int]]:
    port = free_port()
    proc = serve(app, port, env_extra)
    try:
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(20)


def worker_rss_mib(master: int) -> list[float]:
    """VmRSS of each gunicorn worker (the master's children)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    sizes = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def cpu_seconds(master: int) -> float:
    """User + system CPU time of the master and its workers so far."""
    pids = [str(master), *Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class Loader:
    """The C load generator, built once; falls back to Python threads without a C compiler."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.binary: Path | None = None
        cc = shutil.which(os.environ.get("CC", "cc"))
        if cc:
            out = workdir / "loadgen"
            source = ROOT / "benchmarks" / "loadgen.c"
            subprocess.run([cc, "-O2", "-pthread", "-o", str(out), str(source)], check=True)
            self.binary = out
        else:
            print("(no C compiler: Python client threads generate the load; figures are lower)")

    def run(
        self, port: int, body: bytes, connections: int, seconds: float
    ) -> tuple[float, list[float]]:
        """Requests per second and sorted latencies in ms."""
        if self.binary is None:
            return python_load(port, body, connections, seconds)
        count, elapsed, errors, latencies = self.load(port, body, connections, seconds)
        if errors:
            raise RuntimeError(f"{errors} failed requests on port {port}")
        return count / elapsed, latencies

    def load(
        self, port: int, body: bytes, connections: int, seconds: float, timeout: float = 0.0
    ) -> tuple[int, float, int, list[float]]:
        """Answered requests, elapsed seconds, requests without a 200 (with `timeout`: not
        answered within it, the connection then replaced) and sorted latencies in ms."""
        assert self.binary is not None
        head = (
            f"POST /sync HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        req = self.workdir / f"request-{port}-{len(body)}"
        req.write_bytes(head + body)
        command = [str(self.binary), "127.0.0.1", str(port), str(seconds), str(connections)]
        command += [str(req), *([str(timeout)] if timeout else [])]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        lines = out.split("\n")
        fields = lines[0].split()
        count, elapsed, errors = int(fields[1]), float(fields[3]), int(fields[5])
        return count, elapsed, errors, sorted(int(x) / 1000 for x in lines[1:] if x)


def python_load(port: int, body: bytes, clients: int, seconds: float) -> tuple[float, list[float]]:
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
            mine.append((time.perf_counter() - t) * 1e3)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.monotonic() - start), sorted(latencies)


def pct(latencies: list[float], q: float) -> float:
    return latencies[min(len(latencies) - 1, int(len(latencies) * q))]


def bench_http(
    loader: Loader, seconds: float, connections: int, rounds: int, env: dict[str, str]
) -> None:
    setting = ", ".join(f"{k}={v}" for k, v in env.items()) or "shipped settings"
    print(
        f"\n== HTTP: gunicorn -c python:hooks.gunicorn_conf ({setting}), 127.0.0.1, "
        f"{connections} keep-alive connections, rounds A B x {rounds}, {seconds:g} s each =="
    )
    for n in (40, 1000):
        body = orjson.dumps(following(n))
        rates: dict[str, list[float]] = {FLOOR: [], HOOK: []}
        lats: dict[str, list[float]] = {FLOOR: [], HOOK: []}
        cpu: dict[str, list[float]] = {FLOOR: [], HOOK: []}  # server CPU ms per request
        with served(FLOOR, env) as (floor_port, floor_pid), served(HOOK, env) as (hook_port, pid):
            ports = {FLOOR: floor_port, HOOK: hook_port}
            masters = {FLOOR: floor_pid, HOOK: pid}
            for app in (FLOOR, HOOK):
                loader.run(ports[app], body, connections, 1.0)  # warm-up
            for _ in range(rounds):
                for app in (FLOOR, HOOK):
                    before = cpu_seconds(masters[app])
                    rate, lat = loader.run(ports[app], body, connections, seconds)
                    used = cpu_seconds(masters[app]) - before
                    rates[app].append(rate)
                    lats[app].extend(lat)
                    cpu[app].append(used / len(lat) * 1e3)
            rss = {FLOOR: worker_rss_mib(floor_pid), HOOK: worker_rss_mib(pid)}
        print(f"-- {n} profiles, following a running Job, body {len(body) / 1024:.0f} KiB")
        print(
            f"{'':<7}{'req/s by round':<28}{'mean':>7}{'p50 ms':>8}{'p99 ms':>8}"
            f"{'CPU ms/req':>11}  RSS/worker MiB"
        )
        for app, name in ((FLOOR, "floor"), (HOOK, "hook")):
            each = " ".join(f"{r:>6.0f}" for r in rates[app])
            lat = sorted(lats[app])
            mean = sum(rates[app]) / len(rates[app])
            sizes = " ".join(f"{s:.0f}" for s in rss[app])
            print(
                f"{name:<7}{each:<28}{mean:>7.0f}{pct(lat, 0.5):>8.2f}{pct(lat, 0.99):>8.2f}"
                f"{min(cpu[app]):>11.2f}  {sizes}"
            )
        pairs = [h / f for h, f in zip(rates[HOOK], rates[FLOOR], strict=True)]
        print(
            f"ratio hook/floor {sum(rates[HOOK]) / sum(rates[FLOOR]):.2f}x "
            f"(by round: {' '.join(f'{p:.2f}' for p in pairs)}); "
            f"by server CPU per request (least of the rounds; moves less with the machine's "
            f"load): {min(cpu[FLOOR]) / min(cpu[HOOK]):.2f}x"
        )


SWEEP = ((1, 8), (2, 4), (2, 8), (3, 4))


def bench_sweep(loader: Loader, seconds: float, connections: int, rounds: int) -> None:
    """The hook alone under several gunicorn settings, all started at once and measured in
    interleaved rounds (so a change in the machine's load hits every setting alike)."""
    print(
        f"\n== gunicorn settings: hook alone, 40 profiles, {connections} connections, "
        f"{rounds} interleaved rounds of {seconds:g} s =="
    )
    body = orjson.dumps(following(40))
    results: dict[tuple[int, int], tuple[list[float], list[float]]] = {
        setting: ([], []) for setting in SWEEP
    }
    with ExitStack() as stack:
        ports = {}
        for workers, threads in SWEEP:
            env = {"WEB_CONCURRENCY": str(workers), "GUNICORN_THREADS": str(threads)}
            ports[workers, threads] = stack.enter_context(served(HOOK, env))
            loader.run(ports[workers, threads][0], body, connections, 1.0)
        for _ in range(rounds):
            for setting in SWEEP:
                rate, lat = loader.run(ports[setting][0], body, connections, seconds)
                results[setting][0].append(rate)
                results[setting][1].extend(lat)
        rss = {setting: worker_rss_mib(ports[setting][1]) for setting in SWEEP}
    print(f"{'workers':>8}{'threads':>8}{'req/s by round':>24}{'p50 ms':>8}{'p99 ms':>8}  RSS MiB")
    for setting, (rates, lat) in results.items():
        lat.sort()
        each = " ".join(f"{r:>5.0f}" for r in rates)
        sizes = " ".join(f"{s:.0f}" for s in rss[setting])
        print(
            f"{setting[0]:>8}{setting[1]:>8}{each:>24}{pct(lat, 0.5):>8.2f}{pct(lat, 0.99):>8.2f}"
            f"  {sizes}"
        )


# --- stalled clients --------------------------------------------------------------------------

STALLS = {
    "none": b"",
    "idle connection": None,  # connected, sends nothing
    "stalled headers": b"POST /sync HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # never finished
}


def bench_stall(loader: Loader, seconds: float, connections: int) -> None:
    """What one misbehaving client costs everyone else, by threads per worker: a connection
    that sends nothing, or stops in the middle of its headers (gunicorn reads the headers
    itself, before the app's body timeout applies). Each request waits at most 1 s; one not
    answered by then counts as lost and its connection is replaced."""
    if loader.binary is None:
        print("(no C compiler: the stalled-client measure needs the C load generator)")
        return
    body = orjson.dumps(following(40))
    print(
        f"\n== stalled clients: hook alone, 40 profiles, {connections} connections, "
        f"{seconds:g} s each, one other client misbehaving; a request not answered within 1 s "
        f"is lost =="
    )
    head = f"{'workers x threads':<19}{'other client':<18}{'answered/s':>11}{'lost':>6}"
    print(f"{head}{'p99 ms':>8}")
    for threads in (1, 2, 4):
        env = {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": str(threads)}
        with served(HOOK, env) as (port, _pid):
            loader.load(port, body, connections, 1.0, timeout=1.0)  # warm-up
            for label, opening in STALLS.items():
                with ExitStack() as stack:
                    if opening != b"":
                        sock = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
                        if opening:
                            sock.sendall(opening)
                        time.sleep(0.2)  # accepted and handed to a thread before the load
                    count, elapsed, lost, lat = loader.load(
                        port, body, connections, seconds, timeout=1.0
                    )
                p99 = f"{pct(lat, 0.99):>8.2f}" if lat else f"{'-':>8}"
                print(f"{f'2 x {threads}':<19}{label:<18}{count / elapsed:>11.0f}{lost:>6}{p99}")


# --- instructions (callgrind) -----------------------------------------------------------------


def callgrind(script: str, *args: str, parts: int = 1) -> list[int]:
    """Instructions counted by callgrind inside each `functools.reduce` call that `script`
    (under benchmarks/) makes, one count per call, in order: the measured calls only, after
    the script's own warm-up."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        subprocess.run(
            [
                *("valgrind", "--tool=callgrind", "--collect-atstart=no"),
                *("--toggle-collect=functools_reduce", "--dump-after=functools_reduce"),
                f"--callgrind-out-file={out}",
                *(sys.executable, str(ROOT / "benchmarks" / script), *args),
            ],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            check=True,
        )
        counts = []
        for part in range(1, parts + 1):
            text = Path(f"{out}.{part}").read_text()
            counts.append(int(next(x for x in text.splitlines() if x.startswith("totals:"))[7:]))
        return counts


def instructions(what: str, shape: str, profiles: int, calls: int) -> float:
    """Instructions per call of `orjson.loads` or `core.sync`, counted by callgrind over
    `calls` calls after a warm-up (benchmarks/instructions.py)."""
    [counted] = callgrind("instructions.py", what, shape, str(profiles), str(calls))
    return counted / calls


def bench_instructions() -> None:
    """Repeatable in-process figures: instruction counts do not depend on the machine's load."""
    if not shutil.which("valgrind"):
        print("(valgrind not found: no instruction counts)")
        return
    print("\n== in-process, instructions per call (callgrind); floor = orjson.loads ==")
    for shape in ("starting", "following"):
        counts = {n: instructions("sync", shape, n, 10 if n < 100 else 3) for n in (40, 1000)}
        base = instructions("loads", shape, 40, 10)
        slope = (counts[1000] - counts[40]) / (1000 - 40)
        print(
            f"{shape:<10} 40 profiles: loads {base / 1e3:,.0f}k, sync {counts[40] / 1e3:,.0f}k "
            f"({counts[40] / base:.2f}x); 1,000 profiles: sync {counts[1000] / 1e3:,.0f}k; "
            f"{slope:,.0f} instructions per extra profile"
        )


# The pieces benchmarks/web.py measures, in its order.
WEB_PIECES = (
    "wsgi",
    "environ",
    "read_body",
    "read_body_no_timeout",
    "settimeout_pair",
    "loads",
    "core.sync",
    "encode",
    "answered",
    "decided",
    "log",
    "format",
    "log:about",
    "log:findCaller",
    "log:makeRecord",
    "log:handlers",
)


# --- the web layer, piece by piece -------------------------------------------------------------


def bench_web(seconds: float) -> None:
    """µs per call of a whole POST /sync and of each piece (benchmarks/web.py, own process)."""
    print("\n== web layer per request, 40 profiles, following a Job (µs per call, best batch) ==")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "web.py"), "time", str(seconds)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print(out, end="")


def bench_web_instructions() -> None:
    """Instructions per call of each piece (callgrind): repeatable on a loaded machine. System
    calls (socket timeouts, the log line's write) are kernel time and not counted."""
    if not shutil.which("valgrind"):
        print("(valgrind not found: no instruction counts)")
        return
    print("\n== web layer per request, 40 profiles, instructions per call (callgrind) ==")
    calls = 40
    counts = callgrind("web.py", "count", str(calls), parts=len(WEB_PIECES))
    for piece, counted in zip(WEB_PIECES, counts, strict=True):
        print(f"{piece:<22}{counted / calls:>12,.0f}")


# --- profiles ---------------------------------------------------------------------------------


def wsgi_call(app: Any, body: bytes) -> Callable[[Any], object]:
    """One POST /sync through the WSGI app, the body read by gunicorn's own reader (in 64 KiB
    pieces, as recv() hands it over), so the profile shows the web layer as served."""

    sock, _other = socket.socketpair()

    def call(_: Any) -> object:
        env = gunicorn_environ(body, sock)
        return b"".join(app(env, lambda status, headers, exc_info=None: None))

    return call


def gunicorn_environ(body: bytes, sock: socket.socket | None) -> dict[str, Any]:
    """A POST /sync as gunicorn hands it to the app: its own body reader over 64 KiB pieces
    (as recv() hands them over), `wsgi.input_terminated`, the client socket."""
    from gunicorn.http.body import Body, LengthReader
    from gunicorn.http.unreader import IterUnreader

    pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    env: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/sync",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": Body(LengthReader(IterUnreader(pieces), len(body))),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,  # gunicorn ends the body stream itself
    }
    if sock is not None:
        env["gunicorn.socket"] = sock
    return env


def profile_top(fn: Callable[[Any], object], arg: Any, seconds: float, label: str) -> None:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002)
    stop = time.perf_counter() + seconds
    calls = 0
    profiler.start()
    while time.perf_counter() < stop:
        fn(arg)
        calls += 1
    session = profiler.stop()
    print(f"\n-- {label}: {calls} calls, {seconds / calls * 1e6:.0f} µs each (profiled)")
    # Self time by function, the top entries: where the time actually goes.
    totals: dict[str, float] = {}

    def walk(frame: Any) -> None:
        if frame is None:
            return
        real = [child for child in frame.children if not child.function.startswith("[")]
        key = f"{frame.function} ({Path(frame.file_path or '?').name}:{frame.line_no})"
        own = frame.time - sum(child.time for child in real)
        totals[key] = totals.get(key, 0.0) + own
        for child in real:
            walk(child)

    walk(session.root_frame())
    total = sum(totals.values()) or 1.0
    for key, spent in sorted(totals.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {spent / total:>6.1%}  {key}")


def bench_profile(seconds: float) -> None:
    from benchmarks.baseline_app import app as floor_app
    from hooks.sync import create_app

    hook_app = create_app({"SETTINGS": SETTINGS, "CLOCK": lambda: NOW})
    print("== profiles (pyinstrument, self time by function, top entries) ==")
    for n in (40, 1000):
        raw = orjson.dumps(following(n))
        profile_top(core_call, orjson.loads(raw), seconds, f"core.sync, following, {n} profiles")
        profile_top(wsgi_call(hook_app, raw), None, seconds, f"hook WSGI /sync, {n} profiles")
        profile_top(wsgi_call(floor_app, raw), None, seconds, f"floor WSGI /sync, {n} profiles")


MEASURES = (
    "pure",
    "publish",
    "http",
    "profile",
    "sweep",
    "instructions",
    "stall",
    "web",
    "web-instructions",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke check)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per HTTP round")
    parser.add_argument("--rounds", type=int, default=2, help="A B rounds per payload")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: shipped)")
    parser.add_argument("--threads", type=int, help="gunicorn threads (default: shipped)")
    parser.add_argument(
        "--only",
        choices=MEASURES,
        action="append",
    )
    args = parser.parse_args()
    seconds = 1.0 if args.quick else args.seconds
    only = set(args.only or ("pure", "publish", "http"))
    env: dict[str, str] = {}
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    if args.threads:
        env["GUNICORN_THREADS"] = str(args.threads)
    if "profile" in only:
        bench_profile(2.0 if args.quick else 5.0)
    if "pure" in only:
        bench_pure(0.3 if args.quick else 1.5)
    if "publish" in only:
        bench_publish(0.2 if args.quick else 1.0)
    if "instructions" in only:
        bench_instructions()
    if "web" in only:
        bench_web(0.3 if args.quick else 1.0)
    if "web-instructions" in only:
        bench_web_instructions()
    with tempfile.TemporaryDirectory() as workdir:
        loader = Loader(Path(workdir))
        if "http" in only:
            bench_http(loader, seconds, args.connections, args.rounds, env)
        if "sweep" in only:
            bench_sweep(loader, seconds, args.connections, args.rounds)
        if "stall" in only:
            bench_stall(loader, seconds, args.connections)


if __name__ == "__main__":
    main()
