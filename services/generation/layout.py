"""Content-aware banner layout: declarative layout families solved per size.

A layout family (a YAML file in ``deploy/layouts/``, written by a designer, no code) splits the
canvas along one axis into zones, each holding the products, the copy (headline, subline,
call to action as a stack), the logo or the button, with share ranges for each zone, the
alignments and justifications the copy may take, and the corners the logo may sit in. For one
canvas size :func:`solve` tries every combination of the family's choices (zone shares on a
small grid, mirrored order, alignment, justification, logo corner), fits the copy with real
type (largest size that fits, lower-priority lines dropped when even the smallest legible size
does not), places the products by their aspect ratios, rejects candidates that break a hard
constraint (an element outside the canvas or overlapping another) and keeps the best-scoring
ones. Boxes are ``(x0, y0, x1, y1)`` in canvas pixels, x1 and y1 excluded.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from services.generation import layout_metrics

Box = tuple[int, int, int, int]
TEXT_ROLES = ("headline", "subline", "call_to_action")
DROP_ORDER = ("subline", "call_to_action", "headline")
"""Which copy goes first when it cannot fit at its smallest legible size."""
HOLDS = ("copy", "product", "logo", "call_to_action")
CORNERS = ("top-start", "top-center", "top-end", "bottom-start", "bottom-center", "bottom-end")
ALIGNS = ("start", "center", "end")
SHARE_STEPS = 4
"""Zone shares tried per range (evenly spaced, ends included)."""
MIN_TEXT_PX = {"headline": 14, "subline": 11, "call_to_action": 11}
"""Smallest legible type size per role, in pixels (cap height about 0.7 of it)."""
DROP_PENALTY = {"headline": 3.0, "call_to_action": 0.6, "subline": 0.4}
SIZE_WEIGHT = 0.35
"""Score per unit of log size of the products (area share, 0.25 neutral) and the headline
(share of the short side, 0.1 neutral): doubling either is worth the same."""
HEADLINE_WIDTH, HEADLINE_HEIGHT = 0.25, 0.5
"""Largest headline type, as shares of its zone's width and height: a short headline in a
narrow column is set large (the width bound was 0.18, which left towers mostly empty)."""
COVERAGE_WEIGHT = 2.0
"""Score per share of the canvas the copy, logo and button boxes cover (PosterLayout's
utility rewards used non-salient space)."""


class TextBlock(Protocol):
    """What a fitted piece of copy must tell the layout: its size in pixels and font size."""

    width: int
    height: int
    size: int


Fit = Callable[..., TextBlock | None]
"""``fit(text, width, height, weight, *, max_size, min_size)``: the copy set in the largest
font size (pixels) in ``[min_size, max_size]`` that fits ``width`` x ``height``, or None
(:func:`typography.fit`)."""


def set_copy(
    fit: Fit, text: str, width: int, height: int, weight: str, max_size: int, min_size: int
) -> TextBlock | None:
    """``fit`` where the box and size range allow any fit at all; None where they do not."""
    if width < 1 or height < 1 or max_size < min_size:
        return None
    return fit(text, width, height, weight, max_size=max_size, min_size=min_size)


@dataclass(frozen=True)
class Zone:
    """A band of the canvas along the family's axis: what it holds and the share range of
    the axis it takes (None: what the other zones leave)."""

    holds: str
    share: tuple[float, float] | None = None


@dataclass(frozen=True)
class Family:
    """A layout family (see the module docstring); loaded from YAML by :func:`load_family`.

    Attributes:
        name: identifier, e.g. "side_by_side".
        description: one line for people.
        aspect: (lowest, highest) width/height of the canvases it suits.
        axis: "row" (zones left to right) or "column" (top to bottom).
        zones: the zones in order.
        mirror: whether the zones' order may be reversed.
        text_align: alignments of the copy across its zone ("start", "center", "end").
        justify: where the copy stack sits along its zone.
        logo: canvas corners the logo may take when no zone holds it.
    """

    name: str
    description: str
    aspect: tuple[float, float]
    axis: str
    zones: tuple[Zone, ...]
    mirror: bool = False
    text_align: tuple[str, ...] = ("start",)
    justify: tuple[str, ...] = ("center",)
    logo: tuple[str, ...] = ("top-start",)

    def suits(self, width: int, height: int) -> bool:
        """Whether a ``width`` x ``height`` canvas is in the family's aspect range."""
        return self.aspect[0] <= width / height <= self.aspect[1]

    def distance(self, width: int, height: int) -> float:
        """How far (in log aspect) a canvas lies outside the family's range; 0 inside."""
        ratio = np.log(width / height)
        low, high = np.log(self.aspect[0]), np.log(self.aspect[1])
        return float(max(low - ratio, ratio - high, 0.0))


