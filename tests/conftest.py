"""Shared fixtures for every folder under tests/: an app built from a test config, its client,
and a clean environment; and the layout rules, checked when the tests are collected.

The helpers beside this file (builders.py, crd_schema.py, restricted.py, kustomize_render.py,
make_fixtures.py, make_nimcache_fixtures.py, standins/, e2e/) import by their plain names from
any folder: pyproject's `pythonpath = ["tests"]` puts this folder on sys.path.

Layout rules (README, Development): a test module lives in the folder of its subject, not at
the top; a module that can start a server or a subprocess, or runs hypothesis properties (it
imports one of `SLOW_IMPORTS`), is marked `slow` as a whole (`pytestmark = pytest.mark.slow`),
so `pytest -m "not slow"` stays a quick loop; the project's own modules are imported, never
`importorskip`-ed (a missing one is an error, not a skip).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hooks.settings import Settings
from hooks.sync import create_app

TESTS = Path(__file__).parent
# What starts a server or a subprocess (the stdlib ways and our harnesses around them), and
# hypothesis' `given` (hundreds of generated examples per property, seconds per module).
SLOW_IMPORTS = frozenset(
    {
        "subprocess",
        "socket",
        "threading",
        "multiprocessing",
        "http.server",
        "e2e.server",
        "e2e.fake_cluster",
        "e2e.nimcache_decorator",
        "e2e.test_lifecycle",
        "standins.harness",
        "standins.fake_bin",
        "kustomize_render",
        "hypothesis.given",
    }
)
OWN_PACKAGES = frozenset(
    {"hooks", "engine_builder", "builders", "crd_schema", "restricted", "standins", "e2e"}
)

CLOCK = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
TEST_SETTINGS = Settings(builder_image="registry.example.com/nimbuild-controller:test")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the hook settings another test or the shell left behind."""
    import os

    for name in list(os.environ):
        if name.startswith("NIMBUILD_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"SETTINGS": TEST_SETTINGS, "CLOCK": lambda: CLOCK, "TESTING": True}


@pytest.fixture
def app(app_config: dict[str, Any]) -> Flask:
    return create_app(app_config)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- layout rules ------------------------------------------------------------------------------


def layout_problems(path: Path) -> list[str]:
    """What breaks the layout rules in one test module (see the module docstring)."""
    where = path.relative_to(TESTS)
    if len(where.parts) == 1:
        return [f"{where}: put it in the folder of its subject (decisions/, web/, builder/, ...)"]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    skipped: list[str] = []
    slow = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "importorskip"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            skipped.append(str(node.args[0].value))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            slow = "mark.slow" in ast.unparse(node.value)
    problems = [
        f"{where}: importorskip of the project's own {name!r}: import it"
        for name in skipped
        if name.split(".")[0] in OWN_PACKAGES
    ]
    starts = sorted(imported & SLOW_IMPORTS)
    if starts and not slow:
        problems.append(f"{where}: imports {', '.join(starts)} but is not marked slow")
    return problems


def pytest_collection_modifyitems(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    modules = {Path(str(item.path)) for item in items}
    problems = [
        problem
        for path in sorted(modules)
        if path.is_relative_to(TESTS)
        for problem in layout_problems(path)
    ]
    if problems:
        raise pytest.UsageError("tests/ layout:\n  " + "\n  ".join(problems))


# --- hypothesis profiles (tests/decisions/test_sync_properties.py and others) -------------------
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile(
    "ci",
    derandomize=True,  # the same examples on every run: a failure reproduces
    deadline=None,
    max_examples=300,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
hypothesis_settings.load_profile("ci")
