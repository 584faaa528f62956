"""GenerationService: the family's capabilities, one module each."""

from __future__ import annotations

from common.provider import Provider
from services.generation.generate_banner import generate_banner
from services.generation.imitate_design import imitate_design
from services.generation.summarize_video import summarize_video

CAPABILITIES = [generate_banner, imitate_design, summarize_video]


def provider() -> Provider:
    """The generation service process."""
    return Provider("generation", CAPABILITIES, families=("generation",))
