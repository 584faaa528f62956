"""Colour: CIELAB round trips, CIEDE2000 against Sharma et al.'s test data, palettes, WCAG
contrast, text colours and harmony rules."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from services.generation import colour

# Sharma, Wu and Dalal (2005), Table 1: (L1, a1, b1), (L2, a2, b2), CIEDE2000. Pairs 9-15 lie
# across the mean-hue and hue-difference discontinuities, 7-8 involve a neutral colour.
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
    ((50.0, -0.001, 2.49), (50.0, 0.0009, -2.49), 4.8045),
    ((50.0, -0.001, 2.49), (50.0, 0.0011, -2.49), 4.7461),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def test_ciede2000_matches_sharmas_test_data_both_ways_round():
    first, second, expected = (np.array(column) for column in zip(*SHARMA, strict=True))
    assert np.round(colour.delta_e(first, second), 4) == pytest.approx(expected, abs=1e-4)
    assert np.round(colour.delta_e(second, first), 4) == pytest.approx(expected, abs=1e-4)
    assert colour.delta_e(first, first) == pytest.approx(0.0)


def every_eighth_colour() -> np.ndarray:
    levels = np.arange(0, 256, 8, dtype=np.uint8)
    return np.array(list(itertools.product(levels, levels, levels)), np.uint8)


def test_lab_round_trip_returns_every_srgb_colour():
    rgb = every_eighth_colour()
    assert np.array_equal(colour.lab_to_rgb(colour.rgb_to_lab(rgb)), rgb)
    lab = colour.rgb_to_lab(rgb)
    assert np.allclose(colour.lch_to_lab(colour.lab_to_lch(lab)), lab)


def test_lab_of_known_colours():
    white, black, red = colour.rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]]))
    assert white == pytest.approx([100.0, 0.0, 0.0], abs=1e-9)
    assert black == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
    assert red == pytest.approx([53.24, 80.09, 67.20], abs=0.01)  # published sRGB red, D65
    assert colour.rgb_to_lab(np.zeros((4, 5, 3), np.uint8)).shape == (4, 5, 3)


def test_in_gamut_keeps_hue_and_lightness_where_clipping_would_not():
    picked = colour.in_gamut(60.0, 200.0, 140.0)  # far more chroma than sRGB has there
    lightness, chroma, hue = colour.lab_to_lch(colour.rgb_to_lab(picked))
    assert lightness == pytest.approx(60.0, abs=0.5)
    assert hue == pytest.approx(140.0, abs=1.0)
    assert 40 < chroma < 200


def two_colour_picture() -> np.ndarray:
    picture = np.zeros((100, 100, 3), np.uint8)
    picture[:] = (20, 60, 200)
    picture[:, :30] = (250, 200, 30)
    return picture


def test_palette_of_a_two_colour_picture_is_those_colours_by_share():
    colours, weights = colour.extract_palette(two_colour_picture())
    assert colours.tolist() == [[20, 60, 200], [250, 200, 30]]
    assert weights == pytest.approx([0.7, 0.3])
    mask = np.zeros((100, 100), bool)
    mask[:, 20:35] = True
    colours, weights = colour.extract_palette(two_colour_picture(), mask)
    assert colours.tolist() == [[250, 200, 30], [20, 60, 200]]
    assert weights == pytest.approx([2 / 3, 1 / 3])


def test_palette_of_a_noisy_picture_merges_each_colour_into_one():
    rng = np.random.default_rng(3)
    noisy = two_colour_picture().astype(float) + rng.normal(0, 3, (100, 100, 3))
    noisy = np.clip(noisy, 0, 255).astype(np.uint8)
    colours, weights = colour.extract_palette(noisy, k=6, seed=5)
    assert len(colours) == 2
    truth = colour.rgb_to_lab(np.array([[20, 60, 200], [250, 200, 30]], np.uint8))
    assert colour.delta_e(colour.rgb_to_lab(colours), truth).max() < 2.0
    assert weights == pytest.approx([0.7, 0.3], abs=0.01)
    again = colour.extract_palette(noisy, k=6, seed=5)
    assert np.array_equal(again[0], colours) and np.array_equal(again[1], weights)


def test_palette_refuses_an_empty_mask():
    with pytest.raises(ValueError, match="no pixel"):
        colour.extract_palette(two_colour_picture(), np.zeros((100, 100), bool))


def test_wcag_contrast():
    assert colour.contrast_ratio(colour.BLACK, colour.WHITE) == pytest.approx(21.0)
    assert colour.contrast_ratio(colour.WHITE, colour.BLACK) == pytest.approx(21.0)
    assert colour.contrast_ratio([120, 30, 200], [120, 30, 200]) == 1.0
    # WebAIM's reference: #777777 on white is 4.48:1, just short of AA.
    assert colour.contrast_ratio([0x77] * 3, colour.WHITE) == pytest.approx(4.48, abs=0.005)
    assert colour.relative_luminance(np.array([0, 255, 0])) == pytest.approx(0.7152)


def test_text_colour_prefers_a_passing_palette_colour_on_a_light_background():
    light = np.full((20, 80, 3), 245, np.uint8)
    palette = np.array([[250, 220, 0], [10, 40, 120]], np.uint8)  # yellow fails, navy passes
    chosen, ratio = colour.text_colour(light, palette)
    assert chosen.tolist() == [10, 40, 120]
    assert ratio == pytest.approx(colour.contrast_ratio(chosen, light[0, 0])) and ratio >= 4.5


def test_text_colour_falls_back_to_white_on_a_dark_background():
    dark = np.full((20, 80, 3), 25, np.uint8)
    chosen, ratio = colour.text_colour(dark, [[10, 40, 120]])
    assert chosen.tolist() == [255, 255, 255] and ratio >= 4.5


def test_text_colour_judges_a_busy_background_by_its_worst_pixels():
    rng = np.random.default_rng(0)
    busy = rng.integers(0, 70, (30, 90, 3)).astype(np.uint8)  # dark texture
    busy[rng.random((30, 90)) < 0.02] = 255  # a few specks of white are ignored
    chosen, ratio = colour.text_colour(busy)
    assert chosen.tolist() == [255, 255, 255]
    darkest_robust = np.percentile(colour.relative_luminance(busy), 95)
    assert ratio == pytest.approx(1.05 / (darkest_robust + 0.05))
    assert not colour.needs_underlay(busy)


def test_no_colour_passes_on_a_half_black_half_white_background():
    stripes = np.zeros((20, 80, 3), np.uint8)
    stripes[:, ::2] = 255
    assert colour.text_colour(stripes, [[128, 128, 128]])[1] < 4.5
    assert colour.needs_underlay(stripes, [[128, 128, 128]])
    assert not colour.needs_underlay(stripes, min_ratio=1.0)


def brand_colours() -> list[np.ndarray]:
    levels = (0, 60, 128, 200, 255)
    return [np.array(c, np.uint8) for c in itertools.product(levels, levels, levels)]


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_harmony_passes_its_own_contrast_rules_for_any_brand_colour(dark):
    for brand in brand_colours():
        scheme = colour.harmony([brand], dark=dark)
        ratio = colour.contrast_ratio
        assert ratio(scheme.text, scheme.background) >= 4.5, brand
        assert ratio(scheme.underlay_text, scheme.underlay) >= 4.5, brand
        assert ratio(scheme.button_text, scheme.button) >= 4.5, brand
        assert ratio(scheme.button, scheme.background) >= 3.0, brand
        assert (colour.relative_luminance(scheme.background) > 0.5) != dark


def test_harmony_keeps_the_brand_and_is_deterministic():
    brand = np.array([[200, 30, 40], [20, 90, 160]], np.uint8)
    scheme = colour.harmony(brand)
    assert scheme.button.tolist() == [200, 30, 40]  # already 3:1 against the light background
    assert scheme.accent.tolist() == [20, 90, 160]
    assert scheme.text.tolist() in brand.tolist()  # a brand colour that passes is preferred
    same = vars(colour.harmony(brand))
    assert all(np.array_equal(value, same[name]) for name, value in vars(scheme).items())
    hue = colour.lab_to_lch(colour.rgb_to_lab(brand[0]))[2]
    for tint in (scheme.background, scheme.underlay):
        assert colour.lab_to_lch(colour.rgb_to_lab(tint))[2] == pytest.approx(hue, abs=3)
    complement = colour.lab_to_lch(colour.rgb_to_lab(colour.harmony(brand[:1]).accent))[2]
    assert (complement - hue) % 360 == pytest.approx(180, abs=3)
