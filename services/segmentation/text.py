"""Text detection and recognition around the PP-OCRv4 networks: plain numpy pre/post-processing.

The networks run on Triton (models ``ppocr_det`` and ``ppocr_rec``); these functions turn an RGB
image into their inputs and their outputs into polygons and text. Conventions follow PaddleOCR:
BGR channel order, detection normalised with ImageNet mean/std, recognition scaled to [-1, 1]
on lines 48 pixels high.
"""

from __future__ import annotations

import cv2
import numpy as np

DET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], np.float32)
REC_HEIGHT = 48


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


def line_crop(rgb: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The text line inside a quadrilateral, rectified (perspective warp) and upright."""
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
    if height >= 1.5 * width:  # vertical text: read it rotated
        crop = np.rot90(crop)
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
