"""Start and stop a whole ViPro mesh on this machine: gateway plus service processes.

State lives in a home folder (``.vipro``, found by `find_home`): configuration, an API key for
the local tenant, SQLite databases, assets, one log file per process, and ``mesh.json`` naming the
processes, their pids and ports. `vipro up/down/status`, `make demo`, the integration tests and
the benchmarks all use this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.registry.embedded import EmbeddedRegistryClient
from vipro.v1 import registry_pb2

FAMILIES = ("editing", "segmentation", "generation", "enhancement", "manufacturing", "search")
DEMO_TENANT = "local"


STATE_FOLDER = ".vipro"
DEFAULT_GATEWAY_PORT = 50051


def user_home() -> Path:
    """The per-user state folder, ``~/.vipro``."""
    return Path.home() / STATE_FOLDER


def find_home(start: Path | None = None) -> Path:
    """The state folder of the mesh a command means, found the way git finds its repository.

    $VIPRO_HOME when set; else the nearest ``.vipro`` folder in `start` (default: the working
    directory) or one of its parents; else the per-user default `user_home()`. The folder may
    not exist yet (`Mesh.up` makes it).
    """
    if os.environ.get("VIPRO_HOME"):
        return Path(os.environ["VIPRO_HOME"])
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STATE_FOLDER).is_dir():
            return folder / STATE_FOLDER
    return user_home()


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ProcessInfo:
    """A process of the mesh."""

    name: str
    pid: int
    port: int
    metrics_port: int
    log: str
    argv: list[str] = field(default_factory=list)
    http_port: int = 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def serving(address: str, service: str = "") -> bool:
    """Whether the gRPC health service at `address` reports SERVING right now."""
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1.0
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def port_free(port: int) -> bool:
    """Whether a server could listen on `port` on loopback now. Connections of a process that
    just died (TIME_WAIT) do not count: servers bind with SO_REUSEADDR, and so does this."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class StartError(RuntimeError):
    """A process of the mesh could not start; the message says why and where its log is."""


def _require_free(ports: tuple[int, ...], hint: str) -> None:
    """Raise StartError naming the first of `ports` that is taken, with `hint` (what may hold
    it and what to do), before anything starts."""
    for port in ports:
        if not port_free(port):
            raise StartError(f"port {port} on 127.0.0.1 is in use ({hint}")


def _last_line(log: str) -> str:
    try:
        lines = Path(log).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