def load_family(path: Path) -> Family:
    """A layout family from its YAML file.

    Raises:
        ValueError: a missing or malformed key, naming the file and the key.
    """
    data = yaml.safe_load(path.read_text())

    def fail(key: str, problem: str) -> ValueError:
        return ValueError(f"{path.name}: {key}: {problem}")

    def choices(key: str, allowed: Sequence[str], default: tuple[str, ...]) -> tuple[str, ...]:
        values = tuple(data.get(key, default))
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise fail(key, f"{unknown} not among {list(allowed)}")
        return values

    if not isinstance(data, dict):
        raise fail("(file)", "is not a mapping")
    for key in ("name", "aspect", "axis", "zones"):
        if key not in data:
            raise fail(key, "missing")
    if data["axis"] not in ("row", "column"):
        raise fail("axis", f"must be row or column, not {data['axis']!r}")
    low, high = (float(a) for a in data["aspect"])
    if not 0 < low < high:
        raise fail("aspect", "must be [lowest, highest] width/height, 0 < lowest < highest")
    zones = []
    for i, zone in enumerate(data["zones"]):
        if zone.get("holds") not in HOLDS:
            raise fail(f"zones[{i}].holds", f"must be one of {list(HOLDS)}")
        share = zone.get("share")
        if share is not None:
            share = (float(share[0]), float(share[1]))
            if not 0 < share[0] <= share[1] < 1:
                raise fail(f"zones[{i}].share", "must be [low, high] with 0 < low <= high < 1")
        zones.append(Zone(zone["holds"], share))
    if sum(z.share is None for z in zones) > 1:
        raise fail("zones", "at most one zone may take the rest (no share)")
    return Family(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        aspect=(low, high),
        axis=data["axis"],
        zones=tuple(zones),
        mirror=bool(data.get("mirror", False)),
        text_align=choices("text_align", ALIGNS, ("start",)),
        justify=choices("justify", ALIGNS, ("center",)),
        logo=choices("logo", CORNERS, ("top-start",)),
    )


def load_families(folder: Path) -> list[Family]:
    """Every ``*.yaml`` layout family of ``folder``, by name."""
    return sorted((load_family(p) for p in folder.glob("*.yaml")), key=lambda f: f.name)


@dataclass(frozen=True)
class Materials:
    """What is to be laid out.

    Attributes:
        products: width/height of each product's tight cut-out, most important first.
        logo: width/height of the logo, None for none.
        headline, subline, call_to_action: the copy; empty for none.
    """

    products: tuple[float, ...] = ()
    logo: float | None = None
    headline: str = ""
    subline: str = ""
    call_to_action: str = ""

    def text(self, role: str) -> str:
        return getattr(self, role)

    @classmethod
    def of(
        cls,
        products: Sequence[np.ndarray],
        logo: np.ndarray | None,
        headline: str = "",
        subline: str = "",
        call_to_action: str = "",
    ) -> Materials:
        """Materials from the pictures themselves (their aspect ratios) and the copy."""
        return cls(
            tuple(p.shape[1] / p.shape[0] for p in products),
            None if logo is None else logo.shape[1] / logo.shape[0],
            headline,
            subline,
            call_to_action,
        )


