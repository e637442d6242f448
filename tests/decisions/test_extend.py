"""The seam for platform teams (issue 10, point 3): hook settings and a Job customizer.

- Each platform setting reaches a new Job where it belongs, and the Job still passes
  kubernetes-validate --strict and Pod Security "restricted"; spec values win where the
  setting is a default (node selector keys), ours win over the platform's (labels).
- The customizer gets a copy of the rendered Job and the decision's context, for new Jobs only:
  an existing Job is handed back unchanged and the customizer is not called.
- Grid of customizers that break a rule (raise, return no dict, rename, drop a label, change
  the builder's contract, set `selector`, break "restricted", return NaN): each makes the
  sync a 500 naming the rule, with no Job in any answer, and a log line saying why.
"""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes_validate
import pytest
from builders import UID, as_observed_job, buildable, nimbuild, nimcache, request
from restricted import violations

from hooks import vocabulary as v
from hooks.extend import JobContext, NotJSON, broken_rules, not_json
from hooks.jsonlog import JsonFormatter
from hooks.settings import Settings
from hooks.sync import create_app

Customizer = Callable[[dict[str, Any], Any], Any]


def sync(settings: Settings, body: dict[str, Any], clock: Any) -> Any:
    return create_app({"SETTINGS": settings, "CLOCK": clock}).test_client().post("/sync", json=body)


def new_job_request(**spec: Any) -> dict[str, Any]:
    return request(nimbuild(**spec), caches=[nimcache(profiles=[buildable(tp="1")])])


def rendered(settings: Settings, app_config: dict[str, Any], **spec: Any) -> dict[str, Any]:
    answer = sync(settings, new_job_request(**spec), app_config["CLOCK"])
    assert answer.status_code == 200, answer.get_json()
    [job] = answer.get_json()["children"]
    kubernetes_validate.validate(job, "1.33", strict=True)  # raises when invalid
    assert violations(job) == []
    return dict(job)


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


# --- settings ---------------------------------------------------------------------------------


def test_platform_labels_and_annotations_reach_job_and_pod(app_config: dict[str, Any]) -> None:
    settings = Settings(
        job_labels={"example.com/team": "ml", "shared": "platform"},
        job_annotations={"example.com/cost-center": "42", "shared": "platform"},
    )
    job = rendered(settings, app_config, labels={"shared": "user"}, annotations={"shared": "user"})
    for meta in (job["metadata"], job["spec"]["template"]["metadata"]):
        assert meta["labels"]["example.com/team"] == "ml"
        assert meta["labels"]["shared"] == "platform"  # platform policy over the user's label
        assert meta["labels"]["app.kubernetes.io/managed-by"] == v.MANAGED_BY  # ours over all
        assert meta["annotations"]["example.com/cost-center"] == "42"
        assert meta["annotations"]["shared"] == "platform"
        assert meta["annotations"]["sidecar.istio.io/inject"] == "false"


def test_default_node_selector_is_merged_under_the_spec(app_config: dict[str, Any]) -> None:
    settings = Settings(node_selector={"nvidia.com/gpu.present": "true", "pool": "default"})
    job = rendered(settings, app_config, nodeSelector={"pool": "a100"})
    assert pod_spec(job)["nodeSelector"] == {"nvidia.com/gpu.present": "true", "pool": "a100"}


def test_platform_tolerations_come_first_without_duplicates(app_config: dict[str, Any]) -> None:
    platform = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    mine = {"key": "team", "operator": "Equal", "value": "a", "effect": "NoSchedule"}
    settings = Settings.from_env({"NIMBUILD_HOOK_TOLERATIONS": json.dumps([platform])})
    job = rendered(settings, app_config, tolerations=[mine, platform])
    assert pod_spec(job)["tolerations"] == [platform, mine]


