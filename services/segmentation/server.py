"""SegmentationService capabilities: gRPC plumbing around the algorithms of this package.

Implemented: SegmentObject (product / salient cut-out, :mod:`.commodity` + :mod:`.matting`),
SegmentPerson (selfie networks on Triton, :mod:`.person`, then :mod:`.matting`), DetectText
(PP-OCR networks on Triton, :mod:`.text`), DetectFaces (BlazeFace networks on Triton,
:mod:`.faces`), Matte (:mod:`.matting`) and DetectInsertionSlots (:mod:`.insertion_slots`).
"""

from __future__ import annotations

import cv2
import numpy as np

from common import media, video
from common.admission import MemoryCost
from common.errors import FailedPrecondition, InvalidArgument
from common.provider import CallContext, Provider, capability
from services.segmentation import commodity, cutout, faces, insertion_slots, matting, person, text
from vipro.v1 import common_pb2, segmentation_pb2

MIN_SIDE = 16  # pixels; smaller pictures carry no object worth cutting out
DEFAULT_MIN_SCORE = 0.5
Form = segmentation_pb2.CutoutForm


def read_picture(ctx: CallContext, image: common_pb2.Image) -> np.ndarray:
    """The request's ``image`` as ``uint8`` RGB, at least :data:`MIN_SIDE` on each side."""
    rgb = ctx.read_image(image, "image", alpha=False)
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InvalidArgument.field("image", f"is {w}x{h}; at least {MIN_SIDE}x{MIN_SIDE} needed")
    return rgb


def region_box(region: common_pb2.Box, shape: tuple[int, int]) -> cutout.Box:
    """The request's region clipped to the image; the whole image when unset.

    Raises:
        InvalidArgument: the region lies outside the image or is smaller than MIN_SIDE.
    """
    h, w = shape
    if not region.ByteSize():
        return cutout.Box(0, 0, w, h)
    x0, y0 = max(0, int(np.floor(region.x))), max(0, int(np.floor(region.y)))
    x1 = min(w, int(np.ceil(region.x + region.width)))
    y1 = min(h, int(np.ceil(region.y + region.height)))
    if x1 - x0 < MIN_SIDE or y1 - y0 < MIN_SIDE:
        raise InvalidArgument.field(
            "region", f"covers {max(0, x1 - x0)}x{max(0, y1 - y0)} pixels of the {w}x{h} image"
        )
    return cutout.Box(x0, y0, x1 - x0, y1 - y0)


def cutout_message(
    ctx: CallContext,
    rgb: np.ndarray,
    alpha: np.ndarray,
    foreground: np.ndarray | None,
    options: segmentation_pb2.CutoutOptions,
) -> segmentation_pb2.Cutout:
    """The forms of ``options`` (RGBA when none) encoded and delivered as a Cutout."""
    forms = set(options.forms) - {Form.CUTOUT_FORM_UNSPECIFIED} or {Form.CUTOUT_FORM_RGBA}
    out = options.output
    alpha_output = common_pb2.OutputOptions(
        format=common_pb2.IMAGE_FORMAT_PNG, delivery=out.delivery
    )
    rgba_output = common_pb2.OutputOptions()
    rgba_output.CopyFrom(out)
    if rgba_output.format == common_pb2.IMAGE_FORMAT_JPEG:
        rgba_output.format = common_pb2.IMAGE_FORMAT_PNG
    message = segmentation_pb2.Cutout()
    if Form.CUTOUT_FORM_MASK in forms:
        mask = ctx.image_output(cutout.binary_mask(alpha), alpha_output)
        message.mask.image.CopyFrom(mask)
    if Form.CUTOUT_FORM_ALPHA in forms:
        message.alpha.image.CopyFrom(ctx.image_output(cutout.to_uint8(alpha), alpha_output))
    if Form.CUTOUT_FORM_RGBA in forms:
        message.rgba.CopyFrom(ctx.image_output(cutout.rgba(rgb, alpha, foreground), rgba_output))
    if Form.CUTOUT_FORM_ON_BACKGROUND in forms:
        background = media.color_tuple(options.background)
        composite = cutout.on_background(rgb, alpha, background, foreground)
        message.on_background.CopyFrom(ctx.image_output(composite, out))
    if Form.CUTOUT_FORM_CROP in forms:
        if options.WhichOneof("crop_margin") == "crop_margin_fraction":
            box = cutout.crop_box(alpha, margin_fraction=options.crop_margin_fraction)
        else:
            box = cutout.crop_box(alpha, margin_pixels=options.crop_margin_pixels)
        if box is not None:
            image = cutout.crop(cutout.rgba(rgb, alpha, foreground), box)
            message.crop.CopyFrom(ctx.image_output(image, rgba_output))
            message.crop_box.CopyFrom(
                common_pb2.Box(x=box.x, y=box.y, width=box.width, height=box.height)
            )
    return message


