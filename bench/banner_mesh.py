"""The banner measures that need the running services: our own OCR reading each headline
back, ImitateDesign on references drawn from known layouts, and a whole GenerateBanner request
through the gateway.

Started by ``python -m bench banners`` (bench/banners.py) on a mesh of its own: a real Triton
(PP-OCR for DetectText), the gateway, and the segmentation, editing and generation services.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

from common.client import connect
from common.mesh import temporary
from services.generation import colour
from tests.helpers import box_iou, png
from vipro.v1 import (
    common_pb2,
    generation_pb2,
    generation_pb2_grpc,
    segmentation_pb2,
    segmentation_pb2_grpc,
)

Box = tuple[int, int, int, int]
ROLE_IOU = 0.7
"""A reference element counts as recovered when a found box of its role overlaps it this much."""


@dataclass
class Services:
    """Stubs to the bench's mesh."""

    segmentation: segmentation_pb2_grpc.SegmentationServiceStub
    generation: generation_pb2_grpc.GenerationServiceStub


@contextmanager
def services() -> Iterator[Services]:
    """A mesh with Triton, the gateway and the three services GenerateBanner and ImitateDesign
    use, for the length of the block."""
    with temporary("segmentation", "editing", "generation") as mesh:
        channel = connect(mesh.gateway_address, mesh.api_key)
        yield Services(
            segmentation_pb2_grpc.SegmentationServiceStub(channel),
            generation_pb2_grpc.GenerationServiceStub(channel),
        )


def squeeze(text: str) -> str:
    """Text without white space: OCR lines joined, whatever the script."""
    return "".join(text.split())


def read_back(stub, rgb: np.ndarray, box: Box) -> str:
    """What DetectText (with recognition, by line) reads inside ``box`` of ``rgb``, lines in
    reading order, white space dropped."""
    reply = stub.DetectText(
        segmentation_pb2.DetectTextRequest(
            image=common_pb2.Image(inline=png(rgb)),
            recognize=True,
            granularity=segmentation_pb2.TEXT_GRANULARITY_LINE,
            mask_mode=segmentation_pb2.TEXT_MASK_MODE_NONE,
        ),
        timeout=120,
    )
    inside = [
        r.text
        for r in reply.regions
        if box[0] <= r.box.x + r.box.width / 2 <= box[2]
        and box[1] <= r.box.y + r.box.height / 2 <= box[3]
    ]
    return squeeze("".join(inside))


def boxes(elements, label: str) -> list[Box]:
    """(x0, y0, x1, y1) of the proto boxes labelled ``label``."""
    return [(b.x, b.y, b.x + b.width, b.y + b.height) for b in elements if b.label == label]


def recovered(truth: dict[str, list[Box]], found) -> list[bool]:
    """Per element of the reference's true layout: whether a found element of its role
    overlaps it by at least :data:`ROLE_IOU`."""
    return [
        any(box_iou(box, other) >= ROLE_IOU for other in boxes(found, role))
        for role, role_boxes in truth.items()
        for box in role_boxes
    ]


def palette_delta_e(reference: np.ndarray, design: common_pb2.Palette) -> float:
    """Mean CIEDE2000 from each main colour of ``reference`` (weighted by its share) to the
    nearest main colour of the design."""
    ref_rgb, ref_weights = colour.extract_palette(reference, k=5)
    ours = np.array([[c.r, c.g, c.b] for c in design.colors], np.uint8)
    distances = colour.delta_e(
        colour.rgb_to_lab(ref_rgb)[:, None, :], colour.rgb_to_lab(ours)[None, :, :]
    ).min(axis=1)
    return float(np.sum(distances * ref_weights) / np.sum(ref_weights))


def imitate(
    stub: Services,
    reference: np.ndarray,
    truth: dict[str, list[Box]],
    products: list[np.ndarray],
    copy: tuple[str, str, str],
    size: tuple[int, int],
) -> dict[str, float]:
    """ImitateDesign of one reference with new products and copy at fidelity 1: role recovery,
    palette distance, the new headline read back, seconds."""
    headline, subline, action = copy
    t0 = time.perf_counter()
    reply = stub.generation.ImitateDesign(
        generation_pb2.ImitateDesignRequest(
            reference=common_pb2.Image(inline=png(reference)),
            product_images=[common_pb2.Image(inline=png(p)) for p in products],
            headline=headline,
            subline=subline,
            call_to_action=action,
            size=common_pb2.Size(width=size[0], height=size[1]),
            fidelity=1.0,
            seed=1,
            output=common_pb2.OutputOptions(format=common_pb2.IMAGE_FORMAT_PNG),
        ),
        timeout=300,
    )
    seconds = time.perf_counter() - t0
    design = reply.designs[0]
    flat = cv2.imdecode(np.frombuffer(design.image.inline, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    found = boxes(design.elements, "headline")
    read = read_back(stub.segmentation, flat, found[0]) if found else ""
    return {
        "roles": recovered(truth, reply.reference_elements),
        "delta_e": palette_delta_e(reference, design.palette),
        "read_back": float(read == squeeze(headline)),
        "seconds": seconds,
    }


def whole_request(stub: Services, products: list[np.ndarray], copy, logo: np.ndarray) -> float:
    """Seconds for one GenerateBanner through the gateway: two product photos without alpha
    (so both are cut out by SegmentObject), a logo, six sizes x four variants, PNG out."""
    headline, subline, action = copy
    sizes = [(1200, 628), (1080, 1080), (300, 250), (728, 90), (160, 600), (1080, 1920)]
    request = generation_pb2.GenerateBannerRequest(
        product_images=[common_pb2.Image(inline=png(p)) for p in products],
        logo=common_pb2.Image(inline=png(logo)),
        headline=headline,
        subline=subline,
        call_to_action=action,
        sizes=[common_pb2.Size(width=w, height=h) for w, h in sizes],
        variants_per_size=4,
        seed=7,
    )
    t0 = time.perf_counter()
    reply = stub.generation.GenerateBanner(request, timeout=300)
    assert len(reply.banners) == 24
    return time.perf_counter() - t0
