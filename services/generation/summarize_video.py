"""generation.SummarizeVideo: shots, keyframes, a storyboard and a skim of a video
(:mod:`.summary`), on the shared video runner.

One analysis pass (:class:`Analysis`) measures every frame and finds the transitions
(TransNetV2 on Triton with the flash filter, the classical cut and wipe detectors:
``common.shots``).
Then a pass over the keyframe candidates (one per shot, more in long shots: kept after every
shot has one, and only where they show another view) looks for faces and text in them and
drops near-duplicates;
one over the chosen keyframes encodes them and the storyboard; and for a skim, one over the
chosen spans (``common.splice``).

``scene_threshold`` is on PySceneDetect's ContentDetector scale (default 27). It is the cut
detector's threshold as is, and scales the network's probability threshold in proportion
(27 -> 0.5, 13.5 -> 0.25, 54 -> 0.95 at most): lower finds more transitions of both kinds.
"""

from __future__ import annotations

import math
import os
import tempfile

import cv2
import numpy as np

from common import adapters, shots, splice, video
from common.admission import MemoryCost
from common.errors import InvalidArgument
from common.media import encode_image
from common.provider import CallContext, capability
from common.video_runner import FrameProcessor, Output, VideoRunner
from services.generation import summary
from vipro.v1 import common_pb2, generation_pb2, segmentation_pb2

DEFAULT_THRESHOLD = 27.0
DEFAULT_MIN_SHOT_SECONDS = 0.5
DEFAULT_MAX_KEYFRAMES = 20
SKIM_SHARE, SKIM_LONGEST = 0.15, 60.0
"""Default skim: this share of the video, at most this many seconds."""
PROBE_WIDTH = 640
"""Width keyframe candidates are reduced to before faces and text are looked for."""
TILE_WIDTH = 320
"""Width of a storyboard tile in pixels."""
NETWORK_THRESHOLD = (0.05, 0.95)
"""Range the network's probability threshold is kept in when scaled by scene_threshold."""

STORYBOARD_MODES = {generation_pb2.SUMMARY_MODE_STORYBOARD, generation_pb2.SUMMARY_MODE_FULL}
SKIM_MODES = {generation_pb2.SUMMARY_MODE_SKIM, generation_pb2.SUMMARY_MODE_FULL}
ANALYSIS_SHARE = 0.8
"""Share of the job's progress the analysis pass stands for."""


