"""The mesh's state folder: found the way users expect, made from nothing before anything
starts, and a mesh brought up from an empty folder answers calls."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from common.mesh import Mesh, StartError, find_home

VIPRO = Path(sys.executable).with_name("vipro")


def test_find_home_prefers_vipro_home(tmp_path, monkeypatch):
    monkeypatch.setenv("VIPRO_HOME", str(tmp_path / "elsewhere"))
    (tmp_path / ".vipro").mkdir()
    assert find_home(tmp_path) == tmp_path / "elsewhere"


def test_find_home_takes_the_nearest_state_folder_up_the_tree(tmp_path, monkeypatch):
    monkeypatch.delenv("VIPRO_HOME", raising=False)
    (tmp_path / ".vipro").mkdir()
    (tmp_path / "a" / ".vipro").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    assert find_home(tmp_path / "a" / "b" / "c") == (tmp_path / "a" / ".vipro").resolve()
    assert find_home(tmp_path) == (tmp_path / ".vipro").resolve()


def test_find_home_falls_back_to_the_user_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("VIPRO_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    (tmp_path / "work").mkdir()
    assert find_home(tmp_path / "work") == tmp_path / "user" / ".vipro"


def test_prepare_makes_the_state_from_nothing_and_keeps_what_exists(tmp_path):
    home = tmp_path / "not" / "yet"
    mesh = Mesh(home, gateway_port=0, metrics_port=0)
    mesh.prepare()
    assert (home / "logs").is_dir()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("api_key", "internal_token"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
    key, token = mesh.api_key, mesh.internal_token
    assert len(key) == 40 and len(token) == 48
    (home / "internal_token").unlink()  # a half-made folder, as an interrupted start leaves
    mesh.prepare()
    assert mesh.api_key == key and mesh.internal_token != token


@pytest.mark.slow
def test_vipro_up_from_an_empty_state_folder_serves_calls(tmp_path):
    """`vipro up` in a state folder that does not exist (Triton included: it used to start
    before the folder's logs and token were made), a call through it from another folder,
    then `vipro down` leaves no process behind."""
    home = tmp_path / "fresh" / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIPRO_")}
    env.update(VIPRO_HOME=str(home), HOME=str(tmp_path), COLUMNS="200")

    def run(*args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(VIPRO), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )

    up = run("up", "--port", "0", "--metrics-port", "0", "--families", "editing")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        mesh = Mesh(home)
        assert {"triton", "gateway", "editing"} <= set(mesh.processes)
        picture = tmp_path / "photo.png"
        cv2.imwrite(str(picture), np.full((50, 80, 3), 90, np.uint8))
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        called = run(
            "call",
            "editing.ConvertImage",
            "--json",
            '{"width": 40}',
            "--in",
            f"image={picture}",
            "--out",
            "out",
            cwd=elsewhere,
        )
        assert called.returncode == 0, called.stderr
        assert cv2.imread(str(elsewhere / "out" / "photo.image.png")).shape == (25, 40, 3)
    finally:
        pids = [info.pid for info in Mesh(home).processes.values()]
        down = run("down")
    assert down.returncode == 0, down.stderr
    assert pids and not [pid for pid in pids if running(pid)]


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie (an exited child nobody reaped yet)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def test_a_taken_gateway_port_is_one_line_before_anything_starts(tmp_path):
    home = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIPRO_")}
    env.update(VIPRO_HOME=str(home), HOME=str(tmp_path))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [str(VIPRO), "up", "--port", str(port), "--metrics-port", "0"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use (another mesh? `vipro status` shows this "
        "one's): stop what holds it, or choose --port / --metrics-port"
    ]
    assert Mesh(home).processes == {}  # Triton was not started either


def test_a_process_that_dies_while_starting_is_reported_with_its_log(tmp_path):
    mesh = Mesh(tmp_path / "state", gateway_port=0, metrics_port=0)
    with pytest.raises(StartError, match="no_such_module") as caught:
        mesh.start_service("editing", module="services.no_such_module")
    assert "editing exited while starting" in str(caught.value)
    assert str(tmp_path / "state" / "logs" / "editing.log") in str(caught.value)
