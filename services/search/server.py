"""SearchService process: validates every RPC of the contract; capabilities land here."""

from common.provider import Provider


def provider() -> Provider:
    """The search service process."""
    return Provider("search", [], families=("search",))
