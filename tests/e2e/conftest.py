"""Fixtures for the lifecycle scenarios: one gunicorn-served hook for the session, and a fresh
stand-in cluster (tests/e2e/fake_cluster.py) per test, pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crd_schema import status_validator

from e2e.fake_cluster import FakeCluster
from e2e.server import HookServer

BUILDER_IMAGE = "registry.example.com/nimbuild-controller:e2e"


@pytest.fixture(scope="session")
def hook_server() -> Iterator[HookServer]:
    server = HookServer({"NIMBUILD_HOOK_BUILDER_IMAGE": BUILDER_IMAGE})
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def crd_status_validator() -> object:
    return status_validator()


@pytest.fixture
def cluster(hook_server: HookServer, crd_status_validator: object) -> Iterator[FakeCluster]:
    fake = FakeCluster(hook_server.url, status_validator=crd_status_validator)
    yield fake
    assert fake.violations == [], "invariants broken:\n" + "\n".join(fake.violations)
