"""EditingService capabilities: gRPC plumbing around the algorithms of this package."""

from __future__ import annotations

import os
import tempfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import grpc
import numpy as np

from common import media, video
from common.admission import MemoryCost
from common.errors import FailedPrecondition, InvalidArgument, ServiceError
from common.provider import CallContext, Provider, capability
from services.editing import convert, erase, inpaint, static_logo, track, video_fill
from vipro.v1 import common_pb2, editing_pb2, segmentation_pb2, segmentation_pb2_grpc

_FITS = {
    editing_pb2.FIT_MODE_UNSPECIFIED: convert.FIT_CONTAIN,
    editing_pb2.FIT_MODE_CONTAIN: convert.FIT_CONTAIN,
    editing_pb2.FIT_MODE_COVER: convert.FIT_COVER,
    editing_pb2.FIT_MODE_STRETCH: convert.FIT_STRETCH,
    editing_pb2.FIT_MODE_PAD: convert.FIT_PAD,
}


@capability("editing.ConvertImage", version="1.0.0", stage="ga", memory=MemoryCost(per_pixel=18))
def convert_image(
    request: editing_pb2.ConvertImageRequest, ctx: CallContext
) -> editing_pb2.ConvertImageResponse:
    """Resize, crop and re-encode an image (area/Lanczos resampling)."""
    pixels = ctx.read_image(request.image, "image")
    background = media.color_tuple(request.background)
    with ctx.stage("convert"):
        if request.HasField("crop"):
            box = request.crop
            try:
                pixels = convert.crop(pixels, box.x, box.y, box.width, box.height)
            except ValueError as exc:
                raise InvalidArgument.field("crop", str(exc)) from None
        fit = _FITS.get(request.fit)
        if fit is None:
            raise InvalidArgument.field("fit", f"unknown fit mode {request.fit}")
        try:
            out = convert.fit_image(pixels, request.width, request.height, fit, background)
        except ValueError as exc:
            raise InvalidArgument.field("width", str(exc)) from None
        if out.shape[2] == 4 and request.output.format == common_pb2.IMAGE_FORMAT_JPEG:
            out = media.flatten(out, background)
    image = ctx.image_output(out, request.output)
    return editing_pb2.ConvertImageResponse(
        image=image, width=out.shape[1], height=out.shape[0], metadata=ctx.metadata()
    )


TEXT_TARGETS = {
    editing_pb2.ERASE_TARGET_TEXT: "text",
    editing_pb2.ERASE_TARGET_SUBTITLE: "subtitle",
    editing_pb2.ERASE_TARGET_LOGO: "logo",
}


def text_label(rect: erase.Rect, shape: tuple[int, int], wanted: set[int]) -> str | None:
    """Which of the ``wanted`` text targets a line in a frame of ``shape`` is, if any: any line
    is TEXT, caption-placed lines are SUBTITLE, corner-placed lines are LOGO."""
    for target in sorted(wanted):
        if (
            target == editing_pb2.ERASE_TARGET_TEXT
            or (target == editing_pb2.ERASE_TARGET_SUBTITLE and erase.is_caption(rect, shape))
            or (target == editing_pb2.ERASE_TARGET_LOGO and erase.near_corner(rect, shape))
        ):
            return TEXT_TARGETS[target]
    return None


def detect_text(
    ctx: CallContext, image: common_pb2.Image, shape: tuple[int, int], wanted: set[int]
) -> tuple[np.ndarray, list[tuple[erase.Rect, str, np.ndarray]]]:
    """Glyph strokes and the lines that ``wanted`` targets select (:func:`text_label`), by
    segmentation.DetectText. Returns (``bool`` stroke mask, [(box, label, polygon)])."""
    found = ctx.call(
        segmentation_pb2_grpc.SegmentationServiceStub,
        "DetectText",
        segmentation_pb2.DetectTextRequest(
            image=image,
            granularity=segmentation_pb2.TEXT_GRANULARITY_LINE,
            mask_mode=segmentation_pb2.TEXT_MASK_MODE_STROKES,
        ),
    )
    lines = []
    for region in found.regions:
        b = region.box
        rect = erase.clip_box(b.x, b.y, b.width, b.height, shape)
        label = text_label(rect, shape, wanted)
        if label is not None and not rect.empty:
            polygon = np.array([[p.x, p.y] for p in region.polygon.points], np.float32)
            lines.append((rect, label, polygon))
    if not lines:
        return np.zeros(shape, bool), lines
    return ctx.read_mask(found.mask, "DetectText.mask", shape) > 0, lines


