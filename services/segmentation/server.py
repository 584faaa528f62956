"""SegmentationService process: validates every RPC of the contract; capabilities land here."""

from common.provider import Provider


def provider() -> Provider:
    """The segmentation service process."""
    return Provider("segmentation", [], families=("segmentation",))
