"""Proto glue GenerateBanner and ImitateDesign share: reading product pictures (cut out by
segmentation.SegmentObject unless they carry alpha), the logo and the background; checking the
copy against the installed fonts; the design's colours; Design messages out.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from common import adapters, media
from common.errors import InvalidArgument
from common.provider import CallContext, Resource
from services.generation import colour, layers, layout, typography
from services.generation.render import element_boxes
from vipro.v1 import common_pb2, generation_pb2, segmentation_pb2

MAX_CUTOUTS_IN_FLIGHT = 4  # segmentation calls one request has open at once
MIN_PRODUCT_SIDE = 16  # pixels; smaller pictures hold no product worth showing
OPAQUE = 250  # alpha at or above which a pixel counts as opaque
PSD_MEDIA_TYPE = "image/vnd.adobe.photoshop"
LAYOUTS = Path(__file__).resolve().parents[2] / "deploy" / "layouts"

FONTS = Resource("fonts", typography.installed_fonts)
FAMILIES = Resource("layout-families", lambda: layout.load_families(LAYOUTS))


def tight(rgba: np.ndarray) -> np.ndarray:
    """An RGBA picture cropped to its visible pixels (alpha > 0); unchanged when none is."""
    ys, xs = np.nonzero(rgba[..., 3])
    if not len(xs):
        return rgba
    return rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def cut_out(ctx: CallContext, image: common_pb2.Image, field: str) -> np.ndarray:
    """A product picture as a tight RGBA cut-out: its own alpha when it has transparent
    pixels, else what segmentation.SegmentObject (product mode) cuts out of it.

    Raises:
        InvalidArgument: unreadable, smaller than MIN_PRODUCT_SIDE, or nothing visible.
    """
    pixels = ctx.read_image(image, field)
    h, w = pixels.shape[:2]
    if min(h, w) < MIN_PRODUCT_SIDE:
        raise InvalidArgument.field(
            field, f"is {w}x{h}; at least {MIN_PRODUCT_SIDE}x{MIN_PRODUCT_SIDE} needed"
        )
    if pixels.shape[2] == 4 and (pixels[..., 3] < OPAQUE).any():
        rgba = pixels
    else:
        found = ctx.call(
            "segmentation.SegmentObject",
            image=image,
            mode=segmentation_pb2.SEGMENT_OBJECT_MODE_COMMODITY,
            cutout=segmentation_pb2.CutoutOptions(
                forms=[segmentation_pb2.CUTOUT_FORM_RGBA],
                output=common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_PNG),
            ),
        )
        rgba = media.decode_image(ctx.read_bytes(found.cutout.rgba, f"{field} cut-out"), field)
    if not rgba[..., 3].any():
        raise InvalidArgument.field(field, "has no visible pixel to place")
    return tight(rgba)


def cut_out_all(ctx: CallContext, images: Sequence[common_pb2.Image]) -> list[np.ndarray]:
    """:func:`cut_out` of every product picture (field ``product_images[i]``), the
    segmentation calls in flight together."""
    with ThreadPoolExecutor(max(1, min(len(images), MAX_CUTOUTS_IN_FLIGHT))) as pool:
        return list(
            pool.map(lambda i: cut_out(ctx, images[i], f"product_images[{i}]"), range(len(images)))
        )


def read_logo(ctx: CallContext, image: common_pb2.Image, field: str = "logo") -> np.ndarray | None:
    """The logo as a tight RGBA picture (its alpha respected), None when unset."""
    if not image.ByteSize():
        return None
    pixels = ctx.read_image(image, field)
    if pixels.shape[2] == 3:
        pixels = np.dstack([pixels, np.full(pixels.shape[:2], 255, np.uint8)])
    if not pixels[..., 3].any():
        raise InvalidArgument.field(field, "is fully transparent")
    return tight(pixels)


def check_copy(fonts: typography.FontBook, copy: dict[str, str]) -> None:
    """Every piece of copy can be set in an installed face of its weight.

    Raises:
        InvalidArgument: naming the field and the script no installed font covers.
    """
    for field, text in copy.items():
        if not text:
            continue
        weight = "regular" if field == "subline" else "bold"
        try:
            fonts.choose(text, weight)
        except typography.UnsupportedScript as err:
            raise InvalidArgument.field(
                field,
                f"uses the {err.script} script ({err.chars!r}), which no installed font "
                "covers; fonts cover Latin and Chinese (deploy/fonts/fonts.yaml)",
            ) from None


def brand_colours(
    requested: common_pb2.Palette, pictures: Sequence[np.ndarray], field: str = "palette"
) -> np.ndarray:
    """The brand colours, ``uint8`` (n, 3), the one to build the scheme on first: the
    caller's palette, or the colours of the opaque pixels of ``pictures`` (CIELAB k-means)
    ordered by share times chroma, so a label's cream does not beat the product's colour."""
    if requested.colors:
        return adapters.palette(requested, field)[0]
    pixels = [p[p[..., 3] >= OPAQUE][:, :3] for p in pictures if p is not None]
    pixels = [p for p in pixels if len(p)]
    if not pixels:
        return np.array([[40, 90, 160]], np.uint8)  # a calm blue when nothing has colour
    found, weights = colour.extract_palette(np.vstack(pixels)[:, None, :], k=5)
    chroma = colour.lab_to_lch(colour.rgb_to_lab(found))[:, 1]
    return found[np.argsort(-(weights * (chroma + 5.0)), kind="stable")]


def seed_of(requested: int) -> int:
    """The caller's seed, or a fresh one when 0."""
    return requested or secrets.randbits(63)


def design_message(
    ctx: CallContext,
    stack: Sequence[layers.Layer],
    solved: layout.Layout,
    variant: int,
    output: common_pb2.OutputOptions,
    layered_psd: bool,
) -> generation_pb2.Design:
    """A Design: the flattened image delivered as ``output`` asks, its element boxes and
    palette, and (``layered_psd``) the layered PSD stored as an asset."""
    width, height = solved.width, solved.height
    with ctx.stage("flatten"):
        flat = layers.flatten(stack, width, height)
    found, weights = colour.extract_palette(flat, k=5)
    design = generation_pb2.Design(
        size=adapters.size(width, height),
        variant=variant,
        image=ctx.image_output(flat, output),
        palette=adapters.palette_message(found, weights),
    )
    for label, (x0, y0, x1, y1) in element_boxes(stack, solved):
        design.elements.append(adapters.box(x0, y0, x1 - x0, y1 - y0, label=label))
    if layered_psd:
        with ctx.stage("psd"):
            data = layers.psd(stack, width, height)
        stored = ctx.deliver(data, PSD_MEDIA_TYPE, common_pb2.DELIVERY_ASSET)
        design.psd_asset_id = stored.asset_id
    return design
