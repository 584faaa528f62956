"""Face detection around MediaPipe's BlazeFace networks (plain numpy).

The networks run on Triton: ``face_detection_short`` (128x128, faces within ~2 m) and
``face_detection_full`` (192x192, faces up to ~5 m), RGB in -1..1, NHWC. Each answers, per
anchor, 16 regressors (box centre offset, width, height, six key points) and a score logit.
These functions letterbox a picture into the input, decode the anchors into boxes and key
points in picture pixels, and merge overlapping detections by weighted non-maximum suppression
as MediaPipe does.

The six BlazeFace key points are: the subject's right eye, left eye, nose tip, mouth centre,
right ear tragion, left ear tragion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SHORT = ("face_detection_short", 128, ((8, 2), (16, 6)))  # (stride, anchors per cell)
FULL = ("face_detection_full", 192, ((4, 1),))


@dataclass
class Face:
    """One face in picture pixels: box (x, y, w, h), score 0..1, six key points (6, 2)."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray


def anchors(size: int, layers: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Anchor centres ``(n, 2)`` in 0..1 (x, y), in the networks' output order."""
    out = []
    for stride, per_cell in layers:
        cells = size // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, int, int]:
    """Network input ``(1, size, size, 3)`` float32 in -1..1, and (scale, left, top) to map
    network pixels back: ``picture = (network - (left, top)) / scale``."""
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    ih, iw = max(1, round(h * scale)), max(1, round(w * scale))
    top, left = (size - ih) // 2, (size - iw) // 2
    resized = cv2.resize(rgb[..., :3], (iw, ih), interpolation=cv2.INTER_AREA)
    padded = cv2.copyMakeBorder(
        resized, top, size - ih - top, left, size - iw - left, cv2.BORDER_CONSTANT, value=0
    )
    return (padded.astype(np.float32) / 127.5 - 1.0)[None], scale, left, top


def decode(
    regressors: np.ndarray, logits: np.ndarray, size: int, layers, min_score: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes ``(n, 4)`` as x0, y0, x1, y1, scores ``(n,)`` and key points ``(n, 6, 2)`` in
    network pixels for the anchors scoring at least ``min_score``."""
    r = np.asarray(regressors, np.float64).reshape(-1, 16)
    logit = np.clip(np.asarray(logits, np.float64).reshape(-1), -100, 100)
    scores = 1.0 / (1.0 + np.exp(-logit))
    keep = scores >= min_score
    centres = anchors(size, layers)[keep] * size
    r, scores = r[keep], scores[keep]
    cx, cy = centres[:, 0] + r[:, 0], centres[:, 1] + r[:, 1]
    half_w, half_h = r[:, 2] / 2, r[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    keypoints = centres[:, None, :] + r[:, 4:].reshape(-1, 6, 2)
    return boxes, scores, keypoints


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou: float = 0.3
) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """MediaPipe's weighted non-maximum suppression: each cluster of detections overlapping
    the best remaining one by more than ``iou`` becomes their score-weighted average box and
    key points, with the best score."""
    order = np.argsort(-scores)
    remaining = list(order)
    out = []
    while remaining:
        best = remaining[0]
        overlaps = _iou(boxes[best], boxes[remaining]) > iou
        cluster = [remaining[i] for i in np.flatnonzero(overlaps)]
        weights = scores[cluster][:, None]
        box = (boxes[cluster] * weights).sum(0) / weights.sum()
        points = (keypoints[cluster] * weights[:, :, None]).sum(0) / weights.sum()
        out.append((box, float(scores[best]), points))
        remaining = [i for i, o in zip(remaining, overlaps, strict=True) if not o]
    return out


def to_picture(
    boxes: np.ndarray, keypoints: np.ndarray, scale: float, left: int, top: int
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (x0, y0, x1, y1) and key points from network pixels to picture pixels."""
    offset = np.array([left, top], np.float64)
    return (boxes - np.tile(offset, 2)) / scale, (keypoints - offset) / scale


def merge(
    detections: list[tuple[np.ndarray, np.ndarray, np.ndarray]], iou: float = 0.3
) -> list[Face]:
    """Detections (boxes x0, y0, x1, y1; scores; key points) of one or several networks, in
    picture pixels, merged by :func:`weighted_nms` into faces, largest first."""
    boxes = np.concatenate([d[0] for d in detections]).reshape(-1, 4)
    scores = np.concatenate([d[1] for d in detections]).reshape(-1)
    points = np.concatenate([d[2] for d in detections]).reshape(-1, 6, 2)
    faces = [
        Face(np.array([b[0], b[1], b[2] - b[0], b[3] - b[1]]), score, k)
        for b, score, k in weighted_nms(boxes, scores, points, iou)
    ]
    return sorted(faces, key=lambda f: -f.box[2] * f.box[3])


def five_points(keypoints: np.ndarray) -> np.ndarray:
    """The contract's five points (image-left eye, image-right eye, nose tip, image-left and
    image-right mouth corners) from BlazeFace's six. BlazeFace gives the mouth centre only:
    the corners are placed along the eye line, each 0.4 eye distances from the centre (the
    average face's mouth is ~0.8 eye distances wide), so they are an estimate."""
    eyes = keypoints[:2][np.argsort(keypoints[:2, 0])]
    nose, mouth = keypoints[2], keypoints[3]
    half = 0.4 * (eyes[1] - eyes[0])
    return np.stack([eyes[0], eyes[1], nose, mouth - half, mouth + half])


def pose(keypoints: np.ndarray) -> tuple[float, float, float]:
    """Rough (yaw, pitch, roll) in degrees from the six key points.

    Roll is the eye line's angle (clockwise positive, exact for the key points). Yaw comes from
    where the nose sits between the two ears, pitch from where it sits between the eye line and
    the mouth (0.55 of the way for a level face): both are estimates good to ~15 degrees,
    enough to sort frontal from turned faces.
    """
    right_eye, left_eye, nose, mouth, right_ear, left_ear = keypoints
    dx, dy = left_eye - right_eye
    roll = float(np.degrees(np.arctan2(dy, dx)))
    ears = left_ear - right_ear
    span = float(np.hypot(*ears)) or 1.0
    t = float(np.dot(nose - (right_ear + left_ear) / 2, ears) / span) / (span / 2)
    yaw = float(np.degrees(np.arcsin(np.clip(t, -1, 1))))
    eye_mid = (right_eye + left_eye) / 2
    down = mouth - eye_mid
    depth = float(np.dot(down, down)) or 1.0
    u = float(np.dot(nose - eye_mid, down)) / depth
    pitch = float(np.degrees(np.arcsin(np.clip((0.55 - u) / 0.45, -1, 1))))
    return yaw, pitch, roll
