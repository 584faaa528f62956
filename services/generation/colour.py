"""Colour for designs: CIELAB, CIEDE2000, palettes, WCAG contrast and harmonious schemes.

Conversions are sRGB (IEC 61966-2-1) <-> CIE 1976 L*a*b* under D65 (the sRGB white: ``L`` in
[0, 100], ``a`` and ``b`` about -128..127); differences are CIEDE2000 (Sharma, Wu and Dalal,
"The CIEDE2000 color-difference formula: implementation notes, supplementary test data and
mathematical observations", Color Research & Application 30(1), 2005). Contrast is WCAG 2.x's
(success criteria 1.4.3, 4.5:1 for body text and 3:1 for large text, and 1.4.11, 3:1 for user
interface components against what is beside them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Linear sRGB -> XYZ (IEC 61966-2-1); the white is its row sums, so sRGB white is exactly
# L = 100, a = b = 0.
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = _RGB_TO_XYZ.sum(axis=1)
_EPSILON = (6 / 29) ** 3  # CIE: below this, f(t) is linear

BLACK = np.array([0, 0, 0], np.uint8)
WHITE = np.array([255, 255, 255], np.uint8)
AA_TEXT = 4.5  # WCAG 1.4.3, body text
AA_LARGE_TEXT = 3.0  # WCAG 1.4.3, text of 18 pt (24 px) or 14 pt (18.7 px) bold and above
AA_COMPONENT = 3.0  # WCAG 1.4.11, a button against the background around it
SAMPLES = 20_000  # pixels a palette is estimated from
MERGE_BELOW = 6.0  # CIEDE2000: palette clusters closer than this are one colour
ROBUST_PERCENTILE = 5.0  # text contrast is judged against the 5th and 95th luminance percentiles


def _decode(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


_LINEAR_LEVELS = _decode(np.arange(256) / 255.0)
"""Linear light of each 8-bit sRGB level: a table look-up instead of a power per pixel."""


def _linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``uint8`` -> linear light in [0, 1]."""
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        return _LINEAR_LEVELS[rgb]
    return _decode(rgb.astype(np.float64) / 255.0)


def _encoded(linear: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB ``uint8``, clipped to the gamut."""
    c = np.clip(linear, 0.0, 1.0)
    c = np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)
    return np.rint(c * 255.0).astype(np.uint8)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB colours.

    Args:
        rgb: ``uint8`` (..., 3).

    Returns:
        ``float64`` (..., 3): L in [0, 100], a and b.
    """
    xyz = _linear(rgb) @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _EPSILON, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    fx, fy, fz = np.moveaxis(f, -1, 0)
    return np.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], axis=-1)


