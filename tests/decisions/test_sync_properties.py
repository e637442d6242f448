"""Properties of `/sync` over generated worlds (hypothesis, hand-written strategies).

A *world* is what Metacontroller could send: a NIMBuild (spec valid or not, with any earlier
status the CRD allows), zero to two NIMCaches (any state, any profiles, in the parent's
namespace or not), zero to two build Jobs (any mix of Job conditions) and zero to three pods
(any phase, container states and termination messages: the builder's result, its error,
garbage, long text). Requests go through the Flask test client for speed. Properties:

- a well-formed request is answered 200 with exactly the v2 keys (never a 5xx);
- a request with a random part replaced by random JSON gets 200 or a JSON 400, never a 5xx;
- the same request gives the same bytes;
- the status fed back as the parent's status gives the same status (no hot loop);
- at most one Job: a new Job only when none exists, and at most one of them;
- every reason matches the CRD pattern; conditions are well formed;
- every status validates against the CRD status schema (strict);
- every rendered Job passes Pod Security "restricted" and kubernetes-validate 1.37 strict, and
  fed back as the observed child it is handed back unchanged.

Examples per property: the `ci` profile of tests/conftest.py (derandomized, 300 each).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import string
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import orjson
import pytest
from builders import as_observed_job
from crd_schema import errors, status_validator
from hypothesis import event, given
from hypothesis import strategies as st
from restricted import violations

from engine_builder.result import OutputProfile, error_result, success_result
from hooks import vocabulary as v
from hooks.settings import Settings
from hooks.sync import create_app

pytestmark = pytest.mark.slow

# kubernetes-validate parses its JSON schema files on every call (~8 ms of 13); they never
# change during a run, so parse each once. Same schemas, same verdicts, a third of the time.
if not hasattr(kubernetes_validate.utils.schema_contents, "cache_info"):
    kubernetes_validate.utils.schema_contents = functools.cache(  # type: ignore[assignment]
        kubernetes_validate.utils.schema_contents
    )

CLOCK = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
APP = create_app(
    {
        "SETTINGS": Settings(builder_image="registry.example.com/nimbuild-controller:test"),
        "CLOCK": lambda: CLOCK,
        "TESTING": True,
    }
)
CLIENT = APP.test_client()
STATUS = status_validator()
REASON = re.compile(v.REASON_PATTERN)
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
V2_KEYS = {"status", "children"}

# --- strategies -------------------------------------------------------------------------------

LOWER = string.ascii_lowercase + string.digits
segment = st.text(LOWER, min_size=1, max_size=10)
dns_name = st.lists(segment, min_size=1, max_size=9).map("-".join).filter(lambda s: len(s) <= 120)
label_value = st.one_of(
    st.just(""),
    st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?", fullmatch=True),
)
label_key = st.one_of(
    st.from_regex(r"[a-z0-9]([-a-z0-9_.]{0,15}[a-z0-9])?", fullmatch=True),
    st.builds(lambda p, n: f"{p}.example.com/{n}", segment, segment),
)
text = st.text(max_size=40)
timestamps = st.sampled_from(
    ["2026-01-01T00:00:05Z", "2026-01-01T00:00:06Z", "2026-01-01T01:00:00Z", "2025-12-31T23:59:59Z"]
)
quantity = st.sampled_from(["1", "2", "500m", "16Gi", "1.5", "100Mi", "4"])
PROFILE_NAMES = ["p-alpha", "p-beta", "p-gamma", "5d1c4e0f9a7b3c2d1e0f9a8b7c6d5e4f"]
ENV_NAMES = [
    "NIMBUILD_INPUT_PROFILE",
    "NIMBUILD_RESULT_FILE",
    "NIMBUILD_MODEL_STORE",
    "NIM_MODEL_PROFILE",
    "NIM_CACHE_PATH",
    "NGC_API_KEY",
    "TMPDIR",
    "HF_HOME",
    "CUSTOM_SETTING",
]
CONDITION_TYPES = [t for t in v.CONDITION_ORDER] + ["SomethingElse"]
REASONS = ["NIMCacheNotFound", "PodRunning", "JobComplete", "Resolved", "EngineBuilt", "X"]


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    config: dict[str, str] = {}
    buildable = draw(st.sampled_from([None, "true", "true", "false", "True"]))
    if buildable is not None:
        config["trtllm_buildable"] = buildable
    tp = draw(st.sampled_from([None, "1", "2", "8", "1", "0", "x"]))
    if tp is not None:
        config[draw(st.sampled_from(["tp", "tensorParallelism"]))] = tp
    for key, options in (
        ("pp", [None, "1", "2"]),
        ("feat_lora", [None, "true", "false"]),
        ("precision", [None, "fp16", "fp8"]),
    ):
        value = draw(st.sampled_from(options))
        if value is not None:
            config[key] = value
    config.update(draw(st.dictionaries(segment, text, max_size=2)))
    name = draw(st.one_of(st.sampled_from(PROFILE_NAMES), text))
    return {"name": name, "model": draw(text), "release": draw(text), "config": config}


@st.composite
def nimcaches(draw: st.DrawFn, name: str, namespace: str) -> dict[str, Any]:
    source = draw(
        st.sampled_from(
            [
                {"ngc": {"modelPuller": "nvcr.io/nim/x", "authSecret": "ngc-secret"}},
                {"ngc": {"modelPuller": "nvcr.io/nim/x"}},
                {"hf": {"endpoint": "https://huggingface.co", "authSecret": "hf-secret"}},
                {},
            ]
        )
    )
    pvc: dict[str, Any] = {}
    if draw(st.booleans()):
        pvc["name"] = draw(dns_name)
    if draw(st.booleans()):
        pvc["subPath"] = draw(segment)
    spec: dict[str, Any] = {"source": source, "storage": {"pvc": pvc}}
    for key in ("userID", "groupID"):
        if draw(st.booleans()):
            spec[key] = draw(st.integers(1, 2**31 - 1))
    if draw(st.booleans()):
        spec["runtimeClassName"] = draw(st.sampled_from(["nvidia", "kata"]))
    cache: dict[str, Any] = {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMCache",
        "metadata": {
            "name": name,
            "namespace": draw(st.sampled_from([namespace, namespace, namespace, "other"])),
            "uid": str(draw(st.uuids())),
        },
        "spec": spec,
    }
    state = draw(st.sampled_from([None, "Ready", "Ready", "Ready", "InProgress", "Failed", "?"]))
    if state is not None:
        cache["status"] = {
            "state": state,
            "profiles": draw(st.lists(profiles(), max_size=4, unique_by=lambda p: p["name"])),
        }
    return cache


@st.composite
def env_entries(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(ENV_NAMES))
    if draw(st.booleans()):
        return {"name": name, "value": draw(text)}
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": "user-secret", "key": "k"}}}


@st.composite
def tolerations(draw: st.DrawFn) -> dict[str, Any]:
    toleration: dict[str, Any] = {"key": draw(label_key)}
    if draw(st.booleans()):
        toleration.update(operator="Equal", value=draw(label_value))
    else:
        toleration["operator"] = "Exists"
    effect = draw(st.sampled_from([None, "NoSchedule", "NoExecute"]))
    if effect is not None:
        toleration["effect"] = effect
        if effect == "NoExecute" and draw(st.booleans()):
            toleration["tolerationSeconds"] = draw(st.integers(0, 3600))
    return toleration


@st.composite
def valid_specs(draw: st.DrawFn, cache_name: str, gpu: bool) -> dict[str, Any]:
    """A spec the hook parses; `gpu` asks for an explicit nvidia.com/gpu request."""
    spec: dict[str, Any] = {
        "nimCache": {"name": cache_name},
        "image": {"repository": "nvcr.io/nim/" + draw(segment), "tag": draw(segment)},
    }
    if draw(st.booleans()):
        spec["nimCache"]["profile"] = draw(st.sampled_from([*PROFILE_NAMES, "missing"]))
    if draw(st.booleans()):
        spec["image"]["pullPolicy"] = draw(st.sampled_from(["Always", "IfNotPresent", "Never"]))
    if draw(st.booleans()):
        spec["image"]["pullSecrets"] = draw(st.lists(dns_name, min_size=1, max_size=2))
    if draw(st.booleans()):
        spec["modelName"] = draw(segment)
    resources: dict[str, Any] = {}
    for side in ("requests", "limits"):
        if draw(st.booleans()):
            resources[side] = draw(
                st.dictionaries(st.sampled_from(["cpu", "memory"]), quantity, max_size=2)
            )
    for name in set(resources.get("requests", {})) & set(resources.get("limits", {})):
        # Kubernetes refuses requests above limits (the hook answers InvalidSpec for that).
        resources["requests"][name] = resources["limits"][name]
    if gpu:
        count = draw(st.sampled_from(["1", "2", 1]))
        resources.setdefault(draw(st.sampled_from(["requests", "limits"])), {})[
            "nvidia.com/gpu"
        ] = count
    if resources:
        spec["resources"] = resources
    if draw(st.booleans()):
        spec["tolerations"] = draw(st.lists(tolerations(), max_size=2))
    if draw(st.booleans()):
        spec["nodeSelector"] = draw(st.dictionaries(label_key, label_value, max_size=2))
    if draw(st.booleans()):
        spec["env"] = draw(st.lists(env_entries(), max_size=4))
    if draw(st.booleans()):
        spec["labels"] = draw(st.dictionaries(label_key, label_value, max_size=2))
    if draw(st.booleans()):
        spec["annotations"] = draw(st.dictionaries(label_key, text, max_size=2))
    if draw(st.booleans()):
        build: dict[str, Any] = {"backend": draw(st.sampled_from(["nim", "trtllm"]))}
        if draw(st.booleans()):
            build["backoffLimit"] = draw(st.integers(0, 10))
        if draw(st.booleans()):
            build["activeDeadlineSeconds"] = draw(st.integers(60, 86400))
        spec["build"] = build
    return spec


BREAKAGES: list[tuple[str, Any]] = [
    ("image", None),
    ("image", {"repository": "nvcr.io/nim/x"}),
    ("image", {"repository": 7, "tag": "1"}),
    ("nimCache", {}),
    ("nimCache", "cache"),
    ("labels", {"bad key!": "x"}),
    ("labels", {"/team": "x"}),  # a slash needs a prefix before it
    ("labels", {"ok": "bad value!"}),
    ("labels", {"ok": "ml\n"}),  # Python's `$` allows a final newline; the API server's does not
    ("resources", {"limits": {"cpu": "1\n"}}),
    ("resources", {"limits": {"cpu": "lots"}}),
    ("resources", {"requests": {"nvidia.com/gpu": True}}),
    ("env", [{"value": "no name"}]),
    ("tolerations", [{"operator": "Sometimes"}]),
    ("build", {"backend": "docker"}),
    ("build", {"activeDeadlineSeconds": 5}),
    ("build", {"backoffLimit": -1}),
    ("modelName", 3),
]


@st.composite
def broken(draw: st.DrawFn, spec: dict[str, Any]) -> dict[str, Any]:
    """A spec with one field the hook cannot accept (state Failed, InvalidSpec)."""
    key, value = draw(st.sampled_from(BREAKAGES))
    out = dict(spec)
    if value is None:
        out.pop(key, None)
    else:
        out[key] = value
    return out


@st.composite
def conditions(draw: st.DrawFn, generation: int) -> list[dict[str, Any]]:
    kinds = draw(st.lists(st.sampled_from(CONDITION_TYPES), unique=True, max_size=6))
    return [
        {
            "type": kind,
            "status": draw(st.sampled_from(["True", "False", "Unknown"])),
            "reason": draw(st.sampled_from(REASONS)),
            "message": draw(text),
            "lastTransitionTime": draw(timestamps),
            "observedGeneration": draw(st.integers(0, generation)),
        }
        for kind in kinds
    ]


@st.composite
def prior_status(draw: st.DrawFn, generation: int) -> dict[str, Any] | None:
    """Any status the CRD lets the API server hold (earlier hook output, or someone's edit)."""
    if draw(st.booleans()):
        return None
    status: dict[str, Any] = {
        "state": draw(st.sampled_from([*v.STATES, ""])),
        "observedGeneration": draw(st.integers(0, generation)),
        "conditions": draw(conditions(generation)),
    }
    for key in ("inputProfile", "outputProfile"):
        if draw(st.booleans()):
            status[key] = draw(profiles())
    return status


def ok_result(draw: st.DrawFn) -> str:
    """What engine_builder writes on success (its own encoder)."""
    profile = OutputProfile(
        name=draw(st.sampled_from(PROFILE_NAMES)) + "-built",
        model=draw(text),
        release="1.3.3",
        config=draw(st.dictionaries(segment, text, max_size=3)),
    )
    seconds = draw(st.floats(0, 1e6, allow_nan=False))
    return success_result(profile, "/model-store/local_cache/x", seconds).decode()


def build_result(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["ok", "ok", "error", "garbage", "long", "empty", "json"]))
    if kind == "ok":
        return ok_result(draw)
    if kind == "error":
        return error_result(draw(text)).decode()
    if kind == "long":
        return draw(st.sampled_from(["x", "é", "{"])) * draw(st.integers(4000, 9000))
    if kind == "json":
        return draw(st.sampled_from(['{"outputProfile": {}}', "[]", '{"error": 3}', "null"]))
    return "" if kind == "empty" else draw(text)


