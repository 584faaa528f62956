"""New materials laid into a reference design's geometry (:mod:`.decompose` found its roles).

The reference's roles are scaled to the output size; the new copy is set into the zone the
reference's copy took (re-flowed: the same alignment, the largest sizes that fit), new products
stand in the reference's product boxes without distortion, the logo takes the logo's corner.
With a low ``fidelity`` only the reference's style is kept and the layout engine arranges the
materials (see :func:`layouts`).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.generation import layout
from services.generation.decompose import Decomposition, union
from services.generation.layout import Box, Family, Fit, Layout, Materials, Placement

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
    when it holds everything without overlap), then layouts of the engine's families."""
    found: list[Layout] = []
    if fidelity >= STYLE_ONLY:
        own = transfer(reference, materials, width, height, fit)
        if layout.valid(own) and own.placements:
            found.append(own)
    if len(found) < variants:
        found += layout.solve(families, width, height, materials, fit, variants=variants)
    return found[:variants]
