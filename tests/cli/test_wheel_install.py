"""`nimbuild` from a plain, non-editable install of the wheel, in a fresh venv.

The wheel is built from a copy of the sources (nothing is written into the worktree) and
installed with pip as a user would, its dependencies resolved from its own metadata (pinned to
requirements.lock's versions so pip's cache serves them; pip reaches no index but PyPI's).
Then, outside the source tree, the three commands work: the CRD and everything else they read
came with the package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import buildable
from conftest import CLOCK

from hooks import core
from hooks.settings import Settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-01-01T12:00:00Z"


def _run(argv: list[str | Path], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env = {k: v for k, v in env.items() if not k.startswith("NIMBUILD_")}
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if check:
        assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed by a plain `pip install <wheel>`."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("hooks", "engine_builder"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    wheels = base / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, source], base)
    (wheel,) = wheels.glob("nimbuild_controller-*.whl")

    fresh = base / "venv"
    _run([sys.executable, "-m", "venv", fresh], base)
    constraints = base / "constraints.txt"
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins = [line.split()[0] for line in lock.splitlines() if "==" in line]
    constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
    pip = [fresh / "bin" / "python", "-m", "pip", "install", "-q"]
    _run([*pip, "--only-binary=:all:", "-c", constraints, wheel], base)
    return fresh


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder outside the source tree with the inputs: an example NIMBuild, a Ready NIMCache."""
    shutil.copy2(ROOT / "examples" / "nimbuild-named-profile.yaml", tmp_path / "nimbuild.yaml")
    parent = yaml.safe_load((tmp_path / "nimbuild.yaml").read_text())
    cache = yaml.safe_load((ROOT / "examples" / "nimcache.yaml").read_text())
    profile = buildable(parent["spec"]["nimCache"]["profile"], tp="1")
    cache["status"] = {"state": "Ready", "profiles": [profile]}
    (tmp_path / "nimcache.yaml").write_text(yaml.safe_dump(cache), encoding="utf-8")
    return tmp_path


def test_the_package_is_installed_not_linked(venv: Path, work: Path) -> None:
    code = "import hooks.cli, pathlib; print(pathlib.Path(hooks.cli.__file__).resolve())"
    where = Path(_run([venv / "bin" / "python", "-c", code], work).stdout.strip())
    assert where.is_relative_to(venv.resolve())
    assert (where.parent / "crds" / "nimbuild.yaml").read_bytes() == (
        ROOT / "crds" / "nimbuild.yaml"
    ).read_bytes()
    assert "render" in _run([venv / "bin" / "python", "-m", "hooks.cli", "--help"], work).stdout


def test_validate_from_the_wheel(venv: Path, work: Path) -> None:
    done = _run([venv / "bin" / "nimbuild", "validate", "-f", "nimbuild.yaml"], work)
    assert (
        done.stdout.splitlines()[-1] == "nimbuild.yaml:4: NIMBuild meta-llama3-8b-instruct: valid"
    )
    bad = work / "bad.yaml"
    bad.write_text((work / "nimbuild.yaml").read_text().replace("modelName", "modelname"))
    done = _run([venv / "bin" / "nimbuild", "validate", "-f", bad], work, check=False)
    assert done.returncode == 2
    assert 'spec.modelname: unknown field "spec.modelname"' in done.stdout


def test_render_and_fixture_from_the_wheel(venv: Path, work: Path) -> None:
    inputs = ["-f", "nimbuild.yaml", "--nimcache", "nimcache.yaml", "--now", NOW, "--no-env"]
    done = _run([venv / "bin" / "nimbuild", "render", *inputs], work)
    status, job = yaml.safe_load_all(done.stdout)
    assert status["status"]["state"] == "Started"
    assert job["kind"] == "Job"

    _run([venv / "bin" / "nimbuild", "fixture", *inputs, "-o", "case", "--expected"], work)
    request: dict[str, Any] = json.loads((work / "case" / "request.json").read_text())
    expected = json.loads((work / "case" / "expected.json").read_text())
    assert expected == core.sync(request, Settings(), CLOCK)
    assert [expected["status"], *expected["children"]] == [status["status"], job]


def test_an_input_error_from_the_wheel_is_one_line(venv: Path, work: Path) -> None:
    (work / "broken.yaml").write_text("kind: [NIMBuild\nmetadata: {}\n")
    done = _run([venv / "bin" / "nimbuild", "render", "-f", "broken.yaml"], work, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("nimbuild render: broken.yaml:2:")
    assert done.stderr.count("\n") == 1
