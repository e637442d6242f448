"""hooks.spec: the NIMBuild spec, checked as the API server would check the rendered Job."""

from __future__ import annotations

import pytest
from builders import nimbuild

from hooks.errors import SpecError
from hooks.spec import parse_spec


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        pytest.param(
            {"env": [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "a"}}}]},
            "spec.env.0",
            id="value-and-valueFrom",
        ),
        pytest.param(
            {"env": [{"name": "A", "valueFrom": {"bogus": 1}}]},
            "spec.env.0.valueFrom",
            id="unknown-env-source",
        ),
        pytest.param(
            {"env": [{"name": "A", "valueFrom": {}}]},
            "spec.env.0.valueFrom",
            id="empty-env-source",
        ),
        pytest.param(
            {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}]},
            "spec.env.0.valueFrom.secretKeyRef.key",
            id="secret-ref-without-key",
        ),
        pytest.param({"nodeSelector": {"k": "has space"}}, "spec.nodeSelector", id="node-sel"),
        pytest.param({"labels": {"/team": "ml"}}, "spec.labels", id="label-empty-prefix"),
        pytest.param({"annotations": {"/note": "x"}}, "spec.annotations", id="annot-empty-prefix"),
        pytest.param({"nodeSelector": {"/k": "v"}}, "spec.nodeSelector", id="node-sel-prefix"),
        pytest.param(
            {"tolerations": [{"key": "a", "operator": "Exists", "value": "v"}]},
            "spec.tolerations.0",
            id="exists-with-value",
        ),
        pytest.param(
            {"tolerations": [{"key": "a", "effect": "NoSchedule", "tolerationSeconds": 5}]},
            "spec.tolerations.0",
            id="seconds-without-noexecute",
        ),
        pytest.param(
            {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1024Mi"}}},
            "spec.resources",
            id="requests-above-limits",
        ),
        pytest.param({"modelName": "../etc"}, "spec.modelName", id="model-name-path"),
    ],
)
def test_specs_kubernetes_would_refuse_are_invalid_spec(
    spec: dict[str, object], field: str
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(nimbuild(**spec)["spec"])
    assert any(problem.startswith(field) for problem in caught.value.problems), caught.value


@pytest.mark.parametrize(
    "spec",
    [
        {"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
        {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
        {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 1}}},
        {"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "1024Mi"}}},
        {"tolerations": [{"operator": "Exists"}]},
        {"tolerations": [{"key": "k", "effect": "NoExecute", "tolerationSeconds": 30}]},
        {"modelName": "llama-3.1-8b_custom"},
    ],
)
def test_specs_kubernetes_accepts_parse(spec: dict[str, object]) -> None:
    parse_spec(nimbuild(**spec)["spec"])
