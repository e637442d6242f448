"""Every manifest of crds/, metacontroller/ and examples/, checked offline.

Cases:
- built-in kinds (CRDs, Namespace, Deployment, Service, PDB, RBAC) pass kubernetes-validate
  strict for Kubernetes 1.29 (oldest supported: native sidecars) and 1.37, file by file (as
  rendered by `kubectl kustomize`: test_kubectl_kustomize.py);
- custom kinds go to jsonschema, strictly: the Composite- and DecoratorController against
  Metacontroller's own CRDs, NIMBuild/NIMCache examples against ours; no document is left
  unchecked;
- the CompositeController wiring (parent, Job child OnDelete, v2 hooks, Service address);
- the DecoratorController wiring (every NIMCache, no attachments, a resync period, no
  ignoreStatusChanges, v2 hooks on /nimcache/*, Service address);
- the hook Deployment: replicas, probes, env settings, non-root hardening, Pod Security
  "restricted", resources, writable /tmp; Service and PDB select its pods;
- RBAC: the hook's ServiceAccount has no token and no binding; aggregated user roles;
  Metacontroller's role covers what the DecoratorController reads and writes;
- kustomizations: every referenced file exists, every manifest is referenced (except the
  standalone NIMCache CRD), images pinned by digest in one place; a small Python render of
  them (which `kubectl kustomize` must agree with: test_kubectl_kustomize.py);
- examples: valid for our CRD; the ones without spec.build are valid for the NIM Operator's.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import crd_schema as cs
import kubernetes_validate
import pytest
import yaml
from restricted import violations

ROOT = cs.ROOT
KUBE_VERSIONS = ("1.29", "1.37")
MANIFEST_DIRS = ("crds", "metacontroller", "examples")
NOT_MANIFESTS = {"kustomization.yaml", "kustomizeconfig.yaml"}
# Kinds kubernetes-validate has no schema for: each goes to its own CRD schema.
CUSTOM_KINDS = {"CompositeController", "DecoratorController", "NIMBuild", "NIMCache"}

HOOK_NS = "nimbuild-system"
HOOK_NAME = "nimbuild-hook"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
REQUIRED_HOOK_ENV = {
    "HOST",
    "PORT",
    "NIMBUILD_HOOK_BUILDER_IMAGE",
    "NIMBUILD_HOOK_TRTLLM_IMAGE",
    "NIMBUILD_HOOK_BACKOFF_LIMIT",
    "NIMBUILD_HOOK_ACTIVE_DEADLINE_SECONDS",
    "NIMBUILD_HOOK_MAX_BODY_BYTES",
}


def _manifest_files() -> list[Path]:
    files = [
        path
        for folder in MANIFEST_DIRS
        for path in sorted((ROOT / folder).glob("*.yaml"))
        if path.name not in NOT_MANIFESTS
    ]
    assert files, "no manifests found"
    return files


def _documents() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.relative_to(ROOT)}#{doc['kind']}/{doc['metadata']['name']}", doc)
        for path in _manifest_files()
        for doc in cs.load_documents(path)
    ]


DOCUMENTS = _documents()
BUILTIN = [(ident, doc) for ident, doc in DOCUMENTS if doc["kind"] not in CUSTOM_KINDS]


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        doc
        for _, doc in DOCUMENTS
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


# --- kubernetes-validate / jsonschema on every document ------------------------------------


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize(("ident", "doc"), [pytest.param(i, d, id=i) for i, d in BUILTIN])
def test_builtin_kinds_validate_strictly(ident: str, doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def test_every_document_is_checked() -> None:
    kinds = {doc["kind"] for _, doc in DOCUMENTS}
    assert {"CustomResourceDefinition", "Deployment", "CompositeController"} <= kinds
    assert "DecoratorController" in kinds
    for kind in kinds & CUSTOM_KINDS:
        doc = next(d for _, d in DOCUMENTS if d["kind"] == kind)
        with pytest.raises(kubernetes_validate.SchemaNotFoundError):
            kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)
    validators = {"CompositeController", "DecoratorController", "NIMBuild", "NIMCache"}
    assert kinds & CUSTOM_KINDS <= validators, "a custom kind without a schema check"


def test_strict_validation_catches_a_typo() -> None:
    deployment = copy.deepcopy(_one("Deployment", HOOK_NAME))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)


@functools.cache
def _metacontroller_validator(kind: str = "CompositeController") -> Any:
    name = f"{kind.lower()}s.metacontroller.k8s.io"
    schema = cs.openapi_schema(cs.METACONTROLLER_CRDS, version="v1alpha1", name=name)
    return cs.validator(cs.strict(schema))


def test_compositecontroller_fits_metacontroller_crd() -> None:
    cc = _one("CompositeController")
    assert cs.errors(_metacontroller_validator(), cc) == []
    bad = copy.deepcopy(cc)
    bad["spec"]["hooks"]["sync"]["webhook"]["timeOut"] = "10s"
    assert cs.errors(_metacontroller_validator(), bad), "strict schema catches a typo"


def test_decoratorcontroller_fits_metacontroller_crd() -> None:
    dc = _one("DecoratorController")
    validator = _metacontroller_validator("DecoratorController")
    assert cs.errors(validator, dc) == []
    bad = copy.deepcopy(dc)
    bad["spec"]["resources"][0]["resourse"] = "nimcaches"
    assert cs.errors(validator, bad), "strict schema catches a typo"


EXAMPLES = [(i, d) for i, d in DOCUMENTS if i.startswith("examples/")]


@pytest.mark.parametrize(("ident", "doc"), [pytest.param(i, d, id=i) for i, d in EXAMPLES])
def test_examples_fit_our_crds(ident: str, doc: dict[str, Any]) -> None:
    validator = {"NIMBuild": cs.object_validator, "NIMCache": cs.nimcache_validator}[doc["kind"]]
    assert cs.errors(validator(), doc) == []


@pytest.mark.parametrize(("ident", "doc"), [pytest.param(i, d, id=i) for i, d in EXAMPLES])
def test_examples_without_additions_are_nim_operator_manifests(
    ident: str, doc: dict[str, Any]
) -> None:
    crd = {"NIMBuild": cs.UPSTREAM_NIMBUILD_CRD, "NIMCache": cs.UPSTREAM_NIMCACHE_CRD}
    upstream = cs.validator(cs.strict(cs.openapi_schema(crd[doc["kind"]])))
    problems = cs.errors(upstream, doc)
    if "build" in doc.get("spec", {}):
        assert problems and all(p.startswith("spec:") and "'build'" in p for p in problems)
    else:
        assert problems == []


def test_examples_cover_the_use_cases() -> None:
    builds = [d for i, d in EXAMPLES if d["kind"] == "NIMBuild"]
    (cache,) = [d for i, d in EXAMPLES if d["kind"] == "NIMCache"]
    assert all(b["spec"]["nimCache"]["name"] == cache["metadata"]["name"] for b in builds)
    assert any("profile" not in b["spec"]["nimCache"] for b in builds), "auto-selected"
    assert any("profile" in b["spec"]["nimCache"] for b in builds), "named profile"
    assert any("lora" in b["metadata"]["name"] for b in builds), "LoRA"
    assert any(b["spec"].get("build", {}).get("backend") == "trtllm" for b in builds)
    assert cache["spec"]["source"]["ngc"]["model"]["buildable"] is True


# --- CompositeController --------------------------------------------------------------------


def test_compositecontroller_wiring() -> None:
    cc = _one("CompositeController", "nimbuild-controller")["spec"]
    assert cc["parentResource"] == {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "resource": "nimbuilds",
    }
    assert cc["childResources"] == [
        {"apiVersion": "batch/v1", "resource": "jobs", "updateStrategy": {"method": "OnDelete"}}
    ]
    assert cc["generateSelector"] is True
    assert 0 < cc["resyncPeriodSeconds"] <= 3600
    _assert_v2_hooks_call_the_service(cc["hooks"], "/sync", "/customize")


def _assert_v2_hooks_call_the_service(hooks: dict[str, Any], sync: str, customize: str) -> None:
    """Exactly sync + customize, version v2, through the hook's Service, 10 s timeout."""
    assert set(hooks) == {"sync", "customize"}
    service = _one("Service", HOOK_NAME)
    for name, path in (("sync", sync), ("customize", customize)):
        hook = hooks[name]
        assert hook["version"] == "v2"
        webhook = hook["webhook"]
        assert webhook["path"] == path
        assert webhook["timeout"] == "10s"
        assert "url" not in webhook
        assert webhook["service"] == {
            "name": service["metadata"]["name"],
            "namespace": service["metadata"]["namespace"],
            "port": service["spec"]["ports"][0]["port"],
        }


