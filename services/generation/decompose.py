"""A finished design taken apart into roles: which text line is the headline, the subline or a
button's label, which objects are products or the logo, how the copy is aligned, and its
colours. The detections come from the segmentation service (text lines with their copy, the
salient objects' joint alpha); this module only reasons about their geometry and the pixels
around them.

Roles follow how designers build banners: the copy set largest is the headline, the next block
the subline; a short line sitting on a plate of one colour that differs from what surrounds it
is the call to action (the plate is the button; a plate on a larger object is that object's
label); a small object near a corner or mid-edge, with
the short text beside it (its word mark), is the logo, its mark looked for in the pixels when
the detector left it out; large objects are products, and text on them is theirs (a label),
not copy; a character or two "read" on an object is the object. A detector splits a product
where it crosses a band the colour of the ground (a bottle's label): pieces stacked edge to
edge, joined by a band that differs from the ground beside it, are put back together.
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
MAX_WORD_MARK = 12  # characters: longer text beside a logo is copy
MARK_HEIGHT = 2.5  # lines: a logo's drawn mark is at most this much taller than its word mark
OBJECT_ALPHA = 0.5  # joint alpha from which a pixel belongs to an object
FRINGE = 0.25  # of an object's tallest column: shorter columns at its sides are matte bleed
MIN_OBJECT = 0.0003  # of the canvas: smaller pieces of alpha are noise
BAND_DELTA_E = 5.0  # a band between stacked pieces differing this much from the ground joins them
TEXT_ON_PRODUCT = 0.3  # of a line's box covered by a product: the product's own text
INSIDE = 0.8  # of a line's box inside a product's (or an object's) box: it belongs to it
MISREAD_CHARS = 2  # a "line" this short lying on an object is the object, misread
SAME_SIZE = 1.45  # lines of one block differ in estimated font size by less than this factor
CJK_INK = 0.88  # ink height of a CJK line in ems
X_HEIGHT, RISE, FALL = 0.535, 0.225, 0.24
"""Ink height of a Latin line in ems, typical of sans faces: the x-height, what capitals,
digits and ascenders add, what descenders add."""
BOX_MARGIN = 0.1  # ems a text detector's line box adds to the ink height
LATIN_ADVANCE = 0.52  # ems a Latin character (or space) advances, on average, in sans faces
RISERS = frozenset("bdfhiklt0123456789!?%&#@$'\"/()[]{}|")
FALLERS = frozenset("gjpqy,;()[]{}|")


@dataclass(frozen=True)
class TextLine:
    """A detected line of text: its box (x0, y0, x1, y1) and its copy."""

    box: Box
    text: str = ""

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def em(self) -> float:
        """Estimated font size (pixels per em). CJK: from the width, each full-width character
        one em (the last half when it is punctuation, whose ink sits in the cell's left half):
        detectors pad small lines' height. Latin: the geometric mean of what the ink height
        says (which letters rise above the x-height or fall below the baseline) and what the
        width says (LATIN_ADVANCE em a character), each noisy in its own way. The ink height
        itself with no text."""
        text = self.text.replace(" ", "")
        if not text:
            return float(self.height)
        width = self.box[2] - self.box[0]
        if any(_cjk(c) for c in text):
            cells = sum(1.0 if _cjk(c) else LATIN_ADVANCE for c in text)
            if _cjk(text[-1]) and not text[-1].isalnum():
                cells -= 0.5
            return width / max(cells, 0.5)
        rises = any(c.isupper() or c in RISERS for c in text)
        falls = any(c in FALLERS for c in text)
        tall = self.height / (X_HEIGHT + RISE * rises + FALL * falls + BOX_MARGIN)
        return float(np.sqrt(tall * width / (LATIN_ADVANCE * len(self.text))))


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


def rows(lines: Sequence[TextLine]) -> list[TextLine]:
    """Pieces of one line put back together: a detector may cut a line at a wide gap (after
    CJK punctuation). Pieces sharing most of their height, less than a line height apart,
    become one line, read left to right."""
    merged: list[TextLine] = []
    for line in sorted(lines, key=lambda ln: ln.box[0]):
        for i, other in enumerate(merged):
            shared = min(line.box[3], other.box[3]) - max(line.box[1], other.box[1])
            gap = line.box[0] - other.box[2]
            similar = max(line.em, other.em) < SAME_SIZE * min(line.em, other.em)
            if (
                similar
                and shared >= 0.6 * min(line.height, other.height)
                and gap <= 0.5 * max(line.height, other.height)
            ):
                merged[i] = TextLine(union([other.box, line.box]), joined([other, line]))
                break
        else:
            merged.append(line)
    return merged


def blocks(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    """Lines grouped into blocks: top to bottom, a line joins the block above when it overlaps
    the block's last line horizontally, its estimated font size differs from the block's
    (the median of its lines') by less than SAME_SIZE (a subline is set smaller than its
    headline), the gap is under 0.8 em, and not much wider than the
    gaps between the block's lines so far (designers set blocks apart with more space)."""
    grouped: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda ln: ln.box[1]):
        if grouped:
            block = grouped[-1]
            last = block[-1]
            size = float(np.median([ln.em for ln in block]))
            em = max(line.em, size)
            gap = line.box[1] - last.box[3]
            similar = em < SAME_SIZE * min(line.em, size)
            overlaps = line.box[0] < last.box[2] and last.box[0] < line.box[2]
            spaced = len(block) > 1 and gap > 2 * (last.box[1] - block[-2].box[3]) + 0.15 * em
            if gap < 0.8 * em and similar and overlaps and not spaced:
                block.append(line)
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
    """Whether a box sits within LOGO_CORNER of the short side from a canvas corner or from
    the middle of the top or bottom edge; on a strip (one side three times the other) within
    LOGO_CORNER of the long side from an end."""
    dx = min(box[0], width - box[2], abs(box[0] + box[2] - width) // 2)
    dy = min(box[1], height - box[3])
    if width >= 3 * height:
        return dx <= LOGO_CORNER * width
    if height >= 3 * width:
        return dy <= LOGO_CORNER * height
    reach = LOGO_CORNER * min(width, height)
    return dx <= reach and dy <= reach


def ink_colour(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The colour of a text line's ink: of the two main colours in its box, the one that
    covers less (glyphs cover less of a line box than the ground between them)."""
    pixels = rgb[box[1] : box[3], box[0] : box[2]].reshape(-1, 3)
    found, weights = colour.extract_palette(pixels[:, None, :], k=2)
    return found[int(np.argmin(weights))] if len(found) > 1 else found[0]


def objects(rgb: np.ndarray, alpha: np.ndarray) -> list[Box]:
    """Boxes of the objects in a joint alpha: its connected parts (noise dropped), split where
    a thin bridge joins two of them side by side (a translucent shape behind both), and pieces
    stacked edge to edge joined where the band between them is not the ground."""
    height, width = alpha.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (alpha >= OBJECT_ALPHA).astype(np.uint8), connectivity=8
    )
    found = []
    for k in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[k])
        if area >= MIN_OBJECT * width * height:
            found += _split_bridges(labels[y : y + h, x : x + w] == k, x, y)
    joined_any = True
    while joined_any:
        joined_any = False
        for a, b in ((a, b) for a in found for b in found if a is not b):
            if _one_object(rgb, a, b):
                found = [box for box in found if box is not a and box is not b]
                found.append(union([a, b]))
                joined_any = True
                break
    return found


def _split_bridges(mask: np.ndarray, left: int, top: int) -> list[Box]:
    """Boxes of one part's pieces: it is cut at each run of columns less than half as tall
    as its tallest column that has taller columns on both sides (a bridge between two
    objects); the bridge's columns belong to neither. Columns at either end under FRINGE of
    the tallest are left out (a matte bleeding into the ground beside an object)."""
    counts = mask.sum(axis=0)
    kept = np.flatnonzero(counts >= FRINGE * counts.max())
    mask, left = mask[:, kept[0] : kept[-1] + 1], left + int(kept[0])
    counts = counts[kept[0] : kept[-1] + 1]
    tall = counts >= 0.5 * counts.max()

    def runs() -> list[np.ndarray]:
        return np.split(np.arange(len(counts)), np.flatnonzero(np.diff(tall.astype(np.int8))) + 1)

    for run in runs()[1:-1]:  # a dip a few columns wide is the object's own shape
        if not tall[run[0]] and len(run) < max(2, 0.03 * len(counts)):
            tall[run] = True
    keep = [run for run in runs() if tall[run[0]]]
    boxes = []
    for i, run in enumerate(keep):
        start = 0 if i == 0 else run[0]
        stop = len(counts) if i == len(keep) - 1 else run[-1] + 1
        ys, xs = np.nonzero(mask[:, start:stop])
        boxes.append(
            (left + start + int(xs.min()), top + int(ys.min()),
             left + start + int(xs.max()) + 1, top + int(ys.max()) + 1)
        )  # fmt: skip
    return boxes


def _one_object(rgb: np.ndarray, top: Box, bottom: Box) -> bool:
    """Whether ``bottom`` continues ``top`` below it: most of their widths shared, a gap
    under half the taller one, and the band between them unlike the ground beside it."""
    shared = min(top[2], bottom[2]) - max(top[0], bottom[0])
    narrower = min(top[2] - top[0], bottom[2] - bottom[0])
    gap = bottom[1] - top[3]
    taller = max(top[3] - top[1], bottom[3] - bottom[1])
    if shared < 0.7 * narrower or not 0 <= gap < 0.5 * taller:
        return False
    if gap == 0:
        return True
    left, right = max(top[0], bottom[0]), min(top[2], bottom[2])
    band = rgb[top[3] : bottom[1], left:right].reshape(-1, 3)
    outer_left, outer_right = min(top[0], bottom[0]), max(top[2], bottom[2])
    ground = np.vstack(
        [
            rgb[top[3] : bottom[1], max(0, outer_left - gap) : outer_left].reshape(-1, 3),
            rgb[top[3] : bottom[1], outer_right : outer_right + gap].reshape(-1, 3),
        ]
    )
    if not len(ground):
        return False
    difference = colour.delta_e(
        colour.rgb_to_lab(np.median(band, axis=0).astype(np.uint8)),
        colour.rgb_to_lab(np.median(ground, axis=0).astype(np.uint8)),
    )
    return float(difference) > BAND_DELTA_E


def logo(
    pieces: Sequence[Box], lines: Sequence[TextLine], width: int, height: int
) -> tuple[Box, list[Box], list[TextLine]] | None:
    """The logo: a small object with the short lines (its word mark) and small objects (drawn
    letters) beside it, the group nearest a canvas corner; (box, objects, lines) or None."""
    canvas = width * height
    small = [box for box in pieces if _area(box) <= LOGO_AREA * canvas]
    groups = []
    marks = [ln for ln in lines if len(ln.text) <= MAX_WORD_MARK]
    for seed in small:
        if any(_overlap(seed, ln.box) >= 0.5 * _area(seed) for ln in lines if ln not in marks):
            continue  # a letter of the copy
        words = [ln for ln in marks if _beside(seed, ln.box) or _overlap(seed, ln.box)]
        box, taken = union([seed, *(ln.box for ln in words)]), [seed]
        grown = True
        while grown:
            grown = False
            for other in small:
                if other not in taken and _beside(box, other):
                    box, grown = union([box, other]), True
                    taken.append(other)
        if _area(box) <= LOGO_AREA * canvas and near_corner(box, width, height):
            groups.append((box, taken, words))
    if not groups:
        return None
    return min(
        groups,
        key=lambda g: max(min(g[0][0], width - g[0][2]), min(g[0][1], height - g[0][3])),
    )


def marks_beside(rgb: np.ndarray, line: TextLine, width: int, height: int) -> list[Box]:
    """Boxes of the drawn shapes beside a short line near a corner (a logo's mark beside its
    word mark): pixels within three times the line's height to its sides that differ from the
    ground (the median of the search window's frame) by PLATE_DELTA_E, in parts no taller
    than MARK_HEIGHT lines. Empty for long lines and lines away from the corners."""
    if len(line.text) > MAX_WORD_MARK or not near_corner(line.box, width, height):
        return []
    h = line.height
    x0, y0, x1, y1 = _clip(
        (line.box[0] - 3 * h, line.box[1] - h, line.box[2] + 3 * h, line.box[3] + h),
        width,
        height,
    )
    window = rgb[y0:y1, x0:x1]
    frame = np.vstack([window[0], window[-1], window[:, 0], window[:, -1]])
    ground = colour.rgb_to_lab(np.median(frame, axis=0).astype(np.uint8))
    differs = colour.delta_e(colour.rgb_to_lab(window), ground) > PLATE_DELTA_E
    lx0, ly0, lx1, ly1 = line.box
    differs[max(0, ly0 - y0) : ly1 - y0, max(0, lx0 - x0) : lx1 - x0] = False
    count, _, stats, _ = cv2.connectedComponentsWithStats(differs.astype(np.uint8), connectivity=8)
    found = []
    for k in range(1, count):
        x, y, w, hh, area = (int(v) for v in stats[k])
        box = (x0 + x, y0 + y, x0 + x + w, y0 + y + hh)
        if hh <= MARK_HEIGHT * h and area >= 0.2 * h * h and _beside(line.box, box):
            found.append(box)
    return found


def _beside(a: Box, b: Box) -> bool:
    """Whether ``b`` sits on ``a``'s row, at most 0.6 of ``a``'s height to its side."""
    shared = min(a[3], b[3]) - max(a[1], b[1])
    gap = max(b[0] - a[2], a[0] - b[2])
    return shared >= 0.5 * min(a[3] - a[1], b[3] - b[1]) and gap <= 0.6 * (a[3] - a[1])


def decompose(rgb: np.ndarray, lines: Sequence[TextLine], alpha: np.ndarray) -> Decomposition:
    """Assign roles to the text lines and objects found in a design ``rgb``.

    Args:
        rgb: ``uint8`` (H, W, 3) design.
        lines: text lines with their copy (segmentation.DetectText, line granularity).
        alpha: the salient objects' joint alpha, (H, W) in [0, 1] (segmentation.SegmentObject).
    """
    height, width = rgb.shape[:2]
    found = Decomposition(width, height)
    canvas = width * height
    pieces = objects(rgb, alpha)
    lines = [ln for ln in rows(lines) if not _misread_object(ln, pieces)]
    copy_lines = list(lines)
    for line in sorted(copy_lines, key=lambda ln: ln.height):
        if found.button_colour is not None or len(line.text) > MAX_BUTTON_TEXT:
            continue
        button = plate(rgb, line)
        if button is not None and not _on_larger_object(button[0], pieces):
            found.roles.append(("call_to_action", button[0]))
            found.copy["call_to_action"] = line.text
            found.label = line.box
            found.button_colour = button[1]
            found.text_colours["call_to_action"] = ink_colour(rgb, line.box)
            copy_lines.remove(line)
    plates = found.boxes("call_to_action")
    pieces = [
        box for box in pieces if not any(_overlap(box, p) >= 0.5 * _area(box) for p in plates)
    ]
    brand = logo(pieces, copy_lines, width, height)
    if brand is None:  # the detector may leave a small mark out of its alpha: look at pixels
        drawn = [box for ln in copy_lines for box in marks_beside(rgb, ln, width, height)]
        brand = logo(pieces + drawn, copy_lines, width, height)
    if brand is not None:
        copy_lines = [
            ln
            for ln in copy_lines
            if ln not in brand[2] and _overlap(ln.box, brand[0]) < 0.6 * _area(ln.box)
        ]
    products = [
        box
        for box in pieces
        if _area(box) >= PRODUCT_AREA * canvas
        and (brand is None or box not in brand[1])
        and sum(_overlap(box, ln.box) for ln in copy_lines) <= TEXT_ON_OBJECT * _area(box)
    ]
    on_products = np.zeros((height, width), bool)
    for x0, y0, x1, y1 in products:
        on_products[y0:y1, x0:x1] = alpha[y0:y1, x0:x1] >= OBJECT_ALPHA
    copy_lines = [
        ln
        for ln in copy_lines
        if on_products[ln.box[1] : ln.box[3], ln.box[0] : ln.box[2]].mean() < TEXT_ON_PRODUCT
        and not any(_overlap(ln.box, box) >= INSIDE * _area(ln.box) for box in products)
    ]
    grouped = sorted(blocks(copy_lines), key=lambda b: -max(ln.em for ln in b))
    for role, block in zip(("headline", "subline"), grouped, strict=False):
        found.roles.append((role, union([ln.box for ln in block])))
        found.copy[role] = joined(block)
        found.text_colours[role] = ink_colour(rgb, block[0].box)
    found.roles += [("product", box) for box in sorted(products)]
    if brand is not None:
        found.roles.append(("logo", brand[0]))
    text_boxes = found.boxes("headline") + found.boxes("subline") + found.boxes("call_to_action")
    found.align = alignment(text_boxes, max(4.0, 0.01 * width))
    return found


def _on_larger_object(box: Box, pieces: Sequence[Box]) -> bool:
    """Whether ``box`` lies on an object at least twice its size: a plate there is a label
    on a product (a bottle's), not a button, which is an object of its own."""
    return any(
        _overlap(box, piece) >= INSIDE * _area(box) and _area(piece) >= 2 * _area(box)
        for piece in pieces
    )


def _misread_object(line: TextLine, pieces: Sequence[Box]) -> bool:
    """Whether a "line" is an object a text detector took for a character or two (a bottle
    read as "1"): short text whose box lies on an object."""
    return len(line.text.strip()) <= MISREAD_CHARS and any(
        _overlap(line.box, piece) >= INSIDE * _area(line.box) for piece in pieces
    )


def _area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def _overlap(a: Box, b: Box) -> int:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h
