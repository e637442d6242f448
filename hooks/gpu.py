"""The GPU rule of DESIGN §4: how many GPUs a build gets, as a plan or as the reason it has none.

A profile's GPU count is its `tensorParallelism` (or `tp`) tag times its `pp` tag. A profile
with such a tag sizes the build itself, so the user must not also request `nvidia.com/gpu`; a
profile without one needs the user's request. This module decides; it never raises for a
decision: `gpu_plan` returns a `GpuPlan` or a `GpuProblem` whose message the decision table
puts into status (Failed, InvalidResources).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hooks.observed import NIMProfile
from hooks.spec import Resources

GPU = "nvidia.com/gpu"


@dataclass(frozen=True)
class GpuProblem:
    """Why the GPU rule cannot be met, said to the user."""

    message: str


@dataclass(frozen=True)
class Parallelism:
    """The profile's tags as written (`tp`, `pp`; "1" when absent) and the GPUs they need."""

    tp: str
    pp: str
    gpus: int | None  # None: the profile has no tensor-parallel tag


@dataclass(frozen=True)
class GpuPlan:
    """`resources` of the container that holds the GPUs, and the profile's parallelism."""

    resources: dict[str, Any]
    parallelism: Parallelism


def parallelism(profile: NIMProfile) -> Parallelism | GpuProblem:
    """The profile's `tensorParallelism`/`tp` and `pp` tags, read once for the rule and the
    trtllm builder's env."""
    tp = profile.config.get("tensorParallelism") or profile.config.get("tp")
    pp = profile.config.get("pp") or "1"
    if not tp:
        return Parallelism(tp="1", pp=pp, gpus=None)
    try:
        gpus = int(tp) * int(pp)
        if int(tp) < 1 or int(pp) < 1:
            raise ValueError
    except ValueError:
        return GpuProblem(
            f"profile {profile.name} has tp={tp!r} pp={pp!r}; both must be positive whole numbers"
        )
    return Parallelism(tp=tp, pp=pp, gpus=gpus)


def gpu_plan(resources: Resources, profile: NIMProfile) -> GpuPlan | GpuProblem:
    """`spec.resources` with the GPU rule applied, or why it cannot be."""
    tags = parallelism(profile)
    if isinstance(tags, GpuProblem):
        return tags
    requests = {key: str(value) for key, value in resources.requests.items()}
    limits = {key: str(value) for key, value in resources.limits.items()}
    user_gpu = GPU in requests or GPU in limits
    if tags.gpus is not None:
        if user_gpu:
            return GpuProblem(
                f"profile {profile.name} sets tensor parallelism ({tags.gpus} GPUs), but "
                f"spec.resources also sets {GPU}; leave {GPU} out of spec.resources"
            )
        requests[GPU] = limits[GPU] = str(tags.gpus)
    elif not user_gpu:
        return GpuProblem(
            f"profile {profile.name} has no tensorParallelism or tp tag and spec.resources "
            f"does not request {GPU}; set spec.resources.requests['{GPU}']"
        )
    else:
        # Extended resources need requests == limits; fill in the missing side.
        requests.setdefault(GPU, limits.get(GPU, ""))
        limits.setdefault(GPU, requests[GPU])
        if requests[GPU] != limits[GPU]:
            return GpuProblem(
                f"spec.resources requests {GPU}={requests[GPU]} but limits {GPU}={limits[GPU]}; "
                "GPU requests and limits must be equal"
            )
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return GpuPlan(resources=out, parallelism=tags)
