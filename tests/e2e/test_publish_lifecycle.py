"""Publishing built profiles end to end: the real hook (gunicorn, real HTTP on 127.0.0.1) driven
by the Metacontroller stand-in for both controllers and by a NIM Operator stand-in
(`nimcache_decorator.py`), each scenario run to convergence with the invariants checked after
every decorator sync (only v2 keys, statuses valid for the upstream NIMCache CRD, observed
entries kept in place, no name listed twice).

Scenarios: a NIMBuild ends Ready and its NIMCache lists the profile within one more decorator
sync, and a NIMService would get the profile's tp as GPUs; the operator rewrites the status
from a copy read before the entry existed and the entry comes back; the operator re-runs the
caching Job (profiles cleared, then rebuilt without ours) and the entry comes back once the
NIMCache is Ready; two NIMBuilds of one NIMCache both appear once each, in creation order;
a decorator sync that read a stale NIMCache writes with a stale resourceVersion, gets 409 and
duplicates nothing; an opted-out NIMBuild publishes nothing (the NIMBuilds of another
namespace or NIMCache are fixture rows: tests/fixtures/nimcache_sync); with everything
listed, one more sync writes nothing (no hot loop).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import crd_schema as cs
import pytest
from builders import buildable, nimbuild, nimcache

from e2e.nimcache_decorator import DecoratedCluster, nimservice_gpus
from e2e.server import HookServer
from e2e.test_lifecycle import create_world, result_for, run_build, settle

pytestmark = pytest.mark.slow

CACHE = "test-nimcache"
CACHED = [buildable(tp="1")]  # what the caching Job's manifest lists


@pytest.fixture
def world(hook_server: HookServer, crd_status_validator: object) -> Iterator[DecoratedCluster]:
    upstream = cs.openapi_schema(cs.UPSTREAM_NIMCACHE_CRD)["properties"]["status"]
    fake = DecoratedCluster(
        hook_server.url,
        status_validator=crd_status_validator,
        nimcache_status_validator=cs.validator(cs.strict(upstream)),
    )
    yield fake
    assert fake.violations == [], "invariants broken:\n" + "\n".join(fake.violations)


def built(name: str) -> str:
    return f"buildable-profile-built-{name}"


def build_to_ready(world: DecoratedCluster, name: str, *, tp: str = "1", **spec: Any) -> None:
    if world.get("NIMCache", CACHE) is None:
        world.create(nimcache(profiles=list(CACHED)))
    world.create(nimbuild(name, **spec))
    settle(world)
    run_build(world, name, result_for(name, tp=tp))
    assert world.status(name)["state"] == "Ready"


def assert_no_more_writes(world: DecoratedCluster) -> None:
    """One more decorator sync of the converged world writes nothing."""
    before = world.stats.status_writes
    assert world.decorate(("default", CACHE))
    assert world.stats.status_writes == before
    assert world.decorator_log[-1].added == [] and not world.decorator_log[-1].written


def test_ready_nimbuild_is_listed_within_one_more_sync(world: DecoratedCluster) -> None:
    build_to_ready(world, "build-a", tp="2")
    assert world.listed() == ["buildable-profile", built("build-a")]
    after_ready = world.decorator_log[world.ready_at["build-a"] :]
    assert after_ready[0].added == [built("build-a")] and after_ready[0].written
    assert [s for s in after_ready if s.written] == [after_ready[0]], "written once"
    entry = (world.get("NIMCache", CACHE) or {})["status"]["profiles"][-1]
    assert entry["config"]["input_profile"] == "buildable-profile"
    cache = world.get("NIMCache", CACHE) or {}
    assert nimservice_gpus(cache, built("build-a")) == 2, "a NIMService sizes its GPUs from it"
    assert nimservice_gpus(cache, "not-listed") is None
    assert world.decorator_customize_calls == 1  # cached per (uid, generation)
    assert_no_more_writes(world)


def test_operator_erases_the_entry_and_it_comes_back(world: DecoratedCluster) -> None:
    world.create(nimcache(profiles=list(CACHED)))
    stale_copy = world.operator_read(CACHE)  # a NIM Operator reconcile starts here
    build_to_ready(world, "build-a")
    assert world.listed() == ["buildable-profile", built("build-a")]
    world.operator_write(stale_copy)  # ... and ends here, from its copy
    assert world.listed() == ["buildable-profile"]
    settle(world)
    assert world.listed() == ["buildable-profile", built("build-a")]
    assert_no_more_writes(world)


def test_operator_recaches_and_the_entry_comes_back_once_ready(world: DecoratedCluster) -> None:
    build_to_ready(world, "build-a")
    world.operator_recache(CACHE)
    settle(world)
    assert world.listed() == [], "not Ready: left alone"
    assert world.status("build-a")["state"] == "Ready", "a finished build stays Ready"
    world.operator_cached(CACHE, list(CACHED))
    settle(world)
    assert world.listed() == ["buildable-profile", built("build-a")]
    assert_no_more_writes(world)


def test_two_nimbuilds_of_one_nimcache_both_listed_once(world: DecoratedCluster) -> None:
    world.stale_reads = True  # the NIMBuild side reads lagging parents meanwhile
    world.create(nimcache(profiles=list(CACHED)))
    create_world(world, "build-b", cache={})
    create_world(world, "build-a", cache={})
    settle(world)
    for name in ("build-b", "build-a"):
        run_build(world, name)
    assert world.listed() == ["buildable-profile", built("build-b"), built("build-a")]
    for name in ("build-a", "build-b"):
        assert world.listed().count(built(name)) == 1
    assert_no_more_writes(world)


def test_stale_nimcache_read_never_duplicates(world: DecoratedCluster) -> None:
    build_to_ready(world, "build-a")
    writes = sum(s.written for s in world.decorator_log)
    world.decorator_stale = 3  # the next syncs read the NIMCache as it was before the entry
    world.decorator_queue.add(("default", CACHE))
    settle(world)
    stale = [s for s in world.decorator_log if s.stale]
    assert stale and all(s.conflict and not s.written for s in stale), "409, dropped"
    assert sum(s.written for s in world.decorator_log) == writes
    assert world.listed() == ["buildable-profile", built("build-a")]
    # A second build while the cache lags: its entry lands once, next to the first.
    world.decorator_stale = 2
    build_to_ready(world, "build-b")
    assert world.listed() == ["buildable-profile", built("build-a"), built("build-b")]
    assert_no_more_writes(world)


def test_opted_out_nimbuild_publishes_nothing(world: DecoratedCluster) -> None:
    build_to_ready(world, "build-a", build={"publishProfile": False})
    assert world.listed() == ["buildable-profile"]
    assert world.decorator_log and all(s.added == [] for s in world.decorator_log)
    (rules,) = world.decorator_rules.values()
    assert rules == [
        {"apiVersion": "apps.nvidia.com/v1alpha1", "resource": "nimbuilds", "namespace": "default"}
    ]
    assert_no_more_writes(world)