@st.composite
def container_statuses(draw: st.DrawFn, name: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(["terminated", "running", "waiting", "none"]))
    state: dict[str, Any] = {}
    if kind == "waiting":
        state["waiting"] = {
            "reason": draw(
                st.sampled_from(
                    ["ContainerCreating", "ImagePullBackOff", "bad reason", "ErrImagePull\n"]
                )
            ),
            "message": draw(text),
        }
    elif kind == "running":
        state["running"] = {"startedAt": draw(timestamps)}
    elif kind == "terminated":
        state["terminated"] = {
            "exitCode": draw(st.sampled_from([0, 1, 2, 137, 143])),
            "reason": draw(st.sampled_from(["Completed", "Error", "OOMKilled"])),
            "message": build_result(draw),
        }
    status: dict[str, Any] = {
        "name": name,
        "restartCount": draw(st.integers(0, 3)),
        "state": state,
    }
    if draw(st.booleans()):
        status["lastState"] = {
            "terminated": {"exitCode": 1, "reason": "Error", "message": draw(text)}
        }
    return status


@st.composite
def pods(draw: st.DrawFn, parent_uid: str, job_uids: list[str], namespace: str) -> dict[str, Any]:
    owner = draw(st.sampled_from([*job_uids, "old-job-uid"]))
    status: dict[str, Any] = {
        "phase": draw(st.sampled_from(["Succeeded", "Running", "Pending", "Failed", "Unknown"]))
    }
    if draw(st.booleans()):
        status["conditions"] = [
            {
                "type": "PodScheduled",
                "status": draw(st.sampled_from(["True", "False"])),
                "reason": draw(
                    st.sampled_from(["Unschedulable", "", "weird reason", "Unschedulable\n"])
                ),
                "message": draw(text),
            }
        ]
    if draw(st.booleans()):
        status["initContainerStatuses"] = [draw(container_statuses(v.NIM_CONTAINER))]
    if draw(st.sampled_from([True, False])):  # mostly present: it carries the result
        status["containerStatuses"] = [draw(container_statuses(v.BUILDER_CONTAINER))]
    name = f"build-{draw(segment)}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(draw(st.uuids())),
            "creationTimestamp": draw(timestamps),
            "labels": {v.BUILD_POD_LABEL: parent_uid, "batch.kubernetes.io/controller-uid": owner},
            "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": owner}
            ],
        },
        "status": status,
    }


