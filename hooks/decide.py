"""The decision table of DESIGN §4: observed world → state, conditions, profiles, children.

Pure: `decide(request, settings, now)` reads only its arguments. It answers "if the world
looked like this, what should it be?"; the first matching row of the table wins:

1. status already terminal → unchanged; only a finished Job is handed back
2. spec cannot be parsed → Failed (InvalidSpec)
3. a build Job exists → follow the Job (the Job, not the status, is the durable record)
4. NIMCache missing / Failed / not Ready → Pending / Failed / Pending
5. profile selection: several, none, or the named one missing → Failed
6. GPU rule → Failed (InvalidResources); NIMCache ids the pod cannot run as → InvalidNIMCache
7. otherwise render the Job → Started
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from hooks import vocabulary as v
from hooks.conditions import Fact, copied_reason, render_conditions, safe_reason
from hooks.model import (
    ContainerStatus,
    Job,
    NIMBuildSpec,
    NIMCache,
    NIMProfile,
    Pod,
    SpecError,
    SyncRequest,
    Terminated,
    parse_spec,
)
from hooks.render import BuildPlan, ResourceProblem, hand_back, job_name, render_job
from hooks.settings import Settings
from hooks.timestamps import time_key
from hooks.unbuildable import why_nothing_to_build

RESULT_LIMIT = 4096
MAX_ID = 2**31 - 1  # Kubernetes validates runAsUser/runAsGroup/fsGroup to int32


@dataclass(frozen=True)
class Outcome:
    state: str
    facts: list[Fact]
    blocker: Fact | None = None  # what keeps Ready False
    input_profile: NIMProfile | None = None
    output_profile: NIMProfile | None = None
    children: list[dict[str, Any]] = field(default_factory=list)


# --- helpers ----------------------------------------------------------------------------------


def is_terminal(request: SyncRequest) -> bool:
    """Ready with an output profile, or Failed after a build ran."""
    status = request.status
    if status.state == v.READY:
        return status.output_profile is not None and bool(status.output_profile.name)
    if status.state == v.FAILED:
        created = status.condition(v.COND_POD_CREATED)
        return created is not None and created.status == "True"
    return False


def finished(job: Job) -> bool:
    return job.complete or job.failed is not None


def find_cache(request: SyncRequest, name: str) -> NIMCache | None:
    namespace = request.parent.metadata.namespace
    for cache in request.nimcaches:
        if cache.metadata.name == name and cache.metadata.namespace in ("", namespace):
            return cache
    return None


def build_job(request: SyncRequest) -> Job | None:
    """The Job to follow: ours by name, else the newest owned one (a renamed earlier Job)."""
    if not request.jobs:
        return None
    expected = job_name(request.parent.metadata.name)
    for job in request.jobs:
        if job.metadata.name == expected:
            return job
    return max(
        request.jobs, key=lambda j: (time_key(j.metadata.creation_timestamp), j.metadata.name)
    )


def newest(pods: list[Pod]) -> Pod | None:
    if not pods:
        return None
    return max(pods, key=lambda p: (time_key(p.metadata.creation_timestamp), p.metadata.name))


def read_result(message: str) -> dict[str, Any] | None:
    """The builder's result file (DESIGN §6); None when it is not exactly that contract."""
    if not message or len(message.encode()) >= RESULT_LIMIT:
        return None
    try:
        data = orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    if set(data) == {"error"} and isinstance(data["error"], str):
        return data
    if set(data) != {"outputProfile", "engineDir", "buildSeconds"}:
        return None
    profile = data["outputProfile"]
    seconds = data["buildSeconds"]
    if not isinstance(data["engineDir"], str) or isinstance(seconds, bool):
        return None
    if not isinstance(seconds, int | float) or not isinstance(profile, dict):
        return None
    if set(profile) != {"name", "model", "release", "config"} or not profile["name"]:
        return None
    if not all(isinstance(profile[key], str) for key in ("name", "model", "release")):
        return None
    config = profile["config"]
    if not isinstance(config, dict) or not all(
        isinstance(key, str) and isinstance(val, str) for key, val in config.items()
    ):
        return None
    return data


def describe_termination(container: str, term: Terminated) -> str:
    parts = [f"reason={term.reason or 'Unknown'}"]
    if term.exit_code is not None:
        parts.append(f"exitCode={term.exit_code}")
    if term.message:
        parts.append(f"message={term.message.strip()[-1024:]}")
    return f"{container} terminated ({', '.join(parts)})"


