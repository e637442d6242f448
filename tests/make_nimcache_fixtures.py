"""Write the NIMCache DecoratorController fixtures (DESIGN §9), one folder per behaviour:
`tests/fixtures/nimcache_sync/<behaviour>/request.json` (+ `expected.json`) for
`POST /nimcache/sync`, and `tests/fixtures/nimcache_customize/<behaviour>/...` for
`POST /nimcache/customize`.

Run `python tests/make_nimcache_fixtures.py` to (re)write the requests; with
`UPDATE_FIXTURES=1` it also rewrites every `expected.json` from the current hook (review the
diff before committing). Without the flag, expected files are never touched.

The builders here shape requests as Metacontroller v2 sends them to a DecoratorController:
`{controller, parent: <NIMCache>, children: {}, related: {NIMBuild...: {ns/name: ...}},
finalizing}`; tests/decisions/test_nimcache_publish.py and the lifecycle harness use them too.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from builders import NS, buildable, nimbuild, profile

from hooks.sync import create_app

ROOT = Path(__file__).parent / "fixtures"
SYNC_FIXTURES = ROOT / "nimcache_sync"
CUSTOMIZE_FIXTURES = ROOT / "nimcache_customize"
NIMBUILD_KEY = "NIMBuild.apps.nvidia.com/v1alpha1"
CONTROLLER = {
    "apiVersion": "metacontroller.k8s.io/v1alpha1",
    "kind": "DecoratorController",
    "metadata": {"name": "nimbuild-nimcache-profiles"},
}
CACHE = "test-nimcache"
INPUT = "buildable-profile"


# --- builders -------------------------------------------------------------------------------------


def nimcache_target(
    name: str = CACHE,
    *,
    namespace: str = NS,
    state: str | None = "Ready",
    profiles: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A NIMCache as the NIM Operator leaves it: state, pvc, conditions and cached profiles."""
    obj: dict[str, Any] = {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMCache",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "c0c0c0c0-0000-4000-8000-000000000001",
            "generation": 1,
            "resourceVersion": "5005",
            "creationTimestamp": "2025-12-31T00:00:00Z",
        },
        "spec": {
            "source": {"ngc": {"modelPuller": "nvcr.io/nim/test", "authSecret": "ngc-api"}},
            "storage": {"pvc": {"create": True, "size": "50Gi"}},
        },
    }
    if state is not None:
        obj["status"] = {
            "state": state,
            "pvc": f"{name}-pvc",
            "conditions": [
                {
                    "type": "NIM_CACHE_JOB_COMPLETED",
                    "status": "True",
                    "reason": "JobCompleted",
                    "message": "The Job to cache NIM has successfully completed",
                    "lastTransitionTime": "2025-12-31T00:10:00Z",
                }
            ],
            "profiles": [buildable(INPUT, tp="1")] if profiles is None else profiles,
        }
    return obj


def built_profile(build: str, *, name: str | None = None, tp: str = "1") -> dict[str, Any]:
    """`status.outputProfile` of a finished build, as engine_builder reports it (DESIGN §6)."""
    return {
        "name": name or f"{INPUT}-built-{build}",
        "model": "test-model",
        "release": "1.3.3",
        "config": {
            "llm_engine": "tensorrt_llm",
            "model_name": build,
            "precision": "fp16",
            "tp": tp,
            "input_profile": INPUT,
        },
    }


def ready_nimbuild(
    name: str,
    *,
    cache: str = CACHE,
    namespace: str = NS,
    created: str = "2026-01-01T00:00:00Z",
    output: dict[str, Any] | None = None,
    state: str = "Ready",
    input_profile: str = INPUT,
    **spec: Any,
) -> dict[str, Any]:
    """A NIMBuild in `state` (Ready by default) with the status our hook writes."""
    status: dict[str, Any] = {
        "state": state,
        "observedGeneration": 1,
        "inputProfile": buildable(input_profile, tp="1"),
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if state == "Ready" else "False",
                "reason": "EngineBuilt" if state == "Ready" else "JobFailed",
                "message": "engine built" if state == "Ready" else "the build Job failed",
                "lastTransitionTime": created,
                "observedGeneration": 1,
            }
        ],
    }
    if state == "Ready":
        status["outputProfile"] = output if output is not None else built_profile(name)
    build = nimbuild(name, cache=cache, status=status, **spec)
    meta = build["metadata"]
    meta.update(namespace=namespace, creationTimestamp=created, uid=f"uid-{namespace}-{name}")
    return build


