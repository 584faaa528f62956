"""A solved layout drawn as layers: background, decoration, product shadows and products,
logo, an underlay where the copy would not be readable, the copy, the button.

Text colour is chosen against the pixels actually under each line of copy (the layers below
it, composited): a colour of the scheme or palette reaching WCAG AA there (4.5:1, 3:1 for
large text); where none does, the copy stack gets an underlay in the scheme's plate colour and
the text the plate's text colour.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from services.generation import backdrop, colour, layers, layout, typography
from services.generation.layers import Layer
from services.generation.layout import TEXT_ROLES, Box, Layout, Placement, margin_of

LARGE_TEXT_PX = {"regular": 24.0, "bold": 18.67}
"""WCAG "large text": 18 pt regular or 14 pt bold, in CSS pixels."""
WEIGHTS = {"headline": "bold", "subline": "regular", "call_to_action": "bold"}
ALIGN = {"start": "left", "center": "center", "end": "right"}
"""Layout alignments as the lines of a text block take them (left-to-right scripts)."""
SHADOW_OPACITY = 0.28
BUSY_GRADIENT = 120.0  # Sobel magnitude (grey levels) of a background as busy as it gets
UNDERLAY_PADDING = 0.45  # of the largest font size in the stack, at most half the margin


@dataclass(frozen=True)
class Assets:
    """The pictures and colours a layout is drawn with.

    Attributes:
        products: ``uint8`` RGBA cut-outs, cropped tight to their alpha, in layout order.
        logo: ``uint8`` RGBA, cropped tight; None for none.
        background: ``uint8`` RGB the caller gave; None to generate one from ``scheme``.
        scheme: the design's colours (:func:`colour.harmony`).
        palette: ``uint8`` (n, 3) brand colours, preferred for text.
        seed: for the generated background and decoration.
    """

    products: Sequence[np.ndarray]
    logo: np.ndarray | None
    background: np.ndarray | None
    scheme: colour.Scheme
    palette: np.ndarray
    seed: int = 0

    @functools.cached_property
    def premultiplied(self) -> list[np.ndarray | None]:
        """The products then the logo, :func:`premultiply`-ed once for every layout drawn."""
        return [premultiply(p) for p in self.products] + [
            None if self.logo is None else premultiply(self.logo)
        ]


def cover(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """``picture`` scaled to cover ``width`` x ``height`` and centre-cropped to it."""
    h, w = picture.shape[:2]
    scale = max(width / w, height / h)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    big = cv2.resize(picture, size, interpolation=method)
    top, left = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return np.ascontiguousarray(big[top : top + height, left : left + width])


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """``float32`` RGBA with colour multiplied by alpha (both 0-255): what :func:`resized`
    resamples, so transparent pixels do not darken the edges."""
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    return np.dstack([rgba[..., :3].astype(np.float32) * alpha, alpha[..., 0] * 255.0])


def resized(premultiplied: np.ndarray, box: Box) -> np.ndarray:
    """A :func:`premultiply`-ed picture resampled to fill ``box`` (area averaging when
    shrinking), as ``uint8`` straight-alpha RGBA."""
    width, height = box[2] - box[0], box[3] - box[1]
    shrink = width < premultiplied.shape[1]
    method = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    out = cv2.resize(premultiplied, (width, height), interpolation=method)
    a = np.clip(out[..., 3:], 0, 255)
    rgb = np.where(a > 0, out[..., :3] / np.maximum(a / 255.0, 1e-6), 0)
    return np.dstack([np.clip(rgb, 0, 255), a]).round().astype(np.uint8)


def contact_shadow(box: Box) -> Layer:
    """A soft elliptical shadow under a product standing in ``box``."""
    x0, _, x1, y1 = box
    w = x1 - x0
    rx, ry = max(2, round(0.45 * w)), max(2, round(0.06 * w))
    pad = 3 * ry + 4
    cx, cy = (x0 + x1) // 2, y1
    left, top = cx - rx - pad, cy - ry - pad
    alpha = np.zeros((2 * (ry + pad), 2 * (rx + pad)), np.float32)
    cv2.ellipse(alpha, (rx + pad, ry + pad), (rx, ry), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, ry * 0.8)) * SHADOW_OPACITY
    rgba = np.zeros((*alpha.shape, 4), np.uint8)
    rgba[..., 3] = np.round(alpha * 255).astype(np.uint8)
    return Layer("product shadow", "decoration", rgba, left, top)


def plate(box: Box, rgb: np.ndarray, radius: int) -> np.ndarray:
    """An opaque rounded rectangle the size of ``box`` (anti-aliased corners), RGBA."""
    w, h = box[2] - box[0], box[3] - box[1]
    scale = 4  # drawn large and shrunk: smooth corners
    big = np.zeros((h * scale, w * scale), np.uint8)
    r = min(radius, w // 2, h // 2) * scale
    cv2.rectangle(big, (r, 0), (w * scale - r - 1, h * scale - 1), 255, -1)
    cv2.rectangle(big, (0, r), (w * scale - 1, h * scale - r - 1), 255, -1)
    for cx, cy in (
        (r, r),
        (w * scale - r - 1, r),
        (r, h * scale - r - 1),
        (w * scale - r - 1, h * scale - r - 1),
    ):
        cv2.circle(big, (cx, cy), r, 255, -1)
    alpha = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = rgb, alpha
    return rgba


def scene_of(background: np.ndarray | None, width: int, height: int) -> layout.Scene:
    """Where the caller's background is busy (for the layout to keep copy off it): the local
    gradient magnitude of the background as it will be drawn, blurred over a few percent of
    the canvas and scaled so a strong edge or texture reaches 1. A generated background is
    calm everywhere."""
    if background is None:
        return layout.Scene()
    grey = cv2.cvtColor(cover(background, width, height), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    sigma = max(1.0, 0.02 * min(width, height))
    busy = cv2.GaussianBlur(np.hypot(gx, gy), (0, 0), sigma) / BUSY_GRADIENT
    return layout.Scene(np.clip(busy, 0, 1))


def min_ratio(role: str, block: typography.TextBlock) -> float:
    """The WCAG AA contrast a piece of copy needs: 3:1 when large, else 4.5:1."""
    large = block.size >= LARGE_TEXT_PX[WEIGHTS[role]]
    return colour.AA_LARGE_TEXT if large else colour.AA_TEXT


def text_layer(placement: Placement, rgb: np.ndarray) -> Layer:
    """A piece of copy drawn in ``rgb`` at its place (the button's label inside it)."""
    box = placement.text_box or placement.box
    pixels = typography.render(placement.block, tuple(int(c) for c in rgb), ALIGN[placement.align])
    return Layer(placement.role.replace("_", " "), placement.role, pixels, box[0], box[1])


def draw(layout: Layout, assets: Assets) -> list[Layer]:
    """The layers of ``layout`` drawn with ``assets``, bottom first."""
    width, height = layout.width, layout.height
    scheme = assets.scheme
    copy = [p for p in layout.placements if p.role in ("headline", "subline")]
    if assets.background is not None:
        opaque = cv2.cvtColor(cover(assets.background, width, height), cv2.COLOR_RGB2RGBA)
        stack = [Layer("background", "background", opaque)]
    else:
        focus = layout.boxes("product")
        rgba = backdrop.gradient(width, height, scheme, focus, assets.seed)
        stack = [Layer("background", "background", rgba)]
        shapes = backdrop.decoration(width, height, scheme, [p.box for p in copy], assets.seed)
        if shapes is not None:
            stack.append(Layer("decoration", "decoration", shapes))
    for placement in layout.placements:
        if placement.role == "product":
            picture = assets.premultiplied[placement.index]
            stack.append(contact_shadow(placement.box))
            stack.append(
                Layer(
                    f"product {placement.index + 1}",
                    "product",
                    resized(picture, placement.box),
                    *placement.box[:2],
                )
            )
        elif placement.role == "logo" and assets.logo is not None:
            stack.append(
                Layer(
                    "logo",
                    "logo",
                    resized(assets.premultiplied[-1], placement.box),
                    *placement.box[:2],
                )
            )
    stack += copy_layers(layout, assets, stack)
    return stack


def copy_layers(layout: Layout, assets: Assets, below: list[Layer]) -> list[Layer]:
    """Underlay (when needed), copy and button layers over the ``below`` layers."""
    width, height = layout.width, layout.height
    scheme = assets.scheme
    copy = [p for p in layout.placements if p.role in ("headline", "subline")]
    candidates = np.vstack([assets.palette.reshape(-1, 3), scheme.text[None]])
    chosen = []
    readable = True
    for placement in copy:
        under = layers.flatten(below, width, height, placement.box)
        colour_, ratio = colour.text_colour(
            under, candidates, min_ratio(placement.role, placement.block)
        )
        readable &= ratio >= min_ratio(placement.role, placement.block)
        chosen.append(colour_)
    out: list[Layer] = []
    if copy and not readable:
        pad = max(
            2,
            min(
                round(UNDERLAY_PADDING * max(p.block.size for p in copy)),
                margin_of(width, height) // 2,
            ),
        )
        x0 = min(p.box[0] for p in copy) - pad
        y0 = min(p.box[1] for p in copy) - pad
        x1 = max(p.box[2] for p in copy) + pad
        y1 = max(p.box[3] for p in copy) + pad
        box = (max(0, x0), max(0, y0), min(width, x1), min(height, y1))
        out.append(Layer("underlay", "underlay", plate(box, scheme.underlay, pad), box[0], box[1]))
        chosen = [scheme.underlay_text] * len(copy)
    out += [text_layer(p, c) for p, c in zip(copy, chosen, strict=True)]
    for placement in layout.placements:
        if placement.role == "call_to_action":
            box = placement.box
            radius = (box[3] - box[1]) // 2
            out.append(
                Layer("button", "call_to_action", plate(box, scheme.button, radius), box[0], box[1])
            )
            out.append(text_layer(placement, scheme.button_text))
    return out


def element_boxes(stack: Sequence[Layer], layout: Layout) -> list[tuple[str, Box]]:
    """(label, box) of every element for the response: the background, the layout's
    placements (the button's whole plate for the call to action), the underlay and the
    decoration (the box around its visible pixels)."""
    found: list[tuple[str, Box]] = [("background", (0, 0, layout.width, layout.height))]
    found += [
        (p.role, p.box) for p in layout.placements if p.role in (*TEXT_ROLES, "product", "logo")
    ]
    for layer in stack:
        if layer.role == "underlay":
            found.append(("underlay", layer.box))
        elif layer.name == "decoration":
            ys, xs = np.nonzero(layer.rgba[..., 3])
            if len(xs):
                box = (
                    layer.left + int(xs.min()),
                    layer.top + int(ys.min()),
                    layer.left + int(xs.max()) + 1,
                    layer.top + int(ys.max()) + 1,
                )
                found.append(("decoration", box))
    return found