def nim_death(pod: Pod) -> str:
    """What the NIM container's last termination says, when it died (not a normal stop)."""
    nim = pod.container(v.NIM_CONTAINER)
    if nim is None:
        return ""
    if nim.last_state.terminated is not None:
        text = describe_termination(v.NIM_CONTAINER, nim.last_state.terminated)
        return f"{text}; restarted {nim.restart_count} time(s)"
    term = nim.state.terminated
    if term is not None and term.exit_code not in (0, 137, 143, None):
        return describe_termination(v.NIM_CONTAINER, term)
    return ""


def builder_terminated(pod: Pod) -> Terminated | None:
    """How the engine-builder container ended, if it has."""
    builder = pod.container(v.BUILDER_CONTAINER)
    return builder.state.terminated if builder is not None else None


def builder_message(pod: Pod | None) -> str:
    """The builder's termination message: the result file (DESIGN §6), or logs on error."""
    term = builder_terminated(pod) if pod is not None else None
    return term.message if term is not None else ""


def builder_error(pod: Pod) -> str:
    """The builder's `{"error": …}`, or its raw termination text (logs on error)."""
    term = builder_terminated(pod)
    if term is None:
        return ""
    result = read_result(term.message)
    if result is not None and "error" in result:
        return f"engine-builder: {result['error']}"
    detail = describe_termination(v.BUILDER_CONTAINER, term)
    return detail if term.message or term.exit_code else ""


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def waiting_reason(pod: Pod) -> tuple[str, str]:
    """The pod's own reason for not running: unschedulable, image pull, creating…"""
    for cond in pod.status.conditions:
        if cond.type == "PodScheduled" and cond.status == "False":
            return copied_reason(cond.reason, v.R_POD_PENDING, cond.message)
    statuses: tuple[ContainerStatus, ...] = (
        *pod.status.init_container_statuses,
        *pod.status.container_statuses,
    )
    for status in statuses:
        waiting = status.state.waiting
        if waiting is not None and waiting.reason:
            detail = f"{status.name}: {waiting.reason}"
            if waiting.message:
                detail += f": {waiting.message}"
            return safe_reason(waiting.reason, v.R_POD_PENDING), detail
    return copied_reason(pod.status.reason, v.R_POD_PENDING, pod.status.message)


# --- rows -------------------------------------------------------------------------------------


def profile_found_fact(spec_profile: str, profile_name: str) -> Fact:
    if spec_profile:
        return Fact(
            v.COND_SINGLE_PROFILE,
            True,
            v.R_PROFILE_FOUND,
            f"Buildable profile {profile_name} found",
        )
    return Fact(
        v.COND_SINGLE_PROFILE,
        True,
        v.R_PROFILE_FOUND,
        f"Single buildable profile {profile_name} cached in the NIMCache",
    )


def job_created_fact(name: str) -> Fact:
    return Fact(
        v.COND_POD_CREATED, True, v.R_JOB_CREATED, f"The Job {name} to build the engine is created"
    )


