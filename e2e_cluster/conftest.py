"""pytest wiring for the real-cluster suite (`make e2e`): one cluster per session, one
namespace (Pod Security "restricted") and one invariant observer per test."""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e_cluster import procs
from e2e_cluster.cluster import Cluster
from e2e_cluster.scene import Scene

_clusters: list[Cluster] = []


def pytest_configure(config: pytest.Config) -> None:
    procs.install_handlers()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and _clusters:
        text = "\n".join(f"{c.root}:\n{c.describe_logs()}" for c in _clusters)
        report.sections.append(("component logs", text))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int) -> None:
    if exitstatus != 0 and _clusters:
        terminalreporter.write_line("component logs:")
        for c in _clusters:
            terminalreporter.write_line(c.describe_logs())


def start_cluster(prefix: str, *, bearer_token: bool = False) -> Cluster:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    cluster = Cluster(root, bearer_token=bearer_token)
    _clusters.append(cluster)
    try:
        cluster.up()
    except BaseException:
        cluster.down()
        raise
    return cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    running = start_cluster("nimbuild-e2e-")
    try:
        yield running
    finally:
        running.down()


@pytest.fixture
def scene(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[Scene]:
    short = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_"))[:40]
    namespace = f"{short.strip('-')}-{uuid.uuid4().hex[:5]}"
    with Scene.open(cluster, namespace) as opened:
        yield opened