def text_targets(
    ctx: CallContext,
    image: common_pb2.Image,
    shape: tuple[int, int],
    wanted: set[int],
    extra: int,
) -> tuple[np.ndarray, list[common_pb2.Box]]:
    """Glyph strokes of the selected text lines (:func:`detect_text`), grown by
    :data:`erase.HALO_FRACTION` of the line height (outlines and shadows) plus ``extra``
    pixels. Returns (``bool`` mask, labelled boxes)."""
    strokes, lines = detect_text(ctx, image, shape, wanted)
    if not lines:
        return strokes, []
    selected = np.zeros(shape, np.uint8)
    for _, _, polygon in lines:
        cv2.fillPoly(selected, [np.round(polygon).astype(np.int32)], 1)
    # Outlines, shadows and glow around glyphs scale with the type size.
    halo = max(round(erase.HALO_FRACTION * min(r.x1 - r.x0, r.y1 - r.y0)) for r, _, _ in lines)
    boxes = [
        common_pb2.Box(x=r.x0, y=r.y0, width=r.x1 - r.x0, height=r.y1 - r.y0, label=label)
        for r, label, _ in lines
    ]
    # A detector's polygon may cut the last letter's edge: strokes within the halo count.
    return erase.grow(strokes & erase.grow(selected > 0, halo + extra), halo + extra), boxes


def person_target(
    ctx: CallContext, image: common_pb2.Image, shape: tuple[int, int]
) -> tuple[np.ndarray, list[common_pb2.Box]]:
    """Mask and boxes of the people segmentation.SegmentPerson finds."""
    found = ctx.call(
        segmentation_pb2_grpc.SegmentationServiceStub,
        "SegmentPerson",
        segmentation_pb2.SegmentPersonRequest(
            image=image,
            cutout=segmentation_pb2.CutoutOptions(forms=[segmentation_pb2.CUTOUT_FORM_MASK]),
        ),
    )
    if not found.people:
        return np.zeros(shape, bool), []
    mask = ctx.read_mask(found.cutout.mask, "SegmentPerson.mask", shape) > 0
    boxes = [common_pb2.Box(label="person", score=p.score) for p in found.people]
    for box, person in zip(boxes, found.people, strict=True):
        box.x, box.y, box.width, box.height = (
            person.box.x,
            person.box.y,
            person.box.width,
            person.box.height,
        )
    return mask, boxes


def region_mask(
    ctx: CallContext,
    region: editing_pb2.EraseRegion,
    image: common_pb2.Image,
    shape: tuple[int, int],
) -> tuple[np.ndarray, list[common_pb2.Box]]:
    """The caller's mask and boxes plus the detected targets, grown by ``dilate_pixels``
    (detected text: its halo plus ``dilate_pixels``, by default :data:`erase.TEXT_DILATE`).

    Raises:
        InvalidArgument: the region names nothing to erase, or its mask is not the image's size.
    """
    targets = set(region.targets) - {editing_pb2.ERASE_TARGET_UNSPECIFIED}
    if not (region.HasField("mask") or region.boxes or targets):
        raise InvalidArgument.field(
            "region", "names nothing to erase: give a mask, boxes or targets"
        )
    hole = caller_mask(ctx, region, shape)
    detections: list[common_pb2.Box] = []
    with ctx.stage("detect"):
        if targets & set(TEXT_TARGETS):
            extra = region.dilate_pixels or erase.TEXT_DILATE
            found, boxes = text_targets(ctx, image, shape, targets & set(TEXT_TARGETS), extra)
            hole |= found
            detections += boxes
        if editing_pb2.ERASE_TARGET_PERSON in targets:
            found, boxes = person_target(ctx, image, shape)
            hole |= erase.grow(found, region.dilate_pixels or erase.DEFAULT_DILATE)
            detections += boxes
    return hole, detections


