"""EditingService: the family's capabilities, one module each."""

from __future__ import annotations

from common.provider import Provider
from services.editing.convert_image import convert_image
from services.editing.erase_image import erase_image
from services.editing.erase_video import erase_video

CAPABILITIES = [convert_image, erase_image, erase_video]


def provider() -> Provider:
    """The editing service process."""
    return Provider("editing", CAPABILITIES)
