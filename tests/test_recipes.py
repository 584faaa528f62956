"""Recipe expressions: references, optional references and the shipped recipes' checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.production import load_recipes, lookup, render

RECIPES = Path(__file__).resolve().parents[1] / "deploy" / "recipes"
SCOPE = {
    "params": {"sizes": [{"width": 300.0, "height": 250.0}]},
    "roles": {
        "product": [{"name": "a", "image": {"asset_id": "x"}}, {"name": "b", "image": {}}],
        "headline": [{"name": "h", "text": "Summer Sale"}],
    },
}


def test_a_whole_reference_keeps_its_type_and_star_maps_over_a_list():
    assert render("${params.sizes}", SCOPE) == [{"width": 300.0, "height": 250.0}]
    assert lookup(SCOPE, "roles.product[*].name") == ["a", "b"]
    assert render("${roles.product[0].name}-${params.sizes[0].width}", SCOPE) == "a-300"


def test_an_optional_reference_to_a_missing_path_is_left_out():
    template = {
        "logo": "${roles.logo[0].image?}",
        "headline": "${roles.headline[0].text?}",
        "images": ["${roles.product[0].image?}", "${roles.background[0].image?}"],
        "name": "banner${roles.logo[0].name?}",
    }
    assert render(template, SCOPE) == {
        "headline": "Summer Sale",
        "images": [{"asset_id": "x"}],
        "name": "banner",
    }


def test_a_required_reference_to_a_missing_path_raises():
    with pytest.raises(KeyError):
        render({"logo": "${roles.logo[0].image}"}, SCOPE)


def test_every_shipped_recipe_loads_with_one_recipe_per_production_type():
    recipes = load_recipes(RECIPES)
    assert {
        "general",
        "resize",
        "assemble",
        "imitate",
        "edit",
        "enhance",
        "extend",
        "summary",
    } <= set(recipes)
    assert recipes["general"].capabilities() == ["generation.GenerateBanner"]
    assert recipes["assemble"].capabilities() == ["generation.GenerateBanner"]
    assert recipes["imitate"].capabilities() == ["generation.ImitateDesign"]
