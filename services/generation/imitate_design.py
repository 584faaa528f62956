"""generation.ImitateDesign: a reference design taken apart (text by DetectText, objects by
SegmentObject, roles by :mod:`.decompose`), its background cleaned (EraseImage), and the new
materials laid into its geometry and colours (:mod:`.imitate`). With no new materials the
reference comes back as its own layers ("JPG back to PSD")."""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

from common import adapters, media
from common.admission import MemoryCost
from common.errors import InvalidArgument
from common.provider import CallContext, capability
from services.generation import colour, decompose, imitate, layers, layout, render, typography
from services.generation.materials import (
    FAMILIES,
    FONTS,
    MIN_PRODUCT_SIDE,
    check_copy,
    cut_out_all,
    design_message,
    read_logo,
    seed_of,
)
from vipro.v1 import (
    common_pb2,
    editing_pb2,
    generation_pb2,
    segmentation_pb2,
)

DEFAULT_FIDELITY = 0.7
MAX_OBJECTS = 8
ERASE_GROW = 3  # pixels around text ink and object boxes erased from the background
CLEAN_SIDE = 640  # pixels: the longest side the background's holes are filled at


def read_text(
    ctx: CallContext, image: common_pb2.Image, shape: tuple[int, int]
) -> tuple[list[decompose.TextLine], np.ndarray]:
    """The reference's text lines with their copy, and its glyph strokes (``bool`` mask)."""
    found = ctx.call(
        "segmentation.DetectText",
        image=image,
        granularity=segmentation_pb2.TEXT_GRANULARITY_LINE,
        recognize=True,
        mask_mode=segmentation_pb2.TEXT_MASK_MODE_STROKES,
    )
    lines = [decompose.TextLine(adapters.bounds(r.box), r.text) for r in found.regions]
    strokes = np.zeros(shape, bool)
    if found.regions:
        strokes = ctx.read_mask(found.mask, "DetectText.mask", shape) > 0
    return lines, strokes


def read_objects(ctx: CallContext, image: common_pb2.Image, shape: tuple[int, int]) -> np.ndarray:
    """The joint alpha of the reference's salient objects, ``float`` (H, W) in [0, 1]."""
    found = ctx.call(
        "segmentation.SegmentObject",
        image=image,
        mode=segmentation_pb2.SEGMENT_OBJECT_MODE_SALIENT,
        max_objects=MAX_OBJECTS,
        cutout=segmentation_pb2.CutoutOptions(forms=[segmentation_pb2.CUTOUT_FORM_ALPHA]),
    )
    return ctx.read_mask(found.cutout.alpha, "SegmentObject.alpha", shape) / 255.0


