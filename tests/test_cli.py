"""The vipro CLI against the running test mesh."""

from __future__ import annotations

import cv2
import numpy as np
from typer.testing import CliRunner

from common.cli import app


def run(mesh, *args: str):
    env = {
        "VIPRO_GATEWAY": mesh.gateway_address,
        "VIPRO_API_KEY": mesh.api_key,
        "VIPRO_HOME": str(mesh.home),
        "COLUMNS": "200",
    }
    return CliRunner().invoke(app, list(args), env=env)


def test_caps_lists_the_catalog(mesh):
    result = run(mesh, "caps")
    assert result.exit_code == 0, result.output
    assert "editing.ConvertImage" in result.output and "ga" in result.output


def test_call_uploads_inputs_and_writes_outputs(mesh, tmp_path):
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), np.full((40, 60, 3), 200, np.uint8))
    out = tmp_path / "out"
    result = run(
        mesh,
        "call",
        "editing.ConvertImage",
        "--json",
        '{"width": 30}',
        "--in",
        f"image={source}",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    written = cv2.imread(str(out / "out-image.png"))
    assert written.shape == (20, 30, 3)


def test_jobs_submit_watch_and_list(mesh, tmp_path):
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), np.full((40, 60, 3), 10, np.uint8))
    result = run(
        mesh,
        "jobs",
        "submit",
        "editing.ConvertImage",
        "--in",
        f"image={source}",
        "--json",
        '{"width": 12}',
        "--watch",
        "--out",
        str(tmp_path / "o"),
    )
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    listed = run(mesh, "jobs", "list", "--state", "succeeded")
    assert listed.exit_code == 0 and "succeeded" in listed.output


def test_errors_exit_non_zero_with_the_status(mesh):
    result = run(mesh, "call", "editing.ConvertImage", "--json", '{"width": 99999}')
    assert result.exit_code == 1
    assert "INVALID_ARGUMENT" in result.output and "width" in result.output