DONE = ("SuccessCriteriaMet", "Complete")
JOB_CONDITIONS = [
    {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
    {"type": "Complete", "status": "True", "reason": "CompletionsReached"},
    {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "limit"},
    {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"},
    {"type": "Failed", "status": "True", "reason": "DeadlineExceeded\n"},  # RE2 `$`: not a reason
    {"type": "Suspended", "status": "False"},
]


@st.composite
def jobs(draw: st.DrawFn, parent: dict[str, Any], namespace: str) -> dict[str, Any]:
    name = draw(st.sampled_from([f"{parent['metadata']['name']}-engine-build", "older-build"]))
    env = [{"name": v.ENV_INPUT_PROFILE, "value": draw(st.sampled_from(PROFILE_NAMES))}]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(draw(st.uuids())),
            "creationTimestamp": draw(timestamps),
            "labels": {"controller-uid": parent["metadata"]["uid"]},
        },
        "spec": {
            "backoffLimit": 1,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "x"}},
            "template": {
                "metadata": {"labels": {v.BUILD_POD_LABEL: parent["metadata"]["uid"]}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": v.BUILDER_CONTAINER, "image": "b", "env": env}],
                },
            },
        },
        "status": {"conditions": draw(st.lists(st.sampled_from(JOB_CONDITIONS), max_size=3))},
    }
    return job