def detectors(ctx: CallContext, scene_threshold: float) -> list[shots.Detector]:
    """TransNetV2 on Triton (with its flash filter) and the classical cut detector, both set
    by ``scene_threshold`` (ContentDetector scale, 0 for the default), and the wipe detector."""
    threshold = scene_threshold or DEFAULT_THRESHOLD
    probability = float(np.clip(0.5 * threshold / DEFAULT_THRESHOLD, *NETWORK_THRESHOLD))

    def score(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with ctx.stage("infer"):
            out = ctx.inference.infer(
                "transnetv2", {"frames": windows}, ["single", "many"], timeout=ctx.remaining()
            )
        return out["single"], out["many"]

    return [
        shots.TransNetDetector(score, probability),
        shots.CutDetector(threshold),
        shots.WipeDetector(),
    ]


class Analysis(FrameProcessor):
    """The analysis pass: every frame in the time range measured (:class:`summary.FrameMeasures`)
    and pushed through the shot detectors; nothing is written."""

    def __init__(self, found_by: list[shots.Detector]):
        self.detectors = found_by
        self.measures = summary.FrameMeasures()
        self.found: list[shots.Transition] = []
        self._previous: shots.Features | None = None
        self.last_seconds = 0.0  # of the last frame decoded, in the range or not

    def push(self, frame: video.Frame, active: bool) -> list[Output]:
        self.last_seconds = frame.seconds
        if active:
            looks = shots.features(len(self.measures), frame.rgb)
            motion = shots.aligned_distance(self._previous, looks) if self._previous else 0.0
            self.measures.add(frame.seconds, frame.rgb, motion)
            for detector in self.detectors:
                self.found += detector.push(looks)
            self._previous = looks
        return []

    def flush(self) -> list[Output]:
        for detector in self.detectors:
            self.found += detector.flush()
        return []

    @property
    def transitions(self) -> list[shots.Transition]:
        return shots.merge(self.found)


def evidence(ctx: CallContext, rgb: np.ndarray) -> summary.Evidence:
    """Faces and text in one frame, as shares of its area (segmentation.DetectFaces and
    DetectText on a copy :data:`PROBE_WIDTH` wide)."""
    small = _resized(rgb, PROBE_WIDTH)
    data, media_type = encode_image(small, common_pb2.IMAGE_FORMAT_JPEG, 90)
    image = common_pb2.Image(inline=data, media_type=media_type)
    area = float(small.shape[0] * small.shape[1])
    faces = ctx.call("segmentation.DetectFaces", image=image)
    text = ctx.call(
        "segmentation.DetectText",
        image=image,
        granularity=segmentation_pb2.TEXT_GRANULARITY_LINE,
        recognize=False,
    )
    return summary.Evidence(
        faces=sum(f.box.width * f.box.height for f in faces.faces) / area,
        text=sum(r.box.width * r.box.height for r in text.regions) / area,
    )


def _resized(rgb: np.ndarray, width: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if w <= width:
        return rgb
    return cv2.resize(rgb, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)


# Per frame pixel: decoded frame, its RGB copy and the measures' reductions.
@capability(
    "generation.SummarizeVideo",
    version="1.0.0",
    models=("transnetv2",),
    memory=MemoryCost(per_pixel=40, fixed=64 << 20),
)
def summarize_video(
    request: generation_pb2.SummarizeVideoRequest, ctx: CallContext
) -> generation_pb2.SummarizeVideoResponse:
    """Shots with importance scores, keyframes, and (as the mode asks) a storyboard and a
    skim of one video."""
    data = ctx.read_bytes(request.video, "video")
    mode = request.mode or generation_pb2.SUMMARY_MODE_KEYFRAMES
    span = adapters.time_range(request.time_range)
    encoding = adapters.encoding(request.encoding)
    with VideoRunner(ctx, data, "video", time_range=span, tracks=()) as runner:
        info = runner.info
        analysis = Analysis(detectors(ctx, request.scene_threshold))
        note = runner.run(analysis, stage="analyse", share=ANALYSIS_SHARE).note
    measures = analysis.measures
    if not len(measures):
        raise InvalidArgument.field("time_range", "holds no frame of the video")
    fps = info.fps or len(measures) / max(1e-6, measures.end_seconds(25.0) - measures.seconds[0])
    shortest = (request.min_shot_seconds or DEFAULT_MIN_SHOT_SECONDS) * fps
    min_frames = max(1, math.ceil(shortest - 1e-9))  # 0.5 s at 25 fps is 13 frames, not 12
    found = summary.without_fades(
        summary.split(analysis.transitions, len(measures), min_frames), measures.brightness
    )
    most = request.max_keyframes or DEFAULT_MAX_KEYFRAMES

    with ctx.stage("keyframes"):
        offered = summary.candidates(measures, found)
        times = [measures.seconds[c.index] for c in offered]
        looks, probes = {}, [summary.Evidence()] * len(found)
        for c, (rgb, _) in zip(offered, video.frames_at(data, times), strict=True):
            ctx.check_cancelled()
            looks[c.index] = shots.features(c.index, rgb)
            if not c.extra:
                probes[c.shot] = evidence(ctx, rgb)
        scores = summary.shot_scores(measures, found, probes)
        chosen = summary.choose_keyframes(offered, scores, looks, most)
    ctx.report_progress(0.9, "keyframes")

    # What was decoded, not the header: a header may claim ten hours.
    step = 1.0 / fps
    response = generation_pb2.SummarizeVideoResponse(duration_seconds=analysis.last_seconds + step)
    times = [*measures.seconds, measures.end_seconds(fps)]
    for shot, score in zip(found, scores, strict=True):
        seconds = common_pb2.TimeRange(start_seconds=times[shot.first], end_seconds=times[shot.end])
        response.shots.add(range=seconds, score=float(score))
    tiles = []
    chosen_times = [measures.seconds[c.index] for c in chosen]
    # Decoded again rather than kept from the candidates: up to 200 full frames would be held.
    for c, (rgb, seconds) in zip(chosen, video.frames_at(data, chosen_times), strict=True):
        ctx.check_cancelled()
        response.keyframes.add(
            time_seconds=seconds,
            image=ctx.image_output(rgb, request.output),
            score=float(scores[c.shot]),
            shot_index=c.shot,
        )
        tiles.append(_resized(rgb, TILE_WIDTH))
    if mode in STORYBOARD_MODES and tiles:
        labels = [summary.timestamp(t) for t in chosen_times]
        sheet = summary.storyboard(tiles, labels, request.storyboard_columns)
        response.storyboard.CopyFrom(ctx.image_output(sheet, request.output))
    if mode in SKIM_MODES:
        length = times[-1] - times[0]
        target = request.target_skim_seconds or min(SKIM_SHARE * length, SKIM_LONGEST)
        pieces = summary.skim_pieces(measures, found, scores, target, fps)
        ranges = [video.TimeRange(a, b) for a, b in pieces]
        with ctx.stage("skim"), tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, f"skim.{encoding.container}")
            splice.splice(data, ranges, path, encoding, check_cancelled=ctx.check_cancelled)
            with open(path, "rb") as f:
                media_type = video.CONTAINERS[encoding.container]
                skim = ctx.deliver(f.read(), media_type, 0, common_pb2.Video)
        response.skim.CopyFrom(skim)
        response.skim_ranges.extend(
            common_pb2.TimeRange(start_seconds=a, end_seconds=b) for a, b in pieces
        )
    ctx.report_progress(1.0, "done", note)
    response.metadata.CopyFrom(ctx.metadata())
    return response