def wants_colour(options: segmentation_pb2.CutoutOptions) -> bool:
    """Whether a form that shows the object's colours (and so needs a foreground estimate)
    is asked for."""
    colour = {Form.CUTOUT_FORM_RGBA, Form.CUTOUT_FORM_ON_BACKGROUND, Form.CUTOUT_FORM_CROP}
    forms = set(options.forms) - {Form.CUTOUT_FORM_UNSPECIFIED} or {Form.CUTOUT_FORM_RGBA}
    return bool(forms & colour)


def matte_mask(rgb: np.ndarray, mask: np.ndarray, band: int | None = None) -> np.ndarray:
    """Alpha of ``rgb`` from a coarse ``bool`` mask of the same size (trimap band ``band``)."""
    if not mask.any():
        return np.zeros(mask.shape)
    trimap = matting.trimap_from_mask(mask, band)
    return matting.estimate_alpha(rgb, trimap)


@capability("segmentation.SegmentObject", version="1.0.0", memory=MemoryCost(per_pixel=260))
def segment_object(
    request: segmentation_pb2.SegmentObjectRequest, ctx: CallContext
) -> segmentation_pb2.SegmentObjectResponse:
    """Cut out the main product or salient objects (background model + GrabCut + matting)."""
    rgb = read_picture(ctx, request.image)
    h, w = rgb.shape[:2]
    box = region_box(request.region, (h, w))
    part = cutout.crop(rgb, box)
    with ctx.stage("segment"):
        segments, scale = commodity.segment_objects(part)
    limit = request.max_objects or 1
    floor = request.min_score or DEFAULT_MIN_SCORE
    kept = [s for i, s in enumerate(segments[:limit]) if i == 0 or s.score >= floor]
    label = "product" if request.mode == segmentation_pb2.SEGMENT_OBJECT_MODE_COMMODITY else ""
    band = matting.default_band((h, w)) + int(np.ceil(1 / scale))

    def full_alpha(masks: list[np.ndarray]) -> np.ndarray:
        alpha = np.zeros((h, w))
        if masks:
            union = np.logical_or.reduce(masks).astype(np.float32)
            up = cv2.resize(union, (box.width, box.height), interpolation=cv2.INTER_LINEAR) >= 0.5
            with ctx.stage("matte"):
                alpha[box.y : box.y + box.height, box.x : box.x + box.width] = matte_mask(
                    part, up, band
                )
        return alpha

    def foreground(alpha: np.ndarray) -> np.ndarray | None:
        if not wants_colour(request.cutout) or not alpha.any():
            return None
        with ctx.stage("foreground"):
            return matting.estimate_foreground(matting.as_float_image(rgb), alpha)

    alpha = full_alpha([s.mask for s in kept])
    response = segmentation_pb2.SegmentObjectResponse(
        cutout=cutout_message(ctx, rgb, alpha, foreground(alpha), request.cutout),
        image_size=common_pb2.Size(width=w, height=h),
    )
    for segment in kept:
        own = full_alpha([segment.mask]) if request.separate_objects else None
        bounds = cutout.bounding_box(own if own is not None else segment_alpha(segment, box, h, w))
        found = segmentation_pb2.SegmentedObject(label=label, score=segment.score)
        if bounds is not None:
            found.box.CopyFrom(
                common_pb2.Box(
                    x=bounds.x,
                    y=bounds.y,
                    width=bounds.width,
                    height=bounds.height,
                    score=segment.score,
                    label=label,
                )
            )
        if own is not None:
            found.cutout.CopyFrom(cutout_message(ctx, rgb, own, foreground(own), request.cutout))
        response.objects.append(found)
    response.metadata.CopyFrom(ctx.metadata())
    return response


def segment_alpha(segment: commodity.Segment, box: cutout.Box, h: int, w: int) -> np.ndarray:
    """A segment's working-resolution mask brought to full image size (nearest), 0/1."""
    full = np.zeros((h, w))
    up = cv2.resize(
        segment.mask.astype(np.uint8), (box.width, box.height), interpolation=cv2.INTER_NEAREST
    )
    full[box.y : box.y + box.height, box.x : box.x + box.width] = up
    return full


