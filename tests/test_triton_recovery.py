"""Triton crashes and comes back: `vipro up` restarts it on its ports, the running services
follow it without a restart, and nothing it leaves behind survives."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest

from common import triton
from common.client import connect
from common.mesh import Mesh
from vipro.v1 import common_pb2, segmentation_pb2, segmentation_pb2_grpc

pytestmark = pytest.mark.slow

LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
"""127.0.0.1, ::ffff:127.0.0.1 and ::1 as /proc/net/tcp{,6} write them."""


def listening(port: int) -> set[str]:
    """Local addresses with a socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


class Load:
    """Callers calling DetectFaces in a loop, recording when calls succeed."""

    def __init__(self, stub, request, callers: int = 2):
        self.stub, self.request = stub, request
        self.successes: list[float] = []
        self.codes: list[grpc.StatusCode] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run) for _ in range(callers)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.stub.DetectFaces(self.request, timeout=10)
                self.successes.append(time.monotonic())
            except grpc.RpcError as err:
                self.codes.append(err.code())
                time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join()


def test_vipro_up_after_a_triton_crash_restores_service_and_leaves_nothing(tmp_path):
    home = tmp_path / "state"
    mesh = Mesh(home, gateway_port=0, metrics_port=0)
    mesh.up(families=("segmentation",))
    try:
        before = mesh.processes["triton"]
        service_pid = mesh.processes["segmentation"].pid
        ports = (before.http_port, before.port, before.metrics_port)
        for port in ports:
            assert listening(port) and listening(port) <= LOOPBACK
        stub = segmentation_pb2_grpc.SegmentationServiceStub(
            connect(mesh.gateway_address, mesh.api_key)
        )
        face = np.full((256, 256, 3), 128, np.uint8)
        image = common_pb2.Image(inline=cv2.imencode(".png", face)[1].tobytes())
        request = segmentation_pb2.DetectFacesRequest(image=image)
        stub.DetectFaces(request, timeout=30)

        load = Load(stub, request)
        time.sleep(1.0)
        os.kill(before.pid, signal.SIGKILL)  # a crash, not a shutdown
        time.sleep(1.5)
        failed_while_down = len(load.codes)
        assert triton.leftovers(mesh.triton_shm_prefix)[1], "a crash leaves segments behind"

        Mesh(home).up(families=("segmentation",))  # what `vipro up` does
        ready = time.monotonic()
        after = Mesh(home).processes["triton"]
        assert (after.http_port, after.port, after.metrics_port) == ports
        deadline = ready + 10
        while not [t for t in load.successes if t > ready] and time.monotonic() < deadline:
            time.sleep(0.1)
        load.stop()
        assert [t for t in load.successes if t > ready], "no call succeeded within 10 s"
        assert failed_while_down > 0
        assert set(load.codes) <= {grpc.StatusCode.UNAVAILABLE}
        assert Mesh(home).processes["segmentation"].pid == service_pid  # never restarted
    finally:
        Mesh(home).down()
    pids, segments = triton.leftovers(mesh.triton_shm_prefix)
    assert pids == [] and segments == []
    assert triton.client_regions(service_pid) == []