def test_priority_class_name(app_config: dict[str, Any]) -> None:
    job = rendered(Settings(priority_class_name="gpu-batch"), app_config)
    assert pod_spec(job)["priorityClassName"] == "gpu-batch"
    assert "priorityClassName" not in pod_spec(rendered(Settings(), app_config))


@pytest.mark.parametrize(("namespace", "image"), [("default", "r/default:1"), ("other", "r/b:1")])
def test_builder_image_per_namespace(
    namespace: str, image: str, app_config: dict[str, Any]
) -> None:
    settings = Settings(builder_image="r/b:1", builder_images={"default": "r/default:1"})
    body = new_job_request()
    body["parent"]["metadata"]["namespace"] = namespace
    for cache in body["related"][v.NIMCACHE_KEY].values():
        cache["metadata"]["namespace"] = namespace
    answer = sync(settings, body, app_config["CLOCK"])
    [builder] = pod_spec(answer.get_json()["children"][0])["containers"]
    assert builder["image"] == image


def test_the_trtllm_backend_keeps_its_own_image(app_config: dict[str, Any]) -> None:
    settings = Settings(builder_images={"default": "r/default:1"}, trtllm_image="r/trtllm:1")
    job = rendered(settings, app_config, build={"backend": "trtllm"})
    assert pod_spec(job)["containers"][0]["image"] == "r/trtllm:1"


# --- the customizer ---------------------------------------------------------------------------


def test_the_customizer_gets_a_copy_of_the_new_job_and_the_context(
    app_config: dict[str, Any],
) -> None:
    seen: list[tuple[dict[str, Any], JobContext]] = []

    def customize(job: dict[str, Any], context: JobContext) -> dict[str, Any]:
        seen.append((copy.deepcopy(job), context))
        job["metadata"]["annotations"]["example.com/profile"] = context.profile.name
        pod_spec(job)["initContainers"][0]["env"].append(
            {"name": "NIM_LOG_LEVEL", "value": "DEBUG"}
        )
        return job

    plain = rendered(Settings(), app_config)
    job = rendered(Settings(job_customizer=customize), app_config)
    [(given, context)] = seen
    assert given == plain  # the Job as rendered
    assert (context.nimbuild.uid, context.nimbuild.name) == (UID, "test-nimbuild")
    assert context.nimcache.metadata.name == "test-nimcache"
    assert (context.profile.name, context.backend) == ("buildable-profile", "nim")
    assert job["metadata"]["annotations"]["example.com/profile"] == "buildable-profile"
    assert pod_spec(job)["initContainers"][0]["env"][-1]["name"] == "NIM_LOG_LEVEL"


def test_an_existing_job_is_handed_back_unchanged_without_calling_the_customizer(
    app_config: dict[str, Any],
) -> None:
    calls: list[str] = []

    def customize(job: dict[str, Any], context: JobContext) -> dict[str, Any]:
        calls.append(context.nimbuild.name)
        job["metadata"]["labels"]["customized"] = str(len(calls))
        return job

    settings = Settings(job_customizer=customize)
    body = new_job_request()
    [created] = sync(settings, body, app_config["CLOCK"]).get_json()["children"]
    assert calls == ["test-nimbuild"]
    observed = as_observed_job(created)
    body["children"][v.JOB_KEY] = {f"default/{created['metadata']['name']}": observed}
    answer = sync(settings, body, app_config["CLOCK"]).get_json()
    assert calls == ["test-nimbuild"]  # not called again
    assert answer["children"][0]["metadata"]["labels"]["customized"] == "1"
    assert answer["children"][0]["spec"]["template"] == created["spec"]["template"]


def _raises(job: dict[str, Any], context: Any) -> Any:
    raise RuntimeError("the CMDB is down")


def _returns_none(job: dict[str, Any], context: Any) -> Any:
    job["metadata"]["labels"]["x"] = "y"  # edits in place and forgets to return


def _renames(job: dict[str, Any], context: Any) -> Any:
    job["metadata"]["name"] = "other-name"
    return job