@capability("segmentation.Matte", version="1.0.0", memory=MemoryCost(per_pixel=365))
def matte(
    request: segmentation_pb2.MatteRequest, ctx: CallContext
) -> segmentation_pb2.MatteResponse:
    """Fine alpha matte from a coarse mask or a trimap (closed-form matting, blur-fusion
    foreground colours)."""
    rgb = read_picture(ctx, request.image)
    h, w = rgb.shape[:2]
    if request.HasField("trimap"):
        trimap = matting.normalize_trimap(ctx.read_mask(request.trimap, "trimap", (h, w)))
    else:
        mask = ctx.read_mask(request.mask, "mask", (h, w)) > 0
        trimap = matting.trimap_from_mask(mask, request.unknown_band_pixels or None)
    with ctx.stage("matte"):
        alpha = matting.estimate_alpha(rgb, trimap)
    fg = None
    if request.estimate_foreground:
        with ctx.stage("foreground"):
            fg = matting.estimate_foreground(matting.as_float_image(rgb), alpha)
    response = segmentation_pb2.MatteResponse(
        cutout=cutout_message(ctx, rgb, alpha, fg, request.cutout)
    )
    if fg is not None:
        response.foreground.CopyFrom(ctx.image_output(cutout.to_uint8(fg), request.cutout.output))
    response.metadata.CopyFrom(ctx.metadata())
    return response


@capability(
    "segmentation.SegmentPerson",
    version="1.0.0",
    models=(person.SQUARE[0], person.LANDSCAPE[0]),
    memory=MemoryCost(per_pixel=85),
)
def segment_person(
    request: segmentation_pb2.SegmentPersonRequest, ctx: CallContext
) -> segmentation_pb2.SegmentPersonResponse:
    """Cut out people (MediaPipe selfie segmentation on Triton, then closed-form matting)."""
    if request.part not in (
        segmentation_pb2.PERSON_PART_UNSPECIFIED,
        segmentation_pb2.PERSON_PART_BODY,
    ):
        name = segmentation_pb2.PersonPart.Name(request.part)
        raise FailedPrecondition(
            f"part {name} needs a human-parsing model, which this deployment does not have; "
            "PERSON_PART_BODY is served",
            [("MODEL", "human-parsing")],
        )
    rgb = read_picture(ctx, request.image)
    h, w = rgb.shape[:2]
    batch, box = person.letterbox(rgb)
    ctx.inference.require(box.model)
    with ctx.stage("infer"):
        output = ctx.inference.infer(box.model, {"image": batch}, ["mask"], timeout=ctx.remaining())
    prob = person.probability(output["mask"], box, (h, w))
    found = person.people(prob >= 0.5)
    if request.max_people:
        found = found[: request.max_people]
    band = matting.default_band((h, w)) + int(np.ceil(1 / box.scale))

    def alpha_of(masks: list[np.ndarray]) -> np.ndarray:
        if not masks:
            return np.zeros((h, w))
        with ctx.stage("matte"):
            return matte_mask(rgb, np.logical_or.reduce(masks), band)

    def foreground(alpha: np.ndarray) -> np.ndarray | None:
        if not wants_colour(request.cutout) or not alpha.any():
            return None
        with ctx.stage("foreground"):
            return matting.estimate_foreground(matting.as_float_image(rgb), alpha)

    alpha = alpha_of(found)
    response = segmentation_pb2.SegmentPersonResponse(
        cutout=cutout_message(ctx, rgb, alpha, foreground(alpha), request.cutout),
        image_size=common_pb2.Size(width=w, height=h),
    )
    for mask in found:
        score = float(prob[mask].mean())
        entry = segmentation_pb2.SegmentedObject(label="person", score=score)
        own = alpha_of([mask]) if request.separate_people else mask.astype(np.float64)
        bounds = cutout.bounding_box(own)
        entry.box.CopyFrom(
            common_pb2.Box(
                x=bounds.x,
                y=bounds.y,
                width=bounds.width,
                height=bounds.height,
                score=score,
                label="person",
            )
        )
        if request.separate_people:
            entry.cutout.CopyFrom(cutout_message(ctx, rgb, own, foreground(own), request.cutout))
        response.people.append(entry)
    response.metadata.CopyFrom(ctx.metadata())
    return response


