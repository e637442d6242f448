"""The decision table of DESIGN §4: observed world → state, conditions, profiles, children.

Pure: `decide(request, settings, now)` reads only its arguments. It answers "if the world
looked like this, what should it be?". Every state and reason is chosen here, one function per
row, and the first row that matches wins, in this order (DESIGN §4's):

1. `terminal`: status already terminal → unchanged; only a finished Job is handed back
2. `invalid_spec`: spec cannot be parsed → Failed (InvalidSpec)
3. a build Job exists → follow the Job (rows 11-15; the Job, not the status, is the record)
4. `nimcache_not_found` → Pending
5. `nimcache_failed` → Failed
6. `nimcache_not_ready` → Pending
7. `multiple_buildable_profiles`: none named and several buildable → Failed
8. `no_buildable_profile`: none buildable, or the named one absent / not buildable → Failed
9. `invalid_nimcache_ids`: NIMCache user/group ids the pod cannot run as → Failed
   (InvalidNIMCache), then `invalid_resources`: the GPU rule → Failed (InvalidResources)
10. `started`: render the Job (and hand it to the platform's customizer) → Started (the
    pending condition stays True when a Job vanished mid-build and is created again)
11. `job_complete`: the Job is complete and the builder's result parses → Ready
12. `job_complete_unreadable`: complete, result missing or unreadable → Failed
13. `job_failed`: the Job failed (backoff limit, deadline) → Failed
14. `pod_not_running`: no pod yet, or it is not running (unschedulable, pulling) → InProgress
15. `job_running`: the build pod runs (or one pod ended while the Job goes on) → InProgress

Rows 4-10 take a `Situation` without a Job, rows 11-15 one with a Job; each returns an
`Outcome` or None (not this row). Nothing here raises for a decision; only a platform
customizer that breaks a rule raises (`CustomizerError`, a 500: see `hooks.extend`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from hooks import vocabulary as v
from hooks.conditions import Fact, copied_reason, render_conditions, safe_reason
from hooks.errors import SpecError
from hooks.extend import JobContext, customize_job
from hooks.gpu import GpuPlan, GpuProblem, gpu_plan
from hooks.names import job_name
from hooks.observed import ContainerStatus, Job, NIMCache, NIMProfile, Pod, Terminated, newest
from hooks.render import BuildPlan, hand_back, render_job
from hooks.request import SyncRequest
from hooks.result import read_result
from hooks.settings import Settings
from hooks.spec import NIMBuildSpec, parse_spec
from hooks.unbuildable import why_nothing_to_build

MAX_ID = 2**31 - 1  # Kubernetes validates runAsUser/runAsGroup/fsGroup to int32


class Outcome(NamedTuple):
    """A row's answer: the state, the conditions it establishes, what keeps Ready False. A
    named tuple, as cheap to build as a tuple (a frozen dataclass sets each field in turn)."""

    state: str
    facts: list[Fact]
    blocker: Fact | None = None  # what keeps Ready False
    input_profile: NIMProfile | None = None
    output_profile: NIMProfile | None = None
    children: list[dict[str, Any]] | None = None  # None: no child (the answer's list is new)


def blocked(kind: str, reason: str, message: str, state: str = v.FAILED) -> Outcome:
    """An outcome with one condition that blocks the build: Failed, or Pending when waiting."""
    fact = Fact(kind, True, reason, message)
    return Outcome(state, [fact], blocker=fact)


# --- reading the observed world ---------------------------------------------------------------


def is_terminal(request: SyncRequest) -> bool:
    """Ready with an output profile, or Failed after a build ran."""
    status = request.status
    if status.state == v.READY:
        return status.output_profile is not None and bool(status.output_profile.name)
    if status.state == v.FAILED:
        created = status.condition(v.COND_POD_CREATED)
        return created is not None and created.status == "True"
    return False


def find_cache(request: SyncRequest, name: str) -> NIMCache | None:
    namespace = request.parent.metadata.namespace
    for cache in request.nimcaches:
        if cache.metadata.name == name and cache.metadata.namespace in ("", namespace):
            return cache
    return None


def build_job(request: SyncRequest) -> Job | None:
    """The Job to follow: ours by name, else the newest owned one (a renamed earlier Job)."""
    expected = job_name(request.parent.metadata.name)
    for job in request.jobs:
        if job.metadata.name == expected:
            return job
    return newest(request.jobs)


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


def nim_restarts(pod: Pod) -> str:
    """That the NIM container has restarted, with its last termination, if it has."""
    nim = pod.container(v.NIM_CONTAINER)
    if nim is None or nim.restart_count == 0:
        return ""
    last = nim.last_state.terminated
    text = f"the NIM container {v.NIM_CONTAINER} has restarted {nim.restart_count} time(s)"
    if last is not None:
        text += "; last " + describe_termination(v.NIM_CONTAINER, last)
    return text


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


def id_problem(cache: NIMCache) -> str:
    """Why the NIMCache's user/group ids cannot go into the pod's securityContext, if they can't."""
    name = cache.metadata.name
    if cache.user_id == 0:
        return f"NIMCache {name} sets spec.userID 0; the build pod does not run as root"
    for key, value, low in (("userID", cache.user_id, 1), ("groupID", cache.group_id, 0)):
        if not low <= value <= MAX_ID:
            return f"NIMCache {name} sets spec.{key} {value}, outside {low}..{MAX_ID}"
    return ""


