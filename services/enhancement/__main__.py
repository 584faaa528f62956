"""Run the enhancement service: ``python -m services.enhancement --help``."""

from common.provider import main
from services.enhancement.server import provider

if __name__ == "__main__":
    main(provider())
