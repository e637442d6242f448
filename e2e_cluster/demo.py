"""`make demo`: the local control plane with the project installed, one NIMBuild built.

Brings everything up (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
Metacontroller, the hook, the node agent), installs the project as the README says, applies
examples/nimcache.yaml (made Ready by the NIM Operator stand-in, with its Secrets) and
examples/nimbuild-auto-profile.yaml, and prints the NIMBuild's state and reason on every change
until it is Ready. Then prints the KUBECONFIG and keeps running until Ctrl-C.
`--until-ready` stops as soon as the NIMBuild is Ready (exit 0) or `--timeout` passes (exit 1).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import watch

from e2e_cluster import binaries, nim_operator, procs
from e2e_cluster.cluster import REPO, Cluster

NAMESPACE = "my-models"
CACHE = "meta-llama3-8b-instruct"
BUILD = "meta-llama3-8b-instruct-auto"


def say(line: str) -> None:
    print(line, flush=True)


def state_line(obj: dict[str, Any]) -> tuple[str, str]:
    status = obj.get("status") or {}
    conditions = status.get("conditions", [])
    ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    return str(status.get("state", "-")), str(ready.get("reason", "-"))


def follow(cluster: Cluster, started: float, timeout: float) -> bool:
    """One line per change of state/reason; True once Ready."""
    last: tuple[str, str] | None = None
    stream = watch.Watch()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in stream.stream(
            cluster.custom().list_namespaced_custom_object,
            "apps.nvidia.com", "v1alpha1", NAMESPACE, "nimbuilds",
            field_selector=f"metadata.name={BUILD}",
            timeout_seconds=max(1, int(deadline - time.monotonic())),
        ):  # fmt: skip
            obj = event["object"]
            now = state_line(obj)
            if now != last:
                last = now
                say(f"[{time.monotonic() - started:6.1f}s] {BUILD}: {now[0]:<10} {now[1]}")
            if now[0] == "Ready":
                stream.stop()
                out = obj.get("status", {}).get("outputProfile", {})
                say(f"          outputProfile: {out.get('name', '?')}")
                return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--until-ready", action="store_true", help="exit once Ready")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for Ready")
    parser.add_argument(
        "--bearer-token", action="store_true", help="with metacontroller/components/bearer-token"
    )
    parser.add_argument("--workdir", type=Path, help="default: a new temporary directory")
    args = parser.parse_args(argv)
    procs.install_handlers()
    # Ctrl-C must stop the demo even when it was started with SIGINT ignored (a background job
    # of a non-interactive shell, as CI and make may start it).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        binaries.locate()
    except binaries.MissingBinary as error:
        print(f"make demo: {error}", file=sys.stderr)
        return 2
    root = args.workdir or Path(tempfile.mkdtemp(prefix="nimbuild-demo-"))
    cluster = Cluster(root, bearer_token=args.bearer_token, say=say)
    started = time.monotonic()
    ok = False
    try:
        cluster.up()
        cluster.create_namespace(NAMESPACE)
        for name, data in (("ngc-secret", {".dockerconfigjson": "{}"}),
                           ("ngc-api-secret", {"NGC_API_KEY": "demo-not-a-key"})):  # fmt: skip
            cluster.secret(NAMESPACE, name, data)
        examples = REPO / "examples"
        cluster.kubectl("-n", NAMESPACE, "apply", "-f", str(examples / "nimcache.yaml"),
                        "-f", str(examples / "nimbuild-auto-profile.yaml"))  # fmt: skip
        say(f"[{time.monotonic() - started:6.1f}s] applied examples/nimcache.yaml, "
            "examples/nimbuild-auto-profile.yaml")  # fmt: skip
        assert cluster.api is not None
        nim_operator.make_ready(
            cluster.api, NAMESPACE, CACHE, root / "volumes",
            [nim_operator.buildable_profile("meta/llama-3.1-8b-instruct")],
        )  # fmt: skip
        say(f"[{time.monotonic() - started:6.1f}s] NIMCache {CACHE} Ready (NIM Operator stand-in)")
        ok = follow(cluster, started, args.timeout)
        if not ok:
            say(f"not Ready after {args.timeout:.0f}s")
        say(cluster.kubectl("-n", NAMESPACE, "get", "nimbuilds,jobs,pods").rstrip())
        say(f"\nexport KUBECONFIG={cluster.kubeconfig}")
        say(f"kubectl -n {NAMESPACE} get nimb   # kubectl: {cluster.kubectl_path}")
        say(f"logs: {root / 'logs'}")
        if args.until_ready:
            return 0 if ok else 1
        say("running until Ctrl-C")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except Exception:
        say("failed; component logs:\n" + cluster.describe_logs())
        raise
    finally:
        cluster.down()


if __name__ == "__main__":
    sys.exit(main())