def test_decoratorcontroller_wiring() -> None:
    dc = _one("DecoratorController", "nimbuild-nimcache-profiles")["spec"]
    assert dc["resources"] == [{"apiVersion": "apps.nvidia.com/v1alpha1", "resource": "nimcaches"}]
    assert "attachments" not in dc, "the decorator creates nothing"
    assert 0 < dc["resyncPeriodSeconds"] <= 3600, "safety net for a dropped 409"
    assert not any("ignoreStatusChanges" in r for r in dc["resources"]), (
        "an operator rewrite of the status must trigger a sync"
    )
    _assert_v2_hooks_call_the_service(dc["hooks"], "/nimcache/sync", "/nimcache/customize")


# --- hook Deployment, Service, PDB ----------------------------------------------------------


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return _one("Deployment", HOOK_NAME)


@pytest.fixture(scope="module")
def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod["containers"]
    return only


def test_namespace_enforces_restricted() -> None:
    namespace = _one("Namespace", HOOK_NS)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    namespaced = [d for _, d in DOCUMENTS if d["metadata"].get("namespace")]
    assert namespaced and all(d["metadata"]["namespace"] == HOOK_NS for d in namespaced)


def test_deployment_shape(deployment: dict[str, Any], pod: dict[str, Any]) -> None:
    assert deployment["metadata"]["namespace"] == HOOK_NS
    assert deployment["spec"]["replicas"] == 2
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pod["serviceAccountName"] == HOOK_NAME
    assert pod["automountServiceAccountToken"] is False
    spread = pod.get("topologySpreadConstraints") or pod.get("affinity", {}).get("podAntiAffinity")
    assert spread, "replicas are spread over nodes"


