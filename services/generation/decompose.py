"""A finished design taken apart into roles: which text line is the headline, the subline or a
button's label, which objects are products or the logo, how the copy is aligned, and its
colours. The detections come from the segmentation service (text lines with their copy,
salient objects); this module only reasons about their geometry and the pixels around them.

Roles follow how designers build banners: the tallest block of text is the headline, the next
block near it the subline; a short line sitting on a plate of one colour that differs from what
surrounds it is the call to action (the plate is the button); a small object or short text near
a corner is the logo; large objects are products.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from services.generation import colour
from services.generation.layout import Box

PLATE_DELTA_E = 10.0  # a button's plate differs from its surroundings by at least this (CIEDE2000)
PLATE_TOLERANCE = 10  # levels per channel a plate's pixels stay within (flood fill)
SOLID = 0.75  # of a plate's box its pixels cover, with the text's box (the ink) added
LOGO_AREA = 0.05  # of the canvas, at most, for an object to be the logo
LOGO_CORNER = 0.2  # of the short side: how near a corner the logo sits
PRODUCT_AREA = 0.02  # of the canvas, at least, for an object to be a product
TEXT_ON_OBJECT = 0.3  # an object this much covered by text is a plate or the text itself
MAX_BUTTON_TEXT = 30  # characters: longer lines are copy, not a button's label


@dataclass(frozen=True)
class TextLine:
    """A detected line of text: its box (x0, y0, x1, y1) and its copy."""

    box: Box
    text: str = ""

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


@dataclass
class Decomposition:
    """What a design is made of.

    Attributes:
        width, height: the canvas.
        roles: (role, box) of every element found: "headline", "subline", "call_to_action"
            (the button's plate), "logo", "product".
        copy: role -> its text (lines joined by a space or, for CJK, nothing).
        label: the button's label box, when there is a button.
        align: how the copy lines up: "start", "center" or "end".
        text_colours: role -> ``uint8`` (3,) colour of its ink.
        button_colour: ``uint8`` (3,) of the plate, or None.
    """

    width: int
    height: int
    roles: list[tuple[str, Box]] = field(default_factory=list)
    copy: dict[str, str] = field(default_factory=dict)
    label: Box | None = None
    align: str = "start"
    text_colours: dict[str, np.ndarray] = field(default_factory=dict)
    button_colour: np.ndarray | None = None

    def boxes(self, role: str) -> list[Box]:
        return [box for r, box in self.roles if r == role]


def union(boxes: Sequence[Box]) -> Box:
    """The smallest box holding every box."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _clip(box: Box, width: int, height: int) -> Box:
    return (max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3]))


def _grown(box: Box, by: int, width: int, height: int) -> Box:
    return _clip((box[0] - by, box[1] - by, box[2] + by, box[3] + by), width, height)


def _ring(rgb: np.ndarray, outer: Box, inner: Box) -> np.ndarray:
    """The pixels of ``outer`` outside ``inner``, (n, 3)."""
    mask = np.zeros(rgb.shape[:2], bool)
    mask[outer[1] : outer[3], outer[0] : outer[2]] = True
    mask[inner[1] : inner[3], inner[0] : inner[2]] = False
    return rgb[mask]


