"""Gateway overhead: the same 1 MB-payload calls through the gateway and directly, in one run.

Two capabilities are measured on a local mesh of real processes:

* ``echo.Echo`` (tests/echo): answers its 1 MiB payload unchanged, so the service does almost no
  work and the gateway's own cost is as visible as it can be;
* ``editing.ConvertImage`` on a 1 MB PNG (halved in size), a realistic light capability.

For each: p50/p99 latency of sequential calls (concurrency 1), and throughput with 4 concurrent
callers, through the gateway and directly on the service instance. For echo, also through a bare
forwarder (bench/bare_forwarder.py): one more Python gRPC hop with no gateway logic at all, the
floor any Python gateway stands on. Goal: the gateway adds at most 1 ms at p50 and keeps at least
0.8x the direct throughput.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from bench import report
from bench.timing import latencies, throughput
from common.client import connect, internal_headers
from common.mesh import Mesh
from tests.echo.build import compile_echo
from vipro.v1 import common_pb2, editing_pb2, editing_pb2_grpc

PAYLOAD = 1 << 20


def measure(name: str, paths: dict, n: int, seconds: float, rounds: int = 5) -> list[list]:
    """Rows of p50/p99 and throughput per path, then each path's cost over "direct".

    Paths take turns in `rounds` rounds (n / rounds calls, seconds / rounds of load each), so a
    drift of the machine's speed during the run affects every path alike.
    """
    lat: dict[str, list] = {path: [] for path in paths}
    done: dict[str, float] = dict.fromkeys(paths, 0.0)
    for _ in range(rounds):
        for path, call in paths.items():
            lat[path].append(latencies(call, max(n // rounds, 20)))
            done[path] += throughput([call] * 4, seconds / rounds) * seconds / rounds
    tput = {path: done[path] / seconds for path in paths}
    p50 = {path: float(np.percentile(np.concatenate(v), 50) * 1000) for path, v in lat.items()}
    p99 = {path: float(np.percentile(np.concatenate(v), 99) * 1000) for path, v in lat.items()}
    rows = [[name, path, p50[path], p99[path], tput[path]] for path in paths]
    for path in paths:
        if path != "direct":
            ratio = f"{tput[path] / tput['direct']:.2f}x"
            rows.append(
                [
                    name,
                    f"{path} - direct",
                    p50[path] - p50["direct"],
                    p99[path] - p99["direct"],
                    ratio,
                ]
            )
    return rows


def start_forwarder(upstream: str) -> tuple[subprocess.Popen, str]:
    """A bare forwarder process in front of `upstream`; returns it and its address."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_forwarder", upstream], stdout=subprocess.PIPE, text=True
    )
    return proc, f"127.0.0.1:{proc.stdout.readline().strip()}"


def main(n: int = 500, seconds: float = 10.0) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        pythonpath = compile_echo(tmp_path / "gen")
        import echo_pb2
        import echo_pb2_grpc

        mesh = Mesh(tmp_path / "home", gateway_port=0, metrics_port=0)
        forwarder = None
        mesh.start_gateway()
        try:
            editing = mesh.start_service("editing")
            env = {"PYTHONPATH": f"{pythonpath}:{os.environ.get('PYTHONPATH', '')}"}
            echo = mesh.start_service("echo", module="provider", env=env)
            gateway = connect(mesh.gateway_address, mesh.api_key)
            # Direct calls carry what the gateway would add: the mesh token and the tenant.
            mesh_headers = internal_headers(mesh.internal_token, "local")
            payload = os.urandom(PAYLOAD)
            echo_request = echo_pb2.EchoRequest(payload=payload)
            echo_via = echo_pb2_grpc.EchoServiceStub(gateway)
            echo_direct = echo_pb2_grpc.EchoServiceStub(
                connect(f"127.0.0.1:{echo.port}", headers=mesh_headers)
            )
            rng = np.random.default_rng(0)
            image = rng.integers(0, 256, (360, 960, 3), dtype=np.uint8)
            image[:, :, 1] = image[:, :, 0]  # compressible enough to land near 1 MB
            png = cv2.imencode(".png", image)[1].tobytes()
            convert_request = editing_pb2.ConvertImageRequest(
                image=common_pb2.Image(inline=png),
                width=480,
                output=common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_JPEG),
            )
            convert_via = editing_pb2_grpc.EditingServiceStub(gateway)
            convert_direct = editing_pb2_grpc.EditingServiceStub(
                connect(f"127.0.0.1:{editing.port}", headers=mesh_headers)
            )
            forwarder, forwarder_address = start_forwarder(f"127.0.0.1:{echo.port}")
            echo_bare = echo_pb2_grpc.EchoServiceStub(
                connect(forwarder_address, headers=mesh_headers)
            )
            rows = measure(
                "echo.Echo 1 MiB",
                {
                    "direct": lambda: echo_direct.Echo(echo_request, timeout=30),
                    "bare forwarder": lambda: echo_bare.Echo(echo_request, timeout=30),
                    "gateway": lambda: echo_via.Echo(echo_request, timeout=30),
                },
                n,
                seconds,
            )
            rows += measure(
                f"editing.ConvertImage {len(png) / 1e6:.2f} MB PNG",
                {
                    "direct": lambda: convert_direct.ConvertImage(convert_request, timeout=30),
                    "gateway": lambda: convert_via.ConvertImage(convert_request, timeout=30),
                },
                n // 2,
                seconds,
            )
        finally:
            if forwarder is not None:
                forwarder.kill()
                forwarder.wait()
            mesh.down()
    notes = (
        "Latency: sequential calls from one client. Throughput: 4 client threads. Client, "
        "gateway and service share the machine's CPUs, as they would on one host. The bare "
        "forwarder is one extra Python gRPC hop with no logic: the floor of any Python gateway. "
        "Goal: gateway adds <= 1 ms at p50 and keeps >= 0.8x direct throughput."
    )
    return report.write(
        "gateway_overhead",
        "Gateway overhead: 1 MB payloads through the gateway vs directly",
        ["capability", "path", "p50 ms", "p99 ms", "calls/s (4 callers)"],
        rows,
        {"notes": notes},
    )


if __name__ == "__main__":
    print(main().read_text())
