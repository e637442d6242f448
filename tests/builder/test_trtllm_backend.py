"""Backend `trtllm`: the REAL `python -m engine_builder`, TensorRT-LLM and nvidia-smi replaced by
the stand-ins of tests/standins (its pure plan: test_trtllm_plan.py).

Grid: a build into a new manifest and into each existing format ; calls as the 1.2 API expects
them (Mapping per rank, BuildConfig limits, timing cache and TMPDIR on scratch, set_device) ; a
rebuild replaces the engine and the profile with the same id ; a rank failing leaves no engine
and no profile ; refusals before any TensorRT-LLM call ; HF snapshot search (none, several,
explicit) ; no TensorRT-LLM ; no nvidia-smi ; the smoke script (skips here, passes against the
stand-ins).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from standins import fake_bin, harness, nim_server

from builder.test_trtllm_plan import INPUT, MODEL
from engine_builder import tiny_llama
from engine_builder.manifest import find_profile, parse_manifest
from engine_builder.plan import profile_id

pytestmark = pytest.mark.slow


def make_store(root: Path, snapshots: int = 1) -> Path:
    store = root / "model-store"
    for i in range(snapshots):
        tiny_llama.write_tiny_llama(store / f"ngc/hub/models--nim--t{i}/snapshots/hf-{i}")
    return store


def trtllm_env(root: Path, store: Path, **extra: str) -> dict[str, str]:
    return {
        **fake_bin.environment(root),
        "NIMBUILD_BACKEND": "trtllm",
        "NIMBUILD_MODEL_STORE": str(store),
        "NIMBUILD_MODEL_NAME": MODEL,
        "NIMBUILD_INPUT_PROFILE": INPUT,
        "NIMBUILD_TP": "2",
        "NIMBUILD_PP": "1",
        "NIMBUILD_PRECISION": "bf16",
        "NIMBUILD_MAX_BATCH_SIZE": "4",
        "NIMBUILD_MAX_SEQ_LEN": "32",
        "NIMBUILD_MAX_NUM_TOKENS": "64",
        "NIMBUILD_SCRATCH_DIR": str(root / "scratch"),
        "NIMBUILD_RESULT_FILE": str(root / "result.json"),
        "TRTLLM_STANDIN_LOG": str(root / "calls.jsonl"),
        **extra,
    }


def calls(root: Path) -> list[dict[str, Any]]:
    log = root / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def manifest_of(store: Path) -> Any:
    return yaml.safe_load((store / "local_cache/local_manifest.yaml").read_text())


def test_builds_every_rank_and_records_the_profile(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    outcome = harness.run_builder(trtllm_env(tmp_path, store))
    assert outcome.returncode == 0, outcome.stderr
    result = outcome.result
    engine = store / "local_cache" / MODEL / "trtllm_engine"
    assert result["engineDir"] == str(engine)
    assert sorted(p.name for p in engine.iterdir()) == [
        "config.json",
        "rank0.engine",
        "rank1.engine",
    ]
    assert [p.name for p in engine.parent.iterdir() if p.name.startswith(".trtllm")] == []
    profile = result["outputProfile"]
    assert profile["config"] == {
        "llm_engine": "tensorrt_llm",
        "precision": "bf16",
        "tp": "2",
        "pp": "1",
        "gpu": "H100",
        "gpu_device": "2330:10de",
        "model_name": MODEL,
        "input_profile": INPUT,
    }
    assert (profile["model"], profile["release"]) == (MODEL, "")
    manifest = manifest_of(store)
    assert list(manifest) == [profile["name"]]
    entry = manifest[profile["name"]]
    assert entry["tags"] == profile["config"]
    files = entry["nimbuild"]["files"]
    assert profile["name"] == profile_id(profile["config"], files)
    assert files["rank1.engine"]["size"] == (engine / "rank1.engine").stat().st_size
    for step in ("HF snapshot", "plan: LlamaForCausalLM bfloat16 tp=2", "building rank 1 (2 of 2)",
                 "engine installed", "added to"):  # fmt: skip
        assert step in outcome.stderr


def test_calls_the_api_as_tensorrt_llm_1_2_expects(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    gpus = [fake_bin.H100, fake_bin.H100.replace("0,", "1,", 1)]
    env = trtllm_env(tmp_path, store, NIMBUILD_TP="2", NIMBUILD_PP="2", NIMBUILD_PRECISION="fp16")
    env.update(fake_bin.environment(tmp_path, gpus=gpus))
    outcome = harness.run_builder(env)
    assert outcome.returncode == 0, outcome.stderr
    log = calls(tmp_path)
    snapshot = str(store / "ngc/hub/models--nim--t0/snapshots/hf-0")
    assert [c["device"] for c in log if c["call"] == "torch.cuda.set_device"] == [0, 1, 0, 1]
    loads = [c for c in log if c["call"] == "from_hugging_face"]
    assert [c["mapping"] for c in loads] == [
        {"world_size": 4, "rank": r, "tp_size": 2, "pp_size": 2} for r in range(4)
    ]
    assert {(c["hf_dir"], c["dtype"]) for c in loads} == {(snapshot, "float16")}
    builds = [c for c in log if c["call"] == "build"]
    scratch = tmp_path / "scratch"
    for i, call in enumerate(builds):
        config = call["build_config"]
        assert (config["max_batch_size"], config["max_seq_len"], config["max_num_tokens"]) == (
            4,
            32,
            64,
        )
        assert config["output_timing_cache"] == str(scratch / "timing.cache")
        # The first rank writes the cache; later ranks read it.
        assert config["input_timing_cache"] == (None if i == 0 else str(scratch / "timing.cache"))
        assert call["tmpdir"] == str(scratch)
    assert [c["engine_dir"] for c in log if c["call"] == "save"] == [
        str(store / "local_cache" / MODEL / ".trtllm_engine.partial")
    ] * 4


@pytest.mark.parametrize("fmt", nim_server.FORMATS)
def test_adds_to_an_existing_manifest_in_its_format(tmp_path: Path, fmt: str) -> None:
    store = make_store(tmp_path)
    manifest = store / "local_cache/local_manifest.yaml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(yaml.safe_dump(nim_server.manifest_data(fmt, nim_server.other_profiles(2))))
    outcome = harness.run_builder(trtllm_env(tmp_path, store))
    assert outcome.returncode == 0, outcome.stderr
    parsed = parse_manifest(manifest.read_text())
    assert parsed.format == nim_server.read_as(fmt)
    assert len(parsed.profiles) == 3
    assert find_profile(parsed, MODEL).id == outcome.result["outputProfile"]["name"]


def test_a_rebuild_replaces_the_engine_and_the_profile(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    first = harness.run_builder(trtllm_env(tmp_path, store))
    stale = store / "local_cache" / MODEL / "trtllm_engine" / "stale.file"
    stale.write_text("from an older build")
    second = harness.run_builder(trtllm_env(tmp_path, store))
    assert first.returncode == second.returncode == 0, second.stderr
    # Engines are not bit-reproducible (here the timing cache differs), so neither are ids:
    # the manifest keeps exactly one profile for the model, the new one.
    assert list(manifest_of(store)) == [second.result["outputProfile"]["name"]]
    assert first.result["outputProfile"]["config"] == second.result["outputProfile"]["config"]
    assert not stale.exists()


def test_a_failing_rank_leaves_no_engine_and_no_profile(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    outcome = harness.run_builder(trtllm_env(tmp_path, store, TRTLLM_STANDIN_FAIL_RANK="1"))
    assert outcome.returncode == 1
    assert "OutOfMemory" in outcome.result["error"]
    workspace = store / "local_cache" / MODEL
    assert sorted(p.name for p in workspace.iterdir()) == [".build.lock"]
    assert not (store / "local_cache/local_manifest.yaml").exists()


@pytest.mark.parametrize(
    ("gpus", "precision", "message"),
    [
        pytest.param([fake_bin.A100], "fp8", "fp8 needs compute capability >= 8.9", id="fp8-a100"),
        pytest.param([fake_bin.T4], "bf16", "bf16 needs compute capability >= 8.0", id="bf16-t4"),
        pytest.param(None, "bf16", "nvidia-smi not found", id="no-nvidia-smi"),
    ],
)
def test_refuses_before_touching_tensorrt_llm(
    tmp_path: Path, gpus: list[str] | None, precision: str, message: str
) -> None:
    store = make_store(tmp_path)
    env = trtllm_env(tmp_path, store, NIMBUILD_PRECISION=precision)
    env.update(fake_bin.environment(tmp_path / "other", gpus=gpus))
    outcome = harness.run_builder(env)
    assert outcome.returncode == 1
    assert message in outcome.result["error"]
    assert message in outcome.stderr
    assert calls(tmp_path) == []
    assert not (store / "local_cache").exists()


def test_without_tensorrt_llm_says_which_image_to_use(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    env = trtllm_env(tmp_path, store)
    env.update(fake_bin.environment(tmp_path / "other", trtllm=False))
    env.pop("PYTHONPATH", None)
    outcome = harness.run_builder(env)
    assert outcome.returncode == 1
    assert "needs TensorRT-LLM 1.2.x" in outcome.result["error"]


@pytest.mark.parametrize(
    ("snapshots", "source", "message"),
    [
        pytest.param(0, None, "no HF snapshot", id="none"),
        pytest.param(2, None, "2 HF snapshots", id="ambiguous"),
        pytest.param(2, "ngc/hub/models--nim--t1/snapshots/hf-1", None, id="explicit"),
        pytest.param(1, "elsewhere", "holds no *.safetensors", id="explicit-empty"),
    ],
)
def test_finds_the_input_snapshot(
    tmp_path: Path, snapshots: int, source: str | None, message: str | None
) -> None:
    store = make_store(tmp_path, snapshots)
    extra = {"NIMBUILD_SOURCE_DIR": str(store / source)} if source else {}
    if source:
        (store / source).mkdir(parents=True, exist_ok=True)
    outcome = harness.run_builder(trtllm_env(tmp_path, store, **extra))
    if message is None:
        assert outcome.returncode == 0, outcome.stderr
        loads = [c for c in calls(tmp_path) if c["call"] == "from_hugging_face"]
        assert {c["hf_dir"] for c in loads} == {str(store / source)}  # type: ignore[operator]
    else:
        assert outcome.returncode == 1
        assert message in outcome.result["error"]
        if snapshots == 2:
            assert "NIMBUILD_SOURCE_DIR" in outcome.result["error"]


def test_tiny_llama_is_a_valid_safetensors_file(tmp_path: Path) -> None:
    folder = tiny_llama.write_tiny_llama(tmp_path / "m")
    data = (folder / "model.safetensors").read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    shapes = tiny_llama.tensor_shapes()
    assert set(header) - {"__metadata__"} == set(shapes)
    end = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
    assert len(data) == 8 + size + end
    params = sum(
        (v["data_offsets"][1] - v["data_offsets"][0]) // 2
        for k, v in header.items()
        if k != "__metadata__"
    )
    assert params == 8192 + 2 * (4 * 64 * 64 + 3 * 64 * 192 + 2 * 64) + 64 + 8192


# --- scripts/gpu-smoke ------------------------------------------------------------------------

SMOKE = harness.REPO / "scripts" / "gpu-smoke"


def run_smoke(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SMOKE), *args],
        env={**harness.base_env(), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_smoke_skips_plainly_without_a_gpu(tmp_path: Path) -> None:
    env = fake_bin.environment(tmp_path, gpus=None, trtllm=False)
    done = run_smoke(env)
    assert done.returncode == 0
    assert done.stdout.startswith("SKIPPED: no GPU")
    assert run_smoke(env, "--require").returncode == 77


def test_smoke_skips_without_tensorrt_llm(tmp_path: Path) -> None:
    done = run_smoke(fake_bin.environment(tmp_path, trtllm=False))
    assert done.returncode == 0
    assert done.stdout.startswith("SKIPPED: TensorRT-LLM cannot be imported")


def test_smoke_passes_against_the_stand_ins(tmp_path: Path) -> None:
    done = run_smoke(fake_bin.environment(tmp_path), "--tp", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "TensorRT-LLM 1.2.1+standin" in done.stdout
    assert "PASS: built 2 rank(s)" in done.stdout