def caller_mask(
    ctx: CallContext, region: editing_pb2.EraseRegion, shape: tuple[int, int]
) -> np.ndarray:
    """The caller's mask and boxes (clipped to the frame), grown by ``dilate_pixels``."""
    hole = np.zeros(shape, bool)
    if region.HasField("mask"):
        hole |= ctx.read_mask(region.mask, "region.mask", shape) > 0
    rects = [erase.clip_box(b.x, b.y, b.width, b.height, shape) for b in region.boxes]
    hole |= erase.box_mask((r for r in rects if not r.empty), shape)
    return erase.grow(hole, region.dilate_pixels or erase.DEFAULT_DILATE)


def fill(rgb: np.ndarray, hole: np.ndarray, method: int) -> np.ndarray:
    """Fill ``hole`` of ``rgb`` by the requested ``FillMethod``.

    Raises:
        FailedPrecondition: FILL_METHOD_MODEL, which needs an inpainting model this deployment
            does not have.
    """
    if method == editing_pb2.FILL_METHOD_TELEA:
        return inpaint.fill_telea(rgb, hole)
    if method == editing_pb2.FILL_METHOD_MODEL:
        raise FailedPrecondition(
            "FILL_METHOD_MODEL needs an inpainting model (e.g. LaMa) in the model repository; "
            "this deployment has none. Use FILL_METHOD_PATCHMATCH.",
            [("MODEL", "inpainting")],
        )
    return inpaint.fill_patchmatch(rgb, hole)


@capability("editing.EraseImage", version="1.0.0", memory=MemoryCost(per_pixel=280))
def erase_image(
    request: editing_pb2.EraseImageRequest, ctx: CallContext
) -> editing_pb2.EraseImageResponse:
    """Erase what a mask, boxes or detected targets cover; fill by PatchMatch or Telea."""
    pixels = ctx.read_image(request.image, "image")
    rgb = np.ascontiguousarray(pixels[..., :3])
    shape = rgb.shape[:2]
    hole, detections = region_mask(ctx, request.region, request.image, shape)
    with ctx.stage("fill"):
        out = fill(rgb, hole, request.method)
    if pixels.shape[2] == 4:  # keep the caller's alpha
        out = np.dstack([out, pixels[..., 3]])
    png = common_pb2.OutputOptions(
        format=common_pb2.IMAGE_FORMAT_PNG, delivery=request.output.delivery
    )
    return editing_pb2.EraseImageResponse(
        image=ctx.image_output(out, request.output),
        mask=common_pb2.Mask(image=ctx.image_output(hole.astype(np.uint8) * 255, png)),
        detections=detections,
        metadata=ctx.metadata(),
    )


LOOKAHEAD_SECONDS = 1.0  # future frames held for temporal filling (bounds memory)


def encoding_of(request: common_pb2.VideoEncoding) -> video.Encoding:
    """The output encoding a request asks for (defaults: h264, crf 20, veryfast, mp4)."""
    container = request.container or ("webm" if request.codec == "vp9" else "mp4")
    try:
        return video.Encoding(
            codec=request.codec or "h264",
            crf=request.crf or video.DEFAULT_CRF,
            preset=request.preset or video.DEFAULT_PRESET,
            container=container,
        )
    except ValueError as exc:
        raise InvalidArgument.field("encoding", str(exc)) from None


def jpeg(rgb: np.ndarray) -> common_pb2.Image:
    """``uint8`` RGB as an inline JPEG (quality 92) for a detector."""
    _, data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    return common_pb2.Image(inline=data.tobytes(), media_type="image/jpeg")


def static_logos(data: bytes, info: video.VideoInfo, start: float, end: float) -> np.ndarray:
    """``bool`` mask of the static logos (:mod:`static_logo`) over frames sampled evenly
    between ``start`` and ``end`` seconds (the end of the video at most)."""
    length = info.duration or (info.frames / info.fps if info.fps else 0.0)
    stop = min(end, length)
    times = [start] if stop <= start else list(np.linspace(start, stop, static_logo.SAMPLES, False))
    edges = static_logo.EdgePersistence((info.height, info.width))
    for rgb, _ in video.frames_at(data, times):
        edges.add(rgb)
    return static_logo.find_logos(edges.map())[0]