def clean_background(
    ctx: CallContext,
    rgb: np.ndarray,
    found: decompose.Decomposition,
    strokes: np.ndarray,
) -> np.ndarray:
    """The reference without its copy, button, products and logo (EraseImage, PatchMatch).

    The holes are filled on a copy at most CLEAN_SIDE pixels long and the fill scaled back:
    a banner's ground holds no detail finer than that, and the fill of a product-sized hole
    costs a tenth of the time; pixels outside the holes stay the reference's own."""
    hole = strokes.copy()
    for _, (x0, y0, x1, y1) in found.roles:
        hole[
            max(0, y0 - ERASE_GROW) : y1 + ERASE_GROW, max(0, x0 - ERASE_GROW) : x1 + ERASE_GROW
        ] = True
    if not hole.any():
        return rgb
    height, width = hole.shape
    scale = min(1.0, CLEAN_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    erased = ctx.call(
        "editing.EraseImage",
        image=ctx.image_output(small, adapters.png(common_pb2.DELIVERY_INLINE)),
        region=editing_pb2.EraseRegion(
            mask=ctx.mask_output(small_hole, common_pb2.DELIVERY_INLINE),
            dilate_pixels=ERASE_GROW,
        ),
        output=common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_PNG),
    )
    filled = media.decode_image(
        ctx.read_bytes(erased.image, "EraseImage.image"), "reference", alpha=False
    )
    grown = cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2 * ERASE_GROW)
    full = cv2.resize(filled, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.where(grown[..., None] > 0, full, rgb)


def own_layers(
    rgb: np.ndarray,
    background: np.ndarray,
    found: decompose.Decomposition,
    strokes: np.ndarray,
    alpha: np.ndarray,
) -> list[layers.Layer]:
    """The reference as layers: its clean background, then each element cut from it (copy by
    its glyph strokes, products and logo by their alpha, the button's plate whole)."""
    height, width = rgb.shape[:2]
    stack = [
        layers.Layer(
            "background",
            "background",
            np.dstack([background, np.full((height, width), 255, np.uint8)]),
        )
    ]
    order = ("product", "logo", "call_to_action", "headline", "subline")
    for role in order:
        for i, (x0, y0, x1, y1) in enumerate(found.boxes(role)):
            if role in ("headline", "subline"):
                cover = strokes[y0:y1, x0:x1].astype(np.float32)
            elif role == "call_to_action":
                cover = np.ones((y1 - y0, x1 - x0), np.float32)
            else:
                cover = alpha[y0:y1, x0:x1]
            rgba = np.dstack([rgb[y0:y1, x0:x1], np.round(cover * 255).astype(np.uint8)])
            name = (
                f"{role.replace('_', ' ')} {i + 1}" if role == "product" else role.replace("_", " ")
            )
            stack.append(layers.Layer(name, role, rgba, x0, y0))
    return stack


def style(
    request: generation_pb2.ImitateDesignRequest, rgb: np.ndarray, found: decompose.Decomposition
) -> tuple[colour.Scheme, np.ndarray]:
    """The design's colours: the caller's palette, or the reference's (its button's plate and
    label kept); and the text colours to prefer (the reference's headline and subline ink)."""
    if request.palette.colors:
        return colour.harmony(adapters.palette(request.palette)[0]), np.zeros((0, 3), np.uint8)
    scheme = colour.harmony(colour.extract_palette(rgb)[0])
    if found.button_colour is not None:
        label = found.text_colours.get("call_to_action", scheme.button_text)
        scheme = dataclasses.replace(scheme, button=found.button_colour, button_text=label)
    inks = [found.text_colours[r] for r in ("headline", "subline") if r in found.text_colours]
    return scheme, np.array(inks, np.uint8).reshape(-1, 3)


def output_size(request: generation_pb2.ImitateDesignRequest, shape: tuple[int, int]):
    """(width, height) of the designs: the request's size, else the reference's."""
    if request.HasField("size"):
        return request.size.width, request.size.height
    return shape[1], shape[0]


@capability(
    "generation.ImitateDesign",
    version="0.1.0",
    stage="ga",
    memory=MemoryCost(per_pixel=300),  # per reference and design pixel
    resources=(FONTS, FAMILIES),
)
def imitate_design(
    request: generation_pb2.ImitateDesignRequest, ctx: CallContext
) -> generation_pb2.ImitateDesignResponse:
    """A reference's layout, colours and background moved onto new materials; with none, the
    reference split into its layers."""
    variants = request.variants or 1
    copy = {f: getattr(request, f).strip() for f in ("headline", "subline", "call_to_action")}
    check_copy(ctx.resource("fonts"), copy)
    rgb = ctx.read_image(request.reference, "reference", alpha=False)
    shape = rgb.shape[:2]
    if min(shape) < MIN_PRODUCT_SIDE:
        raise InvalidArgument.field("reference", f"is {shape[1]}x{shape[0]}; too small to imitate")
    width, height = output_size(request, shape)
    ctx.admit(width * height, "design canvas")
    with ctx.stage("decompose"):
        lines, strokes = read_text(ctx, request.reference, shape)
        alpha = read_objects(ctx, request.reference, shape)
        found = decompose.decompose(rgb, lines, alpha)
    with ctx.stage("clean"):
        background = clean_background(ctx, rgb, found, strokes)
    response = generation_pb2.ImitateDesignResponse(seed=seed_of(request.seed))
    for role, (x0, y0, x1, y1) in found.roles:
        response.reference_elements.append(adapters.box(x0, y0, x1 - x0, y1 - y0, label=role))
    with ctx.stage("materials"):
        products = cut_out_all(ctx, request.product_images)
        logo = read_logo(ctx, request.logo)
    if products or logo is not None or any(copy.values()):
        materials = layout.Materials.of(products, logo, **copy)
        scheme, inks = style(request, rgb, found)
        assets = render.Assets(products, logo, background, scheme, inks, response.seed)
        fit = functools.partial(typography.fit, fonts=ctx.resource("fonts"))
        fidelity = request.fidelity if request.HasField("fidelity") else DEFAULT_FIDELITY
        families = ctx.resource("layout-families")
        with ctx.stage("layout"):
            solved = imitate.layouts(
                found, materials, width, height, fit, families, fidelity, variants
            )
        with ctx.stage("render"):
            designs = [
                (one, render.draw(one, dataclasses.replace(assets, seed=response.seed + i)))
                for i, one in enumerate(solved)
            ]
    else:  # the reference as its own layers
        own = layout.Layout(shape[1], shape[0], "reference", (), [], [])
        designs = [(own, own_layers(rgb, background, found, strokes, alpha))]
    for variant, (solved_one, stack) in enumerate(designs):
        response.designs.append(
            design_message(ctx, stack, solved_one, variant, request.output, request.layered_psd)
        )
    response.metadata.CopyFrom(ctx.metadata())
    return response
