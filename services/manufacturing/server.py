"""ManufacturingService process: validates every RPC of the contract; capabilities land here."""

from common.provider import Provider


def provider() -> Provider:
    """The manufacturing service process."""
    return Provider("manufacturing", [], families=("manufacturing",))