class Sampler:
    """What to erase in sampled frames (one in :data:`track.DETECT_EVERY`): text lines by
    segmentation.DetectText, people by segmentation.SegmentPerson. Caption-only jobs search
    the caption band, which shrinks to where captions were seen and is widened again every
    tenth sample.

    Args:
        ctx: the call, for the detections' own calls.
        wanted: the EraseTarget values asked for.
        shape: frame (height, width).
        dilate: the caller's ``dilate_pixels`` (0 for the defaults).
    """

    def __init__(self, ctx: CallContext, wanted: set[int], shape: tuple[int, int], dilate: int):
        self.ctx, self.wanted, self.shape, self.dilate = ctx, wanted, shape, dilate
        self.samples: list[list[track.Region]] = []

    def detect(self, rgb: np.ndarray) -> list[track.Region]:
        """Regions to erase in one sampled frame."""
        found = []
        if self.wanted & set(TEXT_TARGETS):
            found += self._text(rgb)
        if editing_pb2.ERASE_TARGET_PERSON in self.wanted:
            mask, boxes = person_target(self.ctx, jpeg(rgb), self.shape)
            rects = [erase.clip_box(b.x, b.y, b.width, b.height, self.shape) for b in boxes]
            found += track.person_regions(mask, rects, self.dilate or erase.DEFAULT_DILATE)
        self.samples.append(found)
        return found

    def _text(self, rgb: np.ndarray) -> list[track.Region]:
        if self.wanted & set(TEXT_TARGETS) == {editing_pb2.ERASE_TARGET_LOGO}:
            return self._corner_text(rgb)
        top, bottom = 0, self.shape[0]
        if self.wanted == {editing_pb2.ERASE_TARGET_SUBTITLE}:
            recent = self.samples[-30:] if len(self.samples) % 10 else []
            top, bottom = track.caption_band(recent, self.shape)
        crop = rgb[top:bottom]
        everything = {editing_pb2.ERASE_TARGET_TEXT}
        strokes, lines = detect_text(self.ctx, jpeg(crop), crop.shape[:2], everything)
        full = np.zeros(self.shape, bool)
        full[top:bottom] = strokes
        rects = []
        for r, _, _ in lines:
            placed = erase.Rect(r.x0, r.y0 + top, r.x1, r.y1 + top)
            label = text_label(placed, self.shape, self.wanted & set(TEXT_TARGETS))
            if label is not None:
                rects.append((placed, label))
        return track.text_regions(full, rects, self.dilate or erase.TEXT_DILATE)

    def _corner_text(self, rgb: np.ndarray) -> list[track.Region]:
        """Logo text, searched in the frame's corners only (:func:`track.corner_mosaic`)."""
        mosaic, tiles = track.corner_mosaic(rgb)
        everything = {editing_pb2.ERASE_TARGET_TEXT}
        strokes, lines = detect_text(self.ctx, jpeg(mosaic), mosaic.shape[:2], everything)
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