def profile_found_fact(spec_profile: str, profile_name: str) -> Fact:
    if spec_profile:
        message = f"Buildable profile {profile_name} found"
    else:
        message = f"Single buildable profile {profile_name} cached in the NIMCache"
    return Fact(v.COND_SINGLE_PROFILE, True, v.R_PROFILE_FOUND, message)


def job_created_fact(name: str) -> Fact:
    return Fact(
        v.COND_POD_CREATED, True, v.R_JOB_CREATED, f"The Job {name} to build the engine is created"
    )


# --- the situation the rows read --------------------------------------------------------------

_T = TypeVar("_T")


class lazy(Generic[_T]):
    """`functools.cached_property` without its lock (Python 3.11 takes one on every first
    read, a measurable share of a sync): a Situation lives in one call, on one thread."""

    def __init__(self, compute: Callable[[Any], _T]) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __get__(self, situation: Any, owner: type | None = None) -> _T:
        value = situation.__dict__[self.name] = self.compute(situation)
        return value


@dataclass
class Situation:
    """The request, the parsed spec and the hook's settings, with what the rows derive from
    them computed once, when a row first asks."""

    request: SyncRequest
    spec: NIMBuildSpec
    settings: Settings

    @lazy
    def cache(self) -> NIMCache | None:
        return find_cache(self.request, self.spec.nim_cache.name)

    @lazy
    def buildable(self) -> list[NIMProfile]:
        return self.cache.status.profiles.buildable() if self.cache else []

    @lazy
    def profile(self) -> NIMProfile | None:
        """The profile to build: the named one if buildable, else the only buildable one."""
        wanted = self.spec.nim_cache.profile
        if wanted:
            return next((p for p in self.buildable if p.name == wanted), None)
        return self.buildable[0] if len(self.buildable) == 1 else None

    @lazy
    def gpu(self) -> GpuPlan | GpuProblem:
        assert self.profile is not None  # rows 7-8 have matched otherwise
        return gpu_plan(self.spec.resources, self.profile)

    # --- with a Job ---

    @lazy
    def job(self) -> Job:
        job = build_job(self.request)
        assert job is not None  # only rows 11-15 ask
        return job

    @lazy
    def pods(self) -> list[Pod]:
        """The pods of this Job (not of an older one with the same label)."""
        return [pod for pod in self.request.pods if pod.owned_by(self.job.metadata.uid)]

    @lazy
    def newest_pod(self) -> Pod | None:
        """The pod that speaks for the build (DESIGN §4: newest by creation time, then name)."""
        return newest(self.pods)

    @lazy
    def completed_pod(self) -> Pod | None:
        """The pod that speaks for a complete Job: the newest that succeeded, else the newest."""
        return newest(pod for pod in self.pods if pod.status.phase == "Succeeded") or (
            self.newest_pod
        )

    @lazy
    def input_profile(self) -> NIMProfile | None:
        """As recorded, else the profile the Job's builder was told to build (DESIGN §4)."""
        recorded = self.request.status.input_profile
        if recorded is not None and recorded.name:
            return recorded
        profile_id = self.job.builder_env(v.ENV_INPUT_PROFILE) or self.spec.nim_cache.profile
        known = self.cache.profile(profile_id) if self.cache is not None and profile_id else None
        return known or (NIMProfile(name=profile_id) if profile_id else None)

    @lazy
    def job_facts(self) -> list[Fact]:
        """What stays True once a Job exists: the profile was selected, the Job created."""
        profile = self.input_profile.name if self.input_profile else "?"
        return [
            profile_found_fact(self.spec.nim_cache.profile, profile),
            job_created_fact(self.job.metadata.name),
        ]

    @lazy
    def build_over(self) -> Fact:
        """The pending condition, turned False once the Job has finished."""
        name = self.job.metadata.name
        return Fact(v.COND_POD_PENDING, False, v.R_BUILD_FINISHED, f"The Job {name} has finished")

    def following(self, state: str, facts: list[Fact], **fields: Any) -> Outcome:
        """An outcome of rows 11-15: the Job's facts first, the Job handed back unchanged."""
        return Outcome(
            state,
            [*self.job_facts, *facts],
            input_profile=self.input_profile,
            children=[hand_back(self.job.raw)],
            **fields,
        )


