"""generation.GenerateBanner: banners in every requested size from product pictures, a logo,
a background and copy (layout: :mod:`.layout`; type: :mod:`.typography`; colours:
:mod:`.colour`; drawing: :mod:`.render`; layers and PSD: :mod:`.layers`)."""

from __future__ import annotations

import dataclasses
import functools

from common.admission import MemoryCost
from common.errors import InvalidArgument
from common.provider import CallContext, capability
from services.generation import colour, layout, render, typography
from services.generation.materials import (
    FAMILIES,
    FONTS,
    brand_colours,
    check_copy,
    cut_out_all,
    design_message,
    read_logo,
    seed_of,
)
from vipro.v1 import generation_pb2

MAX_DESIGNS = 40
"""Sizes times variants per size, as the contract says."""


@capability(
    "generation.GenerateBanner",
    version="0.1.0",
    stage="ga",
    memory=MemoryCost(per_pixel=120),  # per pixel of the largest banner, and of each picture
    resources=(FONTS, FAMILIES),
)
def generate_banner(
    request: generation_pb2.GenerateBannerRequest, ctx: CallContext
) -> generation_pb2.GenerateBannerResponse:
    """Banners in every requested size: a content-aware layout per size, copy fitted and
    coloured for contrast, products cut out, optional layered PSDs."""
    variants = request.variants_per_size or 1
    if len(request.sizes) * variants > MAX_DESIGNS:
        raise InvalidArgument.field(
            "variants_per_size",
            f"{len(request.sizes)} sizes x {variants} variants is more than {MAX_DESIGNS} designs",
        )
    copy = {f: getattr(request, f) for f in ("headline", "subline", "call_to_action")}
    check_copy(ctx.resource("fonts"), copy)
    ctx.admit(max(s.width * s.height for s in request.sizes), "banner canvas")
    with ctx.stage("materials"):
        products = cut_out_all(ctx, request.product_images)
        logo = read_logo(ctx, request.logo)
        background = None
        if request.HasField("background"):
            background = ctx.read_image(request.background, "background", alpha=False)
    brand = brand_colours(request.palette, [*products, logo])
    seed = seed_of(request.seed)
    assets = render.Assets(products, logo, background, colour.harmony(brand), brand, seed)
    materials = layout.Materials.of(
        products,
        logo,
        request.headline.strip(),
        request.subline.strip(),
        request.call_to_action.strip(),
    )
    families = ctx.resource("layout-families")
    fit = functools.partial(typography.fit, fonts=ctx.resource("fonts"))
    response = generation_pb2.GenerateBannerResponse(seed=seed)
    for i, size in enumerate(request.sizes):
        scene = render.scene_of(background, size.width, size.height)
        try:
            with ctx.stage("layout"):
                solved = layout.solve(
                    families, size.width, size.height, materials, fit, scene, variants
                )
        except ValueError as err:
            raise InvalidArgument.field(f"sizes[{i}]", str(err)) from None
        for variant in range(variants):
            # More variants than distinct layouts: the same layout with another backdrop.
            chosen = solved[variant % len(solved)]
            with ctx.stage("render"):
                stack = render.draw(chosen, dataclasses.replace(assets, seed=seed + variant))
            response.banners.append(
                design_message(ctx, stack, chosen, variant, request.output, request.layered_psd)
            )
    response.metadata.CopyFrom(ctx.metadata())
    return response