def keyed(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o for o in objects}


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    """A Metacontroller v2 sync request for any situation a NIMBuild can be in."""
    namespace = draw(st.sampled_from(["default", "team-a"]))
    generation = draw(st.integers(1, 2**31))
    cache_name = draw(st.sampled_from(["cache", "cache", "cache", "other-cache"]))
    parent: dict[str, Any] = {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMBuild",
        "metadata": {
            "name": draw(dns_name),
            "namespace": namespace,
            "uid": str(draw(st.uuids())),
            "generation": generation,
            "resourceVersion": "7",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": draw(valid_specs("cache", gpu=draw(st.booleans()))),
    }
    if draw(st.sampled_from([False] * 7 + [True])):  # about one world in eight
        parent["spec"] = draw(broken(parent["spec"]))
    status = draw(prior_status(generation))
    if status is not None:
        parent["status"] = status
    caches = draw(
        st.lists(
            nimcaches(cache_name, namespace),
            min_size=draw(st.sampled_from([1, 1, 1, 0])),
            max_size=2,
            unique_by=_meta_key,
        )
    )
    job_list = draw(st.lists(jobs(parent, namespace), max_size=2, unique_by=_meta_key))
    job_uids = [j["metadata"]["uid"] for j in job_list]
    pod_list = draw(
        st.lists(
            pods(parent["metadata"]["uid"], job_uids, namespace), max_size=3, unique_by=_meta_key
        )
    )
    if job_list and draw(st.sampled_from([False, True])):  # a build that finished well
        done = job_list[0]
        done["status"]["conditions"] = [c for c in JOB_CONDITIONS if c["type"] in DONE]
        pod = draw(pods(parent["metadata"]["uid"], [done["metadata"]["uid"]], namespace))
        pod["metadata"]["name"] = "build-done"
        pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] = done["metadata"]["uid"]
        pod["metadata"]["ownerReferences"][0]["uid"] = done["metadata"]["uid"]
        builder = draw(container_statuses(v.BUILDER_CONTAINER))
        builder["state"] = {"terminated": {"exitCode": 0, "message": ok_result(draw)}}
        pod["status"] = {"phase": "Succeeded", "containerStatuses": [builder]}
        pod_list = [p for p in pod_list if p["metadata"]["name"] != "build-done"] + [pod]
    request: dict[str, Any] = {
        "controller": {
            "apiVersion": "metacontroller.k8s.io/v1alpha1",
            "kind": "CompositeController",
        },
        "parent": parent,
        "children": {v.JOB_KEY: keyed(job_list)},
        "related": {v.NIMCACHE_KEY: keyed(caches), v.POD_KEY: keyed(pod_list)},
        "finalizing": draw(st.sampled_from([False, False, False, True])),
    }
    if not job_list and draw(st.booleans()):
        del request["children"]  # missing maps count as empty
    return copy.deepcopy(request)  # sampled constants are shared: never hand them out


