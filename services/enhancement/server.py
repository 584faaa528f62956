"""EnhancementService: the family's capabilities, one module each."""

from __future__ import annotations

from common.provider import Provider
from services.enhancement.denoise import denoise
from services.enhancement.interpolate_frames import interpolate_frames
from services.enhancement.super_resolve import super_resolve

CAPABILITIES = [super_resolve, denoise, interpolate_frames]


def provider() -> Provider:
    """The enhancement service process."""
    return Provider("enhancement", CAPABILITIES, families=("enhancement",))
