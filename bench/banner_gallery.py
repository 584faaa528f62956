"""The README's banner gallery: ``python -m bench.banner_gallery`` draws, in this process, the
designs GenerateBanner makes for the bench's two bottles and logo in seven sizes with English
and Chinese copy (every variant of 1080x1080), and writes them as one contact sheet to
``docs/images/banners.jpg``."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from bench.banner_scenes import COPY, bottles, logo
from common.outputs import contact_sheet
from services.generation import colour, layers, layout, render, typography
from services.generation.materials import LAYOUTS, brand_colours, tight
from vipro.v1 import common_pb2

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "banners.jpg"
SIZES = [(1200, 628), (300, 250), (160, 600), (728, 90), (1080, 1920), (320, 50)]
SQUARE_VARIANTS = 3


def designs(copy: str) -> list[np.ndarray]:
    """The first design of each of :data:`SIZES` and every variant of 1080x1080, RGB."""
    fit = functools.partial(typography.fit, fonts=typography.installed_fonts())
    families = layout.load_families(LAYOUTS)
    pictures, brand_logo = bottles(), logo()
    materials = layout.Materials.of(pictures, brand_logo, *COPY[copy])
    brand = brand_colours(common_pb2.Palette(), [*pictures, brand_logo])
    assets = render.Assets(pictures, tight(brand_logo), None, colour.harmony(brand), brand, 1)
    drawn = []
    for width, height, variants in [(1080, 1080, SQUARE_VARIANTS)] + [(*s, 1) for s in SIZES]:
        for solved in layout.solve(families, width, height, materials, fit, variants=variants):
            flat = layers.flatten(render.draw(solved, assets), width, height)
            drawn.append(np.ascontiguousarray(flat[..., :3]))
    return drawn


def main() -> Path:
    pictures = designs("en-long") + designs("zh")
    sheet = contact_sheet(pictures, row_height=300)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(OUT), sheet[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    return OUT


if __name__ == "__main__":
    print(main())