RECOGNISER_LANGUAGES = ("zh", "en")  # what PP-OCRv4's Chinese+English recogniser reads
RECOGNISER_BATCH = 32  # the ppocr_rec model's max_batch_size
Granularity = segmentation_pb2.TextGranularity


def recognise(
    ctx: CallContext, rgb: np.ndarray, quads: list[np.ndarray]
) -> list[tuple[str, float]]:
    """(text, confidence) of each text quadrilateral, read by ppocr_rec on Triton.

    Lines are batched by similar aspect ratio so little padding is fed to the network.
    """
    crops = [text.line_crop(rgb, q) for q in quads]
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


def check_languages(languages) -> None:
    """Reject language hints the recogniser cannot read (FailedPrecondition naming them)."""
    unknown = [tag for tag in languages if tag.split("-")[0].lower() not in RECOGNISER_LANGUAGES]
    if unknown:
        raise FailedPrecondition(
            f"no recogniser for {', '.join(unknown)} in this deployment; it reads "
            f"{', '.join(RECOGNISER_LANGUAGES)}",
            [("MODEL", f"text-recognition-{tag}") for tag in unknown],
        )


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
    h, w = rgb.shape[:2]
    ctx.inference.require(text.DETECTOR)
    tensor, sx, sy = text.detection_input(rgb)
    with ctx.stage("detect"):
        out = ctx.inference.infer(
            text.DETECTOR, {"image": tensor}, ["probability"], timeout=ctx.remaining()
        )
    found = text.detection_boxes(
        out["probability"], sx, sy, box_threshold=request.min_score or DEFAULT_MIN_SCORE
    )
    quads = [np.clip(c, 0, [w, h]).astype(np.float32) for c, _ in found]
    lines = [text.Region(quads[i], found[i][1]) for i in text.reading_order(quads)]
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
        regions = [
            text.block(lines[i] for i in group) for group in text.blocks([r.corners for r in lines])
        ]
    else:
        regions = lines
    response = segmentation_pb2.DetectTextResponse(image_size=common_pb2.Size(width=w, height=h))
    for region in regions:
        entry = response.regions.add(angle_degrees=text.angle_degrees(region.corners))
        entry.polygon.score = region.score
        for x, y in region.corners:
            entry.polygon.points.add(x=float(x), y=float(y))
        x0, y0 = region.corners.min(axis=0)
        x1, y1 = region.corners.max(axis=0)
        entry.box.CopyFrom(
            common_pb2.Box(
                x=float(x0),
                y=float(y0),
                width=float(x1 - x0),
                height=float(y1 - y0),
                score=region.score,
                label="text",
            )
        )
        if request.recognize:
            entry.text, entry.text_score = region.text, region.text_score
            entry.language = text.language(region.text)
    if request.mask_mode != segmentation_pb2.TEXT_MASK_MODE_NONE:
        if request.mask_mode == segmentation_pb2.TEXT_MASK_MODE_STROKES:
            mask = np.zeros((h, w), bool)
            for line in lines:
                mask |= text.stroke_mask(rgb, line.corners)
        else:
            mask = text.polygon_mask((h, w), [r.corners for r in regions])
        png = common_pb2.OutputOptions(
            format=common_pb2.IMAGE_FORMAT_PNG, delivery=request.output.delivery
        )
        response.mask.image.CopyFrom(ctx.image_output(mask.astype(np.uint8) * 255, png))
    response.metadata.CopyFrom(ctx.metadata())
    return response