@dataclass(frozen=True)
class Placement:
    """One element placed: role ("product", "logo", "headline", "subline", "call_to_action"),
    its box, the product's index, and for copy the fitted block and its alignment (for the
    button, ``box`` is the button and ``text_box`` the label inside it)."""

    role: str
    box: Box
    index: int = 0
    block: Any = None
    align: str = "start"
    text_box: Box | None = None


@dataclass
class Layout:
    """A solved layout of one canvas."""

    width: int
    height: int
    family: str
    choice: tuple
    placements: list[Placement]
    dropped: list[str]
    score: float = 0.0
    terms: dict[str, float] = field(default_factory=dict)

    def boxes(self, role: str) -> list[Box]:
        return [p.box for p in self.placements if p.role == role]


def margin_of(width: int, height: int) -> int:
    """Canvas margin in pixels: 5 % of the short side, at least 4."""
    return max(4, round(0.05 * min(width, height)))


def split(box: Box, axis: str, shares: Sequence[float], gap: int) -> list[Box]:
    """``box`` cut along ``axis`` into consecutive parts of the given shares (summing to 1),
    ``gap`` pixels apart."""
    x0, y0, x1, y1 = box
    length = (x1 - x0 if axis == "row" else y1 - y0) - gap * (len(shares) - 1)
    parts, start = [], x0 if axis == "row" else y0
    for i, share in enumerate(shares):
        end = start + (round(length * share) if i < len(shares) - 1 else 0)
        if i == len(shares) - 1:
            end = x1 if axis == "row" else y1
        parts.append((start, y0, end, y1) if axis == "row" else (x0, start, x1, end))
        start = end + gap
    return parts


def corner_box(canvas: Box, corner: str, width: int, height: int) -> Box:
    """A ``width`` x ``height`` box in ``corner`` of ``canvas`` (a ``-center`` corner is the
    middle of that edge)."""
    x0, y0, x1, y1 = canvas
    side = corner.rsplit("-", 1)[1]
    if side == "start":
        left = x0
    elif side == "end":
        left = x1 - width
    else:
        left, width = centred(x0, x1, width)
    top = y0 if corner.startswith("top") else y1 - height
    return (left, top, left + width, top + height)


