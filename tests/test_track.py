"""services/editing/track.py: text strokes and people carried between sampled frames."""

from __future__ import annotations

import numpy as np

from services.editing import erase, track


def test_an_outline_taken_for_ink_still_covers_the_letters_fill():
    strokes = np.zeros((40, 120), bool)
    strokes[10:30, 10:30] = True
    strokes[13:27, 13:27] = False  # a ring: the outline of a filled letter
    strokes[10:30, 50:53] = True  # an open stroke stays thin
    box = erase.Rect(0, 0, 120, 40)
    (found,) = track.text_regions(strokes, [(box, "subtitle")], 1)
    assert found.pixels[13:27, 13:27].all()
    assert not found.pixels[10:30, 54:60].any()
    assert track.text_regions(np.zeros((40, 120), bool), [(box, "subtitle")], 1) == []


def test_region_mask_grows_each_line_by_its_halo():
    strokes = np.zeros((200, 300), bool)
    strokes[150:170, 100:101] = True
    (box,) = track.text_regions(strokes, [(erase.Rect(90, 140, 200, 180), "subtitle")], 1)
    mask = track.region_mask((200, 300), [box])
    halo = round(erase.HALO_FRACTION * 40) + 1  # 5 px for a 40 px line
    assert mask[160, 100 + halo] and not mask[160, 100 + halo + 1]


def test_a_letter_the_detector_box_cuts_is_kept_within_the_halo():
    strokes = np.zeros((200, 300), bool)
    strokes[150:170, 100:204] = True  # the last letter ends 4 px past the detector's box
    strokes[150:170, 260:270] = True  # other ink, farther than the halo
    (line,) = track.text_regions(strokes, [(erase.Rect(100, 145, 200, 175), "subtitle")], 1)
    mask = track.region_mask((200, 300), [line])
    halo = round(erase.HALO_FRACTION * 30) + 1  # 4 px for a 30 px line
    assert mask[150:170, 100 : 204 + halo].all() and not mask[:, 230:].any()


def test_caption_band_follows_the_captions_seen():
    assert track.caption_band([], (720, 1280)) == (432, 720)
    strokes = np.ones((40, 400), bool)
    line = track.Region(erase.Rect(440, 620, 840, 660), strokes, "subtitle", 4)
    assert track.caption_band([[line]], (720, 1280)) == (548, 720)


def test_a_person_is_grown_by_how_far_they_may_move():
    mask = np.zeros((400, 300), bool)
    mask[100:300, 120:180] = True
    (person,) = track.person_regions(mask, [erase.Rect(110, 90, 190, 310)], 4)
    assert person.margin == round(track.PERSON_MARGIN * 220) + 4
    grown = track.region_mask(mask.shape, [person])
    assert grown[200, 180 + person.margin - 1] and not grown[200, 180 + person.margin + 1]
    assert track.person_regions(mask, [erase.Rect(0, 0, 50, 50)], 4) == []


def test_corner_mosaic_maps_boxes_back_to_their_corner():
    frame = np.zeros((400, 800, 3), np.uint8)
    frame[10:30, 700:780] = 255  # a logo in the top-right corner
    mosaic, tiles = track.corner_mosaic(frame)
    th, tw = 100, 200  # a quarter of each side
    assert mosaic.shape == (2 * th + track.TILE_GAP, 2 * tw + track.TILE_GAP, 3)
    top_right = tiles[1]
    assert top_right.source == erase.Rect(600, 0, 800, 100)
    ys, xs = np.nonzero(mosaic[..., 0] == 255)
    found = erase.Rect(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    assert [t.holds(found) for t in tiles] == [False, True, False, False]
    assert top_right.to_frame(found) == erase.Rect(700, 10, 780, 30)
    # A box reaching past its tile is clipped to it.
    assert top_right.to_frame(erase.Rect(200, 0, 300, 40)) == erase.Rect(600, 0, 684, 40)
