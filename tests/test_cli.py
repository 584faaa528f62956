"""The `vipro` executable as a user meets it: run as a process, from folders other than the
checkout, against the running test mesh (or none)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.banner_scenes import bottle

VIPRO = Path(sys.executable).with_name("vipro")


def vipro(*args: str, cwd: Path, env: dict[str, str] | None = None, columns: int = 200):
    """Run the installed `vipro` in `cwd` with no VIPRO_* variables but `env`, and a HOME of
    its own (so no ~/.vipro of the machine is found)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VIPRO_")}
    clean.update(HOME=str(cwd), COLUMNS=str(columns), **(env or {}))
    return subprocess.run(
        [str(VIPRO), *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=120
    )


def one_error_line(result) -> str:
    """The single line a failed command prints (asserting there is exactly one)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def keyed(mesh) -> dict[str, str]:
    return {"VIPRO_GATEWAY": mesh.gateway_address, "VIPRO_API_KEY": mesh.api_key}


@pytest.fixture()
def picture(tmp_path) -> Path:
    path = tmp_path / "test2.png"
    cv2.imwrite(str(path), np.full((40, 60, 3), 200, np.uint8))
    return path


def test_the_mesh_is_found_from_a_subfolder_of_the_project(mesh, tmp_path):
    project = tmp_path / "project"
    (project / "a" / "b").mkdir(parents=True)
    (project / ".vipro").symlink_to(mesh.home, target_is_directory=True)
    result = vipro("caps", cwd=project / "a" / "b")
    assert result.returncode == 0, result.stderr
    assert "editing.ConvertImage" in result.stdout


def test_vipro_home_names_the_state_folder(mesh, tmp_path):
    result = vipro("caps", cwd=tmp_path, env={"VIPRO_HOME": str(mesh.home)})
    assert result.returncode == 0, result.stderr
    assert "segmentation.SegmentObject" in result.stdout


def test_no_key_anywhere_says_where_it_looked_in_one_line(tmp_path):
    line = one_error_line(vipro("call", "editing.ConvertImage", cwd=tmp_path))
    assert "no API key" in line
    assert f".vipro in {tmp_path.resolve()} and its parents" in line
    assert str(tmp_path / ".vipro") in line  # the per-user default (HOME is tmp_path here)
    assert "VIPRO_HOME" in line and "vipro up" in line


def test_a_down_gateway_is_one_line_naming_it(tmp_path):
    env = {"VIPRO_GATEWAY": "127.0.0.1:1", "VIPRO_API_KEY": "k"}
    line = one_error_line(vipro("caps", cwd=tmp_path, env=env))
    assert "no gateway answers at 127.0.0.1:1" in line and "vipro up" in line


def test_a_status_error_is_one_line_with_its_field_violations(mesh, tmp_path, picture):
    result = vipro(
        "call",
        "editing.ConvertImage",
        "--json",
        '{"width": 99999}',
        "--in",
        f"image={picture}",
        cwd=tmp_path,
        env=keyed(mesh),
    )
    line = one_error_line(result)
    assert "INVALID_ARGUMENT" in line and "width: is 99999, must be <= 16384" in line


def test_an_unknown_json_field_lists_the_valid_ones(mesh, tmp_path):
    body = '{"output": {"formt": "IMAGE_FORMAT_PNG"}}'
    line = one_error_line(
        vipro("call", "editing.ConvertImage", "--json", body, cwd=tmp_path, env=keyed(mesh))
    )
    assert 'output has no field "formt"' in line
    assert "its fields: format, quality, delivery" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["call", "editing.ConvertImag"], "did you mean editing.ConvertImage"),
        (["call", "editing.ConvertImage", "--in", "image=missing.jpg"], "no such file"),
        (["call", "editing.ConvertImage", "--in", "pic=x.png"], "fields that take a file: image"),
        (["call", "editing.ConvertImage", "--json", "{"], "--json is not valid JSON"),
        (["jobs", "list", "--state", "done"], "--state 'done' is not one of: queued"),
        (["produce", "poster"], "type 'poster' is not one of: general, assemble"),
    ],
)
def test_user_mistakes_are_one_line(mesh, tmp_path, args, expected):
    assert expected in one_error_line(vipro(*args, cwd=tmp_path, env=keyed(mesh)))


def test_a_wrong_key_says_where_the_key_came_from(mesh, tmp_path):
    env = {"VIPRO_GATEWAY": mesh.gateway_address, "VIPRO_API_KEY": "not-a-key"}
    line = one_error_line(vipro("caps", cwd=tmp_path, env=env))
    assert "UNAUTHENTICATED" in line and "VIPRO_API_KEY" in line


def test_debug_shows_the_traceback(tmp_path):
    env = {"VIPRO_GATEWAY": "127.0.0.1:1", "VIPRO_API_KEY": "k"}
    result = vipro("caps", "--debug", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr


def test_caps_never_cuts_a_capability_name(mesh, tmp_path):
    result = vipro("caps", cwd=tmp_path, env=keyed(mesh), columns=80)
    assert result.returncode == 0, result.stderr
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    for name in ("editing.ConvertImage", "segmentation.DetectInsertionSlots"):
        assert name in result.stdout
    assert "…" not in result.stdout
    wide = vipro("caps", cwd=tmp_path, env=keyed(mesh), columns=160)
    assert "description" in wide.stdout  # shown when there is room


def test_call_names_outputs_after_input_and_field_and_never_overwrites(mesh, tmp_path, picture):
    out = tmp_path / "out"
    args = ["call", "editing.ConvertImage", "--json", '{"width": 30}']
    args += ["--in", f"image={picture}", "--out", str(out)]
    first = vipro(*args, cwd=tmp_path, env=keyed(mesh))
    second = vipro(*args, cwd=tmp_path, env=keyed(mesh))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert f"wrote {out / 'test2.image.png'}" in first.stderr
    assert f"wrote {out / 'test2.image-2.png'}" in second.stderr
    assert sorted(p.name for p in out.iterdir()) == ["test2.image-2.png", "test2.image.png"]
    assert cv2.imread(str(out / "test2.image.png")).shape == (20, 30, 3)


def test_an_output_extension_matches_its_content(mesh, tmp_path, picture):
    body = '{"width": 30, "output": {"format": "IMAGE_FORMAT_JPEG"}}'
    args = ["call", "editing.ConvertImage", "--json", body, "--in", f"image={picture}"]
    result = vipro(*args, "--out", str(tmp_path / "o"), cwd=tmp_path, env=keyed(mesh))
    assert result.returncode == 0, result.stderr
    written = tmp_path / "o" / "test2.image.jpg"
    assert written.read_bytes()[:3] == b"\xff\xd8\xff"


def test_jobs_submit_watch_and_list(mesh, tmp_path, picture):
    out = tmp_path / "o"
    args = ["jobs", "submit", "editing.ConvertImage", "--in", f"image={picture}"]
    args += ["--json", '{"width": 12}', "--watch", "--out", str(out)]
    result = vipro(*args, cwd=tmp_path, env=keyed(mesh))
    assert result.returncode == 0, result.stderr
    assert "succeeded" in result.stdout
    assert (out / "test2.image.png").exists()
    listed = vipro("jobs", "list", "--state", "succeeded", cwd=tmp_path, env=keyed(mesh))
    assert listed.returncode == 0 and "succeeded" in listed.stdout


def test_status_without_a_mesh_says_so(tmp_path):
    result = vipro("status", cwd=tmp_path, env={"VIPRO_HOME": str(tmp_path / "none")})
    assert result.returncode == 0
    assert "no mesh running" in result.stdout and "vipro up" in result.stdout


def test_produce_takes_pictures_and_copy_and_writes_the_designs(mesh, tmp_path):
    product = tmp_path / "shoe.png"
    cv2.imwrite(str(product), cv2.cvtColor(bottle(120, 240), cv2.COLOR_RGBA2BGRA))
    sizes = '{"sizes": [{"width": 300, "height": 250}, {"width": 728, "height": 90}]}'
    result = vipro(
        "produce", "general", "--material", f"product={product}", "--text",
        "headline=Summer Sale", "--params", sizes, "--out", "designs", cwd=tmp_path,
        env=keyed(mesh),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "designs").iterdir())
    assert written == ["product-300x250.png", "product-728x90.png"], result.stdout
    assert cv2.imread(str(tmp_path / "designs" / "product-728x90.png")).shape == (90, 728, 3)