def follow_job(request: SyncRequest, spec: NIMBuildSpec, job: Job) -> Outcome:
    """Rows for an existing build Job: complete, failed, or still running."""
    name = job.metadata.name
    recorded = request.status.input_profile
    if recorded is not None and recorded.name:
        input_profile: NIMProfile | None = recorded
    else:
        profile_id = job.builder_env(v.ENV_INPUT_PROFILE) or spec.nim_cache.profile
        cache = find_cache(request, spec.nim_cache.name)
        known = cache.profile(profile_id) if cache is not None and profile_id else None
        input_profile = known or (NIMProfile(name=profile_id) if profile_id else None)
    facts = [
        profile_found_fact(spec.nim_cache.profile, input_profile.name if input_profile else "?"),
        job_created_fact(name),
    ]
    children = [hand_back(job.raw)]
    pods = [pod for pod in request.pods if pod.owned_by(job.metadata.uid)]
    over = Fact(v.COND_POD_PENDING, False, v.R_BUILD_FINISHED, f"The Job {name} has finished")

    if job.complete:
        done = [pod for pod in pods if pod.status.phase == "Succeeded"]
        pod = newest(done) or newest(pods)
        completed = Fact(
            v.COND_POD_COMPLETED, True, v.R_JOB_COMPLETE, f"The Job {name} has completed"
        )
        raw = builder_message(pod)
        result = read_result(raw)
        if result is not None and "outputProfile" in result:
            output = NIMProfile.model_validate(result["outputProfile"])
            manifest = Fact(
                v.COND_MANIFEST_COMPLETED,
                True,
                v.R_OUTPUT_PROFILE_READ,
                f"Engine built in {result['buildSeconds']:.0f}s into {result['engineDir']}; "
                f"output profile {output.name}",
            )
            return Outcome(
                v.READY,
                [*facts, over, completed, manifest],
                input_profile=input_profile,
                output_profile=output,
                children=children,
            )
        where = f"pod {pod.metadata.name}" if pod is not None else "no pod of the Job is left"
        detail = f": {raw.strip()[:512]}" if raw.strip() else ""
        unreadable = Fact(
            v.COND_MANIFEST_COMPLETED,
            False,
            v.R_MANIFEST_UNREADABLE,
            f"The Job {name} completed but the engine-builder result ({where}) is missing "
            f"or unreadable{detail}",
        )
        return Outcome(
            v.FAILED,
            [*facts, over, completed, unreadable],
            blocker=unreadable,
            input_profile=input_profile,
            children=children,
        )

    failed = job.failed
    if failed is not None:
        failed_pods = [pod for pod in pods if pod.status.phase == "Failed"]
        pod = newest(failed_pods) or newest(pods)
        why = _join(
            f"The Job {name} failed" + (f": {failed.message}" if failed.message else ""),
            builder_error(pod) if pod is not None else "",
            nim_death(pod) if pod is not None else "",
        )
        reason, why = copied_reason(failed.reason, v.R_JOB_FAILED, why)
        completed = Fact(v.COND_POD_COMPLETED, False, reason, why)
        return Outcome(
            v.FAILED,
            [*facts, over, completed],
            blocker=completed,
            input_profile=input_profile,
            children=children,
        )

    pod = newest(pods)
    if pod is None:
        reason, message = v.R_POD_PENDING, f"Waiting for the Job {name} to start its pod"
    elif pod.status.phase == "Failed":
        reason = v.R_POD_FAILED
        message = _join(
            f"Build pod {pod.metadata.name} failed; the Job {name} may retry",
            builder_error(pod),
            nim_death(pod),
        )
    elif pod.status.phase == "Succeeded":
        reason = v.R_POD_SUCCEEDED
        message = f"Build pod {pod.metadata.name} succeeded; waiting for the Job to complete"
    elif pod.status.phase == "Running":
        reason = v.R_POD_RUNNING
        message = _join(
            f"The engine build in pod {pod.metadata.name} is in progress", _restarts(pod)
        )
    else:
        reason, detail = waiting_reason(pod)
        message = _join(f"Build pod {pod.metadata.name} is not running yet", detail)
    pending = Fact(v.COND_POD_PENDING, True, reason, message)
    return Outcome(
        v.IN_PROGRESS,
        [*facts, pending],
        blocker=pending,
        input_profile=input_profile,
        children=children,
    )


def _restarts(pod: Pod) -> str:
    nim = pod.container(v.NIM_CONTAINER)
    if nim is None or nim.restart_count == 0:
        return ""
    last = nim.last_state.terminated
    text = f"the NIM container {v.NIM_CONTAINER} has restarted {nim.restart_count} time(s)"
    if last is not None:
        text += "; last " + describe_termination(v.NIM_CONTAINER, last)
    return text


def id_problem(cache: NIMCache) -> str:
    """Why the NIMCache's user/group ids cannot go into the pod's securityContext, if they can't."""
    name = cache.metadata.name
    if cache.user_id == 0:
        return f"NIMCache {name} sets spec.userID 0; the build pod does not run as root"
    for key, value, low in (("userID", cache.user_id, 1), ("groupID", cache.group_id, 0)):
        if not low <= value <= MAX_ID:
            return f"NIMCache {name} sets spec.{key} {value}, outside {low}..{MAX_ID}"
    return ""


def failed_outcome(kind: str, reason: str, message: str, state: str = v.FAILED) -> Outcome:
    fact = Fact(kind, True, reason, message)
    return Outcome(state, [fact], blocker=fact)