Row = Callable[[Situation], Outcome | None]


# --- rows 1-2 ---------------------------------------------------------------------------------


def terminal(request: SyncRequest) -> dict[str, Any] | None:
    """Row 1: the outcome is recorded; never start or keep an unfinished build after it."""
    if not is_terminal(request):
        return None
    kept = [job for job in request.jobs if request.finalizing or job.finished]
    return _response(request.status.wire(), [hand_back(job.raw) for job in kept], request)


def invalid_spec(error: SpecError) -> Outcome:
    """Row 2: the spec cannot be parsed; the message names every offending field."""
    return blocked(
        v.COND_RECONCILE_FAILED,
        v.R_INVALID_SPEC,
        "Invalid NIMBuild spec: " + "; ".join(error.problems),
    )


# --- rows 4-10: no Job yet --------------------------------------------------------------------


def nimcache_not_found(s: Situation) -> Outcome | None:
    if s.cache is not None:
        return None
    meta = s.request.parent.metadata
    return blocked(
        v.COND_NIM_CACHE_NOT_FOUND,
        v.R_NIM_CACHE_NOT_FOUND,
        f"NIMCache {s.spec.nim_cache.name} not found in namespace {meta.namespace}",
        state=v.PENDING,
    )


def nimcache_failed(s: Situation) -> Outcome | None:
    assert s.cache is not None
    if s.cache.status.state != "Failed":
        return None
    return blocked(
        v.COND_NIM_CACHE_FAILED,
        v.R_NIM_CACHE_FAILED,
        f"NIMCache {s.cache.metadata.name} has failed; the NIMBuild cannot progress",
    )


def nimcache_not_ready(s: Situation) -> Outcome | None:
    assert s.cache is not None
    state = s.cache.status.state
    if state == "Ready":
        return None
    return blocked(
        v.COND_WAIT_FOR_NIM_CACHE,
        v.R_NIM_CACHE_NOT_READY,
        f"Waiting for NIMCache {s.cache.metadata.name} to be Ready (state: {state or 'unset'})",
        state=v.PENDING,
    )


def multiple_buildable_profiles(s: Situation) -> Outcome | None:
    if s.spec.nim_cache.profile or len(s.buildable) <= 1:
        return None
    names = ", ".join(p.name for p in s.buildable)
    return blocked(
        v.COND_MULTIPLE_PROFILES,
        v.R_MULTIPLE_PROFILES,
        f"Multiple buildable profiles found in NIMCache {s.spec.nim_cache.name} ({names}); "
        "create a NIMBuild with spec.nimCache.profile set to one of them",
    )


