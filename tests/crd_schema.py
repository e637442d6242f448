"""Schemas of our CRDs as jsonschema validators, for tests that check objects offline.

The API server validates custom resources against the CRD's `openAPIV3Schema` and prunes
unknown fields; jsonschema does neither by default (unknown fields pass, CEL rules are
ignored). `strict()` closes every modelled object node (`additionalProperties: false`) so a
field the CRD does not declare fails here instead of being silently pruned in a cluster.
Nodes marked `x-kubernetes-preserve-unknown-fields` stay open, as in the API server.

Used by: tests/manifests/test_crds.py (compatibility with upstream), the hook tests (every `status`
the hook returns must fit `status_validator()`), tests/manifests/test_manifests.py (examples).
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

# One implementation of the structural-schema rules, shared with `nimbuild validate`.
from hooks.cli.checks import strict, validator

__all__ = ["strict", "validator"]

ROOT = Path(__file__).resolve().parent.parent
CRD_DIR = ROOT / "crds"
NIMBUILD_CRD = CRD_DIR / "nimbuild.yaml"
NIMCACHE_CRD = CRD_DIR / "nimcache.yaml"
UPSTREAM_DIR = Path(__file__).resolve().parent / "fixtures" / "upstream"
UPSTREAM_NIMBUILD_CRD = UPSTREAM_DIR / "upstream-nim-operator-nimbuilds.crd.yaml"
UPSTREAM_NIMCACHE_CRD = UPSTREAM_DIR / "upstream-nim-operator-nimcaches.crd.yaml"
METACONTROLLER_CRDS = UPSTREAM_DIR / "metacontroller-crds-v1.yaml"

VERSION = "v1alpha1"


def load_documents(path: Path) -> list[dict[str, Any]]:
    """All non-empty YAML documents of a file, in order."""
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def load_crd(path: Path, name: str | None = None) -> dict[str, Any]:
    """The CustomResourceDefinition in `path` (the one named `name` when there are several)."""
    crds = [d for d in load_documents(path) if d.get("kind") == "CustomResourceDefinition"]
    if name is not None:
        crds = [d for d in crds if d["metadata"]["name"] == name]
    if len(crds) != 1:
        raise LookupError(f"expected one CRD {name or ''} in {path}, found {len(crds)}")
    return crds[0]


def crd_version(crd: dict[str, Any], version: str = VERSION) -> dict[str, Any]:
    """The `spec.versions[]` entry of `crd` named `version`."""
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            return entry
    raise LookupError(f"{crd['metadata']['name']} has no version {version}")


def openapi_schema(path: Path, version: str = VERSION, name: str | None = None) -> dict[str, Any]:
    """`spec.versions[name=version].schema.openAPIV3Schema` of the CRD in `path` (a copy)."""
    schema = crd_version(load_crd(path, name), version)["schema"]["openAPIV3Schema"]
    return copy.deepcopy(schema)


@cache
def _nimbuild_schema(strict_mode: bool) -> dict[str, Any]:
    schema = openapi_schema(NIMBUILD_CRD)
    return strict(schema) if strict_mode else schema


def nimbuild_schema(strict_mode: bool = True) -> dict[str, Any]:
    """Our NIMBuild `openAPIV3Schema` (strict by default); a fresh copy, safe to change."""
    return copy.deepcopy(_nimbuild_schema(strict_mode))


def object_validator() -> jsonschema.protocols.Validator:
    """Validates a whole NIMBuild object against our CRD, unknown fields forbidden."""
    return validator(nimbuild_schema())


def status_validator() -> jsonschema.protocols.Validator:
    """Validates a NIMBuild `status` (as the hook returns it) against our CRD, strictly."""
    return validator(nimbuild_schema()["properties"]["status"])


def spec_validator() -> jsonschema.protocols.Validator:
    """Validates a NIMBuild `spec` against our CRD, strictly."""
    return validator(nimbuild_schema()["properties"]["spec"])


def nimcache_validator() -> jsonschema.protocols.Validator:
    """Validates a whole NIMCache object against our (subset) NIMCache CRD, strictly."""
    return validator(strict(openapi_schema(NIMCACHE_CRD)))


def errors(validator_: jsonschema.protocols.Validator, instance: object) -> list[str]:
    """Every validation error as `path: message`, for readable assertion failures."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator_.iter_errors(instance), key=lambda e: str(list(e.absolute_path)))
    ]