def _meta_key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"]["namespace"], obj["metadata"]["name"]


@st.composite
def buildable_worlds(draw: st.DrawFn) -> dict[str, Any]:
    """A NIMBuild whose NIMCache is Ready with one buildable profile that satisfies the GPU
    rule, and no Job yet: the hook must render a Job."""
    namespace = draw(st.sampled_from(["default", "team-a"]))
    profile = draw(profiles())
    profile["config"]["trtllm_buildable"] = "true"
    for key in ("tp", "tensorParallelism", "pp"):
        profile["config"].pop(key, None)
    has_tp = draw(st.booleans())
    if has_tp:
        profile["config"]["tp"] = draw(st.sampled_from(["1", "2", "8"]))
    spec = draw(valid_specs("cache", gpu=not has_tp))
    spec["nimCache"]["profile"] = profile["name"]
    parent = {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMBuild",
        "metadata": {
            "name": draw(dns_name),
            "namespace": namespace,
            "uid": str(draw(st.uuids())),
            "generation": draw(st.integers(1, 2**31)),
        },
        "spec": spec,
    }
    cache = draw(nimcaches("cache", namespace))
    cache["metadata"]["namespace"] = namespace
    cache["status"] = {"state": "Ready", "profiles": [profile]}
    world = {
        "controller": {},
        "parent": parent,
        "children": {v.JOB_KEY: {}},
        "related": {v.NIMCACHE_KEY: keyed([cache]), v.POD_KEY: {}},
        "finalizing": False,
    }
    return copy.deepcopy(world)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_worlds(draw: st.DrawFn) -> dict[str, Any]:
    """A world with one object node (anywhere, the root included) replaced by random JSON."""
    world = draw(worlds())
    nodes: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                nodes.append((node, key))
                walk(child)
        elif isinstance(node, list):
            for index, child in enumerate(node):
                nodes.append((node, index))
                walk(child)

    walk(world)
    container, key = draw(st.sampled_from(nodes))
    container[key] = draw(json_values)
    return world


