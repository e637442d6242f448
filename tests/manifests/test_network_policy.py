"""The `network-policy` kustomize component: only Metacontroller and the metrics scraper reach
the hook's port, the hook reaches nothing, and an open-source scanner agrees.

Cases:
- the overlay docs/install.md shows, rendered by `kubectl kustomize`: every document passes
  kubernetes-validate strict for Kubernetes 1.29 and 1.37;
- the NetworkPolicy selects exactly the hook's pods, isolates them both ways (no egress), and
  admits two namespaces (by the API server's `kubernetes.io/metadata.name` label) to the
  container's `http` port only; defaults: Metacontroller's namespace from rbac.yaml and
  `monitoring`;
- the documented patch sets both namespaces (one or several each), nothing else changes;
- checkov (PyPI, offline: no platform download, no update check, proxies pointed at a local
  socket that must see no connection; without those two settings, checkov 3.3.30 made 5
  connections to that socket in a manual run) over the rendered manifests: without the component it
  fails exactly CKV2_K8S_6 ("pods which lack an associated NetworkPolicy") on the hook's pods;
  with it, every check passes, CKV2_K8S_6 included.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import crd_schema as cs
import kubernetes_validate
import kustomize_render
import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = cs.ROOT
DOCS = ROOT / "docs" / "install.md"
COMPONENT = ROOT / "metacontroller" / "components" / "network-policy"
NAME_LABEL = "kubernetes.io/metadata.name"
DEFAULTS = (["metacontroller"], ["monitoring"])
NETWORK_POLICY_CHECK = "CKV2_K8S_6"
CHECKOV_VERSION = "3.3.30"  # as the Makefile's CHECKOV_VERSION


def documented_overlay() -> str:
    """The overlay kustomization.yaml docs/install.md shows for the component."""
    section = DOCS.read_text(encoding="utf-8").split("## Restricting who reaches the hook")[1]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    (overlay,) = [b for b in blocks if "components/network-policy" in b]
    return overlay


def write_overlay(folder: Path, text: str) -> Path:
    """The documented overlay in `folder`, its `../nimbuild-controller/` pointing at this tree."""
    folder.mkdir(parents=True, exist_ok=True)
    checkout = os.path.relpath(ROOT, folder)
    (folder / "kustomization.yaml").write_text(
        text.replace("../nimbuild-controller/", f"{checkout}/"), encoding="utf-8"
    )
    return folder


def admitted(policy: dict[str, Any]) -> list[list[str]]:
    """Per ingress rule, the namespace names it admits."""
    names = []
    for rule in policy["spec"]["ingress"]:
        (peer,) = rule["from"]
        assert peer.keys() == {"namespaceSelector"}, "namespaces only: no pods, no IP blocks"
        selector = peer["namespaceSelector"]
        assert selector.keys() == {"matchExpressions"}
        (expression,) = selector["matchExpressions"]
        assert expression["key"] == NAME_LABEL and expression["operator"] == "In"
        names.append(expression["values"])
    return names


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind]
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return kustomize_render.render(
        write_overlay(tmp_path_factory.mktemp("docs"), documented_overlay())
    )


@pytest.mark.parametrize("version", ["1.29", "1.37"])
def test_documented_overlay_validates(rendered: list[dict[str, Any]], version: str) -> None:
    kinds = [d["kind"] for d in rendered]
    assert kinds.count("NetworkPolicy") == 1 and "Deployment" in kinds
    for doc in rendered:
        if not doc["apiVersion"].startswith("metacontroller.k8s.io/"):  # their CRDs: test_manifests
            kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_catches_a_typo_in_the_policy(rendered: list[dict[str, Any]]) -> None:
    bad = copy.deepcopy(one(rendered, "NetworkPolicy"))
    bad["spec"]["ingress"][0]["form"] = bad["spec"]["ingress"][0].pop("from")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.29", strict=True)


def test_policy_admits_only_two_namespaces_to_the_hook_port(
    rendered: list[dict[str, Any]],
) -> None:
    policy = one(rendered, "NetworkPolicy")
    deployment = one(rendered, "Deployment")
    template = deployment["spec"]["template"]
    assert policy["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    selector = policy["spec"]["podSelector"]
    assert selector.keys() == {"matchLabels"}
    assert selector["matchLabels"].items() <= template["metadata"]["labels"].items()
    assert selector == deployment["spec"]["selector"], "the hook's pods, exactly"
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"] == [], "the hook opens no connection, not even DNS"
    (container,) = template["spec"]["containers"]
    port_names = {p["name"] for p in container["ports"]}
    for rule in policy["spec"]["ingress"]:
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
        assert "http" in port_names
    assert admitted(policy) == list(DEFAULTS)


def test_default_is_where_rbac_yaml_expects_metacontroller() -> None:
    namespaces = {
        subject["namespace"]
        for doc in cs.load_documents(ROOT / "metacontroller" / "rbac.yaml")
        if doc["kind"] in {"ClusterRoleBinding", "RoleBinding"}
        for subject in doc.get("subjects", [])
        if subject.get("kind") == "ServiceAccount" and subject.get("name") == "metacontroller"
    }
    assert namespaces == set(DEFAULTS[0])


def test_documented_patch_sets_both_namespaces(
    tmp_path: Path, rendered: list[dict[str, Any]]
) -> None:
    text = documented_overlay()
    assert text.count("value: [metacontroller]") == 1 and text.count("value: [monitoring]") == 1
    text = text.replace("value: [metacontroller]", "value: [mc-a, mc-b]")
    text = text.replace("value: [monitoring]", "value: [prometheus]")
    docs = kustomize_render.render(write_overlay(tmp_path, text))
    policy = one(docs, "NetworkPolicy")
    assert admitted(policy) == [["mc-a", "mc-b"], ["prometheus"]]
    kubernetes_validate.validate(policy, "1.29", strict=True)
    default = one(rendered, "NetworkPolicy")
    for rule in (*policy["spec"]["ingress"], *default["spec"]["ingress"]):
        rule["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] = []
    assert policy == default, "the patch changes the two lists and nothing else"
    others = [d for d in docs if d["kind"] != "NetworkPolicy"]
    assert others == [d for d in rendered if d["kind"] != "NetworkPolicy"]


# --- checkov, offline --------------------------------------------------------------------------


def checkov_binary() -> Path:
    """checkov from its own venv (`make test` builds it: its pins clash with requirements.lock),
    at the version the Makefile pins, since a new release brings new checks."""
    binary = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
    assert binary.exists(), f"no checkov at {binary}: run `make test` (it builds .venv-checkov)"
    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=120, check=True
    ).stdout.strip()
    assert version == os.environ.get("CHECKOV_VERSION", version) == CHECKOV_VERSION, version
    return binary


def checkov(binary: Path, manifest: Path, proxy: str) -> dict[str, Any]:
    """checkov's JSON report of one file, scanned offline."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BC_", "CKV_", "CHECKOV_", "PRISMA_"))
    }
    env.update(
        {
            "BC_SKIP_MAPPING": "TRUE",  # no check-id mapping from the platform
            "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",  # no version look-up on PyPI
            "HTTP_PROXY": proxy,  # anything that still tries goes to our trap
            "HTTPS_PROXY": proxy,
            "http_proxy": proxy,
            "https_proxy": proxy,
            "NO_PROXY": "",
            "no_proxy": "",
            "HOME": str(manifest.parent),
        }
    )
    result = subprocess.run(
        [
            str(binary),
            "--file",
            str(manifest),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
        ],
        cwd=manifest.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert isinstance(report, dict) and report["check_type"] == "kubernetes", report
    return report


def check_ids(report: dict[str, Any], outcome: str) -> dict[str, list[str]]:
    """check id -> resources, for the `passed` or `failed` checks of a report."""
    found: dict[str, list[str]] = {}
    for check in report["results"][f"{outcome}_checks"]:
        found.setdefault(check["check_id"], []).append(check["resource"])
    return found


@pytest.mark.slow
def test_checkov_flags_the_hook_without_the_policy_and_passes_it_with(
    tmp_path: Path, rendered: list[dict[str, Any]]
) -> None:
    without = kustomize_render.render(ROOT / "metacontroller")
    assert [d for d in rendered if d["kind"] != "NetworkPolicy"] == without
    files = []
    for name, docs in (("without", without), ("with", rendered)):
        folder = tmp_path / name
        folder.mkdir()
        files.append(folder / "manifests.yaml")
        files[-1].write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as trap:
        trap.bind(("127.0.0.1", 0))
        trap.listen(8)
        trap.setblocking(False)
        proxy = f"http://127.0.0.1:{trap.getsockname()[1]}"
        binary = checkov_binary()
        with ThreadPoolExecutor(2) as pool:
            bare, covered = pool.map(lambda f: checkov(binary, f, proxy), files)
        with pytest.raises(BlockingIOError):
            trap.accept()  # nobody tried to reach the network
    failed = check_ids(bare, "failed")
    assert failed.keys() == {NETWORK_POLICY_CHECK}, failed
    (resource,) = failed[NETWORK_POLICY_CHECK]
    assert "nimbuild-system.nimbuild-hook" in resource
    assert check_ids(covered, "failed") == {}
    assert NETWORK_POLICY_CHECK in check_ids(covered, "passed")
    assert covered["summary"]["passed"] == bare["summary"]["passed"] + 1
    assert covered["summary"]["parsing_errors"] == 0 == bare["summary"]["parsing_errors"]
