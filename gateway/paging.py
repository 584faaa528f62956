"""Page tokens of List RPCs: an opaque offset."""

from common.errors import InvalidArgument

MAX_TOKEN_DIGITS = 18
"""Offsets up to 10**18 - 1, all below SQLite's largest integer (2**63 - 1)."""


def page_offset(token: str) -> int:
    """Offset encoded in a page token ("" is the first page).

    Raises:
        InvalidArgument: the token is not one this server gave out.
    """
    if not token:
        return 0
    # ASCII digits only ("²".isdigit() is true) and within SQLite's 64-bit integers.
    if not (token.isascii() and token.isdigit() and len(token) <= MAX_TOKEN_DIGITS):
        raise InvalidArgument.field("page_token", "is not a token from a previous page")
    return int(token)


def next_token(offset: int, page_size: int, fetched: int) -> str:
    """Token of the next page when `fetched` (asked for page_size + 1) shows there is one."""
    return str(offset + page_size) if fetched > page_size else ""
