"""Node agent: a KUBELET STAND-IN for the loopback control plane (no container runtime here).

It does, for one Node, the parts of a kubelet the build Jobs meet:

- registers the Node with `nvidia.com/gpu: 8`, sets it Ready, removes the `not-ready` taint
  the TaintNodesByCondition admission puts on new Nodes, and renews its Lease;
- watches the pods the scheduler binds to it; for a build pod it starts the NIM server
  STAND-IN (tests/standins/nim_server.py) in the place of the `nim-build-ctr` native sidecar and
  runs the `engine-builder` container's command as written in the pod (the real
  `python3 -m engine_builder`) with the container's env. What a kubelet would mount is mapped
  to this machine: the PVC's volume (a hostPath PV) plus `subPath` for the mount path, a file
  for the termination-message path, the sidecar's port for `127.0.0.1:8000`;
- writes what a kubelet writes through `pods/status`: phase, conditions, both containers'
  states (the sidecar under `initContainerStatuses`), exit codes, the termination message
  (FallbackToLogsOnError: the log tail when the file is empty and the exit code is not 0);
- on a graceful delete (deletionTimestamp set) stops the containers and removes the pod with
  grace period 0, as a kubelet confirms a termination.

The NIM image's behaviour is chosen by env on the `nim-build-ctr` container (set through the
NIMBuild's `spec.env`, as a user would configure a real image): `NIM_STANDIN_FAILURE` (one of
the stand-in's `--failure` modes), `NIM_STANDIN_FAILED_ATTEMPTS` (fail only the first N pods
of a Job; default: every pod), `NIM_STANDIN_BUILD_SECONDS`.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from e2e_cluster import procs

REPO = Path(__file__).resolve().parents[1]
NIM_STANDIN = REPO / "tests" / "standins" / "nim_server.py"
GPU = "nvidia.com/gpu"
SIDECAR, BUILDER = "nim-build-ctr", "engine-builder"
NIM_PORT = 8000
MAX_MESSAGE = 4096  # kubelet's cap on a termination message
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048  # kubelet's FallbackToLogsOnError tail


def now_text() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def body(response: Any) -> dict[str, Any]:
    value = json.loads(response.data)
    assert isinstance(value, dict)
    return value


def env_value(var: dict[str, Any], core: client.CoreV1Api, namespace: str) -> str | None:
    """A container env entry as the kubelet resolves it; None when its Secret is missing."""
    if "value" in var:
        return str(var["value"])
    ref = (var.get("valueFrom") or {}).get("secretKeyRef")
    if ref is None:
        return ""  # fieldRef & co.: not used by build pods
    try:
        secret = body(core.read_namespaced_secret(ref["name"], namespace, _preload_content=False))
    except ApiException as error:
        if error.status == 404 and not ref.get("optional"):
            return None
        raise
    data = secret.get("data") or {}
    if ref["key"] not in data:
        return "" if ref.get("optional") else None
    return base64.b64decode(data[ref["key"]]).decode()


@dataclass
class Running:
    """The processes of one pod."""

    pod_dir: Path
    nim: procs.Process | None = None
    builder: procs.Process | None = None
    deleted: threading.Event = field(default_factory=threading.Event)
    done: bool = False


class NodeAgent:
    """Kubelet stand-in for one Node; `start()` then `stop()`."""

    def __init__(
        self,
        api: client.ApiClient,
        node: str,
        work: Path,
        *,
        gpus: int = 8,
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.node = node
        self.work = work
        self.gpus = gpus
        self.say = say
        self.stopping = threading.Event()
        self.pods: dict[str, Running] = {}
        self.attempts: dict[str, int] = {}  # Job uid → pods started
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.errors: list[str] = []

    # -- the Node ----------------------------------------------------------------------------

    def register(self) -> None:
        self.core.create_node(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": self.node,
                    "labels": {
                        "kubernetes.io/hostname": self.node,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "nvidia.com/gpu.present": "true",
                    },
                },
            }
        )
        resources = {
            "cpu": "64",
            "memory": "512Gi",
            "pods": "110",
            "ephemeral-storage": "1Ti",
            GPU: str(self.gpus),
        }
        stamp = now_text()
        status = {
            "capacity": resources,
            "allocatable": resources,
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.node},
            ],
            "conditions": [
                {
                    "type": kind,
                    "status": "False" if kind != "Ready" else "True",
                    "reason": reason,
                    "message": "node agent (kubelet stand-in)",
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp,
                }
                for kind, reason in (
                    ("MemoryPressure", "KubeletHasSufficientMemory"),
                    ("DiskPressure", "KubeletHasNoDiskPressure"),
                    ("PIDPressure", "KubeletHasSufficientPID"),
                    ("Ready", "KubeletReady"),
                )
            ],
            "nodeInfo": {
                "machineID": uuid.uuid4().hex,
                "systemUUID": str(uuid.uuid4()),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": os.uname().release,
                "osImage": "nimbuild e2e node agent",
                "containerRuntimeVersion": "none://0",
                "kubeletVersion": "v1.36.2",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
        self.core.patch_node_status(
            self.node, {"status": status}, _content_type="application/merge-patch+json"
        )
        # TaintNodesByCondition admission tainted the new Node not-ready; with no node-lifecycle
        # controller running, nothing else would take the taint off.
        self.core.patch_node(
            self.node, {"spec": {"taints": None}}, _content_type="application/merge-patch+json"
        )
        self._renew_lease()

    def _renew_lease(self) -> None:
        coordination = client.CoordinationV1Api(self.api)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.node, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": self.node, "leaseDurationSeconds": 40, "renewTime": stamp},
        }
        try:
            coordination.patch_namespaced_lease(
                self.node,
                "kube-node-lease",
                {"spec": lease["spec"]},
                _content_type="application/merge-patch+json",
            )
        except ApiException as error:
            if error.status != 404:
                raise
            coordination.create_namespaced_lease("kube-node-lease", lease)

    def _heartbeat(self) -> None:
        while not self.stopping.wait(10):
            with contextlib.suppress(Exception):
                self._renew_lease()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.register()
        for target in (self._heartbeat, self._watch):
            thread = threading.Thread(target=target, name=f"node-agent-{target.__name__}")
            thread.daemon = True
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            running = list(self.pods.values())
        for run in running:
            run.deleted.set()
            for process in (run.builder, run.nim):
                if process is not None:
                    process.stop(timeout=5)

    def _watch(self) -> None:
        resource_version = ""
        while not self.stopping.is_set():
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    self.core.list_pod_for_all_namespaces,
                    field_selector=f"spec.nodeName={self.node}",
                    resource_version=resource_version or None,
                    timeout_seconds=30,
                ):
                    if self.stopping.is_set():
                        stream.stop()
                        break
                    pod = event["raw_object"]
                    resource_version = pod["metadata"]["resourceVersion"]
                    self._on_pod(event["type"], pod)
            except ApiException as error:
                if error.status == 410:
                    resource_version = ""
                    continue
                self.errors.append(f"watch: {error}")
                time.sleep(1)
            except Exception as error:  # keep the agent alive; a test sees self.errors
                if not self.stopping.is_set():
                    self.errors.append(f"watch: {error!r}")
                    time.sleep(1)

    def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            run = self.pods.get(uid)
            if kind == "DELETED":
                if run is not None:
                    run.deleted.set()
                return
            if run is None:
                if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                    if pod["metadata"].get("deletionTimestamp"):
                        self._confirm_delete(pod)
                    return
                run = Running(self.work / "pods" / uid)
                self.pods[uid] = run
                thread = threading.Thread(
                    target=self._run_guarded, args=(pod, run), name=f"pod-{uid[:8]}"
                )
                thread.daemon = True
                thread.start()
                self.threads.append(thread)
            elif pod["metadata"].get("deletionTimestamp"):
                run.deleted.set()
                if run.done:
                    self._confirm_delete(pod)

    # -- a pod -------------------------------------------------------------------------------

    def _run_guarded(self, pod: dict[str, Any], run: Running) -> None:
        try:
            self._run(pod, run)
        except Exception as error:
            if not self.stopping.is_set():
                name = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
                self.errors.append(f"pod {name}: {error!r}")
        finally:
            with self.lock:
                run.done = True

    def _write_status(self, pod: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> bool:
        """Read-modify-write of `pods/status`; False when the pod is gone."""
        meta = pod["metadata"]
        for _ in range(20):
            try:
                current = body(
                    self.core.read_namespaced_pod(
                        meta["name"], meta["namespace"], _preload_content=False
                    )
                )
            except ApiException as error:
                if error.status == 404:
                    return False
                raise
            if current["metadata"]["uid"] != meta["uid"]:
                return False
            status = current.setdefault("status", {})
            change(status)
            try:
                self.core.replace_namespaced_pod_status(meta["name"], meta["namespace"], current)
                return True
            except ApiException as error:
                if error.status == 409:
                    continue
                if error.status == 404:
                    return False
                raise
        raise RuntimeError(f"pods/status of {meta['name']}: conflicts did not stop")

    def _confirm_delete(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(ApiException):
            self.core.delete_namespaced_pod(
                meta["name"],
                meta["namespace"],
                grace_period_seconds=0,
                body={"preconditions": {"uid": meta["uid"]}, "gracePeriodSeconds": 0},
            )

    def _volume_dir(self, pod: dict[str, Any], mount: dict[str, Any]) -> Path:
        """Where the kubelet would have mounted `mount`: the PVC's hostPath PV (+ subPath)."""
        namespace = pod["metadata"]["namespace"]
        volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mount["name"])
        claim = volume["persistentVolumeClaim"]["claimName"]
        pvc = body(
            self.core.read_namespaced_persistent_volume_claim(
                claim, namespace, _preload_content=False
            )
        )
        pv = body(
            self.core.read_persistent_volume(pvc["spec"]["volumeName"], _preload_content=False)
        )
        directory = Path(pv["spec"]["hostPath"]["path"])
        if mount.get("subPath"):
            directory = directory / mount["subPath"]
            directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _container_env(
        self, container: dict[str, Any], namespace: str
    ) -> tuple[dict[str, str], list[str]]:
        resolved: dict[str, str] = {}
        missing: list[str] = []
        for var in container.get("env", []):
            value = env_value(var, self.core, namespace)
            if value is None:
                missing.append(var["name"])
            else:
                resolved[var["name"]] = value
        return resolved, missing

    def _run(self, pod: dict[str, Any], run: Running) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        namespace = meta["namespace"]
        sidecars = [c for c in spec.get("initContainers", []) if c.get("restartPolicy") == "Always"]
        builder = next((c for c in spec["containers"] if c["name"] == BUILDER), None)
        nim = next((c for c in sidecars if c["name"] == SIDECAR), None)
        if builder is None or nim is None or len(spec["containers"]) != 1:
            self._write_status(
                pod,
                lambda s: s.update(
                    phase="Failed",
                    reason="NodeAgent",
                    message="the node agent runs build pods only",
                ),
            )
            return
        started = now_text()
        run.pod_dir.mkdir(parents=True, exist_ok=True)

        # Container config, as the kubelet builds it before starting anything.
        nim_env, missing = self._container_env(nim, namespace)
        while missing:
            detail = f"secret or key not found for env {', '.join(missing)}"
            blocked = {
                "phase": "Pending",
                "initContainerStatuses": [waiting(nim, "CreateContainerConfigError", detail)],
                "containerStatuses": [waiting(builder, "PodInitializing", "")],
            }

            def block(status: dict[str, Any], blocked: dict[str, Any] = blocked) -> None:
                status.update(blocked)

            self._write_status(pod, block)
            if run.deleted.wait(2):
                self._finish_deleted(pod, run)
                return
            nim_env, missing = self._container_env(nim, namespace)
        builder_env, _ = self._container_env(builder, namespace)

        # The sidecar starts first; the main container once it has started.
        gpus = int(nim.get("resources", {}).get("limits", {}).get(GPU, "1"))
        owner = next((o["uid"] for o in meta.get("ownerReferences", []) if o["kind"] == "Job"), "")
        with self.lock:
            attempt = self.attempts.get(owner, 0) + 1
            self.attempts[owner] = attempt
        failure = nim_env.get("NIM_STANDIN_FAILURE", "none")
        failed_attempts = int(nim_env.get("NIM_STANDIN_FAILED_ATTEMPTS", "0") or "0")
        if failed_attempts and attempt > failed_attempts:
            failure = "none"
        nim_store = self._volume_dir(pod, mount_of(nim, nim_env.get("NIM_CACHE_PATH", "")))
        argv = [
            sys.executable,
            str(NIM_STANDIN),
            "--store", str(nim_store),
            "--model-name", nim_env.get("NIM_CUSTOM_MODEL_NAME", meta["name"]),
            "--tp", str(max(gpus, 1)),
            "--failure", failure,
            "--build-seconds", nim_env.get("NIM_STANDIN_BUILD_SECONDS", "0.5"),
            "--port", "0",
        ]  # fmt: skip
        run.nim = procs.start(f"{meta['name']}/{SIDECAR}", argv, run.pod_dir / f"{SIDECAR}.log")
        port = wait_listening(run.nim)
        nim_started = now_text()

        env = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(run.pod_dir),
            "LANG": "C.UTF-8",
            "HOSTNAME": meta["name"],
        }
        termination = run.pod_dir / "termination-log"
        termination.write_text("")
        message_path = builder.get("terminationMessagePath", "/dev/termination-log")
        mounts = {m["mountPath"]: self._volume_dir(pod, m) for m in builder.get("volumeMounts", [])}
        for name, value in builder_env.items():
            env[name] = remap(value, mounts, message_path, termination, port)
        # The pod shares one process namespace: the builder would find the NIM server's
        # process itself; on this machine it is named (engine_builder's documented knob).
        env["NIMBUILD_NIM_PID"] = str(run.nim.pid)
        env.setdefault("TMPDIR", str(run.pod_dir))
        command = [*builder.get("command", []), *builder.get("args", [])]
        running_ok = self._write_status(
            pod,
            lambda s: s.update(
                phase="Running",
                hostIP="127.0.0.1",
                hostIPs=[{"ip": "127.0.0.1"}],
                podIP="127.0.0.1",
                podIPs=[{"ip": "127.0.0.1"}],
                startTime=started,
                conditions=conditions(s, ready=True, initialized=True),
                initContainerStatuses=[running(nim, nim_started, ready=True)],
                containerStatuses=[running(builder, now_text(), ready=True)],
            ),
        )
        if not running_ok:
            self._finish_deleted(pod, run)
            return
        run.builder = procs.start(
            f"{meta['name']}/{BUILDER}", command, run.pod_dir / f"{BUILDER}.log",
            env=env, cwd=run.pod_dir,
        )  # fmt: skip
        while run.builder.popen.poll() is None:
            if run.deleted.wait(0.2):
                self._finish_deleted(pod, run)
                return
        code = run.builder.popen.returncode
        run.builder.stop(timeout=1)  # reaps what is left of its process group
        finished = now_text()
        message = termination.read_text(errors="replace")
        if (
            not message
            and code != 0
            and builder.get("terminationMessagePolicy") == ("FallbackToLogsOnError")
        ):
            message = log_tail(run.builder.log)
        message = message[:MAX_MESSAGE]
        # Main container done: the kubelet stops the sidecar (SIGTERM), then the pod is over.
        nim_code = stop_code(run.nim)
        self._write_status(pod, lambda s: s.update(
            phase="Succeeded" if code == 0 else "Failed",
            conditions=conditions(s, ready=False, initialized=True),
            initContainerStatuses=[terminated(nim, nim_code, nim_started, now_text(), "")],
            containerStatuses=[terminated(builder, code, s_started(s, BUILDER), finished,
                                          message)],
        ))  # fmt: skip
        self.say(f"{namespace}/{meta['name']}: engine-builder exited {code}")
        if run.deleted.wait(0) or pod_deleting(self.core, pod):
            self._confirm_delete(pod)

    def _finish_deleted(self, pod: dict[str, Any], run: Running) -> None:
        """Graceful delete: stop the containers, report them killed, confirm the delete."""
        for process in (run.builder, run.nim):
            if process is not None:
                process.stop(timeout=5)
        self._confirm_delete(pod)