def test_container_runs_the_image_cmd(container: dict[str, Any]) -> None:
    assert "command" not in container and "args" not in container
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_container_env(container: dict[str, Any]) -> None:
    env = {e["name"]: e for e in container["env"]}
    assert len(env) == len(container["env"]), "no duplicate env names"
    assert env.keys() >= REQUIRED_HOOK_ENV
    assert env["HOST"]["value"] == "0.0.0.0"
    assert env["PORT"]["value"] == "8080"
    assert env["NIMBUILD_HOOK_BUILDER_IMAGE"]["value"] == container["image"], (
        "the build Job's engine-builder runs the hook's own image"
    )
    assert int(env["NIMBUILD_HOOK_BACKOFF_LIMIT"]["value"]) == 1
    assert int(env["NIMBUILD_HOOK_ACTIVE_DEADLINE_SECONDS"]["value"]) == 7200
    assert int(env["NIMBUILD_HOOK_MAX_BODY_BYTES"]["value"]) == 16 * 1024 * 1024
    assert all(isinstance(e.get("value", ""), str) for e in container["env"])


def test_probes(container: dict[str, Any]) -> None:
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_hardening(pod: dict[str, Any], container: dict[str, Any], deployment: Any) -> None:
    pod_sc = pod["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 10001 and pod_sc["runAsUser"] == 10001
    assert sc["runAsGroup"] == 10001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert violations(deployment) == []


def test_pod_security_checker_is_not_vacuous(deployment: dict[str, Any]) -> None:
    bad = copy.deepcopy(deployment)
    del bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]
    assert violations(bad)


def test_resources(container: dict[str, Any]) -> None:
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= container["resources"][kind].keys(), kind


def test_writable_tmp(pod: dict[str, Any], container: dict[str, Any]) -> None:
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "/tmp" in mounts
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_service_and_pdb_select_the_hook_pods(deployment: dict[str, Any]) -> None:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = _one("Service", HOOK_NAME)
    assert service["metadata"]["namespace"] == HOOK_NS
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80 and port["targetPort"] == "http"
    pdb = _one("PodDisruptionBudget", HOOK_NAME)
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


# --- RBAC -----------------------------------------------------------------------------------


def test_hook_service_account_has_no_token_and_no_permissions() -> None:
    account = _one("ServiceAccount", HOOK_NAME)
    assert account["metadata"]["namespace"] == HOOK_NS
    assert account["automountServiceAccountToken"] is False
    for _, doc in DOCUMENTS:
        if doc["kind"] in {"RoleBinding", "ClusterRoleBinding"}:
            for subject in doc.get("subjects", []):
                assert (subject.get("name"), subject.get("namespace")) != (HOOK_NAME, HOOK_NS)


def test_aggregated_user_roles() -> None:
    aggregated: dict[str, set[str]] = {}
    for _, doc in DOCUMENTS:
        if doc["kind"] != "ClusterRole":
            continue
        for label, value in doc["metadata"].get("labels", {}).items():
            if label.startswith("rbac.authorization.k8s.io/aggregate-to-") and value == "true":
                verbs = {
                    verb
                    for rule in doc["rules"]
                    if "nimbuilds" in rule["resources"]
                    for verb in rule["verbs"]
                }
                aggregated[label.rsplit("-", 1)[-1]] = verbs
    assert aggregated.keys() == {"admin", "edit", "view"}
    assert aggregated["view"] == {"get", "list", "watch"}
    assert {"create", "delete", "update", "patch"} <= aggregated["edit"] == aggregated["admin"]


def test_metacontroller_role_covers_the_decoratorcontroller() -> None:
    role = _one("ClusterRole", "nimbuild-controller:metacontroller")

    def verbs(resource: str) -> set[str]:
        return {
            verb
            for rule in role["rules"]
            if "apps.nvidia.com" in rule["apiGroups"] and resource in rule["resources"]
            for verb in rule["verbs"]
        }

    assert {"get", "list", "watch"} <= verbs("nimcaches"), "target"
    assert "update" in verbs("nimcaches"), "Metacontroller PUTs the target after its status"
    assert {"update"} <= verbs("nimcaches/status")
    assert {"get", "list", "watch"} <= verbs("nimbuilds"), "related"
    assert not {"create", "delete"} & verbs("nimcaches"), "least privilege"


