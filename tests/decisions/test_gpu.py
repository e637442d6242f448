"""hooks.gpu: the GPU rule (DESIGN §4) as a plan or the reason there is none; it never raises.

Grid: the profile's tags (tp, tensorParallelism, pp, nonsense) x the user's nvidia.com/gpu.
"""

from __future__ import annotations

import pytest
from builders import nimbuild

from hooks.gpu import GPU, GpuPlan, GpuProblem, gpu_plan, parallelism
from hooks.observed import NIMProfile
from hooks.spec import parse_spec


@pytest.mark.parametrize(
    ("config", "tp", "pp", "count"),
    [
        ({"tp": "8"}, "8", "1", 8),
        ({"tensorParallelism": "4", "tp": "8"}, "4", "1", 4),
        ({"tp": "2", "pp": "2"}, "2", "2", 4),
        ({}, "1", "1", None),
    ],
)
def test_gpu_count_is_tp_times_pp(
    config: dict[str, str], tp: str, pp: str, count: int | None
) -> None:
    tags = parallelism(NIMProfile(name="p", config=config))
    assert not isinstance(tags, GpuProblem)
    assert (tags.tp, tags.pp, tags.gpus) == (tp, pp, count)


@pytest.mark.parametrize("config", [{"tp": "eight"}, {"tp": "0"}, {"tp": "2", "pp": "-1"}])
def test_nonsense_tags_are_a_problem_not_an_exception(config: dict[str, str]) -> None:
    spec = parse_spec(nimbuild()["spec"])
    problem = gpu_plan(spec.resources, NIMProfile(name="p", config=config))
    assert isinstance(problem, GpuProblem)
    assert "positive whole numbers" in problem.message


def test_a_tp_profile_sizes_the_gpus_itself() -> None:
    spec = parse_spec(nimbuild(resources={"limits": {"memory": "8Gi"}})["spec"])
    plan = gpu_plan(spec.resources, NIMProfile(name="p", config={"tp": "2", "pp": "2"}))
    assert isinstance(plan, GpuPlan)
    assert plan.resources == {"limits": {"memory": "8Gi", GPU: "4"}, "requests": {GPU: "4"}}


def test_a_tp_profile_and_a_user_gpu_request_are_a_problem() -> None:
    spec = parse_spec(nimbuild(resources={"limits": {GPU: "1"}})["spec"])
    problem = gpu_plan(spec.resources, NIMProfile(name="p", config={"tp": "2"}))
    assert isinstance(problem, GpuProblem)
    assert "leave nvidia.com/gpu out" in problem.message


def test_no_tp_and_no_user_gpu_request_is_a_problem() -> None:
    spec = parse_spec(nimbuild()["spec"])
    problem = gpu_plan(spec.resources, NIMProfile(name="p"))
    assert isinstance(problem, GpuProblem)
    assert "no tensorParallelism or tp tag" in problem.message


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"limits": {"nvidia.com/gpu": "2"}}, {"nvidia.com/gpu": "2"}),
        ({"requests": {"nvidia.com/gpu": 2}}, {"nvidia.com/gpu": "2"}),
    ],
)
def test_user_gpu_request_without_tp_gets_equal_requests_and_limits(
    resources: dict[str, object], expected: dict[str, str]
) -> None:
    spec = parse_spec(nimbuild(resources=resources)["spec"])
    plan = gpu_plan(spec.resources, NIMProfile(name="p"))
    assert isinstance(plan, GpuPlan)
    assert plan.resources["requests"] == plan.resources["limits"] == expected


def test_unequal_user_gpu_requests_and_limits_are_invalid() -> None:
    spec = parse_spec(
        nimbuild(resources={"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 2}})[
            "spec"
        ]
    )
    problem = gpu_plan(spec.resources, NIMProfile(name="p"))
    assert isinstance(problem, GpuProblem)
    assert "must be equal" in problem.message
