"""SegmentationService: the family's capabilities, one module each."""

from __future__ import annotations

from common.provider import Provider, Resource
from services.segmentation import matting
from services.segmentation.detect_faces import detect_faces
from services.segmentation.detect_insertion_slots import detect_insertion_slots
from services.segmentation.detect_text import detect_text
from services.segmentation.matte import matte
from services.segmentation.segment_object import segment_object
from services.segmentation.segment_person import segment_person

CAPABILITIES = [
    segment_object,
    segment_person,
    detect_text,
    detect_faces,
    matte,
    detect_insertion_slots,
]


def provider() -> Provider:
    """The segmentation service process."""
    return Provider(
        "segmentation",
        CAPABILITIES,
        families=("segmentation",),
        resources=(Resource("matting-kernels", matting.warm_up),),
    )