def no_buildable_profile(s: Situation) -> Outcome | None:
    """The message says why nothing is buildable and what to do (`hooks.unbuildable`)."""
    if s.profile is not None:
        return None
    assert s.cache is not None
    message = why_nothing_to_build(s.cache, s.spec.nim_cache.profile)
    return blocked(v.COND_NO_PROFILE, v.R_NO_PROFILE, message)


def invalid_nimcache_ids(s: Situation) -> Outcome | None:
    """The API server (or runAsNonRoot) would refuse the Job; say so now instead."""
    assert s.cache is not None
    problem = id_problem(s.cache)
    if not problem:
        return None
    return blocked(v.COND_RECONCILE_FAILED, v.R_INVALID_NIM_CACHE, problem)


def invalid_resources(s: Situation) -> Outcome | None:
    """The GPU rule (`hooks.gpu`) has no plan for this profile and `spec.resources`."""
    if not isinstance(s.gpu, GpuProblem):
        return None
    return blocked(v.COND_RECONCILE_FAILED, v.R_INVALID_RESOURCES, s.gpu.message)


def started(s: Situation) -> Outcome:
    """Render the Job; a platform customizer (settings) gets it before it leaves the hook."""
    assert s.cache is not None and s.profile is not None and isinstance(s.gpu, GpuPlan)
    meta = s.request.parent.metadata
    plan = BuildPlan(
        spec=s.spec, meta=meta, cache=s.cache, profile=s.profile, settings=s.settings, gpu=s.gpu
    )
    job = render_job(plan)
    if s.settings.job_customizer is not None:
        context = JobContext(nimbuild=meta, spec=s.spec, nimcache=s.cache, profile=s.profile)
        job = customize_job(job, context, s.settings.job_customizer)
    facts = [
        profile_found_fact(s.spec.nim_cache.profile, s.profile.name),
        job_created_fact(job["metadata"]["name"]),
    ]
    pending = s.request.status.condition(v.COND_POD_PENDING)
    if pending is not None and pending.status == "True":
        # The Job went away mid-build (deleted by a user): the build is not over, so the pending
        # condition stays True rather than flapping False and True again around the new Job.
        again = f"The Job {job['metadata']['name']} was gone before the build ended; created again"
        facts.append(Fact(v.COND_POD_PENDING, True, v.R_POD_PENDING, again))
    return Outcome(v.STARTED, facts, input_profile=s.profile, children=[job])


# --- rows 11-15: follow the Job ---------------------------------------------------------------


def job_complete(s: Situation) -> Outcome | None:
    if not s.job.complete:
        return None
    result = read_result(builder_message(s.completed_pod))
    if result is None or "outputProfile" not in result:
        return None
    output = NIMProfile.model_validate(result["outputProfile"])
    manifest = Fact(
        v.COND_MANIFEST_COMPLETED,
        True,
        v.R_OUTPUT_PROFILE_READ,
        f"Engine built in {result['buildSeconds']:.0f}s into {result['engineDir']}; "
        f"output profile {output.name}",
    )
    return s.following(v.READY, [s.build_over, _job_completed(s), manifest], output_profile=output)


def job_complete_unreadable(s: Situation) -> Outcome | None:
    if not s.job.complete:
        return None
    pod = s.completed_pod
    raw = builder_message(pod)
    where = f"pod {pod.metadata.name}" if pod is not None else "no pod of the Job is left"
    detail = f": {raw.strip()[:512]}" if raw.strip() else ""
    unreadable = Fact(
        v.COND_MANIFEST_COMPLETED,
        False,
        v.R_MANIFEST_UNREADABLE,
        f"The Job {s.job.metadata.name} completed but the engine-builder result ({where}) is "
        f"missing or unreadable{detail}",
    )
    return s.following(v.FAILED, [s.build_over, _job_completed(s), unreadable], blocker=unreadable)