def start_build(request: SyncRequest, spec: NIMBuildSpec, settings: Settings) -> Outcome:
    """Rows for a NIMBuild without a Job: check the NIMCache, pick the profile, render."""
    meta = request.parent.metadata
    cache_name = spec.nim_cache.name
    cache = find_cache(request, cache_name)
    if cache is None:
        return failed_outcome(
            v.COND_NIM_CACHE_NOT_FOUND,
            v.R_NIM_CACHE_NOT_FOUND,
            f"NIMCache {cache_name} not found in namespace {meta.namespace}",
            state=v.PENDING,
        )
    cache_state = cache.status.state
    if cache_state == "Failed":
        return failed_outcome(
            v.COND_NIM_CACHE_FAILED,
            v.R_NIM_CACHE_FAILED,
            f"NIMCache {cache_name} has failed; the NIMBuild cannot progress",
        )
    if cache_state != "Ready":
        return failed_outcome(
            v.COND_WAIT_FOR_NIM_CACHE,
            v.R_NIM_CACHE_NOT_READY,
            f"Waiting for NIMCache {cache_name} to be Ready (state: {cache_state or 'unset'})",
            state=v.PENDING,
        )

    buildable = cache.status.profiles.buildable()
    wanted = spec.nim_cache.profile
    if not wanted and len(buildable) > 1:
        names = ", ".join(p.name for p in buildable)
        return failed_outcome(
            v.COND_MULTIPLE_PROFILES,
            v.R_MULTIPLE_PROFILES,
            f"Multiple buildable profiles found in NIMCache {cache_name} ({names}); create a "
            "NIMBuild with spec.nimCache.profile set to one of them",
        )
    if wanted:
        profile = next((p for p in buildable if p.name == wanted), None)
    else:
        profile = buildable[0] if buildable else None
    if profile is None:
        return failed_outcome(
            v.COND_NO_PROFILE, v.R_NO_PROFILE, why_nothing_to_build(cache, wanted)
        )

    problem = id_problem(cache)
    if problem:
        # The API server (or runAsNonRoot) would refuse the Job; say so now instead.
        return failed_outcome(v.COND_RECONCILE_FAILED, v.R_INVALID_NIM_CACHE, problem)
    plan = BuildPlan(spec=spec, meta=meta, cache=cache, profile=profile, settings=settings)
    try:
        job = render_job(plan)
    except ResourceProblem as problem:
        return failed_outcome(v.COND_RECONCILE_FAILED, v.R_INVALID_RESOURCES, str(problem))
    facts = [profile_found_fact(wanted, profile.name), job_created_fact(job["metadata"]["name"])]
    pending = request.status.condition(v.COND_POD_PENDING)
    if pending is not None and pending.status == "True":
        # The Job went away mid-build (deleted by a user): the build is not over, so the pending
        # condition stays True rather than flapping False and True again around the new Job.
        again = f"The Job {job['metadata']['name']} was gone before the build ended; created again"
        facts.append(Fact(v.COND_POD_PENDING, True, v.R_POD_PENDING, again))
    return Outcome(v.STARTED, facts, input_profile=profile, children=[job])


# --- entry point ------------------------------------------------------------------------------


def _summary(outcome: Outcome) -> Fact:
    if outcome.state == v.READY:
        name = outcome.output_profile.name if outcome.output_profile else ""
        built = f"Engine built; output profile {name}"
        return Fact(v.COND_READY, True, v.R_ENGINE_BUILT, built)
    if outcome.blocker is not None:
        return Fact(v.COND_READY, False, outcome.blocker.reason, outcome.blocker.message)
    created = next((f for f in outcome.facts if f.type == v.COND_POD_CREATED), None)
    if created is not None:
        return Fact(v.COND_READY, False, created.reason, created.message)
    return Fact(v.COND_READY, False, outcome.state, f"NIMBuild is {outcome.state}")


def decide(request: SyncRequest, settings: Settings, now: str) -> dict[str, Any]:
    """The sync response `{status, children}` (plus `finalized` when finalizing)."""
    meta = request.parent.metadata
    if is_terminal(request):
        # The outcome is recorded; never start or keep an unfinished build after it.
        kept = [job for job in request.jobs if request.finalizing or finished(job)]
        return _response(request.status.wire(), [hand_back(job.raw) for job in kept], request)

    try:
        spec = parse_spec(request.parent.spec)
    except SpecError as error:
        outcome = failed_outcome(
            v.COND_RECONCILE_FAILED,
            v.R_INVALID_SPEC,
            "Invalid NIMBuild spec: " + "; ".join(error.problems),
        )
    else:
        job = build_job(request)
        if job is not None:
            outcome = follow_job(request, spec, job)
        else:
            outcome = start_build(request, spec, settings)

    facts = [*outcome.facts, _summary(outcome)]
    status: dict[str, Any] = {
        "state": outcome.state,
        "observedGeneration": meta.generation,
        "conditions": render_conditions(facts, request.status, meta.generation, now),
    }
    if outcome.input_profile is not None:
        status["inputProfile"] = outcome.input_profile.wire()
    if outcome.output_profile is not None:
        status["outputProfile"] = outcome.output_profile.wire()
    if request.finalizing:
        # Hand back what still exists; owner references clean up after the finalizer goes.
        return _response(status, [hand_back(job.raw) for job in request.jobs], request)
    return _response(status, outcome.children, request)


def _response(
    status: dict[str, Any], children: list[dict[str, Any]], request: SyncRequest
) -> dict[str, Any]:
    response: dict[str, Any] = {"status": status, "children": children}
    if request.finalizing:
        response["finalized"] = True
    return response
