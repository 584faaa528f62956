"""EnhancementService process: validates every RPC of the contract; capabilities land here."""

from common.provider import Provider


def provider() -> Provider:
    """The enhancement service process."""
    return Provider("enhancement", [], families=("enhancement",))
