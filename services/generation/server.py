"""GenerationService: the family's capabilities, one module each."""

from __future__ import annotations

from common.provider import Provider
from services.generation.generate_banner import generate_banner

CAPABILITIES = [generate_banner]


def provider() -> Provider:
    """The generation service process."""
    return Provider("generation", CAPABILITIES, families=("generation",))
