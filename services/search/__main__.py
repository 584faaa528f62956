"""Run the search service: ``python -m services.search --help``."""

from common.provider import main
from services.search.server import provider

if __name__ == "__main__":
    main(provider())
