"""Run the manufacturing service: ``python -m services.manufacturing --help``."""

from common.provider import main
from services.manufacturing.server import provider

if __name__ == "__main__":
    main(provider())
