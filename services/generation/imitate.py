"""New materials laid into a reference design's geometry (:mod:`.decompose` found its roles).

The reference's roles are scaled to the output size; the new copy is set into the zone the
reference's copy took (re-flowed: the same alignment, the largest sizes that fit), new products
stand in the reference's product boxes without distortion, the logo takes the logo's corner.
With a low ``fidelity`` only the reference's style is kept and the layout engine arranges the
materials (see :func:`layouts`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.generation import layout
from services.generation.decompose import Decomposition, union
from services.generation.layout import Box, Family, Fit, Layout, Materials, Placement

ASPECT_TOLERANCE = 1.3
"""Up to this factor between the output's aspect and the reference's, the reference's boxes
are scaled; beyond it they would leave products small and ground empty."""
STYLE_ONLY = 0.5
"""Below this fidelity the layout engine arranges the materials (the reference's colours and
background style are kept); from it on, the reference's geometry is."""


def scaled(box: Box, sx: float, sy: float) -> Box:
    """A box scaled from the reference to the output canvas."""
    return (round(box[0] * sx), round(box[1] * sy), round(box[2] * sx), round(box[3] * sy))


def in_box(box: Box, aspect: float, anchor: str = "bottom") -> Box:
    """The largest ``aspect`` (width/height) box inside ``box``, centred across it and
    standing on its bottom (``anchor="bottom"``) or centred."""
    width, height = layout.fit_aspect(box, aspect)
    left, width = layout.centred(box[0], box[2], width)
    top = box[3] - height if anchor == "bottom" else (box[1] + box[3] - height) // 2
    return (left, top, left + width, top + height)


def transfer(
    reference: Decomposition, materials: Materials, width: int, height: int, fit: Fit
) -> Layout:
    """The materials in the reference's geometry on a ``width`` x ``height`` canvas.

    Copy is re-flowed in the zone the reference's copy (headline, subline, button) took, top
    first with the reference's alignment; products take the reference's product boxes in order
    (more products than boxes share the last box; fewer leave boxes empty); the logo takes the
    logo's box. Copy that does not fit is dropped as the layout engine drops it.
    """
    sx, sy = width / reference.width, height / reference.height
    placements: list[Placement] = []
    dropped: list[str] = []
    copy_boxes = [
        scaled(box, sx, sy)
        for role, box in reference.roles
        if role in ("headline", "subline", "call_to_action")
    ]
    if copy_boxes:
        roles = [r for r in layout.TEXT_ROLES if materials.text(r)]
        placed, dropped = layout.copy_stack(
            fit, materials, union(copy_boxes), roles, reference.align, "start"
        )
        placements += placed
    else:
        dropped = [r for r in layout.TEXT_ROLES if materials.text(r)]
    boxes = [scaled(b, sx, sy) for b in reference.boxes("product")]
    if boxes and materials.products:
        # One product per reference box; what is left over shares the last box.
        last = len(boxes) - 1
        for i, aspect in enumerate(materials.products[:last]):
            placements.append(Placement("product", in_box(boxes[i], aspect), index=i))
        gap = layout.margin_of(width, height)
        for extra in layout.place_products(boxes[last], materials.products[last:], gap):
            placements.append(Placement("product", extra.box, index=last + extra.index))
    logos = reference.boxes("logo")
    if logos and materials.logo is not None:
        placements.append(
            Placement("logo", in_box(scaled(logos[0], sx, sy), materials.logo, "centre"))
        )
    return Layout(width, height, "reference", (), placements, dropped)


def as_family(reference: Decomposition) -> Family | None:
    """The reference's arrangement as a layout family, to be solved at another aspect: copy
    and products side by side (row) or stacked (column) in the reference's order, the copy's
    share of that axis about the reference's, its alignment, the logo's corner. None when the
    reference has no copy or no products, or they overlap along both axes."""
    copy = [b for r, b in reference.roles if r in ("headline", "subline", "call_to_action")]
    products = reference.boxes("product")
    if not copy or not products:
        return None
    text, goods = union(copy), union(products)
    for axis, lo, hi, size in (("row", 0, 2, reference.width), ("column", 1, 3, reference.height)):
        if text[hi] <= goods[lo] or goods[hi] <= text[lo]:
            share = (text[hi] - text[lo]) / size
            zones = [
                layout.Zone("copy", (max(0.2, share * 0.85), min(0.7, share * 1.15))),
                layout.Zone("product"),
            ]
            if goods[lo] < text[lo]:
                zones.reverse()
            return Family(
                name="reference",
                description="the reference's arrangement",
                aspect=(0.01, 100.0),
                axis=axis,
                zones=tuple(zones),
                text_align=(reference.align,),
                justify=("center", "start"),
                logo=tuple(_corner(b, reference) for b in reference.boxes("logo")[:1])
                or ("top-start",),
            )
    return None


def _corner(box: Box, reference: Decomposition) -> str:
    """The corner (or mid-edge) of the canvas nearest a box's centre."""
    cx, cy = (box[0] + box[2]) / 2 / reference.width, (box[1] + box[3]) / 2 / reference.height
    side = "start" if cx < 1 / 3 else "end" if cx > 2 / 3 else "center"
    return f"{'top' if cy < 0.5 else 'bottom'}-{side}"


def layouts(
    reference: Decomposition,
    materials: Materials,
    width: int,
    height: int,
    fit: Fit,
    families: Sequence[Family],
    fidelity: float,
    variants: int,
) -> list[Layout]:
    """The designs to draw: the reference's geometry first (from ``STYLE_ONLY`` fidelity on,
    when it holds everything without overlap; at an aspect more than ASPECT_TOLERANCE away
    from the reference's, its arrangement solved as a family, :func:`as_family`, so products
    and copy fill the new shape), then layouts of the engine's families."""
    found: list[Layout] = []
    family = as_family(reference)
    stretch = abs(np.log((width / height) / (reference.width / reference.height)))
    if fidelity >= STYLE_ONLY and stretch > np.log(ASPECT_TOLERANCE) and family is not None:
        found += layout.solve([family], width, height, materials, fit)
    elif fidelity >= STYLE_ONLY:
        own = transfer(reference, materials, width, height, fit)
        if layout.valid(own) and own.placements:
            found.append(own)
    if len(found) < variants:
        found += layout.solve(families, width, height, materials, fit, variants=variants)
    return found[:variants]