def intersects(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def cut_away(zone: Box, obstacle: Box, gap: int) -> Box:
    """The largest part of ``zone`` left of, right of, above or below ``obstacle``."""
    if not intersects(zone, obstacle):
        return zone
    x0, y0, x1, y1 = zone
    options = [
        (x0, y0, obstacle[0] - gap, y1),
        (obstacle[2] + gap, y0, x1, y1),
        (x0, y0, x1, obstacle[1] - gap),
        (x0, obstacle[3] + gap, x1, y1),
    ]
    return max(options, key=lambda b: max(0, b[2] - b[0]) * max(0, b[3] - b[1]))


def fit_aspect(zone: Box, aspect: float, fill: float = 1.0) -> tuple[int, int]:
    """The largest ``aspect`` (width/height) size within ``fill`` of ``zone``."""
    width, height = (zone[2] - zone[0]) * fill, (zone[3] - zone[1]) * fill
    if width / max(height, 1e-9) > aspect:
        width = height * aspect
    else:
        height = width / aspect
    return max(1, int(width)), max(1, int(height))


def place_products(zone: Box, aspects: Sequence[float], gap: int) -> list[Placement]:
    """Products in a row standing on the zone's bottom or in a column centred in it, whichever
    shows them larger (the first a little larger than the rest), centred across the zone."""
    if not aspects:
        return []
    rows = _products_along(zone, aspects, gap, row=True)
    columns = _products_along(zone, aspects, gap, row=False)
    return max(rows, columns, key=lambda placed: sum(_area(p.box) for p in placed))


def _products_along(zone: Box, aspects: Sequence[float], gap: int, *, row: bool) -> list[Placement]:
    weights = [1.25] + [1.0] * (len(aspects) - 1)
    cells = split(zone, "row" if row else "column", [w / sum(weights) for w in weights], gap)
    placed = []
    for i, (cell, aspect) in enumerate(zip(cells, aspects, strict=True)):
        w, h = fit_aspect(cell, aspect, 0.94)
        left, w = centred(cell[0], cell[2], w)
        top = cell[3] - h if row else (cell[1] + cell[3] - h) // 2
        placed.append(Placement("product", (left, top, left + w, top + h), index=i))
    return placed


def _area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def centred(lo: int, hi: int, size: int) -> tuple[int, int]:
    """Start and size of an item ``size`` pixels long centred in ``[lo, hi)``. The size
    becomes one pixel longer (shorter where that would not fit) when the span and the item
    differ in parity, so both centres fall on the same position: centred items line up
    exactly rather than half a pixel apart."""
    if (hi - lo - size) % 2:
        size += 1 if size < hi - lo else -1
    return lo + (hi - lo - size) // 2, size


def aligned(zone: Box, width: int, align: str) -> tuple[int, int]:
    """Left edge and width of a ``width`` wide item aligned across ``zone`` (centred items
    as :func:`centred`)."""
    if align == "center":
        return centred(zone[0], zone[2], width)
    return aligned_left(zone, width, align), width


def aligned_left(zone: Box, width: int, align: str) -> int:
    """Left edge of a ``width`` wide item aligned in ``zone``."""
    if align == "start":
        return zone[0]
    if align == "end":
        return zone[2] - width
    return (zone[0] + zone[2] - width) // 2


def button(
    fit: Fit, text: str, zone: Box, max_size: int, align: str, justify: str
) -> Placement | None:
    """A call-to-action button in ``zone``: its label fitted with padding around it."""
    zw, zh = zone[2] - zone[0], zone[3] - zone[1]
    inner_h = int(zh / 1.8)
    size_cap = min(max_size, inner_h)
    block = set_copy(
        fit, text, int(zw * 0.86), inner_h, "bold", size_cap, MIN_TEXT_PX["call_to_action"]
    )
    if block is None:
        return None
    pad_x, pad_y = round(block.size * 0.9), round(block.size * 0.45)
    w, h = block.width + 2 * pad_x, block.height + 2 * pad_y
    if w > zw or h > zh:
        return None
    left, w = aligned(zone, w, align)
    top = aligned_left((zone[1], 0, zone[3], 0), h, justify)
    box = (left, top, left + w, top + h)
    label = (left + pad_x, top + pad_y, left + pad_x + block.width, top + pad_y + block.height)
    return Placement("call_to_action", box, block=block, align="center", text_box=label)


def copy_stack(
    fit: Fit,
    materials: Materials,
    zone: Box,
    roles: Sequence[str],
    align: str,
    justify: str,
) -> tuple[list[Placement], list[str]]:
    """Headline, subline and button stacked in ``zone``: the headline as large as fits (type
    at most a quarter of the zone's width and half its height; its lines may fill all the
    height when the headline is alone), the subline at most 60 % of the headline's size, the
    button label at most half; when the stack is taller than the zone the headline shrinks
    (down to 30 % of its cap), and copy that cannot fit at its smallest legible size is
    dropped (:data:`DROP_ORDER`).
    Returns (placements, dropped roles)."""
    zw, zh = zone[2] - zone[0], zone[3] - zone[1]
    wanted = [r for r in roles if materials.text(r)]
    dropped: list[str] = []
    scale = 1.0
    while True:
        head_cap = max(1, int(min(zh * HEADLINE_HEIGHT, zw * HEADLINE_WIDTH) * scale))
        blocks: dict[str, Any] = {}
        failed = None
        for role in wanted:
            if role in dropped:
                continue
            if role == "headline":
                alone = all(r == "headline" or r in dropped for r in wanted)
                block = set_copy(
                    fit,
                    materials.headline,
                    zw,
                    int(zh * (1.0 if alone else 0.55)),
                    "bold",
                    head_cap,
                    MIN_TEXT_PX["headline"],
                )
            elif role == "subline":
                cap = max(
                    11, int(0.6 * (blocks["headline"].size if "headline" in blocks else head_cap))
                )
                block = set_copy(
                    fit,
                    materials.subline,
                    zw,
                    int(zh * 0.4),
                    "regular",
                    cap,
                    MIN_TEXT_PX["subline"],
                )
            else:
                top = blocks["headline"].size if "headline" in blocks else head_cap
                block = button(
                    fit, materials.call_to_action, zone, max(11, top // 2), align, "start"
                )
            if block is None:
                failed = role
                break
            blocks[role] = block
        if failed is None:
            gap = max(4, round(0.35 * min(_size(b) for b in blocks.values()))) if blocks else 0
            heights = [_height(b) for b in blocks.values()]
            total = sum(heights) + gap * max(0, len(heights) - 1)
            if total <= zh:
                break
            failed = "too tall"
        if scale > 0.3 and (failed == "too tall" or failed == "headline"):
            scale *= 0.85
            continue
        victim = next((r for r in DROP_ORDER if r in wanted and r not in dropped), None)
        if victim is None:
            return [], dropped
        dropped.append(victim)
        scale = 1.0
    placements = []
    top = aligned_left((zone[1], 0, zone[3], 0), total, justify)
    for role, block in blocks.items():
        if isinstance(block, Placement):  # the button
            w, h = block.box[2] - block.box[0], block.box[3] - block.box[1]
            left, w = aligned(zone, w, align)
            dx, dy = left - block.box[0], top - block.box[1]
            box = (left, top, left + w, top + h)
            label = block.text_box
            shifted = (label[0] + dx, label[1] + dy, label[2] + dx, label[3] + dy)
            placements.append(
                Placement(role, box, block=block.block, align="center", text_box=shifted)
            )
        else:
            w, h = block.width, block.height
            left, w = aligned(zone, w, align)
            placements.append(
                Placement(role, (left, top, left + w, top + h), block=block, align=align)
            )
        top += _height(block) + gap
    return placements, dropped


def _height(block: Any) -> int:
    if isinstance(block, Placement):
        return block.box[3] - block.box[1]
    return block.height


def _size(block: Any) -> int:
    return block.block.size if isinstance(block, Placement) else block.size


@dataclass(frozen=True)
class Scene:
    """What the background says about where things may go: ``busy`` (H, W) in [0, 1], high
    where the background is textured or salient (text there needs an underlay, products and
    logos hide it). None for a background the renderer generates (calm everywhere)."""

    busy: np.ndarray | None = None

    def mean_over(self, box: Box) -> float:
        if self.busy is None:
            return 0.0
        x0, y0, x1, y1 = box
        part = self.busy[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
        return float(part.mean()) if part.size else 0.0


def score(layout: Layout, materials: Materials, scene: Scene) -> tuple[float, dict[str, float]]:
    """Higher is better: large products and headline (in balance: log sizes), used space, no
    dropped copy, text over calm background, balanced weight, edges and centres aligned.
    Returns (score, its terms)."""
    area = layout.width * layout.height
    short = min(layout.width, layout.height)
    products = sum((b[2] - b[0]) * (b[3] - b[1]) for b in layout.boxes("product")) / area
    head = [p.block.size for p in layout.placements if p.role == "headline"]
    headline = (head[0] / short) if head else 0.0
    text_boxes = [p.box for p in layout.placements if p.role in ("headline", "subline")]
    busy = 0.0
    if text_boxes and scene.busy is not None:
        busy = sum(scene.mean_over(b) for b in text_boxes) / len(text_boxes)
    dropped = sum(DROP_PENALTY[r] for r in layout.dropped)
    boxes = [p.box for p in layout.placements]
    balance = 0.0
    if boxes:
        cx = sum(b[0] + b[2] for b in boxes) / (2 * len(boxes))
        cy = sum(b[1] + b[3] for b in boxes) / (2 * len(boxes))
        balance = abs(cx / layout.width - 0.5) + abs(cy / layout.height - 0.5)
    terms = {
        "products": products if materials.products else 0.0,
        "headline": headline,
        "busy_under_text": busy,
        "dropped": dropped,
        "imbalance": balance,
        "misalignment": layout_metrics.alignment(elements(layout), (layout.height, layout.width)),
        "coverage": sum(
            (p.box[2] - p.box[0]) * (p.box[3] - p.box[1])
            for p in layout.placements
            if p.role != "product"
        )
        / area,
    }
    value = (
        SIZE_WEIGHT * np.log(max(terms["products"], 0.01) / 0.25) * bool(materials.products)
        + SIZE_WEIGHT * np.log(max(headline, 0.01) / 0.1)
        - 0.8 * busy
        - dropped
        - 0.3 * balance
        - 30.0 * terms["misalignment"]
        + COVERAGE_WEIGHT * terms["coverage"]
    )
    return value, terms


def elements(layout: Layout) -> list[layout_metrics.Element]:
    """The layout as the published metrics see it: copy, logo, products, and the button as an
    underlay (its plate) holding its label."""
    found = []
    for p in layout.placements:
        if p.role == "call_to_action":
            found.append(layout_metrics.Element("button", p.box))
            found.append(layout_metrics.Element("call_to_action", p.text_box or p.box))
        else:
            found.append(layout_metrics.Element(p.role, p.box))
    return found


def valid(layout: Layout) -> bool:
    """Hard constraints: every element inside the canvas, none overlapping another."""
    canvas = (0, 0, layout.width, layout.height)
    boxes = [p.box for p in layout.placements]
    for box in boxes:
        if box[0] < canvas[0] or box[1] < canvas[1] or box[2] > canvas[2] or box[3] > canvas[3]:
            return False
        if box[2] <= box[0] or box[3] <= box[1]:
            return False
    return not any(intersects(a, b) for a, b in itertools.combinations(boxes, 2))


def candidates(family: Family) -> Iterable[tuple]:
    """Every combination of a family's choices: (shares, mirrored, align, justify, corner)."""
    ranges = [
        np.linspace(z.share[0], z.share[1], SHARE_STEPS) if z.share else [None]
        for z in family.zones
    ]
    mirrors = (False, True) if family.mirror else (False,)
    corners = family.logo or ("",)
    for shares in itertools.product(*ranges):
        fixed = sum(s for s in shares if s is not None)
        if fixed >= 0.95:
            continue
        full = tuple(s if s is not None else 1.0 - fixed for s in shares)
        for mirrored, align, justify, corner in itertools.product(
            mirrors, family.text_align, family.justify, corners
        ):
            yield full, mirrored, align, justify, corner


def arrange(
    family: Family,
    choice: tuple,
    width: int,
    height: int,
    materials: Materials,
    fit: Fit,
) -> Layout:
    """The layout of one choice of a family on a ``width`` x ``height`` canvas."""
    shares, mirrored, align, justify, corner = choice
    margin = margin_of(width, height)
    gap = margin
    canvas = (margin, margin, width - margin, height - margin)
    zones = list(family.zones)
    if mirrored:
        zones, shares = zones[::-1], shares[::-1]
    boxes = split(canvas, family.axis, shares, gap)
    placements: list[Placement] = []
    holders = {z.holds for z in zones}
    if materials.logo is not None and "logo" not in holders and corner:
        w, h = fit_aspect(canvas, materials.logo)
        side = max(16, round(0.1 * min(width, height)))
        scale = min(side / h, 0.25 * width / w)
        logo = corner_box(canvas, corner, max(1, int(w * scale)), max(1, int(h * scale)))
        placements.append(Placement("logo", logo))
        boxes = [cut_away(b, logo, gap) for b in boxes]
    dropped: list[str] = []
    copy_roles = [r for r in TEXT_ROLES if r not in holders]
    # The button's zone comes last: its label is sized from the headline.
    for zone, box in sorted(
        zip(zones, boxes, strict=True), key=lambda z: z[0].holds == "call_to_action"
    ):
        if box[2] - box[0] < 8 or box[3] - box[1] < 8:
            continue
        if zone.holds == "product":
            placements += place_products(box, materials.products, gap)
        elif zone.holds == "logo" and materials.logo is not None:
            w, h = fit_aspect(box, materials.logo, 0.8)
            (left, w), top = centred(box[0], box[2], w), (box[1] + box[3] - h) // 2
            placements.append(Placement("logo", (left, top, left + w, top + h)))
        elif zone.holds == "call_to_action" and materials.call_to_action:
            head = [p.block.size for p in placements if p.role == "headline"]
            # A button never outshouts the headline: its label (on a plate) at most half the
            # headline's size, as in a copy stack.
            cap = head[0] // 2 if head else (box[3] - box[1]) // 2
            found = button(fit, materials.call_to_action, box, max(11, cap), "center", "center")
            if found is None:
                dropped.append("call_to_action")
            else:
                placements.append(found)
        elif zone.holds == "copy":
            placed, lost = copy_stack(fit, materials, box, copy_roles, align, justify)
            placements += placed
            dropped += lost
    return Layout(width, height, family.name, choice, placements, dropped)


def _looks(lay: Layout) -> tuple[tuple, tuple, tuple]:
    """What a viewer sees of an arrangement, coarse to fine: the copy's side and alignment,
    then its justification, then the logo's corner."""
    mirrored, align, justify, corner = lay.choice[1:]
    return (mirrored, align), (mirrored, align, justify), (mirrored, align, justify, corner)


def diverse(layouts: list[Layout]) -> list[Layout]:
    """Best-first layouts of one family reordered so that each next one changes what a
    viewer sees first (:func:`_looks`, coarsest new look first; the score decides among
    equals)."""
    left, picked = list(layouts), []
    seen: tuple[set, set, set] = (set(), set(), set())
    while left:
        nxt = min(left, key=lambda lay: tuple(k in seen[i] for i, k in enumerate(_looks(lay))))
        left.remove(nxt)
        picked.append(nxt)
        for i, key in enumerate(_looks(nxt)):
            seen[i].add(key)
    return picked


def _ranked(
    family: Family, width: int, height: int, materials: Materials, fit: Fit, scene: Scene
) -> list[Layout]:
    """A family's valid layouts of the canvas, the best of each arrangement (all choices but
    the shares), best first and reordered by :func:`diverse`."""
    best: dict[tuple, Layout] = {}
    for choice in candidates(family):
        layout = arrange(family, choice, width, height, materials, fit)
        if valid(layout) and layout.placements:
            layout.score, layout.terms = score(layout, materials, scene)
            key = choice[1:]
            if key not in best or layout.score > best[key].score:
                best[key] = layout
    return diverse(sorted(best.values(), key=lambda lay: -lay.score))


def solve(
    families: Sequence[Family],
    width: int,
    height: int,
    materials: Materials,
    fit: Fit,
    scene: Scene | None = None,
    variants: int = 1,
) -> list[Layout]:
    """The ``variants`` best valid layouts of a ``width`` x ``height`` canvas: from the
    families that suit its aspect (the nearest family when none does), the best arrangement
    of each family first, then each family's next best arrangement, so variants differ in
    family before they differ in arrangement (an arrangement is a family's order, alignment,
    justification and logo corner, with its best zone shares).

    Raises:
        ValueError: no family yields a valid layout (e.g. a canvas too small for anything).
    """
    scene = scene or Scene()
    suited = [f for f in families if f.suits(width, height)]
    if not suited:
        nearest = min(f.distance(width, height) for f in families)
        suited = [f for f in families if f.distance(width, height) == nearest]
    cached = functools.lru_cache(maxsize=4096)(fit)
    ranked = [
        found for f in suited if (found := _ranked(f, width, height, materials, cached, scene))
    ]
    if not ranked:
        raise ValueError(f"no layout family places anything on a {width}x{height} canvas")
    ranked.sort(key=lambda found: -found[0].score)
    picked: list[Layout] = []
    for depth in range(max(len(found) for found in ranked)):
        row = [found[depth] for found in ranked if depth < len(found)]
        picked += sorted(row, key=lambda lay: -lay.score)
        if len(picked) >= variants:
            break
    return picked[:variants]
