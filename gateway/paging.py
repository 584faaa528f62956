"""Page tokens of List RPCs: an opaque offset."""

from common.errors import InvalidArgument


def page_offset(token: str) -> int:
    """Offset encoded in a page token ("" is the first page).

    Raises:
        InvalidArgument: the token is not one this server gave out.
    """
    if not token:
        return 0
    if not token.isdigit():
        raise InvalidArgument.field("page_token", "is not a token from a previous page")
    return int(token)


def next_token(offset: int, page_size: int, fetched: int) -> str:
    """Token of the next page when `fetched` (asked for page_size + 1) shows there is one."""
    return str(offset + page_size) if fetched > page_size else ""