def _moves_namespace(job: dict[str, Any], context: Any) -> Any:
    job["metadata"]["namespace"] = "elsewhere"
    return job


def _drops_build_pod_label(job: dict[str, Any], context: Any) -> Any:
    del job["spec"]["template"]["metadata"]["labels"][v.BUILD_POD_LABEL]
    return job


def _changes_managed_by(job: dict[str, Any], context: Any) -> Any:
    job["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "someone"
    return job


def _changes_builder_contract(job: dict[str, Any], context: Any) -> Any:
    builder = pod_spec(job)["containers"][0]
    builder["env"] = [e for e in builder["env"] if e["name"] != v.ENV_INPUT_PROFILE]
    return job


def _drops_the_nim_sidecar(job: dict[str, Any], context: Any) -> Any:
    pod_spec(job)["initContainers"] = []
    return job


def _sets_a_selector(job: dict[str, Any], context: Any) -> Any:
    job["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    return job


def _privileged(job: dict[str, Any], context: Any) -> Any:
    pod_spec(job)["initContainers"][0]["securityContext"]["privileged"] = True
    return job


def _host_path(job: dict[str, Any], context: Any) -> Any:
    pod_spec(job)["volumes"].append({"name": "h", "hostPath": {"path": "/"}})
    return job


def _not_json(job: dict[str, Any], context: Any) -> Any:
    job["spec"]["backoffLimit"] = float("nan")
    return job


def _non_string_key(job: dict[str, Any], context: Any) -> Any:
    pod_spec(job)["nodeSelector"] = {1: "gpu"}
    return job


def _a_set(job: dict[str, Any], context: Any) -> Any:
    pod_spec(job)["containers"][0]["args"] = ["--x", {"a"}]
    return job


def _restarts_on_failure(job: dict[str, Any], context: Any) -> Any:
    pod_spec(job)["restartPolicy"] = "OnFailure"
    return job


@pytest.mark.parametrize(
    ("customizer", "says"),
    [
        pytest.param(_raises, "raised RuntimeError: the CMDB is down", id="raises"),
        pytest.param(_returns_none, "returned a NoneType, not the Job", id="returns-none"),
        pytest.param(_renames, "metadata.name changed", id="renames"),
        pytest.param(_moves_namespace, "metadata.namespace changed", id="namespace"),
        pytest.param(_drops_build_pod_label, f"label {v.BUILD_POD_LABEL}", id="pod-label"),
        pytest.param(_changes_managed_by, "app.kubernetes.io/managed-by", id="managed-by"),
        pytest.param(_changes_builder_contract, "env NIMBUILD_* changed", id="builder-env"),
        pytest.param(_drops_the_nim_sidecar, f"initContainer {v.NIM_CONTAINER}", id="sidecar"),
        pytest.param(_sets_a_selector, "spec.selector is set", id="selector"),
        pytest.param(_privileged, "restricted: nim-build-ctr: privileged", id="privileged"),
        pytest.param(_host_path, "restricted: volume h uses ['hostPath']", id="host-path"),
        pytest.param(_not_json, "job.spec.backoffLimit is nan (not JSON)", id="nan"),
        pytest.param(
            _non_string_key,
            "job.spec.template.spec.nodeSelector has a non-string key 1",
            id="non-string-key",
        ),
        pytest.param(
            _a_set,
            "job.spec.template.spec.containers[0].args[1] is a set, not JSON data",
            id="set",
        ),
        pytest.param(_restarts_on_failure, "restartPolicy changed", id="restart-policy"),
    ],
)
def test_a_customizer_that_breaks_a_rule_makes_the_sync_a_500(
    customizer: Customizer, says: str, app_config: dict[str, Any], log_stream: io.StringIO
) -> None:
    answer = sync(Settings(job_customizer=customizer), new_job_request(), app_config["CLOCK"])
    assert answer.status_code == 500
    body = answer.get_json()
    assert set(body) == {"error"}  # no status, no children: nothing half-built
    assert says in body["error"]
    [line] = [json.loads(text) for text in log_stream.getvalue().splitlines()]
    assert line["level"] == "ERROR" and line["code"] == 500
    assert line["object"] == {"namespace": "default", "name": "test-nimbuild", "uid": UID}
    assert says in line["message"]


def test_the_rules_accept_the_rendered_job_itself(app_config: dict[str, Any]) -> None:
    for backend in ("nim", "trtllm"):
        job = rendered(Settings(), app_config, build={"backend": backend})
        assert broken_rules(job, copy.deepcopy(job)) == []


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("nimbuild.sync")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


# --- the nimbuild CLI renders as the hook does ------------------------------------------------


@pytest.fixture
def customizer_module(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "cli_platform.py").write_text(
        "def annotate(job, context):\n"
        "    job['metadata']['annotations']['example.com/profile'] = context.profile.name\n"
        "    return job\n\n\n"
        "def privileged(job, context):\n"
        "    job['spec']['template']['spec']['hostPID'] = True\n"
        "    return job\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "cli_platform"
    import sys

    sys.modules.pop("cli_platform", None)


def _cli_render(tmp_path: Any, capsys: pytest.CaptureFixture[str], *extra: str) -> Any:
    import yaml

    from hooks.cli import main

    body = new_job_request()
    (tmp_path / "nimbuild.yaml").write_text(yaml.safe_dump(body["parent"]))
    [cache] = body["related"][v.NIMCACHE_KEY].values()
    (tmp_path / "nimcache.yaml").write_text(yaml.safe_dump(cache))
    code = main(
        [
            "render",
            "-f",
            str(tmp_path / "nimbuild.yaml"),
            "--nimcache",
            str(tmp_path / "nimcache.yaml"),
            "--no-env",
            *extra,
        ]
    )
    out, err = capsys.readouterr()
    return code, list(yaml.safe_load_all(out)) if code == 0 else out, err


def test_nimbuild_render_calls_the_customizer_as_the_hook_does(
    customizer_module: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    setting = f"NIMBUILD_HOOK_JOB_CUSTOMIZER={customizer_module}:annotate"
    code, documents, err = _cli_render(tmp_path, capsys, "--set", setting)
    assert (code, err) == (0, "")
    job = documents[1]
    assert job["metadata"]["annotations"]["example.com/profile"] == "buildable-profile"


def test_nimbuild_render_with_a_rule_breaking_customizer_is_one_line_and_exit_2(
    customizer_module: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    setting = f"NIMBUILD_HOOK_JOB_CUSTOMIZER={customizer_module}:privileged"
    code, out, err = _cli_render(tmp_path, capsys, "--set", setting)
    assert code == 2 and out == ""
    assert "nimbuild.yaml" in err and "spec.hostPID is true" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("value", "found"),
    [
        pytest.param({"a": [1, 2.5, True, None, "s", {"b": {}}]}, None, id="json"),
        pytest.param({"a": {"b": [0, float("inf")]}}, NotJSON(("a", "b", 1), float("inf"))),
        pytest.param([{"ok": 1}, {2: "x"}], NotJSON((1,), 2, is_key=True), id="key"),
        pytest.param({"a": b"x"}, NotJSON(("a",), b"x"), id="bytes"),
        pytest.param({"a": (1,)}, NotJSON(("a",), (1,)), id="tuple"),
        # Depth first, each key before its value: the first problem in that order.
        pytest.param({"a": [{"b": {1}}], None: 1}, NotJSON(("a", 0, "b"), {1}), id="order"),
        pytest.param({"a": 1, None: {"c": b""}}, NotJSON((), None, is_key=True), id="key-first"),
    ],
)
def test_not_json_finds_the_first_place_that_is_not_plain_json(
    value: object, found: NotJSON | None
) -> None:
    assert not_json(value) == found