def plate(rgb: np.ndarray, line: TextLine) -> tuple[Box, np.ndarray] | None:
    """The button a line of text sits on, if it does: (plate box, plate colour).

    The plate is grown (flood fill within PLATE_TOLERANCE levels) from the ground at one end
    of the line, mid-height, where a button's padding shows; it must reach the other end, be
    larger than the line, mostly solid (its ink is the only hole), clear of the canvas edges,
    and of a colour that differs from what lies around it."""
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = line.box
    middle = (y0 + y1) // 2
    if not 0 <= middle < height:
        return None
    # Just outside a box that hugs the ink, or just inside one a detector drew with margin.
    step = max(2, line.height // 4)
    writable = np.array(rgb)  # floodFill wants a writable image even when it only fills the mask
    region = None
    for left, right in ((x0 - step, x1 - 1 + step), (x0 + 1, x1 - 2)):
        if not (0 <= left < width and 0 <= right < width):
            continue
        mask = np.zeros((height + 2, width + 2), np.uint8)
        tolerance = (PLATE_TOLERANCE,) * 3
        flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (255 << 8)
        cv2.floodFill(writable, mask, (left, middle), 0, tolerance, tolerance, flags)
        if mask[middle + 1, right + 1]:
            region = mask[1:-1, 1:-1] > 0
            break
    if region is None:
        return None
    ys, xs = np.nonzero(region)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    if box[0] == 0 or box[1] == 0 or box[2] == width or box[3] == height:
        return None  # a button stands clear of the canvas edges (this is the page's ground)
    if box[2] - box[0] <= x1 - x0 and box[3] - box[1] <= y1 - y0:
        return None  # no wider or taller than the text: no padding, no plate
    inside = region[box[1] : box[3], box[0] : box[2]]
    core = _overlap(box, line.box)
    if inside.sum() + core < SOLID * _area(box):
        return None
    base = np.median(rgb[region], axis=0).astype(np.uint8)
    outer = _grown(box, max(2, line.height // 2), width, height)
    beyond = _ring(rgb, outer, box)
    if not len(beyond):
        return None
    difference = colour.delta_e(
        colour.rgb_to_lab(np.median(beyond, axis=0)), colour.rgb_to_lab(base)
    )
    if difference < PLATE_DELTA_E:
        return None
    return box, base


def blocks(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    """Lines grouped into blocks: top to bottom, a line joins the block above when the gap is
    under 0.9 of the taller one's height, their ink heights are within 45 % (ascenders and
    descenders vary within one size; a subline is set at least 40 % smaller) and the two
    overlap horizontally."""
    grouped: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda ln: ln.box[1]):
        if grouped:
            last = grouped[-1][-1]
            gap = line.box[1] - last.box[3]
            taller = max(line.height, last.height)
            similar = taller <= 1.45 * min(line.height, last.height)
            overlaps = line.box[0] < last.box[2] and last.box[0] < line.box[2]
            if gap < 0.9 * taller and similar and overlaps:
                grouped[-1].append(line)
                continue
        grouped.append([line])
    return grouped


def joined(block: Sequence[TextLine]) -> str:
    """The block's copy: lines joined by a space, or directly between CJK characters."""
    out = ""
    for line in block:
        if out and not (_cjk(out[-1]) and line.text and _cjk(line.text[0])):
            out += " "
        out += line.text
    return out


def _cjk(char: str) -> bool:
    return "\u3000" <= char <= "\u9fff" or "\uff00" <= char <= "\uffef"


def alignment(boxes: Sequence[Box], tolerance: float) -> str:
    """How boxes line up: "start" when their left edges agree within ``tolerance`` pixels,
    else "center" when their centres do, else "end" when their right edges do, else
    "start"."""
    if len(boxes) < 2:
        return "start"
    for name, values in (
        ("start", [b[0] for b in boxes]),
        ("center", [(b[0] + b[2]) / 2 for b in boxes]),
        ("end", [b[2] for b in boxes]),
    ):
        if np.ptp(values) <= tolerance:
            return name
    return "start"


def near_corner(box: Box, width: int, height: int) -> bool:
    """Whether a box sits within LOGO_CORNER of the short side from a canvas corner."""
    reach = LOGO_CORNER * min(width, height)
    dx = min(box[0], width - box[2])
    dy = min(box[1], height - box[3])
    return dx <= reach and dy <= reach


def ink_colour(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The colour of a text line's ink: of the two main colours in its box, the one that
    covers less (glyphs cover less of a line box than the ground between them)."""
    pixels = rgb[box[1] : box[3], box[0] : box[2]].reshape(-1, 3)
    found, weights = colour.extract_palette(pixels[:, None, :], k=2)
    return found[int(np.argmin(weights))] if len(found) > 1 else found[0]


def decompose(rgb: np.ndarray, lines: Sequence[TextLine], objects: Sequence[Box]) -> Decomposition:
    """Assign roles to the text lines and objects found in a design ``rgb``.

    Small objects near a corner are the logo (text lines inside them are its word mark, not
    copy); a short line on a plate is the call to action; of the remaining blocks of lines the
    tallest is the headline and the next the subline; large objects not covered by copy are
    products.

    Args:
        rgb: ``uint8`` (H, W, 3) design.
        lines: text lines with their copy (segmentation.DetectText, line granularity).
        objects: salient objects' boxes (segmentation.SegmentObject).
    """
    height, width = rgb.shape[:2]
    found = Decomposition(width, height)
    canvas = width * height
    logos = [
        box
        for box in objects
        if _area(box) <= LOGO_AREA * canvas and near_corner(box, width, height)
    ]
    copy_lines = [
        line
        for line in lines
        if not any(_overlap(line.box, g) >= 0.6 * _area(line.box) for g in logos)
    ]
    for line in sorted(copy_lines, key=lambda ln: ln.height):
        if found.button_colour is not None or len(line.text) > MAX_BUTTON_TEXT:
            continue
        button = plate(rgb, line)
        if button is not None:
            found.roles.append(("call_to_action", button[0]))
            found.copy["call_to_action"] = line.text
            found.label = line.box
            found.button_colour = button[1]
            found.text_colours["call_to_action"] = ink_colour(rgb, line.box)
            copy_lines.remove(line)
    grouped = sorted(blocks(copy_lines), key=lambda b: -max(ln.height for ln in b))
    for role, block in zip(("headline", "subline"), grouped, strict=False):
        found.roles.append((role, union([ln.box for ln in block])))
        found.copy[role] = joined(block)
        found.text_colours[role] = ink_colour(rgb, block[0].box)
    copy_boxes = [box for _, box in found.roles]
    for box in objects:
        covered = sum(_overlap(box, c) for c in copy_boxes) / max(_area(box), 1)
        if box not in logos and covered <= TEXT_ON_OBJECT and _area(box) >= PRODUCT_AREA * canvas:
            found.roles.append(("product", box))
    if logos:
        found.roles.append(("logo", union(logos)))
    text_boxes = found.boxes("headline") + found.boxes("subline") + found.boxes("call_to_action")
    found.align = alignment(text_boxes, max(4.0, 0.01 * width))
    return found


def _area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def _overlap(a: Box, b: Box) -> int:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h
