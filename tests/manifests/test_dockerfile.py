"""Static checks of the Dockerfile, .dockerignore and requirements.lock (no docker engine here).

Cases:
- every base image pinned by tag AND sha256 digest; runtime on python:3.11-slim-bookworm,
  trtllm on NVIDIA's TensorRT-LLM 1.2 release image; the default (last) target is runtime;
- numeric non-root USER in each shipped stage, set before the smoke test and CMD;
- exec-form CMD: gunicorn with hooks.gunicorn_conf serving hooks.sync:app; trtllm runs
  engine_builder; the modules they name exist;
- dependencies installed only from the hash-locked requirements.lock; the runtime stage takes
  only the venv and the app from the build stage, installs nothing, compiles nothing;
- a build-time import smoke test in each shipped stage;
- requirements.lock: every pin has hashes, its top level is exactly pyproject's runtime
  dependencies (no test tools), pins satisfy pyproject and equal the tested venv;
- .dockerignore is an allow-list that lets in exactly what the Dockerfile copies.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"
PINNED = re.compile(r"^(?P<repo>[a-z0-9./_-]+):(?P<tag>[\w.-]+)@sha256:[0-9a-f]{64}$")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [args for o, args in self.instructions if o == op]


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        lines.append(current + stripped)
        current = ""
    assert not current, "dangling line continuation"
    return lines


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages (base resolved from those ARGs)."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(text):
        op, _, rest = line.partition(" ")
        op = op.upper()
        rest = rest.strip()
        if op == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            assert match, line
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], match[1])
            stages.append(Stage(base=base, name=match[2] or str(len(stages))))
        elif not stages and op == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            assert stages, f"{op} before the first FROM"
            stages[-1].instructions.append((op, rest))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    _, parsed = parse(DOCKERFILE.read_text(encoding="utf-8"))
    by_name = {s.name: s for s in parsed}
    assert len(by_name) == len(parsed), "stage names are unique"
    assert list(by_name)[-1] == "runtime", "`docker build .` (last stage) builds the hook image"
    return by_name


@pytest.fixture(scope="module")
def runtime(stages: dict[str, Stage]) -> Stage:
    return stages["runtime"]


@pytest.fixture(scope="module")
def trtllm(stages: dict[str, Stage]) -> Stage:
    return stages["trtllm"]


def test_parser_understands_continuations_and_args() -> None:
    args, parsed = parse('ARG B=x:1@sha256:abc\nFROM ${B} AS one\nRUN a \\\n  b\nCMD ["c"]\n')
    assert args == {"B": "x:1@sha256:abc"}
    assert [(s.name, s.base) for s in parsed] == [("one", "x:1@sha256:abc")]
    assert parsed[0].instructions == [("RUN", "a b"), ("CMD", '["c"]')]


def test_every_external_base_is_pinned_by_tag_and_digest(stages: dict[str, Stage]) -> None:
    for stage in stages.values():
        if stage.base in stages:
            continue  # FROM an earlier stage
        assert PINNED.match(stage.base), f"stage {stage.name}: {stage.base} not tag@digest"


def test_bases(stages: dict[str, Stage]) -> None:
    runtime_base = PINNED.match(stages["runtime"].base)
    assert runtime_base and (runtime_base["repo"], runtime_base["tag"]) == (
        "python",
        "3.11-slim-bookworm",
    )
    assert stages["build"].base == stages["runtime"].base, "venv built against the same Python"
    trtllm_base = PINNED.match(stages["trtllm"].base)
    assert trtllm_base and trtllm_base["repo"] == "nvcr.io/nvidia/tensorrt-llm/release"
    assert trtllm_base["tag"].startswith("1.2."), "TensorRT-LLM 1.2: the last line with engines"


def _user_before(stage: Stage, op: str) -> str:
    user = None
    for o, args in stage.instructions:
        if o == "USER":
            user = args
        if o == op:
            break
    assert user is not None, f"no USER before {op} in {stage.name}"
    return user


@pytest.mark.parametrize("name", ["runtime", "trtllm"])
def test_numeric_non_root_user(stages: dict[str, Stage], name: str) -> None:
    stage = stages[name]
    users = stage.all("USER")
    assert users == ["10001:10001"], users
    uid, gid = users[0].split(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    assert _user_before(stage, "CMD") == "10001:10001"


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(x, str) for x in value), args
    return value


def test_runtime_cmd(runtime: Stage) -> None:
    (cmd,) = runtime.all("CMD")
    assert _exec_form(cmd) == ["gunicorn", "-c", "python:hooks.gunicorn_conf", "hooks.sync:app"]
    assert runtime.all("ENTRYPOINT") == []
    assert (ROOT / "hooks" / "gunicorn_conf.py").exists()
    assert (ROOT / "hooks" / "sync.py").exists()


def test_trtllm_cmd(trtllm: Stage) -> None:
    (cmd,) = trtllm.all("CMD")
    assert _exec_form(cmd)[-2:] == ["-m", "engine_builder"]
    for entrypoint in trtllm.all("ENTRYPOINT"):
        assert _exec_form(entrypoint) == [], "NVIDIA's entrypoint script is not in the way"
    assert "NIMBUILD_BACKEND=trtllm" in " ".join(trtllm.all("ENV"))
    assert (ROOT / "engine_builder" / "__main__.py").exists()


def test_dependencies_come_only_from_the_hash_locked_lock(stages: dict[str, Stage]) -> None:
    installs = [
        (stage.name, run)
        for stage in stages.values()
        for run in stage.all("RUN")
        if re.search(r"\bpip\b.*\binstall\b", run)
    ]
    assert installs, "dependencies are installed somewhere"
    for name, run in installs:
        assert name == "build", f"pip install outside the build stage: {run}"
        assert "--require-hashes" in run and "--no-deps" in run
        assert re.search(r"-r \S*requirements\.lock\b", run), run
        assert "/opt/venv" in run, "into the venv"
    assert any("venv" in run for run in stages["build"].all("RUN"))


def test_runtime_holds_only_the_venv_and_the_app(runtime: Stage) -> None:
    copies = runtime.all("COPY")
    assert sorted(copies) == ["--from=build /app /app", "--from=build /opt/venv /opt/venv"]
    assert runtime.all("ADD") == []
    for run in runtime.all("RUN"):
        assert not re.search(r"apt-get|apk |pip install|gcc|make\b|curl|wget", run), run
    env = " ".join(runtime.all("ENV"))
    assert "PATH=/opt/venv/bin" in env and "PYTHONPATH=/app" in env


def test_app_copies_only_the_packages(stages: dict[str, Stage]) -> None:
    sources = {
        args.split()[0]
        for stage in stages.values()
        for args in stage.all("COPY")
        if not args.startswith("--from=")
    }
    assert sources == {"requirements.lock", "hooks/", "engine_builder/"}


@pytest.mark.parametrize(
    ("name", "needed"),
    [
        pytest.param("runtime", ("import hooks.sync", "engine_builder", "gunicorn"), id="runtime"),
        pytest.param("trtllm", ("import engine_builder", "tensorrt_llm"), id="trtllm"),
    ],
)
def test_build_time_smoke_test(
    stages: dict[str, Stage], name: str, needed: tuple[str, ...]
) -> None:
    stage = stages[name]
    smoke = [
        index
        for index, (op, args) in enumerate(stage.instructions)
        if op == "RUN" and all(word in args for word in needed)
    ]
    assert smoke, f"no smoke test in {name} mentioning {needed}"
    user = next(i for i, (op, _) in enumerate(stage.instructions) if op == "USER")
    assert user < smoke[0], "the smoke test runs as the runtime user"


# --- requirements.lock ----------------------------------------------------------------------


def _lock() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from requirements.lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = LOCK.read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        block = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("#"))
        if not block.strip():
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s;\\]+)", block)
        assert match, f"unpinned entry: {block[:80]}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        entries[canonicalize_name(match[1])] = (match[2], hashes)
    return entries


def _runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in project["dependencies"]]


def test_lock_is_fully_hashed() -> None:
    lock = _lock()
    assert len(lock) >= len(_runtime_requirements())
    for name, (_, hashes) in lock.items():
        assert hashes, f"{name} has no hash"


def test_lock_covers_runtime_dependencies_only() -> None:
    lock = _lock()
    for requirement in _runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} missing from requirements.lock"
        assert requirement.specifier.contains(lock[name][0]), (name, lock[name][0])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = {
        canonicalize_name(Requirement(r).name)
        for group in project.get("optional-dependencies", {}).values()
        for r in group
    }
    runtime = {canonicalize_name(r.name) for r in _runtime_requirements()}
    assert not (extras - runtime) & lock.keys(), "test/dev tools in the runtime image"
    text = LOCK.read_text(encoding="utf-8")
    # pip-compile's "# via" names the project on its own line or in an indented list.
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    direct = [
        b.split("==")[0]
        for b in blocks
        if "#   nimbuild-controller" in b or "# via nimbuild-controller" in b
    ]
    assert {canonicalize_name(n) for n in direct} == runtime


def test_lock_matches_the_tested_venv() -> None:
    """The image runs the versions the test suite ran with."""
    mismatched = {}
    for name, (version, _) in _lock().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            mismatched[name] = (version, None)
            continue
        if installed != version:
            mismatched[name] = (version, installed)
    assert mismatched == {}, "regenerate requirements.lock (see its header) or the venv"


# --- .dockerignore --------------------------------------------------------------------------


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        regex = re.escape(body).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
        if re.fullmatch(regex + "(?:/.*)?", path):
            ignored = not negate
    return ignored


def test_dockerignore_is_an_allow_list() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "deny everything, then allow what the Dockerfile copies"
    for path in ("requirements.lock", "hooks/sync.py", "engine_builder/__main__.py"):
        assert not _ignored(path, patterns), path
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/manifests/test_crds.py",
        "hooks/__pycache__/x.pyc",
    ):
        assert _ignored(path, patterns), path
