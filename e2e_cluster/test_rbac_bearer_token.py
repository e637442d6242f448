"""RBAC as shipped, with the bearer-token component: Metacontroller bound only to the project's
roles (metacontroller/rbac.yaml and the component's) plus its own upstream needs
(metacontroller-rbac.yaml) reaches Ready, and the hook refuses calls without the token.
The variant without the token is the main cluster of test_scenarios.py."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from e2e_cluster import mclog
from e2e_cluster.cluster import Cluster
from e2e_cluster.conftest import start_cluster
from e2e_cluster.scene import Scene


@pytest.fixture(scope="module")
def token_cluster() -> Iterator[Cluster]:
    running = start_cluster("nimbuild-e2e-token-", bearer_token=True)
    try:
        yield running
    finally:
        running.down()


def test_bearer_token_variant_reaches_ready_under_the_shipped_roles(token_cluster: Cluster) -> None:
    assert token_cluster.hook is not None and token_cluster.plane is not None
    with Scene.open(token_cluster, "token-rbac") as scene:
        status = scene.built()
        assert status["outputProfile"]["name"]
        scene.assert_invariants()
    log = token_cluster.plane.log_paths()["metacontroller"]
    assert mclog.forbidden(log) == []
    # Every call Metacontroller made carried the token ...
    assert token_cluster.hook.posts("/sync") > 0
    refused = [r for r in token_cluster.hook.requests() if '" 401 ' in str(r.get("message"))]
    assert refused == []
    # ... and the hook does refuse one without it.
    request = urllib.request.Request(
        token_cluster.hook.url + "/sync",
        data=json.dumps({"parent": {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 401
    error.value.close()
