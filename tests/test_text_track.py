"""services/editing/text_track.py: text strokes carried between sampled frames."""

from __future__ import annotations

import numpy as np

from services.editing import erase, text_track


def test_an_outline_taken_for_ink_still_covers_the_letters_fill():
    strokes = np.zeros((40, 120), bool)
    strokes[10:30, 10:30] = True
    strokes[13:27, 13:27] = False  # a ring: the outline of a filled letter
    strokes[10:30, 50:53] = True  # an open stroke stays thin
    box = erase.Rect(0, 0, 120, 40)
    (found,) = text_track.text_boxes(strokes, [(box, "subtitle")])
    assert found.strokes[13:27, 13:27].all()
    assert not found.strokes[10:30, 54:60].any()
    assert text_track.text_boxes(np.zeros((40, 120), bool), [(box, "subtitle")]) == []


def test_glyph_mask_grows_each_line_by_its_halo():
    strokes = np.zeros((200, 300), bool)
    strokes[150:170, 100:101] = True
    (box,) = text_track.text_boxes(strokes, [(erase.Rect(90, 140, 200, 180), "subtitle")])
    mask = text_track.glyph_mask((200, 300), [box], dilate=1)
    halo = round(erase.HALO_FRACTION * 40) + 1  # 5 px for a 40 px line
    assert mask[160, 100 + halo] and not mask[160, 100 + halo + 1]


def test_caption_band_follows_the_captions_seen():
    assert text_track.caption_band([], (720, 1280)) == (432, 720)
    strokes = np.ones((40, 400), bool)
    line = text_track.TextBox(erase.Rect(440, 620, 840, 660), strokes, "subtitle")
    assert text_track.caption_band([[line]], (720, 1280)) == (548, 720)
