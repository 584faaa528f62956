"""Run the generation service: ``python -m services.generation --help``."""

from common.provider import main
from services.generation.server import provider

if __name__ == "__main__":
    main(provider())
