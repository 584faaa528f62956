"""services/editing/inpaint.py and erase.py: hole filling and erase regions, known answers."""

from __future__ import annotations

import numpy as np
import pytest

from services.editing import erase, inpaint
from tests.helpers import brick_wall, psnr


def test_patchmatch_continues_texture_where_telea_smears_it():
    wall = brick_wall()
    hole = np.zeros(wall.shape[:2], bool)
    hole[60:100, 80:140] = True
    damaged = wall.copy()
    damaged[hole] = 255  # what the hole showed must not leak into the result
    patch = inpaint.fill_patchmatch(damaged, hole)
    telea = inpaint.fill_telea(damaged, hole)
    assert (patch[~hole] == wall[~hole]).all()
    assert psnr(patch, wall, hole) >= psnr(telea, wall, hole) + 3.0
    assert psnr(patch, wall, hole) >= 20.0
    assert psnr(damaged, wall, hole) < 10.0  # ignoring the mask fails the test


def test_patchmatch_continues_a_straight_edge():
    image = np.full((120, 160, 3), 40, np.uint8)
    image[:, 80:] = 210
    hole = np.zeros((120, 160), bool)
    hole[40:80, 60:100] = True
    damaged = image.copy()
    damaged[hole] = 0
    patch = inpaint.fill_patchmatch(damaged, hole)
    assert np.abs(patch.astype(int) - image)[hole].mean() < 6.0


def test_holes_on_the_border_and_several_holes_are_filled():
    wall = brick_wall(seed=1)
    hole = np.zeros(wall.shape[:2], bool)
    hole[:20, :30] = True  # a corner
    hole[130:150, 180:224] = True  # the right edge
    hole[70:76, 20:200] = True  # a thin line across
    out = inpaint.fill_patchmatch(wall, hole)
    assert (out[~hole] == wall[~hole]).all()
    assert psnr(out, wall, hole) >= 18.0


def test_nothing_to_copy_from_falls_back_to_diffusion_and_no_hole_is_identity():
    image = brick_wall(48, 48)
    everything = np.ones((48, 48), bool)
    everything[0] = False
    out = inpaint.fill_patchmatch(image, everything)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (inpaint.fill_patchmatch(image, np.zeros((48, 48), bool)) == image).all()


def test_fill_is_deterministic():
    wall = brick_wall(seed=2)
    hole = np.zeros(wall.shape[:2], bool)
    hole[50:90, 50:110] = True
    assert (inpaint.fill_patchmatch(wall, hole) == inpaint.fill_patchmatch(wall, hole)).all()


def test_hole_thickness_and_window():
    hole = np.zeros((200, 300), bool)
    hole[100:110, 50:250] = True
    assert inpaint.hole_thickness(hole) == pytest.approx(10, abs=2)
    rows, cols = inpaint.hole_window(hole)
    assert rows.start <= 100 - 30 and rows.stop >= 110 + 30 and cols == slice(18, 282)


def test_boxes_are_clipped_to_the_frame():
    shape = (100, 200)
    assert erase.clip_box(-10, -5, 30, 20, shape) == erase.Rect(0, 0, 20, 15)
    assert erase.clip_box(150.5, 90.2, 100, 100, shape) == erase.Rect(150, 90, 200, 100)
    assert erase.clip_box(300, 10, 10, 10, shape).empty
    assert erase.clip_box(10, 10, 0, 10, shape).empty
    mask = erase.box_mask([erase.Rect(0, 0, 20, 15)], shape)
    assert mask.sum() == 300


def test_caption_and_corner_placement():
    shape = (720, 1280)
    assert erase.is_caption(erase.Rect(440, 620, 840, 670), shape)
    assert not erase.is_caption(erase.Rect(440, 300, 840, 350), shape)  # mid-frame
    assert not erase.is_caption(erase.Rect(0, 620, 300, 670), shape)  # off-centre
    assert erase.in_corner(erase.Rect(1100, 20, 1260, 80), shape)
    assert not erase.in_corner(erase.Rect(600, 20, 700, 80), shape)
    # A detector's padded box may reach past the corner area; its centre may not.
    assert erase.near_corner(erase.Rect(1016, 20, 1160, 80), shape)
    assert not erase.in_corner(erase.Rect(1016, 20, 1160, 80), shape)
    assert not erase.near_corner(erase.Rect(600, 20, 700, 80), shape)
    assert not erase.near_corner(erase.Rect(0, 600, 700, 700), shape)  # a long line
    grown = erase.grow(erase.box_mask([erase.Rect(10, 10, 11, 11)], (30, 30)), 3)
    assert grown[10, 13] and grown[7, 10] and not grown[13, 13] and not grown[10, 14]
