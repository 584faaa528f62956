"""Run a real Triton Inference Server from the nvidia-pytriton wheel, on CPU, without Docker.

The wheel ships `tritonserver` with the Python backend only. The backend folder Triton wants
(`<dir>/python/{libtriton_python.so, triton_python_backend_utils.py, triton_python_backend_stub}`)
is assembled from the wheel's files, with the stub built for the running Python. The model
repository (deploy/triton/models) is the standard layout and runs unchanged on NVIDIA's Triton
container on a GPU host.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
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
    repository: Path, backends: Path, ports: TritonPorts, explicit: bool = True
) -> list[str]:
    """The tritonserver command line.

    Args:
        repository: model repository.
        backends: folder made by `backend_directory`.
        ports: HTTP, gRPC and metrics ports.
        explicit: explicit model control (models load at start with --load-model=*, and can be
            loaded and unloaded through the repository API).
    """
    argv = [
        str(server_binary()),
        f"--model-repository={repository}",
        f"--backend-directory={backends}",
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
    return argv


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