def _job_completed(s: Situation) -> Fact:
    name = s.job.metadata.name
    return Fact(v.COND_POD_COMPLETED, True, v.R_JOB_COMPLETE, f"The Job {name} has completed")


def job_failed(s: Situation) -> Outcome | None:
    failure = s.job.failure
    if failure is None:
        return None
    pod = newest(pod for pod in s.pods if pod.status.phase == "Failed") or s.newest_pod
    said = f": {failure.message}" if failure.message else ""
    why = _join(
        f"The Job {s.job.metadata.name} failed{said}",
        builder_error(pod) if pod is not None else "",
        nim_death(pod) if pod is not None else "",
    )
    reason, why = copied_reason(failure.reason, v.R_JOB_FAILED, why)
    completed = Fact(v.COND_POD_COMPLETED, False, reason, why)
    return s.following(v.FAILED, [s.build_over, completed], blocker=completed)


def pod_not_running(s: Situation) -> Outcome | None:
    pod = s.newest_pod
    if pod is None:
        message = f"Waiting for the Job {s.job.metadata.name} to start its pod"
        return _in_progress(s, v.R_POD_PENDING, message)
    if pod.status.phase in ("Failed", "Succeeded", "Running"):
        return None
    reason, detail = waiting_reason(pod)
    message = _join(f"Build pod {pod.metadata.name} is not running yet", detail)
    return _in_progress(s, reason, message)


def job_running(s: Situation) -> Outcome:
    """The pod runs; or one ended while the Job goes on (it retries, or is not Complete yet)."""
    pod = s.newest_pod
    assert pod is not None  # pod_not_running has matched otherwise
    name, pod_name = s.job.metadata.name, pod.metadata.name
    if pod.status.phase == "Failed":
        return _in_progress(
            s,
            v.R_POD_FAILED,
            _join(
                f"Build pod {pod_name} failed; the Job {name} may retry",
                builder_error(pod),
                nim_death(pod),
            ),
        )
    if pod.status.phase == "Succeeded":
        message = f"Build pod {pod_name} succeeded; waiting for the Job to complete"
        return _in_progress(s, v.R_POD_SUCCEEDED, message)
    message = _join(f"The engine build in pod {pod_name} is in progress", nim_restarts(pod))
    return _in_progress(s, v.R_POD_RUNNING, message)


def _in_progress(s: Situation, reason: str, message: str) -> Outcome:
    pending = Fact(v.COND_POD_PENDING, True, reason, message)
    return s.following(v.IN_PROGRESS, [pending], blocker=pending)


# --- the table --------------------------------------------------------------------------------

WITHOUT_JOB: tuple[Row, ...] = (
    nimcache_not_found,
    nimcache_failed,
    nimcache_not_ready,
    multiple_buildable_profiles,
    no_buildable_profile,
    invalid_nimcache_ids,
    invalid_resources,
    started,
)
WITH_JOB: tuple[Row, ...] = (
    job_complete,
    job_complete_unreadable,
    job_failed,
    pod_not_running,
    job_running,
)


def choose(request: SyncRequest, settings: Settings) -> Outcome:
    """Rows 2-15: the first that matches."""
    try:
        spec = parse_spec(request.parent.spec)
    except SpecError as error:
        return invalid_spec(error)
    situation = Situation(request, spec, settings)
    for row in WITH_JOB if request.jobs else WITHOUT_JOB:
        outcome = row(situation)
        if outcome is not None:
            return outcome
    raise AssertionError("the last row of the decision table always matches")


# --- the answer -------------------------------------------------------------------------------


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
    unchanged = terminal(request)
    if unchanged is not None:
        return unchanged
    outcome = choose(request, settings)
    meta = request.parent.metadata
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
    return _response(status, outcome.children or [], request)


def _response(
    status: dict[str, Any], children: list[dict[str, Any]], request: SyncRequest
) -> dict[str, Any]:
    response: dict[str, Any] = {"status": status, "children": children}
    if request.finalizing:
        response["finalized"] = True
    return response
