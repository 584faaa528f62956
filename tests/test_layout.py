"""services.generation.layout: families load from data files, every solved layout keeps its
hard constraints (inside the canvas, nothing overlapping), copy is dropped by priority, and
variants differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.banner_scenes import COPY
from services.generation import layout

LAYOUTS = Path(__file__).resolve().parents[1] / "deploy" / "layouts"
SIZES = [(1200, 628), (1080, 1080), (300, 250), (728, 90), (160, 600), (1080, 1920), (970, 250),
         (336, 280), (468, 60), (300, 600), (1200, 1200), (1920, 1080)]  # fmt: skip


@pytest.fixture(scope="module")
def families() -> list[layout.Family]:
    return layout.load_families(LAYOUTS)


def materials(language: str, products: tuple[float, ...] = (0.6, 0.9)) -> layout.Materials:
    headline, subline, action = COPY[language]
    return layout.Materials(products, 2.5, headline, subline, action)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_size_keeps_the_hard_constraints(families, fit, language):
    for width, height in SIZES:
        for solved in layout.solve(families, width, height, materials(language), fit, variants=3):
            assert layout.valid(solved), (width, height, solved.placements)
            roles = [p.role for p in solved.placements]
            assert roles.count("product") == 2 and roles.count("logo") == 1
            for p in solved.placements:
                if p.block is not None:  # copy fits its box: typography never overflows it
                    box = p.text_box or p.box
                    assert p.block.width <= box[2] - box[0] and p.block.height <= box[3] - box[1]
            if min(width, height) >= 250:
                assert not solved.dropped, (width, height, solved.dropped)


def test_text_on_a_product_or_outside_the_canvas_is_invalid():
    def laid(*placements: layout.Placement) -> layout.Layout:
        return layout.Layout(300, 250, "test", (), list(placements), [])

    product = layout.Placement("product", (10, 10, 150, 240))
    assert layout.valid(laid(product, layout.Placement("headline", (160, 20, 290, 80))))
    assert not layout.valid(laid(product, layout.Placement("headline", (140, 20, 290, 80))))
    assert not layout.valid(laid(product, layout.Placement("headline", (160, 20, 301, 80))))


def test_copy_that_cannot_fit_is_dropped_subline_first(families, fit):
    long = layout.Materials(
        (1.0,), None, "Everything must go", "A subline far too long " * 6, "Buy"
    )
    solved = layout.solve(families, 320, 50, long, fit)[0]
    assert "subline" in solved.dropped
    assert solved.dropped.index("subline") == 0


def test_variants_differ_in_family_or_arrangement(families, fit):
    found = layout.solve(families, 1200, 628, materials("en"), fit, variants=4)
    keys = [(v.family, v.choice[1:]) for v in found]
    assert len(found) == 4 and len(set(keys)) == 4
    boxes = [tuple(sorted(p.box for p in v.placements)) for v in found]
    assert len(set(boxes)) == 4


def test_a_family_file_with_a_bad_key_names_it(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "name: bad\naspect: [1, 2]\naxis: diagonal\nzones: [{holds: product}]\n"
    )
    with pytest.raises(ValueError, match=r"bad\.yaml: axis: must be row or column"):
        layout.load_family(tmp_path / "bad.yaml")
    (tmp_path / "bad.yaml").write_text(
        "name: bad\naspect: [1, 2]\naxis: row\nzones: [{holds: products}]\n"
    )
    with pytest.raises(ValueError, match=r"zones\[0\]\.holds"):
        layout.load_family(tmp_path / "bad.yaml")


def test_every_shipped_family_serves_its_own_aspect_range(families, fit):
    for family in families:
        for aspect in (family.aspect[0] * 1.05, family.aspect[1] * 0.95):
            width, height = (1000, max(50, round(1000 / aspect)))
            solved = layout.solve([family], width, height, materials("en"), fit)[0]
            assert layout.valid(solved) and solved.family == family.name
    assert len({f.name for f in families}) == len(families) >= 4


def test_a_designers_new_family_file_is_solved_without_code(tmp_path, families, fit):
    (tmp_path / "banner_band.yaml").write_text(
        "name: banner_band\n"
        "description: A wide band of copy across the top, products below it.\n"
        "aspect: [1.5, 2.5]\n"
        "axis: column\n"
        "zones:\n"
        "  - {holds: copy, share: [0.3, 0.4]}\n"
        "  - {holds: product}\n"
        "text_align: [center]\n"
        "logo: [bottom-start]\n"
    )
    added = layout.load_families(tmp_path)
    found = layout.solve([*families, *added], 1200, 628, materials("en"), fit, variants=4)
    mine = [v for v in found if v.family == "banner_band"]
    assert mine, [v.family for v in found]
    headline = mine[0].boxes("headline")[0]
    assert all(headline[3] <= product[1] for product in mine[0].boxes("product"))
    assert mine[0].boxes("logo")[0][0] < 100 and layout.valid(mine[0])


def test_a_long_headline_alone_takes_the_whole_copy_zone(families, fit):
    # 320x50: no room for the subline or the button beside the products, so the headline
    # may take all the zone's height (two lines at 14 px) rather than being dropped too.
    (tiny,) = layout.solve(families, 320, 50, materials("en-long"), fit)
    assert "headline" not in tiny.dropped and tiny.boxes("product")
    (headline,) = [p for p in tiny.placements if p.role == "headline"]
    assert len(headline.block.lines) == 2


def test_centred_items_share_their_centre_exactly(families, fit):
    assert layout.centred(0, 160, 61) == (49, 62)  # 99 px of slack: one pixel longer
    assert layout.centred(10, 20, 9) == (10, 10)  # no room to grow: one pixel shorter
    assert layout.centred(0, 10, 4) == (3, 4)
    tower = [f for f in families if f.name == "tower"]
    (solved,) = layout.solve(tower, 160, 600, materials("zh-short"), fit)
    centres = {p.box[0] + p.box[2] for p in solved.placements}
    assert centres == {160}, solved.placements  # every item centred on the column's axis


def test_products_go_in_a_row_or_a_column_whichever_shows_them_larger():
    bottles = (0.4, 0.4)
    tall = layout.place_products((0, 0, 144, 250), bottles, 8)  # a tower's product zone
    assert tall[0].box[3] == tall[1].box[3] == 250, "bottles side by side, standing"
    wide = layout.place_products((0, 0, 144, 250), (3.0, 3.0), 8)  # two wide boxes
    assert wide[0].box[3] <= wide[1].box[1], "wide boxes one above the other"
    for placed in (tall, wide):
        assert not layout.intersects(placed[0].box, placed[1].box)
        assert all(p.box[0] >= 0 and p.box[2] <= 144 and p.box[3] <= 250 for p in placed)


def test_a_short_headline_in_a_narrow_tower_is_set_large(families, fit):
    tower = [f for f in families if f.name == "tower"]
    (solved,) = layout.solve(tower, 160, 600, materials("zh-short"), fit)
    (headline,) = [p for p in solved.placements if p.role == "headline"]
    # Four characters across a 144 px column: over 30 px, not the old 18 % cap (25 px).
    assert headline.block.size > 30
