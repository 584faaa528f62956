"""services.generation.layers: flattening, and layered PSDs read back by psd-tools and by
ImageMagick (a second, independent reader)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from psd_tools import PSDImage

from services.generation import layers
from services.generation.layers import Layer


def design(width: int = 120, height: int = 80) -> list[Layer]:
    """A gradient background, a translucent disc partly off the canvas, an opaque square."""
    x = np.linspace(0, 1, width)[None, :, None]
    background = np.dstack(
        [
            np.broadcast_to(np.uint8([40, 90, 200]) * (0.5 + 0.5 * x), (height, width, 3)).astype(
                np.uint8
            ),
            np.full((height, width), 255, np.uint8),
        ]
    )
    yy, xx = np.mgrid[0:50, 0:50]
    disc = np.zeros((50, 50, 4), np.uint8)
    disc[..., :3] = (250, 200, 10)
    disc[..., 3] = np.where((yy - 25) ** 2 + (xx - 25) ** 2 < 22**2, 150, 0)
    square = np.full((20, 30, 4), 255, np.uint8)
    square[..., :3] = (10, 10, 10)
    return [
        Layer("background", "background", background),
        Layer("disc", "decoration", disc, left=width - 30, top=-10),
        Layer("headline", "headline", square, left=10, top=50),
    ]


def test_flatten_is_over_compositing_and_cuts_what_falls_outside():
    flat = layers.flatten(design(), 120, 80)
    assert flat.shape == (80, 120, 3)
    assert tuple(flat[60, 20]) == (10, 10, 10)  # the opaque square
    bg = design()[0].rgba[5, 110, :3].astype(float)
    expected = bg + (np.array([250, 200, 10]) - bg) * 150 / 255
    assert np.abs(flat[5, 110] - expected).max() <= 0.5 + 1e-9  # the disc, cut at the top
    with pytest.raises(ValueError):
        layers.flatten([], 10, 10)


def test_psd_layers_and_composite_read_back_by_psd_tools(tmp_path):
    path = tmp_path / "d.psd"
    path.write_bytes(layers.psd(design(), 120, 80))
    document = PSDImage.open(path)
    assert [layer.name for layer in document] == ["background", "disc", "headline"]
    assert document.size == (120, 80)
    composite = np.asarray(document.composite())[..., :3].astype(int)
    assert np.abs(composite - layers.flatten(design(), 120, 80)).max() <= 1


def test_psd_read_back_by_imagemagick(tmp_path):
    identify = shutil.which("identify")
    if identify is None:
        pytest.skip("ImageMagick not installed (`make sysdeps` installs it as root)")
    convert = str(Path(identify).parent / "convert")
    path = tmp_path / "d.psd"
    path.write_bytes(layers.psd(design(), 120, 80))
    listing = subprocess.run(
        [identify, "-format", "%w %h %X %Y\\n", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    frames = [listing[i : i + 4] for i in range(0, len(listing), 4)]
    assert len(frames) == 4  # the composite, then one frame per layer
    assert frames[3] == ["30", "20", "+10", "+50"]  # the headline: size and offset
    raw = subprocess.run(
        [convert, f"{path}[0]", "-depth", "8", "rgb:-"], capture_output=True, check=True
    ).stdout
    composite = np.frombuffer(raw, np.uint8).reshape(80, 120, 3).astype(int)
    assert np.abs(composite - layers.flatten(design(), 120, 80)).max() <= 1