# -- status pieces, as a kubelet writes them ---------------------------------------------------


def mount_of(container: dict[str, Any], path: str) -> dict[str, Any]:
    mounts = container.get("volumeMounts", [])
    for mount in mounts:
        if mount["mountPath"] == path:
            return dict(mount)
    return dict(mounts[0])


def remap(
    value: str, mounts: dict[str, Path], message_path: str, termination: Path, port: int
) -> str:
    """A container env value with the pod's paths and ports mapped to this machine's."""
    if value == message_path:
        return str(termination)
    for mount_path, directory in mounts.items():
        if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
            return str(directory) + value[len(mount_path.rstrip("/")) :]
    return re.sub(rf"(127\.0\.0\.1|localhost):{NIM_PORT}\b", f"127.0.0.1:{port}", value)


def container_id() -> str:
    return f"containerd://{uuid.uuid4().hex}{uuid.uuid4().hex}"


def base_status(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": f"{container['image'].split('@')[0]}@sha256:{'0' * 64}",
        "restartCount": 0,
    }


def waiting(container: dict[str, Any], reason: str, message: str) -> dict[str, Any]:
    state: dict[str, Any] = {"reason": reason}
    if message:
        state["message"] = message
    return {**base_status(container), "ready": False, "started": False,
            "state": {"waiting": state}}  # fmt: skip


