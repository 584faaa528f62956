"""Run a real Triton Inference Server from the nvidia-pytriton wheel, on CPU, without Docker.

The wheel ships `tritonserver` with the Python backend only. The backend folder Triton wants
(`<dir>/python/{libtriton_python.so, triton_python_backend_utils.py, triton_python_backend_stub}`)
is assembled from the wheel's files, with the stub built for the running Python. The model
repository (deploy/triton/models) is the standard layout and runs unchanged on NVIDIA's Triton
container on a GPU host.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL_REPOSITORY = REPO / "deploy" / "triton" / "models"


def _pytriton_root() -> Path:
    import pytriton

    return Path(pytriton.__file__).resolve().parent


def server_binary() -> Path:
    """The tritonserver executable inside the pytriton wheel.

    Raises:
        FileNotFoundError: nvidia-pytriton is not installed.
    """
    binary = _pytriton_root() / "tritonserver" / "bin" / "tritonserver"
    if not binary.exists():
        raise FileNotFoundError(f"{binary} missing: pip install nvidia-pytriton==0.7.0")
    return binary


def backend_directory(target: Path) -> Path:
    """Assemble `<target>/python/` from the wheel's Python backend and this Python's stub."""
    root = _pytriton_root() / "tritonserver"
    python_dir = target / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    files = {
        root / "backends" / "python" / "libtriton_python.so": "libtriton_python.so",
        root / "backends" / "python" / "triton_python_backend_utils.py": (
            "triton_python_backend_utils.py"
        ),
        root / "python_backend_stubs" / version / "triton_python_backend_stub": (
            "triton_python_backend_stub"
        ),
    }
    for source, name in files.items():
        destination = python_dir / name
        if not destination.exists() or destination.stat().st_size != source.stat().st_size:
            shutil.copy2(source, destination)
    return target


def server_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment tritonserver needs.

    * LD_LIBRARY_PATH: this Python's libpython (else the stub loads the system one and dies with
      "'_thread.RLock' object has no attribute '_recursion_count'") and the wheel's bundled
      libraries (libcudart...).
    * PATH: this virtualenv's bin first. The stub embeds Python in isolated mode, which ignores
      PYTHONPATH and finds its prefix by looking up `python3` on PATH; finding the virtualenv's
      makes the models see exactly our pinned packages (numpy < 2; with the base interpreter's
      numpy 2, Triton answers with empty tensors).
    """
    env = dict(os.environ if base is None else base)
    libs = [
        sysconfig.get_config_var("LIBDIR"),
        str(_pytriton_root().parent / "nvidia_pytriton.libs"),
    ]
    env["LD_LIBRARY_PATH"] = ":".join([*libs, env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
    env["PATH"] = ":".join([str(Path(sys.executable).parent), env.get("PATH", "")]).rstrip(":")
    env["PYTHONPATH"] = str(REPO)
    return env


@dataclass
class TritonPorts:
    """Ports of one server."""

    http: int
    grpc: int
    metrics: int


def command(
    repository: Path,
    backends: Path,
    ports: TritonPorts,
    explicit: bool = True,
    bind: str = "127.0.0.1",
    shm_prefix: str = "",
) -> list[str]:
    """The tritonserver command line.

    Args:
        repository: model repository.
        backends: folder made by `backend_directory`.
        ports: HTTP, gRPC and metrics ports.
        explicit: explicit model control (models load at start with --load-model=*, and can be
            loaded and unloaded through the repository API).
        bind: address of all three endpoints. Loopback by default: the repository API (load,
            unload) answers without credentials.
        shm_prefix: name prefix of the Python backend's shared-memory segments; a prefix of
            its own lets `clean_up` find what a crashed server left behind.
    """
    argv = [
        str(server_binary()),
        f"--model-repository={repository}",
        f"--backend-directory={backends}",
        f"--http-address={bind}",
        f"--grpc-address={bind}",
        f"--metrics-address={bind}",
        f"--http-port={ports.http}",
        f"--grpc-port={ports.grpc}",
        f"--metrics-port={ports.metrics}",
        "--allow-cpu-metrics=true",
        "--log-verbose=0",
        "--exit-on-error=false",
        "--strict-readiness=false",
        "--exit-timeout-secs=5",
    ]
    if explicit:
        argv += ["--model-control-mode=explicit", "--load-model=*"]
    if shm_prefix:
        argv.append(f"--backend-config=python,shm-region-prefix-name={shm_prefix}")
    return argv


SHM = Path("/dev/shm")


def leftovers(shm_prefix: str) -> tuple[list[int], list[Path]]:
    """Model processes and shared-memory segments of a Triton started with `shm_prefix`.

    A model process (the Python backend's stub) carries its segment's name on its command line;
    after tritonserver is killed, one caught mid-request can outlive it, holding its memory.
    """
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"triton_python_backend_stub") and any(
            a.startswith(shm_prefix.encode()) for a in argv[1:]
        ):
            pids.append(int(proc.name))
    return pids, sorted(SHM.glob(f"{shm_prefix}*"))


def model_processes(shm_prefix: str) -> dict[str, int]:
    """Model name -> pid of its model process, for a Triton started with `shm_prefix`."""
    out = {}
    for pid in leftovers(shm_prefix)[0]:
        with contextlib.suppress(OSError, IndexError):
            model_file = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")[1]
            out[Path(model_file.decode()).parent.parent.name] = pid
    return out


def clean_up(shm_prefix: str, timeout: float = 5.0) -> tuple[list[int], list[Path]]:
    """Kill the model processes and remove the segments `leftovers` finds (call it only when
    that Triton is not running), waiting up to `timeout` seconds for the processes to be gone
    (a killed process takes a moment to exit); returns what was removed."""
    pids, segments = leftovers(shm_prefix)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for segment in segments:
        segment.unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids, segments


def _running(pid: int) -> bool:
    """Whether a process exists and has not exited (a zombie has: only its parent's bookkeeping
    is left)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def client_regions(pid: int) -> list[Path]:
    """Shared-memory segments a service process made to talk to Triton (`Inference` names
    them after its pid)."""
    return sorted(SHM.glob(f"vipro-{pid}-*"))


def is_ready(http_port: int) -> bool:
    """Whether Triton's /v2/health/ready answers 200 now: the server is up and the models it
    loads at start-up have loaded or failed (readiness is not strict: one broken model must not
    take the others down; `Inference.require` tells callers which model is missing)."""
    url = f"http://127.0.0.1:{http_port}/v2/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=1.0) as reply:
            return reply.status == 200
    except OSError:
        return False
