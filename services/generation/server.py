"""GenerationService process: validates every RPC of the contract; capabilities land here."""

from common.provider import Provider


def provider() -> Provider:
    """The generation service process."""
    return Provider("generation", [], families=("generation",))
