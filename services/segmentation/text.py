"""Text detection and recognition around the PP-OCRv4 networks: plain numpy pre/post-processing.

The networks run on Triton (models ``ppocr_det`` and ``ppocr_rec``); these functions turn an RGB
image into their inputs and their outputs into polygons and text. Conventions follow PaddleOCR:
BGR channel order, detection normalised with ImageNet mean/std, recognition scaled to [-1, 1]
on lines 48 pixels high.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

DET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], np.float32)
REC_HEIGHT = 48
DETECTOR = "ppocr_det"
RECOGNISER = "ppocr_rec"


@dataclass
class Region:
    """A piece of text: 4 x 2 corners (image pixels, clockwise from the top-left), detection
    score in [0, 1], and the recognised text with its confidence (empty and 0 when unread)."""

    corners: np.ndarray
    score: float
    text: str = ""
    text_score: float = 0.0


def detection_input(rgb: np.ndarray, limit_side: int = 960) -> tuple[np.ndarray, float, float]:
    """Network input of the detector for an RGB uint8 image.

    The image is scaled so its longer side is at most `limit_side` and both sides are multiples
    of 32 (at least 32).

    Returns:
        (1 x 3 x H x W float32 tensor, x scale, y scale) where a network pixel (u, v) is image
        pixel (u / x scale, v / y scale).
    """
    h, w = rgb.shape[:2]
    ratio = min(1.0, limit_side / max(h, w))
    new_h = max(32, int(round(h * ratio / 32)) * 32)
    new_w = max(32, int(round(w * ratio / 32)) * 32)
    resized = cv2.resize(rgb[:, :, :3], (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    bgr = resized[:, :, ::-1].astype(np.float32) / 255.0
    normalised = (bgr - DET_MEAN) / DET_STD
    return normalised.transpose(2, 0, 1)[None].copy(), new_w / w, new_h / h


def detection_boxes(
    probability: np.ndarray,
    scale_x: float,
    scale_y: float,
    threshold: float = 0.3,
    box_threshold: float = 0.5,
    unclip_ratio: float = 1.6,
    min_side: float = 3.0,
) -> list[tuple[np.ndarray, float]]:
    """Text quadrilaterals from the detector's probability map (DB post-processing).

    Args:
        probability: H x W map (or 1 x 1 x H x W) in [0, 1].
        scale_x, scale_y: from `detection_input`.
        threshold: probability above which a pixel is text.
        box_threshold: mean probability a region needs to be kept.
        unclip_ratio: how far a shrunk text kernel is grown back (DB's unclip, area/perimeter).
        min_side: regions thinner than this (network pixels) are dropped.

    Returns:
        (4 x 2 float32 corners in image pixels, clockwise from top-left, score) per region.
    """
    prob = probability.reshape(probability.shape[-2:])
    mask = (prob > threshold).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for contour in contours:
        if len(contour) < 3:
            continue
        score = _mean_inside(prob, contour)
        if score < box_threshold:
            continue
        (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
        if min(w, h) < min_side:
            continue
        distance = (w * h) * unclip_ratio / (2.0 * (w + h))
        grown = ((cx, cy), (w + 2 * distance, h + 2 * distance), angle)
        corners = order_corners(cv2.boxPoints(grown))
        corners[:, 0] /= scale_x
        corners[:, 1] /= scale_y
        out.append((corners.astype(np.float32), float(score)))
    return out


def join_pieces(
    found: list[tuple[np.ndarray, float]], max_angle: float = 5.0
) -> list[tuple[np.ndarray, float]]:
    """Pieces of one horizontal line put back together. On large type the detector may cut a
    line at a word space into boxes that overlap (the recogniser then reads the shared
    letter twice: "every" + "bottle" as "everykbottle"), or find a stray piece inside a
    line. Near-horizontal boxes (within ``max_angle`` degrees) that overlap, sharing 60 % of
    the lower one's height with heights within 2x (a word without ascenders is short), or
    one 80 % inside the other, become their axis-aligned union (score: the mean); a box of
    any angle 80 % inside a line is dropped; other boxes are kept as they are. Boxes apart
    are never joined: a logo's word mark beside a headline stays its own line.

    Returns:
        (corners, score) as :func:`detection_boxes`, in no set order.
    """
    level = [abs(angle_degrees(c)) <= max_angle and not is_vertical(c) for c, _ in found]
    groups = [[i] for i, flat in enumerate(level) if flat]
    boxes = [[*found[g[0]][0].min(axis=0), *found[g[0]][0].max(axis=0)] for g in groups]
    joined = True
    while joined:
        joined = False
        for i, j in itertools.combinations(range(len(boxes)), 2):
            a, b = boxes[i], boxes[j]
            low, high = sorted((a[3] - a[1], b[3] - b[1]))
            shared = min(a[3], b[3]) - max(a[1], b[1])
            gap = max(a[0], b[0]) - min(a[2], b[2])
            inner = max(0, -gap) * max(0, shared)
            smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
            one_line = high <= 2 * low and shared >= 0.6 * low and gap <= 0
            if one_line or inner >= 0.8 * smaller:
                boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                groups[i] += groups.pop(j)
                boxes.pop(j)
                joined = True
                break
    inside = [
        i
        for i, flat in enumerate(level)
        if not flat and any(_share_inside(found[i][0], box) >= 0.8 for box in boxes)
    ]
    out = [found[i] for i, flat in enumerate(level) if not flat and i not in inside]
    for (x0, y0, x1, y1), members in zip(boxes, groups, strict=True):
        if len(members) == 1:
            out.append(found[members[0]])
            continue
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
        out.append((corners, float(np.mean([found[k][1] for k in members]))))
    return out


def _share_inside(corners: np.ndarray, box: list) -> float:
    """Share of the bounding box of ``corners`` inside ``box`` (x0, y0, x1, y1)."""
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    w = max(0.0, min(x1, box[2]) - max(x0, box[0]))
    h = max(0.0, min(y1, box[3]) - max(y0, box[1]))
    return float(w * h / max((x1 - x0) * (y1 - y0), 1e-9))


def _mean_inside(prob: np.ndarray, contour: np.ndarray) -> float:
    x, y, w, h = cv2.boundingRect(contour)
    patch = np.zeros((h, w), np.uint8)
    cv2.fillPoly(patch, [contour - [x, y]], 1)
    return float(cv2.mean(prob[y : y + h, x : x + w], patch)[0])


def order_corners(points: np.ndarray) -> np.ndarray:
    """Four points ordered clockwise from the top-left one."""
    points = np.asarray(points, np.float32)
    by_x = points[np.argsort(points[:, 0])]
    left, right = by_x[:2], by_x[2:]
    top_left, bottom_left = left[np.argsort(left[:, 1])]
    top_right, bottom_right = right[np.argsort(right[:, 1])]
    return np.array([top_left, top_right, bottom_right, bottom_left], np.float32)


def rectify(rgb: np.ndarray, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inside of a quadrilateral warped to a front-facing rectangle.

    Args:
        rgb: H x W x 3 image.
        corners: 4 x 2 corners clockwise from the top-left, pixels.

    Returns:
        (crop, matrix): the crop (at least 1 x 1) and the 3 x 3 perspective matrix taking
        image pixels to crop pixels.
    """
    tl, tr, br, bl = corners.astype(np.float32)
    width = int(round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    height = int(round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(np.array([tl, tr, br, bl]), target)
    crop = cv2.warpPerspective(
        rgb[:, :, :3],
        matrix,
        (width, height),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return crop, matrix


def is_vertical(corners: np.ndarray) -> bool:
    """Whether a text quadrilateral is a vertical line (1.5 times taller than wide)."""
    tl, tr, _, bl = corners
    return bool(np.linalg.norm(bl - tl) >= 1.5 * np.linalg.norm(tr - tl))


def reading_corners(corners: np.ndarray) -> np.ndarray:
    """Corners of a line re-ordered so the first edge runs along the reading direction.

    Horizontal lines keep their order; vertical lines (read top to bottom) start at the
    top-right corner, so the first edge runs downwards.
    """
    return np.roll(corners, -1, axis=0) if is_vertical(corners) else corners


def with_tail(corners: np.ndarray, tail: float) -> np.ndarray:
    """A line's corners (clockwise from the top-left) lengthened at its end by ``tail`` times
    its height along the reading direction."""
    tl, tr, br, bl = reading_corners(corners).astype(np.float32)
    along = (tr - tl) / max(float(np.linalg.norm(tr - tl)), 1e-6)
    step = along * tail * float(np.linalg.norm(bl - tl))
    lengthened = np.array([tl, tr + step, br + step, bl], np.float32)
    return np.roll(lengthened, 1, axis=0) if is_vertical(corners) else lengthened


def tails(quads: list[np.ndarray], most: float) -> list[float]:
    """How far past its end each line may be read, in line heights: ``most``, or less where
    another box starts sooner on the same row (reading into it would add half a letter)."""
    boxes = [(*q.min(axis=0), *q.max(axis=0)) for q in quads]
    found = []
    for _, y0, x1, y1 in boxes:
        height = max(y1 - y0, 1e-6)
        room = [
            bx0 - x1
            for bx0, by0, _, by1 in boxes
            if bx0 >= x1 and min(y1, by1) - max(y0, by0) >= 0.5 * min(height, by1 - by0)
        ]
        found.append(min([most * height, *room]) / height)
    return found


def line_crop(rgb: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The text line inside a quadrilateral, rectified (perspective warp) and upright."""
    crop, _ = rectify(rgb, reading_corners(corners))
    return np.ascontiguousarray(crop)


def recognition_input(lines: list[np.ndarray], width_multiple: int = 8) -> np.ndarray:
    """Recogniser input for RGB line crops: N x 3 x 48 x W float32 in [-1, 1].

    Lines keep their aspect ratio at 48 pixels high and are right-padded with zeros to the
    widest one (rounded up to `width_multiple`).
    """
    widths = [max(1, int(np.ceil(REC_HEIGHT * ln.shape[1] / ln.shape[0]))) for ln in lines]
    batch_width = int(np.ceil(max(widths) / width_multiple) * width_multiple)
    batch = np.zeros((len(lines), 3, REC_HEIGHT, batch_width), np.float32)
    for i, (line, width) in enumerate(zip(lines, widths, strict=True)):
        resized = cv2.resize(line, (width, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
        bgr = resized[:, :, ::-1].astype(np.float32) / 255.0
        batch[i, :, :, :width] = ((bgr - 0.5) / 0.5).transpose(2, 0, 1)
    return batch


def polygon_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two convex polygons (N x 2 points, pixels)."""
    area_a = cv2.contourArea(a.astype(np.float32))
    area_b = cv2.contourArea(b.astype(np.float32))
    inter, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    union = area_a + area_b - inter
    return float(inter / union) if union > 0 else 0.0


def angle_degrees(corners: np.ndarray) -> float:
    """Reading direction of a line, degrees clockwise from horizontal, in (-180, 180]."""
    tl, tr = reading_corners(corners)[:2]
    angle = float(np.degrees(np.arctan2(tr[1] - tl[1], tr[0] - tl[0])))
    return 180.0 if angle <= -180.0 else angle


def ink(crop: np.ndarray) -> np.ndarray:
    """Glyph pixels of a rectified text crop, ``bool`` H x W.

    Strokes are thinner than half the line height, so a morphological top-hat with a disc of
    that size keeps them and drops the background however it varies (gradients, a shot edge
    behind a caption); Otsu's threshold splits the top-hat into strokes and the rest. The
    polarity (white top-hat for light text, black top-hat for dark text) is read from the
    crop's border, which is background since detected lines are grown around their glyphs:
    the glyphs are the tone of Otsu's split the border mostly does not have. When the border
    is split between the tones (a busy background, a shot edge, an outlined caption) the
    glyphs are the polarity covering less of the crop: the other one marks the gaps between
    strokes, which surround them. An empty mask when the crop is flat.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(crop[:, :, :3]), cv2.COLOR_RGB2GRAY)
    size = max(3, (crop.shape[0] // 2) | 1)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    light, dark = (
        _hat_strokes(cv2.morphologyEx(grey, operation, disc))
        for operation in (cv2.MORPH_TOPHAT, cv2.MORPH_BLACKHAT)
    )
    _, dark_tone = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    border = np.concatenate([dark_tone[0], dark_tone[-1], dark_tone[:, 0], dark_tone[:, -1]])
    if 0.3 <= border.mean() <= 0.7:
        return min(light, dark, key=np.count_nonzero)
    return dark if border.mean() < 0.5 else light


def _hat_strokes(hat: np.ndarray) -> np.ndarray:
    """Otsu's split of a top-hat image, ``bool``; empty when the top-hat is zero."""
    if not hat.any():
        return np.zeros(hat.shape, bool)
    _, strokes = cv2.threshold(hat, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return strokes.astype(bool)


def stroke_mask(rgb: np.ndarray, corners: np.ndarray, grow: int = 1) -> np.ndarray:
    """Glyph strokes inside a text quadrilateral, ``bool`` the size of `rgb`.

    The quadrilateral is rectified, binarised by :func:`ink`, and the glyph pixels are warped
    back and grown by `grow` pixels to cover anti-aliased edges.
    """
    h, w = rgb.shape[:2]
    crop, matrix = rectify(rgb, corners)
    glyphs = ink(crop).astype(np.uint8)
    back = cv2.warpPerspective(
        glyphs, matrix, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    )
    if grow > 0:
        back = cv2.dilate(back, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    return back.astype(bool)


def is_cjk(text: str) -> bool:
    """Whether most letters of `text` are Han, kana or hangul (scripts written without spaces)."""
    letters = [c for c in text if c.isalpha()]
    cjk = sum(
        1
        for c in letters
        if "\u4e00" <= c <= "\u9fff"
        or "\u3400" <= c <= "\u4dbf"
        or "\u3040" <= c <= "\u30ff"
        or "\uac00" <= c <= "\ud7af"
    )
    return bool(letters) and cjk * 2 > len(letters)


def language(text: str) -> str:
    """BCP 47 language of recognised text: "zh" for Han, "en" for Latin letters, else "".

    The recogniser reads Chinese and English only, so these are the two answers it can give.
    """
    if is_cjk(text):
        return "zh"
    return "en" if any("a" <= c.lower() <= "z" for c in text) else ""


def word_spans(
    crop: np.ndarray, gap_ratio: float = 0.3, characters: int = 0
) -> list[tuple[int, int]]:
    """Column spans ``[start, stop)`` of the words of a rectified, horizontal line crop.

    Args:
        crop: the line, reading left to right.
        gap_ratio: a run of glyph-free columns at least this many times the glyph height
            separates two words (a space is about 0.25-0.35 of the glyph height in Latin fonts;
            letters are 0.05-0.15 apart).
        characters: when > 0, the line is written without spaces (e.g. Chinese) and holds this
            many characters: the glyph extent is cut into that many equal cells, each cut
            moved to the nearest glyph-free column within a quarter cell.

    Returns:
        Spans in crop columns, left to right; one span covering the glyphs when no gap is found,
        none when the crop has no glyphs.
    """
    glyphs = ink(crop)
    columns = glyphs.any(axis=0)
    rows = np.flatnonzero(glyphs.any(axis=1))
    if not columns.any():
        return []
    cols = np.flatnonzero(columns)
    first, last = int(cols[0]), int(cols[-1]) + 1
    if characters > 0:
        cell = (last - first) / characters
        empty = np.flatnonzero(~columns[first:last]) + first
        cuts = [first]
        for k in range(1, characters):
            target = first + k * cell
            near = empty[np.abs(empty - target) <= cell / 4] if empty.size else empty
            cuts.append(int(near[np.argmin(np.abs(near - target))]) if near.size else round(target))
        cuts.append(last)
        return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]
    gap = max(2, gap_ratio * (rows[-1] - rows[0] + 1))
    spans, start, run = [], first, 0
    for x in range(first, last):
        if columns[x]:
            if run >= gap:
                spans.append((start, x - run))
                start = x
            run = 0
        else:
            run += 1
    spans.append((start, last))
    return spans


def span_corners(matrix: np.ndarray, span: tuple[int, int], height: int) -> np.ndarray:
    """Image-pixel corners (4 x 2, clockwise) of columns `span` of a rectified crop."""
    x0, x1 = span
    inside = np.array([[x0, 0], [x1, 0], [x1, height], [x0, height]], np.float32)
    back = cv2.perspectiveTransform(inside[None], np.linalg.inv(matrix))[0]
    return back.astype(np.float32)


def blocks(lines: list[np.ndarray], spacing: float = 1.0) -> list[list[int]]:
    """Group text lines into blocks (paragraphs).

    Two lines join when their angles differ by under 10 degrees, their heights by under a
    factor of 1.6, they overlap along the reading direction, and the gap between them across it
    is at most `spacing` times the smaller height.

    Args:
        lines: 4 x 2 corners per line, clockwise from the top-left.

    Returns:
        Groups of indices into `lines`, each in reading order, groups ordered by their first line.
    """
    parent = list(range(len(lines)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    frames = [_line_frame(c) for c in lines]
    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if _same_block(frames[i], frames[j], lines[j], spacing):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in reading_order(lines):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _line_frame(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """(origin, unit reading direction, length, height, angle) of a line."""
    tl, tr, _, bl = reading_corners(corners)
    along = tr - tl
    length = float(np.linalg.norm(along))
    return (
        tl,
        along / max(length, 1e-6),
        length,
        float(np.linalg.norm(bl - tl)),
        angle_degrees(corners),
    )


def _same_block(a, b, corners_b: np.ndarray, spacing: float) -> bool:
    origin, direction, length, height, angle = a
    _, _, _, height_b, angle_b = b
    if abs((angle - angle_b + 180) % 360 - 180) >= 10:
        return False
    if max(height, height_b) > 1.6 * min(height, height_b):
        return False
    across = np.array([-direction[1], direction[0]])
    rel = reading_corners(corners_b) - origin
    along_b, across_b = rel @ direction, rel @ across
    if along_b.max() <= 0 or along_b.min() >= length:
        return False
    gap = max(across_b.min() - height, -across_b.max(), 0.0)
    return gap <= spacing * min(height, height_b)


def reading_order(quads: list[np.ndarray]) -> list[int]:
    """Indices of text quadrilaterals top to bottom, left to right within a row.

    Quads whose vertical centres are within half the smaller height share a row.
    """
    if not quads:
        return []
    centres = np.array([q.mean(axis=0) for q in quads])
    heights = np.array([max(1.0, float(np.ptp(q[:, 1]))) for q in quads])
    order = list(np.argsort(centres[:, 1], kind="stable"))
    rows: list[list[int]] = [[order[0]]]
    for i in order[1:]:
        row = rows[-1]
        ref = row[0]
        if abs(centres[i, 1] - centres[ref, 1]) <= 0.5 * min(heights[i], heights[ref]):
            row.append(i)
        else:
            rows.append([i])
    return [int(i) for row in rows for i in sorted(row, key=lambda k: centres[k, 0])]


def hull_corners(quads: list[np.ndarray]) -> np.ndarray:
    """Smallest rotated rectangle around several quadrilaterals, 4 x 2 clockwise from top-left."""
    points = np.concatenate(quads).astype(np.float32)
    return order_corners(cv2.boxPoints(cv2.minAreaRect(points)))


def block(lines: Iterable[Region]) -> Region:
    """One region around several lines (a block): rotated hull, mean score, text joined by
    newlines, the lowest recognition confidence."""
    lines = list(lines)
    read = [line for line in lines if line.text]
    return Region(
        hull_corners([line.corners for line in lines]),
        float(np.mean([line.score for line in lines])),
        "\n".join(line.text for line in read),
        min((line.text_score for line in read), default=0.0),
    )


def polygon_mask(shape: tuple[int, int], polygons: list[np.ndarray]) -> np.ndarray:
    """``bool`` mask of the given size with the polygons (N x 2 pixels each) filled."""
    mask = np.zeros(shape, np.uint8)
    if polygons:
        cv2.fillPoly(mask, [np.round(p).astype(np.int32) for p in polygons], 1)
    return mask.astype(bool)
