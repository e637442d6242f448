"""NIM server STAND-IN for tests: not NVIDIA's NIM, just what engine_builder sees of one.

A real NIM server with a `trtllm_buildable` profile builds the engine while it starts,
writes `local_cache/<model>/trtllm_engine/{config.json,rank<N>.engine}` and records the profile
in `local_cache/local_manifest.yaml`, then answers 200 on `/v1/health/ready` (503 before).
This stand-in does the same in a fraction of a second into a temporary model store, with one
switch per way a build can go wrong:

  --failure never-ready   stays 503 forever
  --failure no-manifest   engine files, no manifest
  --failure no-profile    manifest without a profile for the model name
  --failure missing-rank  the last rank file is not written
  --failure bad-yaml      the manifest is not YAML
  --failure unknown-shape the manifest is YAML but none of the shapes (a `manifest` list
                          without `model_profile`)
  --failure die           the process exits half-way through the build

Run as a script; it prints `LISTENING <port>` on stdout once it serves. `spawn()` does that
from a test. The manifest writers are importable for tests that need a manifest on disk.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# "wrapped" has `{id: ...}` entries, "wrapped-keyed" single-key `{<id>: {...}}` ones; both are
# read as the one "wrapped" shape.
FORMATS = ("v1", "list", "v2", "wrapped", "wrapped-keyed")
FAILURES = (
    "none",
    "never-ready",
    "no-manifest",
    "no-profile",
    "missing-rank",
    "bad-yaml",
    "unknown-shape",
    "die",
)


def read_as(fmt: str) -> str:
    """The shape name engine_builder reports for a stand-in format."""
    return "wrapped" if fmt.startswith("wrapped") else fmt


DIE_EXIT_CODE = 17


def profile_id(model_name: str, fmt: str) -> str:
    return hashlib.sha256(f"standin/{model_name}/{fmt}".encode()).hexdigest()


def profile_tags(model_name: str, tp: int, pp: int) -> dict[str, str]:
    return {
        "llm_engine": "tensorrt_llm",
        "precision": "bf16",
        "tp": str(tp),
        "pp": str(pp),
        "gpu": "H100",
        "gpu_device": "2330:10de",
        "profile": "throughput",
        "feat_lora": "false",
        "model_name": model_name,
    }


def write_engine(store: Path, model_name: str, ranks: Sequence[int], folder: str) -> Path:
    """Engine files as NIM leaves them: config.json plus one rank<N>.engine per rank."""
    engine_dir = store / "local_cache" / model_name / folder
    engine_dir.mkdir(parents=True, exist_ok=True)
    (engine_dir / "config.json").write_text('{"version": "1.2.1-standin"}\n')
    for rank in ranks:
        (engine_dir / f"rank{rank}.engine").write_bytes(b"standin engine plan " * 4)
    return engine_dir


def manifest_data(fmt: str, profiles: Sequence[Mapping[str, Any]]) -> Any:
    """Profiles `{id, model, release, tags, files?: [relative names]}` in one manifest format."""
    if fmt == "v1":
        data: dict[str, Any] = {}
        for p in profiles:
            entry: dict[str, Any] = {
                "model": p["model"],
                "release": p["release"],
                "tags": dict(p["tags"]),
                "container_url": "nvcr.io/nim/standin:1.0.0",
            }
            if p.get("files"):
                folder = str(Path(p["files"][0]).parent)
                entry["workspace"] = {
                    "components": [
                        {
                            "dst": folder,
                            "src": {
                                "repo_id": "ngc://nim/standin:local",
                                "files": [Path(f).name for f in p["files"]],
                            },
                        }
                    ]
                }
            data[p["id"]] = entry
        return data
    if fmt.startswith("wrapped"):
        return wrapped_data(fmt, profiles)
    items = []
    for p in profiles:
        item: dict[str, Any] = {"id": p["id"], "tags": dict(p["tags"])}
        if fmt == "list":
            item["model"] = p["model"]
            item["release"] = p["release"]
        if p.get("files"):
            item["workspace"] = _files_workspace(p["files"])
        items.append(item)
    if fmt == "list":
        return items
    return {
        "schema_version": "2.0.0",
        "profile_selection_criteria": [{"key": "gpu", "value": "H100"}],
        "profiles": items,
    }


def _files_workspace(files: Sequence[str]) -> dict[str, Any]:
    return {"files": {f: {"uri": f"ngc://nim/standin:local?file={f}"} for f in files}}


def wrapped_data(fmt: str, profiles: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`{model_profile, manifest: [...]}`; an entry whose model is `model_profile` omits it."""
    model_profile = profiles[-1]["model"] if profiles else "nim/standin"
    items = []
    for p in profiles:
        body: dict[str, Any] = {"release": p["release"], "tags": dict(p["tags"])}
        if p["model"] != model_profile:
            body["model"] = p["model"]
        if p.get("files"):
            body["workspace"] = _files_workspace(p["files"])
        items.append({p["id"]: body} if fmt == "wrapped-keyed" else {"id": p["id"], **body})
    return {"model_profile": model_profile, "manifest": items}