# --- kustomizations -------------------------------------------------------------------------

KUSTOMIZATIONS = [
    ROOT / "crds",
    ROOT / "metacontroller",
    ROOT / "metacontroller" / "components" / "bearer-token",
    ROOT / "metacontroller" / "components" / "network-policy",
]


def _kustomization(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_kustomization_references_exist(folder: Path) -> None:
    k = _kustomization(folder)
    referenced = [
        *k.get("resources", []),
        *k.get("components", []),
        *k.get("configurations", []),
        *(p["path"] for p in k.get("patches", []) if "path" in p),
    ]
    assert referenced
    for ref in referenced:
        target = (folder / ref).resolve()
        assert target.exists(), f"{folder.name}/kustomization.yaml names missing {ref}"
        assert target.is_relative_to(folder.resolve()), f"{ref} is outside {folder}"


@pytest.mark.parametrize("folder", KUSTOMIZATIONS[:2], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_manifest_is_in_its_kustomization(folder: Path) -> None:
    listed = set(_kustomization(folder)["resources"])
    present = {p.name for p in folder.glob("*.yaml")} - NOT_MANIFESTS
    assert present - listed <= {"nimcache.yaml"}, "unlisted manifests"
    assert "nimcache.yaml" not in listed


def test_images_are_set_in_one_place_and_pinned() -> None:
    k = _kustomization(ROOT / "metacontroller")
    images = {entry["name"]: entry for entry in k["images"]}
    assert images.keys() == {"nimbuild-controller", "nimbuild-controller-trtllm"}
    for entry in images.values():
        assert DIGEST.match(entry["digest"]), entry
        assert "newTag" not in entry, "pinned by digest only"


# A small kustomize, enough for our folders: resources (files and folders), components with
# strategic-merge patches checked for their target, `images` (plus our kustomizeconfig image
# field specs), `labels`.


def _render(folder: Path) -> list[dict[str, Any]]:
    k = _kustomization(folder)
    docs: list[dict[str, Any]] = []
    for ref in k.get("resources", []):
        target = folder / ref
        docs.extend(_render(target) if target.is_dir() else cs.load_documents(target))
    for ref in k.get("components", []):
        component = _kustomization(folder / ref)
        for patch in component.get("patches", []):
            (doc,) = cs.load_documents(folder / ref / patch["path"])
            ids = {(d["kind"], d["metadata"]["name"]) for d in docs}
            assert (doc["kind"], doc["metadata"]["name"]) in ids, patch
    env_images = any(
        spec.get("path") == "spec/template/spec/containers/env/value"
        for ref in k.get("configurations", [])
        for spec in yaml.safe_load((folder / ref).read_text(encoding="utf-8")).get("images", [])
    )
    new_images = {
        i["name"]: i["newName"] + (f"@{i['digest']}" if "digest" in i else f":{i['newTag']}")
        for i in k.get("images", [])
    }
    for doc in docs:
        for group in k.get("labels", []):
            doc["metadata"].setdefault("labels", {}).update(group["pairs"])
        template = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in template.get("containers", []) + template.get("initContainers", []):
            container["image"] = new_images.get(container["image"], container["image"])
            for env in container.get("env", []) if env_images else []:
                if "value" in env:
                    env["value"] = new_images.get(env["value"], env["value"])
    return docs


def _ids(docs: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    return {
        (d["apiVersion"], d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
        for d in docs
    }


def test_python_render_of_metacontroller() -> None:
    docs = _render(ROOT / "metacontroller")
    kinds = sorted(d["kind"] for d in docs)
    assert kinds.count("CompositeController") == 1 and kinds.count("Deployment") == 1
    assert kinds.count("DecoratorController") == 1
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    k = {i["name"]: i for i in _kustomization(ROOT / "metacontroller")["images"]}
    hook = k["nimbuild-controller"]
    trtllm = k["nimbuild-controller-trtllm"]
    assert container["image"] == f"{hook['newName']}@{hook['digest']}"
    assert env["NIMBUILD_HOOK_BUILDER_IMAGE"] == container["image"]
    assert env["NIMBUILD_HOOK_TRTLLM_IMAGE"] == f"{trtllm['newName']}@{trtllm['digest']}"
    for doc in docs:
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "nimbuild-controller"


def test_python_render_of_crds() -> None:
    assert _ids(_render(ROOT / "crds")) == {
        (
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "",
            "nimbuilds.apps.nvidia.com",
        )
    }
