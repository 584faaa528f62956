"""Compile echo.proto (a contract that only the tests and benchmarks use) at run time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ECHO = Path(__file__).resolve().parent


def compile_echo(out: Path) -> str:
    """Write echo_pb2/echo_pb2_grpc into `out`, make them importable here, and return the
    PYTHONPATH a provider process needs (the generated code plus tests/echo for provider.py)."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ECHO}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(ECHO / "echo.proto"),
        ],
        check=True,
    )
    for part in (str(ECHO), str(out)):
        if part not in sys.path:
            sys.path.insert(0, part)
    return f"{out}:{ECHO}"