def decorator_request(
    cache: dict[str, Any],
    builds: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """A v2 DecoratorController sync request for `cache` with `builds` as related NIMBuilds."""
    return {
        "controller": CONTROLLER,
        "parent": cache,
        "children": {},
        "related": {
            NIMBUILD_KEY: {
                f"{b['metadata']['namespace']}/{b['metadata']['name']}": b for b in builds
            }
        },
        "finalizing": False,
    }


# --- cases ----------------------------------------------------------------------------------------


def _listed(*builds: str) -> list[dict[str, Any]]:
    """The cache's own profile plus the entries the decorator added for `builds` earlier."""
    entries = [buildable(INPUT, tp="1")]
    for name in builds:
        entry = built_profile(name)
        entries.append(entry)
    return entries


def _bad_shapes() -> list[dict[str, Any]]:
    """Related NIMBuilds whose fields we read have the wrong shape (skipped, never fatal)."""
    config_not_strings = ready_nimbuild("bad-config")
    config_not_strings["status"]["outputProfile"]["config"]["tp"] = 1
    profile_a_string = ready_nimbuild("bad-output")
    profile_a_string["status"]["outputProfile"] = "engine"
    opt_out_a_string = ready_nimbuild("bad-opt-out", build={"publishProfile": "no"})
    cache_ref_a_list = ready_nimbuild("bad-cache-ref")
    cache_ref_a_list["spec"]["nimCache"] = [CACHE]
    return [config_not_strings, profile_a_string, opt_out_a_string, cache_ref_a_list]


def _with_bad_metadata(req: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(req)
    bad = ready_nimbuild("bad-metadata")
    bad["metadata"] = ["bad-metadata"]
    out["related"][NIMBUILD_KEY][f"{NS}/bad-metadata"] = bad
    return out


def sync_cases() -> dict[str, Callable[[], dict[str, Any]]]:
    return {
        # --- status: null -------------------------------------------------------------------
        "nimcache-not-ready-leaves-status-alone": lambda: decorator_request(
            nimcache_target(state="InProgress", profiles=[]), [ready_nimbuild("build-a")]
        ),
        "nimcache-failed-leaves-status-alone": lambda: decorator_request(
            nimcache_target(state="Failed", profiles=[]), [ready_nimbuild("build-a")]
        ),
        "nimcache-without-status-leaves-it-alone": lambda: decorator_request(
            nimcache_target(state=None), [ready_nimbuild("build-a")]
        ),
        "nothing-to-add-without-nimbuilds": lambda: decorator_request(nimcache_target()),
        "built-profile-already-listed": lambda: decorator_request(
            nimcache_target(profiles=_listed("build-a")), [ready_nimbuild("build-a")]
        ),
        "nimbuild-in-other-namespace-is-ignored": lambda: decorator_request(
            nimcache_target(), [ready_nimbuild("build-a", namespace="other")]
        ),
        "nimbuild-opted-out": lambda: decorator_request(
            nimcache_target(), [ready_nimbuild("build-a", build={"publishProfile": False})]
        ),
        "nimbuild-of-another-nimcache": lambda: decorator_request(
            nimcache_target(), [ready_nimbuild("build-a", cache="other-nimcache")]
        ),
        "failed-nimbuild-publishes-nothing": lambda: decorator_request(
            nimcache_target(), [ready_nimbuild("build-a", state="Failed")]
        ),
        "in-progress-nimbuild-publishes-nothing": lambda: decorator_request(
            nimcache_target(), [ready_nimbuild("build-a", state="InProgress")]
        ),
        "ready-nimbuild-without-output-profile-name": lambda: decorator_request(
            nimcache_target(), [ready_nimbuild("build-a", output={"name": "", "model": "m"})]
        ),
        "profiles-not-a-list-is-not-repaired": lambda: decorator_request(
            nimcache_target(profiles={"name": "x"}),  # type: ignore[arg-type]
            [ready_nimbuild("build-a")],
        ),
        # --- profiles added ----------------------------------------------------------------------
        "one-ready-nimbuild-adds-its-profile": lambda: decorator_request(
            nimcache_target(), [ready_nimbuild("build-a")]
        ),
        "several-nimbuilds-in-creation-order-then-name": lambda: decorator_request(
            nimcache_target(),
            [
                ready_nimbuild("build-a", created="2026-01-01T03:00:00Z"),
                ready_nimbuild("build-c", created="2026-01-01T01:00:00Z"),
                ready_nimbuild("build-b", created="2026-01-01T01:00:00Z"),
            ],
        ),
        "only-the-missing-profile-is-added": lambda: decorator_request(
            nimcache_target(profiles=_listed("build-a")),
            [ready_nimbuild("build-a"), ready_nimbuild("build-b", created="2026-01-02T00:00:00Z")],
        ),
        "nimcache-ready-without-profiles-list": lambda: _without_profiles(
            decorator_request(nimcache_target(), [ready_nimbuild("build-a")])
        ),
        "same-built-profile-from-two-nimbuilds-added-once": lambda: decorator_request(
            nimcache_target(),
            [
                ready_nimbuild("build-b", output=built_profile("shared")),
                ready_nimbuild(
                    "build-a", output=built_profile("shared"), created="2026-01-02T00:00:00Z"
                ),
            ],
        ),
        "input-profile-name-is-set-in-config": lambda: decorator_request(
            nimcache_target(profiles=[buildable(INPUT, tp="1"), buildable("other-input", tp="2")]),
            [
                ready_nimbuild(
                    "build-a",
                    input_profile="other-input",
                    output={"name": "engine-a", "config": {"tp": "2"}},
                )
            ],
        ),
        "mixed-related-only-eligible-ones-added": lambda: decorator_request(
            nimcache_target(),
            [
                ready_nimbuild("build-a"),
                ready_nimbuild("build-b", state="Failed"),
                ready_nimbuild("build-c", cache="other-nimcache"),
                ready_nimbuild("build-d", build={"publishProfile": False}),
                ready_nimbuild("build-e", namespace="other"),
                ready_nimbuild("build-f", build={"publishProfile": True}),
            ],
        ),
        "invalid-related-nimbuilds-are-skipped": lambda: _with_bad_metadata(
            decorator_request(
                nimcache_target(),
                [*_bad_shapes(), ready_nimbuild("good", created="2026-01-03T00:00:00Z")],
            )
        ),
        "operator-entries-kept-verbatim": lambda: decorator_request(
            nimcache_target(
                profiles=[
                    buildable(INPUT, tp="1"),
                    profile("non-buildable", trtllm_buildable="false"),
                    {"name": "odd-entry-without-model"},
                ]
            ),
            [ready_nimbuild("build-a")],
        ),
    }


def _without_profiles(req: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(req)
    del out["parent"]["status"]["profiles"]
    return out


def customize_cases() -> dict[str, Callable[[], dict[str, Any]]]:
    return {
        "nimbuilds-of-the-nimcache-namespace": lambda: {
            "controller": CONTROLLER,
            "parent": nimcache_target(namespace="team-a"),
        },
    }


# --- writing ----------------------------------------------------------------------------------


def client() -> Any:
    return create_app({"TESTING": True}).test_client()


def answer(path: str, req: dict[str, Any]) -> dict[str, Any]:
    response = client().post(path, json=req)
    assert response.status_code == 200, response.get_data(as_text=True)
    result: dict[str, Any] = response.get_json()
    return result


def _dump(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def write_all(update_expected: bool) -> None:
    for folder_root, path, cases in (
        (SYNC_FIXTURES, "/nimcache/sync", sync_cases()),
        (CUSTOMIZE_FIXTURES, "/nimcache/customize", customize_cases()),
    ):
        for name, make in sorted(cases.items()):
            folder = folder_root / name
            folder.mkdir(parents=True, exist_ok=True)
            req = make()
            (folder / "request.json").write_text(_dump(req))
            if update_expected or not (folder / "expected.json").exists():
                (folder / "expected.json").write_text(_dump(answer(path, req)))


if __name__ == "__main__":
    write_all(update_expected=os.environ.get("UPDATE_FIXTURES") == "1")
    print(f"wrote {len(sync_cases())} + {len(customize_cases())} fixtures under {ROOT}")
