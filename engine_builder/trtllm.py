"""Backend `trtllm`: build the engine ourselves with TensorRT-LLM 1.2, then report it.

Opt-in (spec.build), for when the NIM server should not be the builder. The steps, each one
log line: find the input profile's HF snapshot in the model store; ask which GPUs we have and
refuse a precision they cannot run; make the pure plan (plan.py); build rank by rank into a
staging folder next to the final one (same volume, so the rename is atomic); check the files;
rename into `local_cache/<model name>/trtllm_engine/`; add the profile to
`local_cache/local_manifest.yaml` under a file lock with an atomic write, so the NIM server,
the NIM operator and a later NIMService see it as if NIM had built it.

TensorRT-LLM is reached only through trtllm_api.py (lazy import); the GPU query only through
gpu.query_gpus, which tests replace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from filelock import FileLock, Timeout

from engine_builder import gpu, trtllm_api
from engine_builder.errors import BuildError
from engine_builder.manifest import ManifestError, with_profile
from engine_builder.plan import BuildPlan, PlanError, make_plan, profile_id, profile_tags
from engine_builder.result import Built, OutputProfile
from engine_builder.settings import ENV_SOURCE_DIR, Settings

log = logging.getLogger("engine_builder")

SNAPSHOT_GLOB: Final = "ngc/hub/*/snapshots/*"
MANIFEST_LOCK_SECONDS: Final = 600.0


def find_snapshot(model_store: Path) -> Path:
    """The one HF snapshot (config.json + *.safetensors) under ngc/hub/*/snapshots/*."""
    found = sorted(
        path
        for path in model_store.glob(SNAPSHOT_GLOB)
        if (path / "config.json").is_file() and any(path.glob("*.safetensors"))
    )
    if not found:
        raise BuildError(
            f"no HF snapshot (config.json and *.safetensors) under {model_store}/{SNAPSHOT_GLOB}:"
            f" is the input profile a trtllm_buildable one and cached? ({ENV_SOURCE_DIR} names"
            " one explicitly)"
        )
    if len(found) > 1:
        raise BuildError(
            f"{len(found)} HF snapshots under {model_store}/{SNAPSHOT_GLOB}, cannot tell which "
            f"is the input profile's: {', '.join(str(p) for p in found)}; set {ENV_SOURCE_DIR}"
        )
    return found[0]


def read_hf_config(source_dir: Path) -> dict[str, Any]:
    if not any(source_dir.glob("*.safetensors")):
        raise BuildError(f"{source_dir} holds no *.safetensors weights")
    try:
        config = json.loads((source_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot read {source_dir}/config.json: {exc}") from exc
    if not isinstance(config, dict):
        raise BuildError(f"{source_dir}/config.json is not a JSON object")
    return config


def digest(path: Path) -> dict[str, object]:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return {"size": path.stat().st_size, "sha256": sha.hexdigest()}


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder, fsync, rename: readers see old or new."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o664)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def prepare_scratch(scratch: Path) -> None:
    """TMPDIR and the timing cache go to the writable scratch volume (the root FS is read-only)."""
    try:
        scratch.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=scratch)
        probe.close()
    except OSError as exc:
        raise BuildError(f"scratch folder {scratch} is not writable: {exc}") from exc
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = None  # re-read TMPDIR


def build_engine(plan: BuildPlan) -> tuple[dict[str, dict[str, object]], str]:
    """Build every rank into the staging folder; return ({file: {size, sha256}}, version)."""
    trtllm = trtllm_api.load()
    version = trtllm_api.version(trtllm)
    log.info("TensorRT-LLM %s loaded", version)
    shutil.rmtree(plan.staging_dir, ignore_errors=True)
    plan.staging_dir.mkdir(parents=True)
    for rank in plan.ranks:
        started = time.monotonic()
        log.info(
            "building rank %d (%d of %d) on GPU %d",
            rank.rank,
            rank.rank + 1,
            plan.world_size,
            rank.device,
        )
        trtllm_api.build_rank(trtllm, plan, rank, plan.staging_dir)
        log.info("rank %d built in %.1f s", rank.rank, time.monotonic() - started)
    expected = ["config.json", *(f"rank{r.rank}.engine" for r in plan.ranks)]
    missing = [n for n in expected if not (plan.staging_dir / n).is_file()]
    if missing:
        raise BuildError(f"TensorRT-LLM finished but wrote no {', '.join(missing)}")
    files = {p.name: digest(p) for p in sorted(plan.staging_dir.iterdir()) if p.is_file()}
    log.info("engine files: %s", ", ".join(f"{k} ({v['size']} bytes)" for k, v in files.items()))
    return files, version


def install(plan: BuildPlan) -> None:
    """Rename the staging folder onto the engine folder; an older engine is removed after."""
    old = plan.engine_dir.with_name(f".{plan.engine_dir.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if plan.engine_dir.exists():
        plan.engine_dir.rename(old)
    plan.staging_dir.rename(plan.engine_dir)
    shutil.rmtree(old, ignore_errors=True)
    log.info("engine installed in %s", plan.engine_dir)


def record(plan: BuildPlan, tags: dict[str, str], pid: str, extra: dict[str, Any]) -> None:
    """Add the profile to the manifest: lock, read, change, atomic write."""
    lock = FileLock(str(plan.manifest_path) + ".lock", timeout=MANIFEST_LOCK_SECONDS)
    with lock:
        try:
            old = plan.manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            old = None
        try:
            text = with_profile(old, pid, plan.model_name, "", tags, extra)
        except ManifestError as exc:
            raise BuildError(f"cannot add the profile to {plan.manifest_path}: {exc}") from exc
        write_atomically(plan.manifest_path, text)
    log.info("profile %s added to %s", pid, plan.manifest_path)


def run(settings: Settings) -> Built:
    """The whole `trtllm` backend."""
    started = time.monotonic()
    source = settings.source_dir or find_snapshot(settings.model_store)
    hf_config = read_hf_config(source)
    log.info("input profile %s: HF snapshot %s", settings.input_profile, source)
    try:
        gpus = gpu.query_gpus()
    except gpu.GpuError as exc:
        raise BuildError(f"cannot tell which GPUs this Job has: {exc}") from exc
    log.info(
        "GPUs: %s",
        ", ".join(f"{g.index} {g.name} (sm {g.capability[0]}.{g.capability[1]})" for g in gpus)
        or "none",
    )
    try:
        plan = make_plan(
            model_store=settings.model_store,
            model_name=settings.model_name,
            input_profile=settings.input_profile,
            source_dir=source,
            hf_config=hf_config,
            tp=settings.tp,
            pp=settings.pp,
            precision=settings.precision,
            max_batch_size=settings.max_batch_size,
            max_seq_len=settings.max_seq_len,
            max_num_tokens=settings.max_num_tokens,
            scratch_dir=settings.scratch_dir,
            gpus=gpus,
        )
    except PlanError as exc:
        raise BuildError(f"refusing to build: {exc}") from exc
    log.info(
        "plan: %s %s tp=%d pp=%d, %d rank(s) on %d GPU(s), max_batch_size=%d max_seq_len=%d "
        "max_num_tokens=%d → %s",
        plan.architecture,
        plan.dtype,
        plan.tp,
        plan.pp,
        plan.world_size,
        len(gpus),
        plan.limits.max_batch_size,
        plan.limits.max_seq_len,
        plan.limits.max_num_tokens,
        plan.engine_dir,
    )
    for note in plan.notes:
        log.info("plan: %s", note)
    prepare_scratch(plan.scratch_dir)
    workspace = plan.engine_dir.parent
    try:
        workspace.mkdir(parents=True, exist_ok=True)
        build_lock = FileLock(str(workspace / ".build.lock"), timeout=0)
        build_lock.acquire()
    except Timeout:
        raise BuildError(
            f"another build of {plan.model_name} holds {workspace}/.build.lock"
        ) from None
    except OSError as exc:
        raise BuildError(f"the model store is not writable at {workspace}: {exc}") from exc
    try:
        files, version = build_engine(plan)
        first = gpus[0]
        tags = profile_tags(plan, gpu.gpu_tag(first.name), gpu.gpu_device(first.pci_device_id))
        pid = profile_id(tags, files)
        install(plan)
        extra = {
            "nimbuild": {
                "engineDir": str(plan.engine_dir.relative_to(settings.model_store)),
                "files": files,
                "builtWith": f"tensorrt_llm {version}",
            }
        }
        record(plan, tags, pid, extra)
    finally:
        shutil.rmtree(plan.staging_dir, ignore_errors=True)
        build_lock.release()
    return Built(
        profile=OutputProfile(name=pid, model=plan.model_name, release="", config=tags),
        engine_dir=plan.engine_dir,
        build_seconds=time.monotonic() - started,
    )