# --- helpers ----------------------------------------------------------------------------------


def post(body: Any) -> tuple[int, bytes]:
    data = json.dumps(body, allow_nan=False).encode()  # any JSON: big integers included
    response = CLIENT.post("/sync", data=data, content_type="application/json")
    return response.status_code, response.get_data()


def answer(body: dict[str, Any]) -> dict[str, Any]:
    code, data = post(body)
    assert code == 200, data[:500]
    result: dict[str, Any] = orjson.loads(data)
    return result


def has_null(value: Any) -> bool:
    if isinstance(value, dict):
        return any(has_null(item) for item in value.values())
    if isinstance(value, list):
        return any(has_null(item) for item in value)
    return value is None


def observed_jobs(world: dict[str, Any]) -> dict[str, Any]:
    return (world.get("children") or {}).get(v.JOB_KEY) or {}


def written_status(world: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """The status as Metacontroller writes it: observedGeneration injected."""
    return {**status, "observedGeneration": world["parent"]["metadata"]["generation"]}


# --- properties -------------------------------------------------------------------------------
# Properties that read one answer share one test (and its 300 worlds), to keep the run short.


def check_answer(world: dict[str, Any], result: dict[str, Any]) -> None:
    """Everything a single answer must satisfy (see the module docstring)."""
    expected = V2_KEYS | ({"finalized"} if world["finalizing"] else set())
    assert set(result) == expected
    assert isinstance(result["status"], dict) and isinstance(result["children"], list)
    # At most one Job: a new one only when none exists, and never two of them.
    observed = {j["metadata"]["name"] for j in observed_jobs(world).values()}
    returned = [job["metadata"]["name"] for job in result["children"]]
    new = [name for name in returned if name not in observed]
    assert len(returned) == len(set(returned))
    assert len(new) <= 1
    assert not (observed and new), f"a new Job {new} while {sorted(observed)} exist"
    for job in result["children"]:
        assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    # Conditions well formed, reasons on the CRD pattern.
    status = result["status"]
    conditions = status.get("conditions", [])
    types = [c["type"] for c in conditions]
    assert len(types) == len(set(types))
    for cond in conditions:
        assert REASON.fullmatch(cond["reason"]), cond["reason"]
        assert cond["status"] in ("True", "False", "Unknown")
        assert len(cond["message"]) <= 32768
        assert TIME.fullmatch(cond["lastTransitionTime"])
    before = world["parent"].get("status")
    kept = isinstance(before, dict) and before.get("state") == status.get("state")
    if not (kept and status.get("state") in ("Ready", "Failed")):  # not a terminal one kept
        assert status["state"] in v.STATES
        ready = next(c for c in conditions if c["type"] == "Ready")
        assert (ready["status"] == "True") == (status["state"] == "Ready")
        assert all(c["observedGeneration"] == status["observedGeneration"] for c in conditions)
    # The status Metacontroller would write fits the CRD (the API server would 422 it).
    assert errors(STATUS, written_status(world, status)) == []


@given(worlds())
def test_every_answer_is_200_v2_one_job_valid_status_and_reasons(world: dict[str, Any]) -> None:
    result = answer(world)
    ready = next((c for c in result["status"].get("conditions", []) if c["type"] == "Ready"), {})
    event(f"{result['status'].get('state')} {ready.get('reason')}")  # --hypothesis-show-statistics
    check_answer(world, result)


@given(worlds())
def test_same_request_same_bytes_and_status_fed_back_is_a_fixpoint(world: dict[str, Any]) -> None:
    first = post(world)
    assert first == post(copy.deepcopy(world))
    status = written_status(world, orjson.loads(first[1])["status"])
    again = copy.deepcopy(world)
    again["parent"]["status"] = status
    assert written_status(world, answer(again)["status"]) == status


@given(mutated_worlds())
def test_random_json_anywhere_never_gets_a_5xx(world: Any) -> None:
    code, data = post(world)
    assert code in (200, 400), data[:500]
    body = orjson.loads(data)
    if code == 400:
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    else:
        check_answer(world, body)


@given(buildable_worlds())
def test_every_rendered_job_is_valid_restricted_and_handed_back_unchanged(
    world: dict[str, Any],
) -> None:
    result = answer(world)
    check_answer(world, result)
    assert result["status"]["state"] == v.STARTED, result["status"]
    [job] = result["children"]
    assert violations(job) == []
    kubernetes_validate.validate(job, "1.37", strict=True)
    assert not has_null(job)
    again = copy.deepcopy(world)
    again["parent"]["status"] = written_status(world, result["status"])
    again["children"] = {v.JOB_KEY: keyed([as_observed_job(job)])}
    [handed] = answer(again)["children"]
    handed["metadata"]["labels"].pop("controller-uid")  # Metacontroller's own label
    assert handed == job
