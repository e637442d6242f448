"""Shared fixtures for every folder under tests/: an app built from a test config, its client,
and a clean environment.

The helpers beside this file (builders.py, crd_schema.py, restricted.py, kustomize_render.py,
make_fixtures.py, make_nimcache_fixtures.py, standins/, e2e/) import by their plain names from
any folder: pyproject's `pythonpath = ["tests"]` puts this folder on sys.path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hooks.settings import Settings
from hooks.sync import create_app

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