def running(container: dict[str, Any], since: str, *, ready: bool) -> dict[str, Any]:
    return {**base_status(container), "ready": ready, "started": True,
            "containerID": container_id(), "state": {"running": {"startedAt": since}}}  # fmt: skip


def terminated(
    container: dict[str, Any], code: int, since: str | None, until: str, message: str
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "exitCode": code,
        "reason": "Completed" if code == 0 else "Error",
        "startedAt": since or until,
        "finishedAt": until,
        "containerID": container_id(),
    }
    if message:
        state["message"] = message
    return {**base_status(container), "ready": False, "started": False,
            "containerID": state["containerID"], "state": {"terminated": state}}  # fmt: skip


def s_started(status: dict[str, Any], name: str) -> str | None:
    for entry in status.get("containerStatuses", []):
        if entry["name"] == name:
            since = entry.get("state", {}).get("running", {}).get("startedAt")
            return str(since) if since else None
    return None


def conditions(status: dict[str, Any], *, ready: bool, initialized: bool) -> list[dict[str, Any]]:
    """Pod conditions the kubelet owns, merged with the scheduler's PodScheduled."""
    stamp = now_text()
    old = {c["type"]: c for c in status.get("conditions", [])}
    wanted = {
        "PodReadyToStartContainers": True,
        "Initialized": initialized,
        "Ready": ready,
        "ContainersReady": ready,
    }
    result = [c for t, c in old.items() if t not in wanted]
    for kind, value in wanted.items():
        text = "True" if value else "False"
        previous = old.get(kind)
        entry: dict[str, Any] = {
            "type": kind,
            "status": text,
            "lastProbeTime": None,
            "lastTransitionTime": previous["lastTransitionTime"]
            if previous and previous["status"] == text
            else stamp,
        }
        if not value and kind in ("Ready", "ContainersReady"):
            entry["reason"] = "PodCompleted"
        result.append(entry)
    return result


def wait_listening(process: procs.Process, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in process.log.read_text(errors="replace").splitlines():
            if line.startswith("LISTENING "):
                return int(line.split()[1])
        if not process.alive():
            break
        time.sleep(0.05)
    raise RuntimeError(f"NIM stand-in did not listen; log {process.log}")


def stop_code(process: procs.Process) -> int:
    """Exit code the runtime reports for a container stopped with SIGTERM (or already gone)."""
    if process.alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.popen.wait(timeout=10)
        except Exception:
            process.stop(timeout=1)
    process.stop(timeout=1)
    code = process.popen.returncode
    return 128 - code if code < 0 else code


def log_tail(path: Path) -> str:
    lines = path.read_text(errors="replace").splitlines()[-FALLBACK_LINES:]
    return "\n".join(lines)[-FALLBACK_BYTES:]


def pod_deleting(core: client.CoreV1Api, pod: dict[str, Any]) -> bool:
    meta = pod["metadata"]
    try:
        current = body(core.read_namespaced_pod(meta["name"], meta["namespace"],
                                                _preload_content=False))  # fmt: skip
    except ApiException:
        return False
    return bool(current["metadata"].get("deletionTimestamp"))