def _lab_to_linear(lab: np.ndarray) -> np.ndarray:
    lab = np.asarray(lab, np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE
    return xyz @ _XYZ_TO_RGB.T


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """sRGB ``uint8`` (..., 3) of CIELAB (D65) colours; colours outside the sRGB gamut are
    clipped per channel (use :func:`in_gamut` to keep a hue instead)."""
    return _encoded(_lab_to_linear(lab))


def lab_to_lch(lab: np.ndarray) -> np.ndarray:
    """(..., 3) L, chroma and hue angle in degrees [0, 360) of CIELAB colours."""
    lab = np.asarray(lab, np.float64)
    hue = np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360
    return np.stack([lab[..., 0], np.hypot(lab[..., 1], lab[..., 2]), hue], axis=-1)


def lch_to_lab(lch: np.ndarray) -> np.ndarray:
    """Inverse of :func:`lab_to_lch`."""
    lch = np.asarray(lch, np.float64)
    angle = np.radians(lch[..., 2])
    return np.stack(
        [lch[..., 0], lch[..., 1] * np.cos(angle), lch[..., 1] * np.sin(angle)], axis=-1
    )


def in_gamut(lightness: float, chroma: float, hue: float) -> np.ndarray:
    """The sRGB ``uint8`` (3,) colour of a lightness (0-100) and hue (degrees) with the largest
    chroma up to ``chroma`` that sRGB can show (found by bisection): unlike clipping each
    channel, this keeps the hue and lightness."""
    low, high = 0.0, max(chroma, 0.0)
    linear = _lab_to_linear(lch_to_lab([lightness, high, hue]))
    if np.all((linear >= 0) & (linear <= 1)):
        return _encoded(linear)
    for _ in range(30):
        mid = (low + high) / 2
        linear = _lab_to_linear(lch_to_lab([lightness, mid, hue]))
        if np.all((linear >= -1e-9) & (linear <= 1 + 1e-9)):
            low = mid
        else:
            high = mid
    return _encoded(_lab_to_linear(lch_to_lab([lightness, low, hue])))


def delta_e(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (k_L = k_C = k_H = 1) of CIELAB colours, broadcast over
    the leading axes; 1 is about a just noticeable difference.

    Follows Sharma et al. (2005), equations 1-20, including their hue conventions: the hue of
    a neutral colour is 0 and the mean hue of a pair with a neutral colour is the sum of hues.
    """
    lab1, lab2 = np.asarray(lab1, np.float64), np.asarray(lab2, np.float64)
    l1, a1, b1 = np.moveaxis(lab1, -1, 0)
    l2, a2, b2 = np.moveaxis(lab2, -1, 0)
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.where(c1p == 0, 0.0, np.degrees(np.arctan2(b1, a1p)) % 360)
    h2p = np.where(c2p == 0, 0.0, np.degrees(np.arctan2(b2, a2p)) % 360)
    neutral = c1p * c2p == 0

    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(neutral, 0.0, dh)
    dhh = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))

    l_mean = (l1 + l2) / 2
    cp_mean = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = np.where(
        np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, h_sum + 360, h_sum - 360) / 2
    )
    h_mean = np.where(neutral, h_sum, h_mean)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_mean - 30))
        + 0.24 * np.cos(np.radians(2 * h_mean))
        + 0.32 * np.cos(np.radians(3 * h_mean + 6))
        - 0.20 * np.cos(np.radians(4 * h_mean - 63))
    )
    rotation = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    rc = 2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    sl = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    sc = 1 + 0.045 * cp_mean
    sh = 1 + 0.015 * cp_mean * t
    rt = -np.sin(np.radians(2 * rotation)) * rc
    return np.sqrt((dl / sl) ** 2 + (dc / sc) ** 2 + (dhh / sh) ** 2 + rt * (dc / sc) * (dhh / sh))


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding: (means of the last assignment's clusters, an
    empty one keeping its centre; their member counts)."""
    centres = [points[rng.integers(len(points))]]
    nearest = np.sum((points - centres[0]) ** 2, axis=1)
    while len(centres) < k and nearest.sum() > 0:
        centres.append(points[rng.choice(len(points), p=nearest / nearest.sum())])
        nearest = np.minimum(nearest, np.sum((points - centres[-1]) ** 2, axis=1))
    centres = np.array(centres)
    for _ in range(50):
        # |p - c|^2 without |p|^2, which is the same for every centre.
        labels = np.argmin((centres**2).sum(axis=1) - 2 * points @ centres.T, axis=1)
        counts = np.bincount(labels, minlength=len(centres))
        sums = np.stack([np.bincount(labels, points[:, i], len(centres)) for i in range(3)], 1)
        moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres)
        if np.allclose(moved, centres, atol=1e-3):
            break
        centres = moved
    return moved, counts


def _merge_close(
    centres: np.ndarray, counts: np.ndarray, below: float
) -> tuple[np.ndarray, np.ndarray]:
    """Merges the closest pair of clusters (count-weighted mean) while it is under ``below``."""
    centres, counts = list(centres), list(counts.astype(np.float64))
    while len(centres) > 1:
        lab = np.array(centres)
        distance = delta_e(lab[:, None, :], lab[None, :, :])
        np.fill_diagonal(distance, np.inf)
        i, j = np.unravel_index(np.argmin(distance), distance.shape)
        if distance[i, j] >= below:
            break
        total = counts[i] + counts[j]
        centres[i] = (centres[i] * counts[i] + centres[j] * counts[j]) / total
        counts[i] = total
        del centres[j], counts[j]
    return np.array(centres), np.array(counts)


def extract_palette(
    rgb: np.ndarray,
    mask: np.ndarray | None = None,
    k: int = 5,
    seed: int = 0,
    merge_below: float = MERGE_BELOW,
) -> tuple[np.ndarray, np.ndarray]:
    """The main colours of a picture: k-means in CIELAB over (at most :data:`SAMPLES`
    randomly drawn) pixels under ``mask``, clusters closer than ``merge_below`` (CIEDE2000)
    merged. With at most ``k`` distinct colours these are the colours themselves.

    Args:
        rgb: ``uint8`` H x W x 3 (a fourth channel is ignored).
        mask: ``bool`` H x W, the pixels to use (e.g. a cut-out's alpha > 0); None for all.
        k: clusters before merging, >= 1.
        seed: the same seed and input give the same palette.
        merge_below: CIEDE2000 distance under which two clusters are one colour.

    Returns:
        (``uint8`` (n, 3) colours, ``float64`` (n,) shares of the pixels summing to 1), most
        used first; n <= k.

    Raises:
        ValueError: no pixel under the mask, or ``k`` < 1.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    pixels = rgb[..., :3].reshape(-1, 3) if mask is None else rgb[..., :3][mask]
    if not len(pixels):
        raise ValueError("no pixel to take a palette from (empty picture or mask)")
    rng = np.random.default_rng(seed)
    if len(pixels) > SAMPLES:
        pixels = pixels[rng.choice(len(pixels), SAMPLES, replace=False)]
    distinct, counts = np.unique(pixels, axis=0, return_counts=True)
    if len(distinct) <= k:
        centres = rgb_to_lab(distinct)
    else:
        centres, counts = _kmeans(rgb_to_lab(pixels), k, rng)
    centres, counts = _merge_close(centres[counts > 0], counts[counts > 0], merge_below)
    order = np.argsort(-counts, kind="stable")
    return lab_to_rgb(centres[order]), counts[order] / counts.sum()


def relative_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG 2.x relative luminance in [0, 1] of sRGB ``uint8`` (..., 3) colours (the sRGB
    threshold 0.04045; WCAG 2.0's 0.03928 gives the same value for every 8-bit level)."""
    return _linear(rgb) @ np.array([0.2126, 0.7152, 0.0722])


def _ratio(luminance1: np.ndarray, luminance2: np.ndarray) -> np.ndarray:
    high, low = np.maximum(luminance1, luminance2), np.minimum(luminance1, luminance2)
    return (high + 0.05) / (low + 0.05)


def contrast_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """WCAG 2.x contrast ratio of sRGB ``uint8`` colours (..., 3), broadcast: 1 (same
    luminance) to 21 (black on white); a float for two single colours."""
    ratio = _ratio(relative_luminance(a), relative_luminance(b))
    return float(ratio) if np.ndim(ratio) == 0 else ratio


def _worst_ratios(under: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Each colour's contrast with the nearest luminance in the robust range of ``under``."""
    luminance = relative_luminance(np.asarray(under).reshape(-1, 3))
    low, high = np.percentile(luminance, [ROBUST_PERCENTILE, 100 - ROBUST_PERCENTILE])
    own = relative_luminance(colours)
    return _ratio(own, np.clip(own, low, high))


def achieved_ratio(under: np.ndarray, colour: np.ndarray | Sequence) -> float:
    """The contrast ``colour`` reaches over ``under`` (``uint8`` (..., 3)), judged as
    :func:`text_colour` judges it: against the robust range of the pixels' luminance."""
    if not np.asarray(under).size:
        raise ValueError("no pixel under the text")
    return float(_worst_ratios(under, np.asarray(colour, np.uint8).reshape(1, 3))[0])


def text_colour(
    under: np.ndarray, candidates: np.ndarray | Sequence = (), min_ratio: float = AA_TEXT
) -> tuple[np.ndarray, float]:
    """A colour for text set over ``under`` and the contrast it achieves there.

    The achieved ratio is against the worst of the pixels under the text, robustly: the
    luminance in their 5th-95th percentile range (:data:`ROBUST_PERCENTILE`) nearest the
    colour's own, so a colour inside that range scores 1. The first of ``candidates`` that
    reaches ``min_ratio`` is chosen; else black or white, whichever reaches it; else the
    colour with the highest ratio, which then falls short (:func:`needs_underlay`).

    Args:
        under: ``uint8`` (..., 3), the pixels the text will cover (a crop or a list).
        candidates: ``uint8`` (n, 3), e.g. a palette, most preferred first.
        min_ratio: :data:`AA_TEXT` for body text, :data:`AA_LARGE_TEXT` for large text.

    Returns:
        (``uint8`` (3,) colour, its ratio).

    Raises:
        ValueError: ``under`` has no pixel.
    """
    if not np.asarray(under).size:
        raise ValueError("no pixel under the text")
    palette = np.asarray(candidates, np.uint8).reshape(-1, 3)
    options = np.concatenate([palette, [BLACK, WHITE]])
    ratios = _worst_ratios(under, options)
    passing = np.flatnonzero(ratios[: len(palette)] >= min_ratio)
    if len(passing):
        best = passing[0]
    else:
        best = len(palette) + int(np.argmax(ratios[len(palette) :]))
        if ratios[best] < min_ratio:
            best = int(np.argmax(ratios))
    return options[best].copy(), float(ratios[best])


def needs_underlay(
    under: np.ndarray, candidates: np.ndarray | Sequence = (), min_ratio: float = AA_TEXT
) -> bool:
    """True when no colour of :func:`text_colour` (``candidates``, black or white) reaches
    ``min_ratio`` over ``under``: the text needs a plate (an underlay) behind it."""
    return text_colour(under, candidates, min_ratio)[1] < min_ratio


@dataclass(frozen=True)
class Scheme:
    """Colours of a design, each ``uint8`` (3,).

    Attributes:
        background: the canvas where no picture covers it.
        text: copy set on the background.
        underlay: plates behind copy over busy pictures.
        underlay_text: copy on an underlay.
        button: the call-to-action's plate.
        button_text: the call-to-action's copy.
        accent: decorations (rules, shapes, badges).
    """

    background: np.ndarray
    text: np.ndarray
    underlay: np.ndarray
    underlay_text: np.ndarray
    button: np.ndarray
    button_text: np.ndarray
    accent: np.ndarray


BACKGROUND_LIGHTNESS = (96.0, 12.0)  # light and dark schemes: a near-neutral tint of the brand
BACKGROUND_CHROMA = 8.0  # at most; the background stays quiet
UNDERLAY_LIGHTNESS = (30.0, 85.0)  # light and dark schemes: far from the background's


def harmony(brand: np.ndarray | Sequence, dark: bool = False) -> Scheme:
    """A colour scheme derived from brand colours by fixed rules (deterministic).

    In LCh (CIELAB lightness, chroma, hue) of the first brand colour, the *primary*:

    - background: the primary's hue at lightness 96 (12 when ``dark``), chroma at most 8;
    - underlay: the primary's hue and chroma (as much as sRGB shows) at lightness 30 (85 when
      ``dark``), so plates stand off the background in the brand's hue;
    - button: the primary itself, its lightness stepped away from the background's 1 unit at a
      time until the two reach 3:1 (WCAG 1.4.11);
    - accent: the second brand colour, or the primary's complement (hue + 180 degrees, same
      lightness and chroma, within sRGB);
    - text, underlay_text, button_text: by :func:`text_colour` on that plate, preferring the
      brand colours, then the background (for text on plates), then black or white.

    Every text colour reaches 4.5:1 on its plate: for any colour black or white does (their
    ratios with it multiply to 21, so one is at least sqrt(21) = 4.58).

    Args:
        brand: ``uint8`` (n, 3), n >= 1, most important first.
        dark: a dark background instead of a light one.

    Raises:
        ValueError: no brand colour.
    """
    brand = np.asarray(brand, np.uint8).reshape(-1, 3)
    if not len(brand):
        raise ValueError("harmony needs at least one brand colour")
    lightness, chroma, hue = lab_to_lch(rgb_to_lab(brand[0]))
    background = in_gamut(BACKGROUND_LIGHTNESS[dark], min(chroma, BACKGROUND_CHROMA), hue)
    underlay = in_gamut(UNDERLAY_LIGHTNESS[dark], chroma, hue)

    button, button_lightness, step = brand[0], lightness, 1.0 if dark else -1.0
    # Black (light scheme) or white (dark scheme) ends the walk well past 3:1.
    while contrast_ratio(button, background) < AA_COMPONENT:
        button_lightness = float(np.clip(button_lightness + step, 0, 100))
        button = in_gamut(button_lightness, chroma, hue)
    accent = brand[1] if len(brand) > 1 else in_gamut(lightness, chroma, (hue + 180) % 360)

    def on(plate: np.ndarray, *preferred: np.ndarray) -> np.ndarray:
        return text_colour(plate, np.vstack([brand, *preferred]))[0]

    return Scheme(
        background=background,
        text=on(background),
        underlay=underlay,
        underlay_text=on(underlay, background),
        button=button.copy(),
        button_text=on(button, background),
        accent=accent.copy(),
    )
