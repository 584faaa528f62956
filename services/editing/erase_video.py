"""editing.EraseVideo: erase caller regions, tracked text and people, and static logos from
every frame, filling from neighbouring frames (:mod:`.video_fill`), on the shared video runner.

:class:`Sampler` finds what to erase in one frame of every :data:`track.DETECT_EVERY`;
:class:`EraseFrames` is the runner's frame processor: it holds the frames up to a sampled
frame until that frame's detection (run in a worker while earlier frames are filled) is back,
then fills them through a :class:`video_fill.TemporalFiller` with one second of look-ahead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import numpy as np

from common import adapters, video
from common.admission import MemoryCost
from common.provider import CallContext, capability
from common.video_runner import MAIN_TRACK, FrameProcessor, Output, VideoRunner
from services.editing import erase, erase_targets, static_logo, track, video_fill
from services.editing.erase_targets import EVERY_LINE, TEXT_TARGETS
from vipro.v1 import editing_pb2

LOOKAHEAD_SECONDS = 1.0  # future frames held for temporal filling (bounds memory)
MASK_TRACK = "mask"


def static_logos(data: bytes, info: video.VideoInfo, span: video.TimeRange) -> np.ndarray:
    """``bool`` mask of the static logos (:mod:`static_logo`) over frames sampled evenly
    across ``span`` (the end of the video at most)."""
    length = info.duration or (info.frames / info.fps if info.fps else 0.0)
    stop = min(span.end, length)
    times = (
        [span.start]
        if stop <= span.start
        else list(np.linspace(span.start, stop, static_logo.SAMPLES, False))
    )
    edges = static_logo.EdgePersistence((info.height, info.width))
    for rgb, _ in video.frames_at(data, times):
        edges.add(rgb)
    return static_logo.find_logos(edges.map())[0]


class Sampler:
    """What to erase in sampled frames: text lines by segmentation.DetectText, people by
    segmentation.SegmentPerson. Caption-only jobs search the caption band, which shrinks to
    where captions were seen and is widened again every tenth sample.

    Args:
        ctx: the call, for the detections' own calls.
        targets: the EraseTarget values asked for.
        shape: frame (height, width).
        dilate: the caller's ``dilate_pixels`` (0 for the defaults).
    """

    def __init__(self, ctx: CallContext, targets: set[int], shape: tuple[int, int], dilate: int):
        self.ctx, self.targets, self.shape, self.dilate = ctx, targets, shape, dilate
        self.samples: list[list[track.Region]] = []

    def detect(self, rgb: np.ndarray) -> list[track.Region]:
        """Regions to erase in one sampled frame."""
        found = []
        if self.targets & set(TEXT_TARGETS):
            found += self._text(rgb)
        if editing_pb2.ERASE_TARGET_PERSON in self.targets:
            mask, boxes = erase_targets.person_target(self.ctx, erase_targets.jpeg(rgb), self.shape)
            rects = [erase.clip_box(b.x, b.y, b.width, b.height, self.shape) for b in boxes]
            found += track.person_regions(mask, rects, self.dilate or erase.DEFAULT_DILATE)
        self.samples.append(found)
        return found

    def _text(self, rgb: np.ndarray) -> list[track.Region]:
        if self.targets & set(TEXT_TARGETS) == {editing_pb2.ERASE_TARGET_LOGO}:
            return self._corner_text(rgb)
        top, bottom = 0, self.shape[0]
        if self.targets == {editing_pb2.ERASE_TARGET_SUBTITLE}:
            recent = self.samples[-30:] if len(self.samples) % 10 else []
            top, bottom = track.caption_band(recent, self.shape)
        crop = rgb[top:bottom]
        strokes, lines = erase_targets.detect_text(
            self.ctx, erase_targets.jpeg(crop), crop.shape[:2], EVERY_LINE
        )
        full = np.zeros(self.shape, bool)
        full[top:bottom] = strokes
        rects = []
        for r, _, _ in lines:
            placed = erase.Rect(r.x0, r.y0 + top, r.x1, r.y1 + top)
            label = erase_targets.text_label(placed, self.shape, self.targets & set(TEXT_TARGETS))
            if label is not None:
                rects.append((placed, label))
        return track.text_regions(full, rects, self.dilate or erase.TEXT_DILATE)

    def _corner_text(self, rgb: np.ndarray) -> list[track.Region]:
        """Logo text, searched in the frame's corners only (:func:`track.corner_mosaic`)."""
        mosaic, tiles = track.corner_mosaic(rgb)
        strokes, lines = erase_targets.detect_text(
            self.ctx, erase_targets.jpeg(mosaic), mosaic.shape[:2], EVERY_LINE
        )
        full = np.zeros(self.shape, bool)
        for tile in tiles:
            s = tile.source
            full[s.y0 : s.y1, s.x0 : s.x1] = strokes[
                tile.y : tile.y + s.y1 - s.y0, tile.x : tile.x + s.x1 - s.x0
            ]
        rects = []
        for r, _, _ in lines:
            for tile in tiles:
                if tile.holds(r):
                    placed = tile.to_frame(r)
                    if erase.near_corner(placed, self.shape) and not placed.empty:
                        rects.append((placed, TEXT_TARGETS[editing_pb2.ERASE_TARGET_LOGO]))
        return track.text_regions(full, rects, self.dilate or erase.TEXT_DILATE)


