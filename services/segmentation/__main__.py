"""Run the segmentation service: ``python -m services.segmentation --help``."""

from common.provider import main
from services.segmentation.server import provider

if __name__ == "__main__":
    main(provider())
