"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and, once the project's CRDs are in, Metacontroller.

Every listening port is ephemeral (picked by the kernel), everything lives under one temporary
directory, every process is started through `procs` (stopped on exit, failure and signals).
Authentication is by static bearer tokens; authorization is RBAC; Pod Security admission is on.
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from e2e_cluster import procs
from e2e_cluster.pki import Pki, new_token, write_pki

# The identity Metacontroller runs as: the ServiceAccount the project's RBAC binds
# (metacontroller/metacontroller), presented through a static token.
METACONTROLLER_USER = "system:serviceaccount:metacontroller:metacontroller"
METACONTROLLER_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:metacontroller")


class StartupError(RuntimeError):
    """A component did not come up; the message names it and its log."""


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel considers free right now (held open together)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class User:
    name: str
    token: str
    groups: tuple[str, ...]


@dataclass
class ControlPlane:
    root: Path
    binaries: dict[str, Path]
    users: dict[str, User] = field(default_factory=dict)
    processes: dict[str, procs.Process] = field(default_factory=dict)
    logs_seen: dict[str, Path] = field(default_factory=dict)
    api_port: int = 0
    pki: Pki | None = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    # -- credentials ---------------------------------------------------------------------

    def _write_credentials(self) -> None:
        self.pki = write_pki(self.root / "pki", datetime.datetime.now(datetime.UTC))
        masters = ("system:masters",)
        self.users = {
            "admin": User("e2e-admin", new_token(), masters),
            "kcm": User("e2e-kube-controller-manager", new_token(), masters),
            "scheduler": User("e2e-kube-scheduler", new_token(), masters),
            "node-agent": User("e2e-node-agent", new_token(), masters),
            "metacontroller": User(METACONTROLLER_USER, new_token(), METACONTROLLER_GROUPS),
        }
        lines = [
            f'{u.token},{u.name},{key},"{",".join(u.groups)}"' for key, u in self.users.items()
        ]
        (self.root / "tokens.csv").write_text("\n".join(lines) + "\n")
        (self.root / "tokens.csv").chmod(0o600)

    def kubeconfig(self, user: str) -> Path:
        """A kubeconfig for one of `users` (written once)."""
        path = self.root / f"{user}.kubeconfig"
        if not path.exists():
            assert self.pki is not None
            config = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "e2e",
                        "cluster": {
                            "server": self.server,
                            "certificate-authority": str(self.pki.ca_cert),
                        },
                    }
                ],
                "users": [{"name": user, "user": {"token": self.users[user].token}}],
                "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": user}}],
                "current-context": "e2e",
            }
            path.write_text(yaml.safe_dump(config))
            path.chmod(0o600)
        return path

    # -- probing ---------------------------------------------------------------------------

    def get(self, path: str, user: str = "admin", timeout: float = 5) -> tuple[int, bytes]:
        assert self.pki is not None
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        request = urllib.request.Request(
            self.server + path, headers={"Authorization": f"Bearer {self.users[user].token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            return 0, str(error).encode()

    def _wait(
        self, what: str, check: Callable[[], bool], timeout: float, watch: Sequence[str]
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name in watch:
                process = self.processes[name]
                if not process.alive():
                    raise StartupError(
                        f"{name} exited ({process.popen.returncode}) while waiting for {what}; "
                        f"log: {process.log}\n{procs.log_tail(process.log)}"
                    )
            if check():
                return
            time.sleep(0.2)
        raise StartupError(f"timed out after {timeout:.0f}s waiting for {what}")

    # -- components ------------------------------------------------------------------------

    def _start(self, name: str, argv: list[str]) -> procs.Process:
        process = procs.start(name, argv, self.logs / f"{name}.log", cwd=self.root)
        self.processes[name] = process
        self.logs_seen[name] = process.log
        return process

    def start(self) -> None:
        """etcd, kube-apiserver (ready, OpenAPI served), kube-controller-manager, kube-scheduler."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_credentials()
        assert self.pki is not None
        etcd_client, etcd_peer, self.api_port = free_ports(3)
        for user in self.users:
            self.kubeconfig(user)
        self._start(
            "etcd",
            [
                str(self.binaries["etcd"]),
                f"-data-dir={self.root / 'etcd'}",
                f"-listen-client-url=http://127.0.0.1:{etcd_client}",
                f"-listen-peer-url=http://127.0.0.1:{etcd_peer}",
            ],
        )
        self._start(
            "kube-apiserver",
            [
                str(self.binaries["kube-apiserver"]),
                f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                "--endpoint-reconciler-type=none",
                "--service-cluster-ip-range=10.0.0.0/24",
                f"--tls-cert-file={self.pki.server_cert}",
                f"--tls-private-key-file={self.pki.server_key}",
                f"--client-ca-file={self.pki.ca_cert}",
                f"--service-account-key-file={self.pki.sa_pub}",
                f"--service-account-signing-key-file={self.pki.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--token-auth-file={self.root / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--enable-admission-plugins=PodSecurity",
                "--enable-priority-and-fairness=false",
            ],
        )
        self._wait(
            "kube-apiserver /readyz",
            lambda: self.get("/readyz")[0] == 200,
            90,
            ["etcd", "kube-apiserver"],
        )
        self._start(
            "kube-controller-manager",
            [
                str(self.binaries["kube-controller-manager"]),
                f"--kubeconfig={self.kubeconfig('kcm')}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--leader-elect=false",
                "--controllers=job,garbagecollector,namespace,serviceaccount,"
                "serviceaccount-token,ttl-after-finished",
                "--use-service-account-credentials=false",
                f"--service-account-private-key-file={self.pki.sa_key}",
                f"--root-ca-file={self.pki.ca_cert}",
            ],
        )
        self._start(
            "kube-scheduler",
            [
                str(self.binaries["kube-scheduler"]),
                f"--kubeconfig={self.kubeconfig('scheduler')}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--leader-elect=false",
            ],
        )
        self._wait(
            "the OpenAPI v2 document",
            lambda: self.get("/openapi/v2", timeout=20)[0] == 200,
            90,
            list(self.processes),
        )

    def start_metacontroller(self, *, discovery_interval: str = "2s") -> procs.Process:
        metrics, health = free_ports(2)
        process = self._start(
            "metacontroller",
            [
                str(self.binaries["metacontroller"]),
                f"--kubeconfig={self.kubeconfig('metacontroller')}",
                f"--discovery-interval={discovery_interval}",
                "--cache-flush-interval=30m",
                f"--metrics-address=127.0.0.1:{metrics}",
                f"--health-probe-bind-address=127.0.0.1:{health}",
                "--pprof-address=0",
                "--zap-log-level=4",
            ],
        )

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2) as r:
                    return bool(r.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        self._wait("Metacontroller /readyz", ready, 60, ["metacontroller"])
        return process

    def stop_metacontroller(self) -> None:
        process = self.processes.pop("metacontroller", None)
        if process is not None:
            process.stop()

    def stop(self) -> None:
        """Newest first. kube-apiserver drains long-running requests (watches) for a while on
        SIGTERM; a throwaway control plane need not wait for that: SIGKILL after 3 s."""
        for name in reversed(list(self.processes)):
            self.processes.pop(name).stop(timeout=3)

    def log_paths(self) -> dict[str, Path]:
        """Every component's log, also of components already stopped."""
        return dict(self.logs_seen)

    def describe_logs(self) -> str:
        return "\n".join(f"  {name}: {path}" for name, path in sorted(self.log_paths().items()))


def dump(obj: object) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, default=str)