class EraseFrames(FrameProcessor):
    """The EraseVideo frame processor: hole per frame (``fixed`` plus the regions detected in
    the sampled frames on either side), camera motion, temporal filling.

    Args:
        fixed: ``bool`` mask erased in every active frame (caller regions, static logos).
        sampler: detects moving targets in sampled frames; None when only ``fixed`` is erased.
        lookahead: future frames the filler may copy from.
        with_mask: also output each frame's hole on the "mask" track.
    """

    def __init__(self, fixed: np.ndarray, sampler: Sampler | None, lookahead: int, with_mask: bool):
        self.fixed, self.sampler, self.with_mask = fixed, sampler, with_mask
        self.motion = video_fill.MotionEstimator()
        self.filler = video_fill.TemporalFiller(lookahead)
        self.edited = 0
        self._to_shot, self._shot = np.eye(3), 0
        self._pending: list[tuple[video.Frame, bool]] = []
        # Frames up to a sampled frame wait for its detection, which runs in a worker while
        # the frames of the sample before are filled.
        self._waiting: deque[tuple[list[tuple[video.Frame, bool]], Future]] = deque()
        self._previous: list[track.Region] = []
        self._detector = ThreadPoolExecutor(1) if sampler is not None else None

    def push(self, frame: video.Frame, active: bool) -> Iterator[Output]:
        if self.sampler is None:
            return self._emit(self._release([(frame, active)], []))
        self._pending.append((frame, active))
        if frame.index % track.DETECT_EVERY:
            return self._emit([])
        assert self._detector is not None
        self._waiting.append((self._pending, self._detector.submit(self.sampler.detect, frame.rgb)))
        self._pending = []
        finished: list[video_fill.Slot] = []
        while len(self._waiting) > 1:
            finished += self._settle()
        return self._emit(finished)

    def flush(self) -> Iterator[Output]:
        finished: list[video_fill.Slot] = []
        while self._waiting:
            finished += self._settle()
        finished += self._release(self._pending, self._previous)
        self._pending = []
        return self._emit(finished + self.filler.flush())

    def close(self) -> None:
        if self._detector is not None:
            self._detector.shutdown(cancel_futures=True)

    def _settle(self) -> list[video_fill.Slot]:
        """Fill the frames of the oldest sample, between its detections and the one before."""
        frames, detection = self._waiting.popleft()
        boxes = detection.result()
        finished = self._release(frames, self._previous + boxes)
        self._previous = boxes
        return finished

    def _release(
        self, frames: list[tuple[video.Frame, bool]], boxes: list[track.Region]
    ) -> list[video_fill.Slot]:
        """Push ``frames`` into the filler with their holes; the slots it finishes."""
        finished = []
        for frame, active in frames:
            shape = frame.rgb.shape[:2]
            hole = self.fixed | track.region_mask(shape, boxes) if active else np.zeros(shape, bool)
            step, cut = self.motion.update(frame.rgb, hole)
            if cut and frame.index > 0:
                self._shot, self._to_shot = self._shot + 1, np.eye(3)
            elif frame.index > 0:
                self._to_shot = self._to_shot @ np.linalg.inv(step)
            slot = video_fill.Slot(frame.rgb, hole, self._to_shot.copy(), self._shot, frame)
            finished += self.filler.push(slot)
        return finished

    def _emit(self, slots: list[video_fill.Slot]) -> Iterator[Output]:
        """The outputs of finished slots, one at a time: a mask frame is made only when the
        runner is about to write it (30 at once at 1080p held 180 MB)."""
        for slot in slots:
            frames = {MAIN_TRACK: slot.filled}
            if self.with_mask:
                frames[MASK_TRACK] = cv2.cvtColor(
                    slot.hole.astype(np.uint8) * 255, cv2.COLOR_GRAY2RGB
                )
            self.edited += int(slot.hole.any())
            yield Output(slot.tag.pts, frames)


# Per frame pixel: the editing service peaked at 576 MiB on a 720p clip (bench erase, table 4).
@capability("editing.EraseVideo", version="1.0.0", memory=MemoryCost(per_pixel=650))
def erase_video(
    request: editing_pb2.EraseVideoRequest, ctx: CallContext
) -> editing_pb2.EraseVideoResponse:
    """Erase caller regions and tracked text from every frame; fill from neighbouring frames."""
    data = ctx.read_bytes(request.video, "video")
    encoding = adapters.encoding(request.encoding)
    region = request.region
    targets = erase_targets.wanted(region)
    span = adapters.time_range(request.time_range)
    tracks = (MAIN_TRACK, MASK_TRACK) if request.return_mask_video else (MAIN_TRACK,)
    with VideoRunner(ctx, data, "video", encoding, span, tracks) as runner:
        info = runner.info
        shape = (info.height, info.width)
        fixed = erase_targets.caller_mask(ctx, region, shape)
        if editing_pb2.ERASE_TARGET_LOGO in targets:
            grown = region.dilate_pixels or erase.DEFAULT_DILATE
            fixed |= erase.grow(static_logos(data, info, span), grown)
        sampler = Sampler(ctx, targets, shape, region.dilate_pixels) if targets else None
        lookahead = round(LOOKAHEAD_SECONDS * (info.fps or 25))
        processor = EraseFrames(fixed, sampler, lookahead, request.return_mask_video)
        result = runner.run(processor, stage="erase")
    return editing_pb2.EraseVideoResponse(
        video=result.videos[MAIN_TRACK],
        mask_video=result.videos.get(MASK_TRACK),
        frames=result.frames,
        frames_edited=processor.edited,
        metadata=ctx.metadata(),
    )