@capability(
    "segmentation.DetectFaces",
    version="1.0.0",
    models=(faces.SHORT[0], faces.FULL[0]),
    memory=MemoryCost(per_pixel=18),
)
def detect_faces(
    request: segmentation_pb2.DetectFacesRequest, ctx: CallContext
) -> segmentation_pb2.DetectFacesResponse:
    """Faces with boxes, five key points and a rough head pose (BlazeFace short and full range
    on Triton, merged)."""
    if request.landmarks == segmentation_pb2.FACE_LANDMARKS_68:
        raise FailedPrecondition(
            "FACE_LANDMARKS_68 needs a 68-point landmark model, which this deployment does not "
            "have; FACE_LANDMARKS_FIVE and FACE_LANDMARKS_NONE are served",
            [("MODEL", "face-landmarks-68")],
        )
    rgb = read_picture(ctx, request.image)
    h, w = rgb.shape[:2]
    min_score = request.min_score or 0.6
    detections = []
    for model, size, layers in (faces.SHORT, faces.FULL):
        ctx.inference.require(model)
        batch, scale, left, top = faces.letterbox(rgb, size)
        with ctx.stage("infer"):
            out = ctx.inference.infer(
                model, {"image": batch}, ["regressors", "scores"], timeout=ctx.remaining()
            )
        boxes, scores, points = faces.decode(
            out["regressors"], out["scores"], size, layers, min_score
        )
        boxes, points = faces.to_picture(boxes, points, scale, left, top)
        detections.append((boxes, scores, points))
    found = [
        f for f in faces.merge(detections) if min(f.box[2:]) >= (request.min_face_pixels or 16)
    ]
    if request.max_faces:
        found = found[: request.max_faces]
    response = segmentation_pb2.DetectFacesResponse(image_size=common_pb2.Size(width=w, height=h))
    for face in found:
        x, y, bw, bh = face.box
        yaw, pitch, roll = faces.pose(face.keypoints)
        entry = response.faces.add(yaw_degrees=yaw, pitch_degrees=pitch, roll_degrees=roll)
        entry.box.CopyFrom(
            common_pb2.Box(x=x, y=y, width=bw, height=bh, score=face.score, label="face")
        )
        if request.landmarks != segmentation_pb2.FACE_LANDMARKS_NONE:
            for px, py in faces.five_points(face.keypoints):
                entry.landmarks.add(x=px, y=py)
    response.metadata.CopyFrom(ctx.metadata())
    return response


SURFACE_KINDS = {
    "wall": segmentation_pb2.INSERTION_SURFACE_WALL,
    "screen": segmentation_pb2.INSERTION_SURFACE_SCREEN,
    "board": segmentation_pb2.INSERTION_SURFACE_BOARD,
    "poster": segmentation_pb2.INSERTION_SURFACE_POSTER,
    "tabletop": segmentation_pb2.INSERTION_SURFACE_TABLETOP,
    "other": segmentation_pb2.INSERTION_SURFACE_OTHER,
}


@capability("segmentation.DetectInsertionSlots", version="1.0.0", memory=MemoryCost(per_pixel=30))
def detect_insertion_slots(
    request: segmentation_pb2.DetectInsertionSlotsRequest, ctx: CallContext
) -> segmentation_pb2.DetectInsertionSlotsResponse:
    """Planar surfaces (walls, screens, boards, posters, floors) as quadrilaterals, in a picture
    or one video frame (edges, region outlines and projective geometry; no model)."""
    response = segmentation_pb2.DetectInsertionSlotsResponse()
    if request.WhichOneof("source") == "video":
        data = ctx.read_bytes(request.video, "video")
        with ctx.stage("decode"):
            rgb, response.time_seconds = video.frame_at(data, request.time_seconds)
        if min(rgb.shape[:2]) < MIN_SIDE:
            raise InvalidArgument.field("video", f"frames are smaller than {MIN_SIDE}x{MIN_SIDE}")
    else:
        rgb = read_picture(ctx, request.image)
    h, w = rgb.shape[:2]
    response.frame_size.CopyFrom(common_pb2.Size(width=w, height=h))
    wanted = set(request.surfaces) - {segmentation_pb2.INSERTION_SURFACE_UNSPECIFIED}
    with ctx.stage("detect"):
        found = insertion_slots.find_slots(rgb, request.min_area_fraction or 0.01)
    floor = request.min_score or DEFAULT_MIN_SCORE
    found = [
        s for s in found if s.score >= floor and (not wanted or SURFACE_KINDS[s.kind] in wanted)
    ]
    png = common_pb2.OutputOptions(
        format=common_pb2.IMAGE_FORMAT_PNG, delivery=request.output.delivery
    )
    for slot in found[: request.max_slots or 10]:
        entry = response.slots.add(
            surface=SURFACE_KINDS[slot.kind],
            aspect_ratio=slot.aspect_ratio,
            occluded_fraction=slot.occluded_fraction,
        )
        entry.quad.score = slot.score
        entry.quad.label = slot.kind
        for x, y in slot.corners:
            entry.quad.points.add(x=float(x), y=float(y))
        if request.return_masks:
            entry.mask.image.CopyFrom(ctx.image_output(slot.visible.astype(np.uint8) * 255, png))
    response.metadata.CopyFrom(ctx.metadata())
    return response


def provider() -> Provider:
    """The segmentation service process."""
    matting.warm_up()
    return Provider(
        "segmentation",
        [segment_object, segment_person, detect_text, detect_faces, matte, detect_insertion_slots],
        families=("segmentation",),
    )
