"""Run the editing service: ``python -m services.editing --help``."""

from common.provider import main
from services.editing.server import provider

if __name__ == "__main__":
    main(provider())