def other_profiles(count: int) -> list[dict[str, Any]]:
    """Profiles for other models, listed before ours, so "first match" is tested."""
    return [
        {
            "id": hashlib.sha256(f"other-{i}".encode()).hexdigest(),
            "model": "nim/other",
            "release": "1.0.0",
            "tags": profile_tags(f"other-model-{i}", 1, 1),
        }
        for i in range(count)
    ]


@dataclass
class Options:
    store: Path
    model_name: str
    fmt: str = "v1"
    tp: int = 1
    pp: int = 1
    build_seconds: float = 0.3
    failure: str = "none"
    workspace: bool = False
    others: int = 1


def build(opts: Options, state: dict[str, bool]) -> None:
    """What the NIM server does while starting with a buildable profile."""
    if opts.failure == "die":
        time.sleep(opts.build_seconds / 2)
        os._exit(DIE_EXIT_CODE)
    time.sleep(opts.build_seconds)
    if opts.failure == "never-ready":
        return
    world = opts.tp * opts.pp
    ranks = list(range(world - 1)) if opts.failure == "missing-rank" else list(range(world))
    folder = "custom_engine" if opts.workspace else "trtllm_engine"
    write_engine(opts.store, opts.model_name, ranks, folder)
    ours = {
        "id": profile_id(opts.model_name, opts.fmt),
        "model": "nim/standin-llm",
        "release": "1.8.4",
        "tags": profile_tags(opts.model_name, opts.tp, opts.pp),
    }
    if opts.workspace:
        ours["files"] = [f"{folder}/config.json"] + [
            f"{folder}/rank{r}.engine" for r in range(world)
        ]
    profiles = other_profiles(opts.others)
    if opts.failure != "no-profile":
        profiles.append(ours)
    manifest = opts.store / "local_cache" / "local_manifest.yaml"
    if opts.failure == "bad-yaml":
        manifest.write_text("profiles: [unclosed\n  - id: {\n")
    elif opts.failure == "unknown-shape":
        data = wrapped_data("wrapped", profiles)
        del data["model_profile"]
        manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    elif opts.failure != "no-manifest":
        manifest.write_text(yaml.safe_dump(manifest_data(opts.fmt, profiles), sort_keys=False))
    state["ready"] = True


def serve(opts: Options, host: str, port: int) -> None:
    state = {"ready": False}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/v1/health/ready":
                code = 200 if state["ready"] else 503
                body = b'{"status":"ready"}' if code == 200 else b'{"status":"building"}'
            else:
                code, body = 404, b"{}"
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests read the builder's logs, not ours

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=build, args=(opts, state), daemon=True).start()
    print(f"LISTENING {server.server_address[1]}", flush=True)
    server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="NIM server stand-in for engine_builder tests")
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--format", dest="fmt", choices=FORMATS, default="v1")
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--pp", type=int, default=1)
    parser.add_argument("--build-seconds", type=float, default=0.3)
    parser.add_argument("--failure", choices=FAILURES, default="none")
    parser.add_argument("--workspace", action="store_true", help="engine in custom_engine/")
    parser.add_argument("--others", type=int, default=1, help="other models' profiles first")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    host, port = args.host, args.port
    del args.host, args.port
    serve(Options(**vars(args)), host, port)


@dataclass
class Running:
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def spawn(store: Path, model_name: str, *args: str, port: int = 0) -> Iterator[Running]:
    """Start the stand-in as its own process (so it can really die); stop it afterwards."""
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--store",
            str(store),
            "--model-name",
            model_name,
            "--port",
            str(port),
            *args,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"NIM stand-in did not start: {line!r}")
        yield Running(process, int(line.split()[1]))
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


if __name__ == "__main__":
    main()
