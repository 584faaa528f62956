"""segmentation.DetectText: text regions (words, lines or blocks), masks and the text itself
(PP-OCRv4 detection and recognition on Triton; geometry in :mod:`.text`)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from common import adapters
from common.admission import MemoryCost
from common.errors import FailedPrecondition
from common.provider import CallContext, capability
from services.segmentation import text
from services.segmentation.shared import DEFAULT_MIN_SCORE, read_picture
from vipro.v1 import segmentation_pb2

RECOGNISER_LANGUAGES = ("zh", "en")  # what PP-OCRv4's Chinese+English recogniser reads
RECOGNISER_BATCH = 32  # the ppocr_rec model's max_batch_size
READ_TAIL = 0.4  # line heights read past a line's end (up to the next box on its row): the
# detector leaves out a line-final CJK comma or full stop, whose small ink is in its cell's left
Granularity = segmentation_pb2.TextGranularity


def recognise(
    ctx: CallContext, rgb: np.ndarray, quads: list[np.ndarray]
) -> list[tuple[str, float]]:
    """(text, confidence) of each text quadrilateral, read by ppocr_rec on Triton.

    Lines are batched by similar aspect ratio so little padding is fed to the network.
    """
    crops = [
        text.line_crop(rgb, text.with_tail(q, tail))
        for q, tail in zip(quads, text.tails(quads, READ_TAIL), strict=True)
    ]
    order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / crops[i].shape[0])
    read: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    for start in range(0, len(order), RECOGNISER_BATCH):
        chunk = order[start : start + RECOGNISER_BATCH]
        batch = text.recognition_input([crops[i] for i in chunk])
        with ctx.stage("recognise"):
            out = ctx.inference.infer(
                text.RECOGNISER, {"lines": batch}, ["text", "confidence"], timeout=ctx.remaining()
            )
        for i, words, score in zip(
            chunk, out["text"].ravel(), out["confidence"].ravel(), strict=True
        ):
            read[i] = (words.decode("utf-8", "replace").strip(), float(score))
    return read


def check_languages(languages: Iterable[str]) -> None:
    """Reject language hints the recogniser cannot read (FailedPrecondition naming them)."""
    unknown = [tag for tag in languages if tag.split("-")[0].lower() not in RECOGNISER_LANGUAGES]
    if unknown:
        raise FailedPrecondition(
            f"no recogniser for {', '.join(unknown)} in this deployment; it reads "
            f"{', '.join(RECOGNISER_LANGUAGES)}",
            [("MODEL", f"text-recognition-{tag}") for tag in unknown],
        )


def detect_lines(ctx: CallContext, rgb: np.ndarray, min_score: float) -> list[text.Region]:
    """Text lines in reading order, found by ppocr_det on Triton."""
    h, w = rgb.shape[:2]
    ctx.inference.require(text.DETECTOR)
    tensor, sx, sy = text.detection_input(rgb)
    with ctx.stage("detect"):
        out = ctx.inference.infer(
            text.DETECTOR, {"image": tensor}, ["probability"], timeout=ctx.remaining()
        )
    found = text.join_pieces(
        text.detection_boxes(out["probability"], sx, sy, box_threshold=min_score)
    )
    quads = [np.clip(c, 0, [w, h]).astype(np.float32) for c, _ in found]
    return [text.Region(quads[i], found[i][1]) for i in text.reading_order(quads)]


def word_regions(
    rgb: np.ndarray, lines: list[text.Region], ctx: CallContext, recognize: bool
) -> list[text.Region]:
    """Split recognised lines into words (characters for Chinese); the words' text comes from
    the line's when the counts agree, else each word is read again."""
    words: list[text.Region] = []
    unread: list[int] = []
    for line in lines:
        corners = text.reading_corners(line.corners)
        crop, matrix = text.rectify(rgb, corners)
        if text.is_cjk(line.text):
            tokens = list(line.text.replace(" ", ""))
            spans = text.word_spans(crop, characters=len(tokens))
        else:
            tokens = line.text.split()
            spans = text.word_spans(crop)
        agree = len(tokens) == len(spans)
        for k, span in enumerate(spans):
            quad = text.order_corners(text.span_corners(matrix, span, crop.shape[0]))
            if agree:
                words.append(text.Region(quad, line.score, tokens[k], line.text_score))
            else:
                unread.append(len(words))
                words.append(text.Region(quad, line.score))
    if recognize and unread:
        for i, (read, score) in zip(
            unread, recognise(ctx, rgb, [words[i].corners for i in unread]), strict=True
        ):
            words[i].text, words[i].text_score = read, score
    return words


def text_mask(
    rgb: np.ndarray, lines: list[text.Region], regions: list[text.Region], mode: int
) -> np.ndarray:
    """``bool`` mask of the glyph strokes of ``lines`` or of the ``regions``' polygons."""
    if mode == segmentation_pb2.TEXT_MASK_MODE_STROKES:
        mask = np.zeros(rgb.shape[:2], bool)
        for line in lines:
            mask |= text.stroke_mask(rgb, line.corners)
        return mask
    return text.polygon_mask(rgb.shape[:2], [r.corners for r in regions])


@capability(
    "segmentation.DetectText",
    version="1.0.0",
    models=(text.DETECTOR, text.RECOGNISER),
    memory=MemoryCost(per_pixel=47),
)
def detect_text(
    request: segmentation_pb2.DetectTextRequest, ctx: CallContext
) -> segmentation_pb2.DetectTextResponse:
    """Text regions as polygons (words, lines or blocks), a region or stroke mask, and
    optionally the text (PP-OCRv4 detection and recognition on Triton)."""
    if request.recognize:
        check_languages(request.languages)
    rgb = read_picture(ctx, request.image)
    lines = detect_lines(ctx, rgb, request.min_score or DEFAULT_MIN_SCORE)
    granularity = request.granularity or Granularity.TEXT_GRANULARITY_LINE
    if lines and (request.recognize or granularity == Granularity.TEXT_GRANULARITY_WORD):
        ctx.inference.require(text.RECOGNISER)
        for line, (read, score) in zip(
            lines, recognise(ctx, rgb, [r.corners for r in lines]), strict=True
        ):
            line.text, line.text_score = read, score
    if granularity == Granularity.TEXT_GRANULARITY_WORD:
        regions = word_regions(rgb, lines, ctx, request.recognize)
    elif granularity == Granularity.TEXT_GRANULARITY_BLOCK:
        groups = text.blocks([r.corners for r in lines])
        regions = [text.block(lines[i] for i in group) for group in groups]
    else:
        regions = lines
    response = segmentation_pb2.DetectTextResponse(image_size=adapters.size_of(rgb))
    for region in regions:
        entry = response.regions.add(angle_degrees=text.angle_degrees(region.corners))
        entry.polygon.CopyFrom(adapters.polygon(region.corners, region.score))
        entry.box.CopyFrom(adapters.bounding_box(region.corners, region.score, "text"))
        if request.recognize:
            entry.text, entry.text_score = region.text, region.text_score
            entry.language = text.language(region.text)
    if request.mask_mode != segmentation_pb2.TEXT_MASK_MODE_NONE:
        mask = text_mask(rgb, lines, regions, request.mask_mode)
        response.mask.CopyFrom(ctx.mask_output(mask, request.output.delivery))
    response.metadata.CopyFrom(ctx.metadata())
    return response