# Per frame pixel: the editing service peaked at 576 MiB on a 720p clip (bench erase, table 4).
@capability("editing.EraseVideo", version="1.0.0", memory=MemoryCost(per_pixel=650))
def erase_video(
    request: editing_pb2.EraseVideoRequest, ctx: CallContext
) -> editing_pb2.EraseVideoResponse:
    """Erase caller regions and tracked text from every frame; fill from neighbouring frames."""
    data = ctx.read_bytes(request.video, "video")
    encoding = encoding_of(request.encoding)
    region = request.region
    targets = set(region.targets) - {editing_pb2.ERASE_TARGET_UNSPECIFIED}
    if not (region.HasField("mask") or region.boxes or targets):
        raise InvalidArgument.field(
            "region", "names nothing to erase: give a mask, boxes or targets"
        )
    start = request.time_range.start_seconds
    end = request.time_range.end_seconds or float("inf")
    if end <= start:
        raise InvalidArgument.field("time_range", "end_seconds must be after start_seconds")
    with video.VideoReader(data, "video") as reader, tempfile.TemporaryDirectory() as tmp:
        info = reader.info
        ctx.admit(info.width * info.height, "video frames")
        shape = (info.height, info.width)
        fixed = caller_mask(ctx, region, shape)
        if editing_pb2.ERASE_TARGET_LOGO in targets:
            grown = region.dilate_pixels or erase.DEFAULT_DILATE
            fixed |= erase.grow(static_logos(data, info, start, end), grown)
        out_path = os.path.join(tmp, f"out.{encoding.container}")
        writer = video.VideoWriter(out_path, reader, encoding)
        masks = None
        if request.return_mask_video:
            masks = video.VideoWriter(
                os.path.join(tmp, f"mask.{encoding.container}"), reader, encoding
            )
        sampler = Sampler(ctx, targets, shape, region.dilate_pixels) if targets else None
        motion = video_fill.MotionEstimator()
        filler = video_fill.TemporalFiller(round(LOOKAHEAD_SECONDS * (info.fps or 25)))
        to_shot, shot, edited, count = np.eye(3), 0, 0, 0
        pending: list[video.Frame] = []
        # Frames up to a sampled frame wait for its detection, which runs in a worker while
        # the frames of the sample before are filled.
        waiting: deque[tuple[list[video.Frame], Future]] = deque()
        previous: list[track.Region] = []

        def emit(finished: list[video_fill.Slot]) -> None:
            nonlocal edited
            for slot in finished:
                writer.write(slot.filled, slot.tag.pts)
                if masks is not None:
                    masks.write(
                        np.repeat(slot.hole[..., None] * 255, 3, axis=2).astype(np.uint8),
                        slot.tag.pts,
                    )
                edited += int(slot.hole.any())

        def release(frames: list[video.Frame], boxes: list[track.Region]) -> None:
            nonlocal to_shot, shot
            for frame in frames:
                hole = np.zeros(shape, bool)
                if start <= frame.seconds < end:
                    hole = fixed | track.region_mask(shape, boxes)
                step, cut = motion.update(frame.rgb, hole)
                if cut and frame.index > 0:
                    shot, to_shot = shot + 1, np.eye(3)
                elif frame.index > 0:
                    to_shot = to_shot @ np.linalg.inv(step)
                emit(filler.push(video_fill.Slot(frame.rgb, hole, to_shot.copy(), shot, frame)))

        def settle() -> None:
            nonlocal previous
            frames, detection = waiting.popleft()
            boxes = detection.result()
            release(frames, previous + boxes)
            previous = boxes

        with ctx.stage("erase"), ThreadPoolExecutor(1) as detector:
            for frame in reader.frames(on_audio=writer.mux_audio):
                if ctx.cancelled():
                    raise ServiceError("the job was cancelled", code=grpc.StatusCode.CANCELLED)
                pending.append(frame)
                count += 1
                if sampler is None:
                    release(pending, [])
                    pending = []
                elif frame.index % track.DETECT_EVERY == 0:
                    waiting.append((pending, detector.submit(sampler.detect, frame.rgb)))
                    pending = []
                    while len(waiting) > 1:
                        settle()
                if info.frames:
                    ctx.report_progress(min(0.99, count / info.frames), "erase")
            while waiting:
                settle()
            release(pending, previous)
            emit(filler.flush())
            writer.close()
            if masks is not None:
                masks.close()
        with ctx.stage("encode"):
            with open(out_path, "rb") as f:
                result = ctx.deliver(
                    f.read(), writer.media_type, common_pb2.DELIVERY_UNSPECIFIED, common_pb2.Video
                )
            mask_video = None
            if masks is not None:
                with open(os.path.join(tmp, f"mask.{encoding.container}"), "rb") as f:
                    mask_video = ctx.deliver(
                        f.read(),
                        masks.media_type,
                        common_pb2.DELIVERY_UNSPECIFIED,
                        common_pb2.Video,
                    )
    ctx.report_progress(1.0, "done")
    return editing_pb2.EraseVideoResponse(
        video=result,
        mask_video=mask_video,
        frames=count,
        frames_edited=edited,
        metadata=ctx.metadata(),
    )


def provider() -> Provider:
    """The editing service process."""
    return Provider("editing", [convert_image, erase_image, erase_video])