class Mesh:
    """A local mesh rooted in `home`.

    Args:
        home: state folder.
        gateway_port: gRPC port of the gateway (0 picks a free one).
        metrics_port: gateway metrics port (0 picks a free one).
        python: interpreter for the processes.
    """

    def __init__(
        self,
        home: Path,
        gateway_port: int = DEFAULT_GATEWAY_PORT,
        metrics_port: int = 9400,
        python: str = sys.executable,
    ):
        self.home = home.resolve()
        self.gateway_port = gateway_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.python = python
        self.processes: dict[str, ProcessInfo] = {}
        self._load()

    # Files -------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.home / "mesh.json"

    @property
    def gateway_address(self) -> str:
        return f"127.0.0.1:{self.gateway_port}"

    @property
    def api_key(self) -> str:
        """The local tenant's API key (made by `prepare`)."""
        return (self.home / "api_key").read_text().strip()

    @property
    def internal_token(self) -> str:
        return (self.home / "internal_token").read_text().strip()

    def _load(self) -> None:
        if self.state_file.exists():
            raw = json.loads(self.state_file.read_text())
            self.gateway_port = raw["gateway_port"]
            self.metrics_port = raw["metrics_port"]
            self.processes = {p["name"]: ProcessInfo(**p) for p in raw["processes"]}

    def _save(self) -> None:
        self.state_file.write_text(
            json.dumps(
                {
                    "gateway_port": self.gateway_port,
                    "metrics_port": self.metrics_port,
                    "processes": [asdict(p) for p in self.processes.values()],
                },
                indent=2,
            )
        )

    def prepare(self) -> None:
        """Create what every process of the mesh needs, in a missing or partly made state
        folder: the folder itself (owner-only: it holds secrets), ``logs/``, the local API key
        and the internal token. Idempotent; existing files are kept."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        for name, size in (("api_key", 20), ("internal_token", 24)):
            path = self.home / name
            if not path.exists():
                # Created owner-only from the start: the secret is never world-readable.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(size))

    def write_config(self, extra: dict | None = None, tenants: dict | None = None) -> Path:
        """Prepare the state folder, then write gateway.yaml and api_keys.yaml (once, or again
        when `tenants` is given)."""
        self.prepare()
        keys_file = self.home / "api_keys.yaml"
        if tenants is not None or not keys_file.exists():
            # Written once: tenants an operator adds later survive `vipro up`.
            keys = tenants or {DEMO_TENANT: {"keys": [self.api_key], "rate_per_second": 0}}
            keys_file.write_text(yaml.safe_dump({"tenants": keys}))
        config = {
            "host": "127.0.0.1",
            "port": self.gateway_port,
            "metrics_port": self.metrics_port,
            "state_dir": str(self.home / "gateway"),
            "api_keys_file": str(keys_file),
            "internal_token_file": str(self.home / "internal_token"),
        }
        config.update(extra or {})
        path = self.home / "gateway.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    # Processes ---------------------------------------------------------------------------
    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["VIPRO_INTERNAL_TOKEN"] = self.internal_token
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env

    def _spawn(
        self,
        name: str,
        argv: list[str],
        port: int,
        metrics_port: int,
        env: dict[str, str] | None = None,
    ) -> ProcessInfo:
        self.prepare()
        log_path = self.home / "logs" / f"{name}.log"
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen(
                argv,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self._env(env),
                cwd=Path(__file__).resolve().parent.parent,
                start_new_session=True,
            )
        info = ProcessInfo(name, proc.pid, port, metrics_port, str(log_path), argv)
        self.processes[name] = info
        self._save()
        return info

    def start_gateway(self, config_extra: dict | None = None, tenants: dict | None = None):
        """Start the gateway and wait until it serves."""
        self._check_gateway_ports()
        config = self.write_config(config_extra, tenants)
        info = self._spawn(
            "gateway",
            [self.python, "-m", "gateway", "--config", str(config)],
            self.gateway_port,
            self.metrics_port,
        )
        self._await(info, lambda: serving(self.gateway_address))
        return info

    def _check_gateway_ports(self) -> None:
        """Raise StartError when the gateway's ports are taken (before anything starts)."""
        _require_free(
            (self.gateway_port, self.metrics_port),
            "another mesh? `vipro status` shows this one's): stop what holds it, or choose "
            "--port / --metrics-port",
        )

    def start_triton(
        self, http: int = 0, grpc_port: int = 0, metrics: int = 0, bind: str = "127.0.0.1"
    ) -> ProcessInfo:
        """Start Triton on the model repository (fetching verified weights first) and wait
        until it is ready.

        Ports are those given, else the ones this mesh's Triton had before (kept in
        ``triton.json``: running services dial that gRPC port, so a restarted Triton serves
        them again without their restart), else free ones. What an earlier Triton of this
        mesh left behind (model processes, shared memory) is removed first.

        Args:
            http, grpc_port, metrics: ports; 0 keeps the saved one or picks a free one.
            bind: address Triton listens on (loopback unless the models must be reached from
                other hosts; the repository API has no authentication).

        Raises:
            StartError: a saved port is taken, or Triton exited while starting.
        """
        from common import triton, weights

        weights.install()
        saved = (
            json.loads(self.triton_ports_file.read_text())
            if self.triton_ports_file.exists()
            else {}
        )
        ports = triton.TritonPorts(
            http or saved.get("http") or free_port(),
            grpc_port or saved.get("grpc") or free_port(),
            metrics or saved.get("metrics") or free_port(),
        )
        _require_free(
            (ports.http, ports.grpc, ports.metrics),
            f"a Triton of this mesh still running? `vipro status`); {self.triton_ports_file} "
            "keeps Triton's ports",
        )
        self.triton_ports_file.write_text(json.dumps(asdict(ports)))
        triton.clean_up(self.triton_shm_prefix)
        backends = triton.backend_directory(self.home / "triton-backends")
        argv = triton.command(
            triton.MODEL_REPOSITORY, backends, ports, bind=bind, shm_prefix=self.triton_shm_prefix
        )
        info = self._spawn("triton", argv, ports.grpc, ports.metrics, triton.server_environment())
        info.http_port = ports.http
        self._save()
        # Ready once every model has loaded or failed (readiness is not strict).
        self._await(info, lambda: triton.is_ready(ports.http), timeout=120.0)
        return info

    @property
    def triton_ports_file(self) -> Path:
        return self.home / "triton.json"

    @property
    def triton_shm_prefix(self) -> str:
        """Name prefix of this mesh's Triton shared-memory segments (one per state folder)."""
        return f"vipro_triton_{hashlib.sha256(str(self.home).encode()).hexdigest()[:12]}_"

    @property
    def triton_address(self) -> str:
        """Triton's gRPC host:port, or "" when this mesh runs none."""
        info = self.processes.get("triton")
        return f"127.0.0.1:{info.port}" if info else ""

    def start_service(
        self,
        family: str,
        name: str = "",
        module: str = "",
        wait: bool = True,
        env: dict[str, str] | None = None,
    ) -> ProcessInfo:
        """Start a service process registered with the gateway's embedded registry.

        Args:
            family: the family package under services/.
            name: process name (default: the family; give another for a second instance).
            module: module to run instead of services.<family>.
            wait: block until it serves and is registered.
            env: extra environment variables.
        """
        name = name or family
        # The service binds port 0 and reports what it got when it registers: a port probed
        # free here could be taken (e.g. as a connection's ephemeral source port) before the
        # service binds it.
        argv = [
            self.python,
            "-m",
            module or f"services.{family}",
            "--port",
            "0",
            "--metrics-port",
            "0",
            "--registry",
            f"embedded://{self.gateway_address}",
        ]
        if self.triton_address:
            argv += ["--triton", self.triton_address, "--triton-shm-bytes", str(1 << 20)]
        info = self._spawn(name, argv, 0, 0, env)
        if wait:
            self._await_registered(info)
        return info

    def _await(self, info: ProcessInfo, ready, timeout: float = 30.0) -> None:
        """Block until `ready()`.

        Raises:
            StartError: the process exited first (its last log line is in the message).
            TimeoutError: not ready within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while not ready():
            if not _alive(info.pid):
                raise StartError(
                    f"{info.name} exited while starting: {_last_line(info.log)} (log: {info.log})"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{info.name} not ready after {timeout:.0f} s (log: {info.log})")
            time.sleep(0.1)

    def _await_registered(self, info: ProcessInfo) -> None:
        """Block until the service process `info` is registered and serving; record the ports
        it registered with."""
        client = EmbeddedRegistryClient(self.gateway_address, self.internal_token)
        found: list[registry_pb2.Instance] = []

        def registered() -> bool:
            with contextlib.suppress(grpc.RpcError):
                found[:] = [
                    i
                    for i in client.instances()
                    if i.meta.get("pid") == str(info.pid) and i.healthy
                ]
            return bool(found)

        try:
            self._await(info, registered)
        finally:
            client.close()
        info.port = int(found[0].address.rsplit(":", 1)[1])
        if found[0].metrics_address:
            info.metrics_port = int(found[0].metrics_address.rsplit(":", 1)[1])
        self._save()
        address = f"127.0.0.1:{info.port}"
        self._await(info, lambda: serving(address))

    def up(
        self,
        families: tuple[str, ...] = FAMILIES,
        config_extra: dict | None = None,
        triton: bool = True,
        triton_bind: str = "127.0.0.1",
    ) -> None:
        """Start Triton (unless `triton` is False), the gateway and one instance of each
        family. Works from a missing or empty state folder: everything is prepared before
        anything starts."""
        self.prepare()
        gateway_down = "gateway" not in self.processes or not _alive(self.processes["gateway"].pid)
        if gateway_down:
            self._check_gateway_ports()
        if triton and ("triton" not in self.processes or not _alive(self.processes["triton"].pid)):
            self.start_triton(bind=triton_bind)
        if gateway_down:
            self.start_gateway(config_extra)
        for family in families:
            info = self.processes.get(family)
            if info is None or not _alive(info.pid):
                self.start_service(family, wait=False)
        for family in families:
            self._await_registered(self.processes[family])

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Signal a process, wait for it to exit (SIGKILL after `timeout`), then remove the
        shared memory and model processes it leaves behind (a SIGKILL leaves them)."""
        from common import triton

        info = self.processes.pop(name, None)
        self._save()
        if info is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, sig)
            deadline = time.monotonic() + timeout
            while _alive(info.pid):
                if time.monotonic() > deadline:
                    os.kill(info.pid, signal.SIGKILL)
                    deadline += timeout
                time.sleep(0.05)
        if name == "triton":
            triton.clean_up(self.triton_shm_prefix)
        for region in triton.client_regions(info.pid):
            region.unlink(missing_ok=True)

    def down(self) -> None:
        """Stop every process: services first, then the gateway and Triton."""
        for name in [n for n in self.processes if n not in ("gateway", "triton")]:
            self.stop(name)
        self.stop("gateway")
        self.stop("triton")
        self.state_file.unlink(missing_ok=True)

    def status(self) -> list[tuple[ProcessInfo, bool]]:
        """Each process and whether it is alive."""
        return [(info, _alive(info.pid)) for info in self.processes.values()]


@contextlib.contextmanager
def temporary(*families: str) -> Iterator[Mesh]:
    """A mesh of its own for the length of a block (benchmarks): state in a temporary
    folder, free ports, a real Triton, the gateway and the services of ``families``, all
    stopped on the way out, also on error."""
    with tempfile.TemporaryDirectory() as tmp:
        mesh = Mesh(Path(tmp), gateway_port=0, metrics_port=0)
        mesh.write_config()
        try:
            mesh.start_triton()
            mesh.start_gateway()
            for family in families:
                mesh.start_service(family)
            yield mesh
        finally:
            mesh.down()
