"""Typography: font choice by coverage, kinsoku and whole-word line breaking, fitting copy into a
box with nothing clipped, rendering; the fonts come from `make fonts`."""

from __future__ import annotations

import dataclasses
import itertools
import re
import time

import numpy as np
import pytest

from services.generation import typography
from services.generation.typography import (
    NO_LINE_END,
    NO_LINE_START,
    FontBook,
    FontsMissing,
    TextBlock,
    UnsupportedScript,
    fit,
    ink,
    render,
)

COPY = (
    "Summer Sale 50% OFF Shop now limited time offer free shipping on all orders New Collection "
    "Autumn Winter Exclusive members save big today only! Get yours (while stocks last)."
)
WORDS = COPY.split()
HAN = "夏季大促全场商品限时抢购满三百减五十会员再享九五折仅限今日新品上市包邮正品保障"
CJK_MARKS = "，。、！？：；（）《》「」【】…"


@pytest.fixture(scope="module")
def fonts() -> FontBook:
    try:
        return typography.installed_fonts()
    except FontsMissing as e:
        pytest.skip(f"fonts not installed ({e})")


def english(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=int(rng.integers(1, 9))))


def chinese(rng: np.random.Generator) -> str:
    """Han copy with CJK punctuation and now and then a Latin word among it."""
    parts = []
    for _ in range(int(rng.integers(3, 25))):
        roll = rng.random()
        if roll < 0.15:
            parts.append(str(rng.choice(list(CJK_MARKS))))
        elif roll < 0.25:
            parts.append(f" {rng.choice(WORDS)} ")
        else:
            parts.append(str(rng.choice(list(HAN))))
    return "".join(parts).strip() or "夏"


def at_size(text: str, size: int, ems: float, fonts: FontBook) -> TextBlock | None:
    """The text set at exactly ``size`` pixels in a box ``ems`` wide and of any height."""
    return fit(text, round(ems * size), 10_000, max_size=size, min_size=size, fonts=fonts)


def texts(block: TextBlock) -> list[str]:
    return [line.text for line in block.lines]


def test_faces_are_chosen_by_coverage_and_weight(fonts):
    assert fonts.choose("Summer Sale 50% OFF").name == "Open Sans"
    assert fonts.choose("夏季大促 Summer Sale 50% OFF").name == "Noto Sans CJK SC"
    bold = fonts.choose("限时抢购", "bold")
    assert (bold.weight, bold.name) == ("bold", "Noto Sans CJK SC")
    assert bold.path != fonts.choose("限时抢购").path  # a real bold file, not emboldened
    assert all(face.licence in ("OFL-1.1", "Apache-2.0") for face in fonts.faces)


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("مرحبا بكم", "Arabic"),
        ("ลดราคา 50%", "Thai"),
        ("बिक्री", "Devanagari"),
        ("🔥 Sale", "Emoji"),
    ],
)
def test_a_script_no_font_covers_is_refused_by_name(fonts, text, script):
    with pytest.raises(UnsupportedScript, match=script) as caught:
        fit(text, 400, 100, max_size=40, min_size=8, fonts=fonts)
    assert caught.value.script == script


def test_missing_fonts_fail_naming_the_make_target(tmp_path):
    manifest = tmp_path / "fonts.yaml"
    manifest.write_text(
        "fonts:\n  - {name: Nowhere Sans, weight: regular, file: /nonexistent/Nowhere.ttf,"
        " package: fonts-nowhere, licence: OFL-1.1}\n"
    )
    with pytest.raises(FontsMissing, match="make fonts"):
        FontBook.load(manifest)


def test_no_line_starts_with_a_comma_or_full_stop(fonts):
    # Five ideographs fill the 5.5 em line, so a naive break puts the mark after them first on
    # the next line; kinsoku keeps it with the ideograph before it.
    size = 40
    assert fonts.choose(HAN).font(size).getlength("一二三四五") <= 5.5 * size
    for mark in "，。":
        block = at_size(f"一二三四五{mark}六七八九十", size, 5.5, fonts)
        lines = texts(block)
        assert "".join(lines) == f"一二三四五{mark}六七八九十"
        assert not any(line.startswith(mark) for line in lines), lines
        assert len(lines) == 3  # as few lines as greedy breaking needs


def test_no_line_ends_with_an_opening_bracket(fonts):
    block = at_size("一二三四（五六）七八九十", 40, 5.5, fonts)
    assert texts(block) == ["一二三四", "（五六）", "七八九十"]
    block = at_size("一二三（ Summer Sale", 40, 5.5, fonts)  # a space does not loosen the bracket
    assert texts(block) == ["一二三", "（ Summer", "Sale"]


def test_chinese_lines_break_after_punctuation_and_come_out_even(fonts):
    # Greedy breaking fills the first line and strands the rest: "夏季大促，全场" / "五折起".
    size = 40
    block = at_size("夏季大促，全场五折起", size, 7.5, fonts)
    assert texts(block) == ["夏季大促，", "全场五折起"]
    block = at_size("仅限本周，先到先得。", size, 8.5, fonts)
    assert texts(block) == ["仅限本周，", "先到先得。"]


def test_a_slightly_smaller_size_keeps_chinese_phrases_whole(fonts):
    # 400 px wide: three lines of four ideographs (about 100 px) would be the largest, but
    # break 大促 and 全场 apart; two whole phrases of five (80 px) are set instead.
    block = fit("夏季大促，全场五折起", 400, 400, "bold", max_size=200, min_size=10, fonts=fonts)
    assert texts(block) == ["夏季大促，", "全场五折起"]
    assert block.size >= 0.75 * 100
    # With no pause to break at, the largest size wins and the phrase is broken.
    block = fit("全场水瓶五折起限时抢购", 300, 400, "bold", max_size=200, min_size=10, fonts=fonts)
    assert len(block.lines) > 1 and block.size > 0.75 * 300 / 4


def test_latin_lines_come_out_even(fonts):
    # Greedy breaking gives "Our biggest summer sale on" / "every bottle".
    block = at_size("Our biggest summer sale on every bottle", 40, 14, fonts)
    widths = [line.width for line in block.lines]
    assert len(widths) == 2 and max(widths) - min(widths) < 0.2 * 14 * 40, texts(block)


def test_kinsoku_holds_for_random_chinese_copy(fonts):
    rng = np.random.default_rng(16)
    for _ in range(150):
        text = chinese(rng)
        block = at_size(text, 24, rng.uniform(4, 12), fonts)
        if block is None:  # a Latin word or a kinsoku run wider than the line
            continue
        lines = texts(block)
        for before, after in itertools.pairwise(lines):
            assert before[-1] not in NO_LINE_END and after[0] not in NO_LINE_START, lines
        assert "".join(texts(block)).replace(" ", "") == text.replace(" ", "")


def test_latin_words_are_never_split(fonts):
    rng = np.random.default_rng(7)
    for _ in range(100):
        text = english(rng) if rng.random() < 0.5 else f"夏季大促 {english(rng)}"
        block = at_size(text, 30, rng.uniform(3, 15), fonts)
        if block is not None:
            latin = re.findall(r"[ -~]+", text)  # ASCII runs: their words, spaces between
            assert re.findall(r"[!-~]+", " ".join(texts(block))) == " ".join(latin).split()


def test_mixed_copy_keeps_latin_words_whole(fonts):
    block = at_size("夏季大促 Summer Sale 50% OFF", 40, 4.5, fonts)
    assert texts(block) == ["夏季大促", "Summer", "Sale", "50% OFF"]


def test_a_word_wider_than_the_box_does_not_fit(fonts):
    assert fit("Supercalifragilistic", 120, 500, max_size=60, min_size=16, fonts=fonts) is None
    assert fit("Supercalifragilistic", 400, 500, max_size=60, min_size=16, fonts=fonts)


def test_copy_too_long_for_the_box_at_min_size_does_not_fit(fonts):
    copy = "全场商品限时抢购，满三百减五十，会员再享九五折（仅限今日）。" * 4
    assert fit(copy, 200, 60, max_size=40, min_size=14, fonts=fonts) is None
    assert fit("Free shipping on all orders", 300, 200, max_size=40, min_size=8, max_lines=1)
    assert fit("Free shipping on all orders", 60, 200, max_size=40, min_size=8, max_lines=1) is None


def test_line_breaks_in_the_copy_are_kept(fonts):
    block = fit("SUMMER\nSALE", 1000, 1000, max_size=80, min_size=8, fonts=fonts)
    assert texts(block) == ["SUMMER", "SALE"]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_fitted_ink_lies_inside_the_box(fonts, language):
    rng = np.random.default_rng({"en": 1, "zh": 2}[language])
    fitted = 0
    for _ in range(60):
        text = english(rng) if language == "en" else chinese(rng)
        width, height = int(rng.integers(60, 1081)), int(rng.integers(30, 600))
        weight = "bold" if rng.random() < 0.5 else "regular"
        block = fit(text, width, height, weight, max_size=200, min_size=10, fonts=fonts)
        if block is None:
            continue
        fitted += 1
        assert 10 <= block.size <= 200
        assert block.width <= width and block.height <= height
        assert max(line.width for line in block.lines) == block.width
        for align in ("left", "center", "right"):
            coverage = ink(block, align)  # raises when ink falls outside the block
            assert coverage.shape == (block.height, block.width) and coverage.max() == 255
        rgba = render(block, (200, 30, 40))
        assert rgba.shape == (block.height, block.width, 4) and rgba.dtype == np.uint8
        assert (rgba[..., :3] == (200, 30, 40)).all()
        assert np.array_equal(rgba[..., 3], ink(block))
    assert fitted >= 40


def test_ink_outside_a_block_is_an_error_not_a_clip(fonts):
    block = fit("Summer Sale", 400, 100, max_size=60, min_size=8, fonts=fonts)
    for smaller in ({"width": block.width - 8}, {"height": block.height - 20}):
        with pytest.raises(RuntimeError, match="outside its block"):
            render(dataclasses.replace(block, **smaller), (0, 0, 0))


def test_alignment_moves_short_lines(fonts):
    block = fit("Summer Sale\nOFF", 600, 400, max_size=60, min_size=8, fonts=fonts)
    second = slice(block.lines[0].baseline + 1, block.lines[1].baseline + 1)  # no descenders
    columns = {
        align: np.flatnonzero(ink(block, align)[second].any(axis=0))
        for align in ("left", "center", "right")
    }
    assert columns["left"].min() < columns["center"].min() < columns["right"].min()
    assert columns["right"].max() >= block.width - 3


def test_a_larger_box_never_gives_a_smaller_size(fonts):
    rng = np.random.default_rng(3)
    for _ in range(60):
        text = english(rng) if rng.random() < 0.5 else chinese(rng)
        width, height = int(rng.integers(60, 700)), int(rng.integers(30, 300))
        grown = width + int(rng.integers(0, 200)), height + int(rng.integers(0, 100))
        small = fit(text, width, height, max_size=160, min_size=8, fonts=fonts)
        large = fit(text, *grown, max_size=160, min_size=8, fonts=fonts)
        if small is not None:
            assert large is not None and large.size >= small.size, (text, width, height, grown)


def bench(fonts: FontBook, repeats: int = 20) -> dict[str, float]:
    """Milliseconds per fit and per render of banner copy into candidate boxes (fonts warm)."""
    copies = (
        "Summer Sale 50% OFF",
        "夏季大促 Summer Sale 50% OFF",
        "全场满三百减五十，会员再享九五折",
    )
    boxes = ((728, 90), (300, 250), (1080, 400))
    blocks = [
        fit(c, w, h, max_size=200, min_size=10, fonts=fonts) for c in copies for w, h in boxes
    ]
    start = time.perf_counter()
    for _ in range(repeats):
        for copy in copies:
            for width, height in boxes:
                fit(copy, width, height, max_size=200, min_size=10, fonts=fonts)
    fitted = time.perf_counter()
    for _ in range(repeats):
        for block in blocks:
            render(block, (255, 255, 255))
    rendered = time.perf_counter()
    calls = repeats * len(blocks)
    return {
        "fit_ms": (fitted - start) / calls * 1e3,
        "render_ms": (rendered - fitted) / calls * 1e3,
    }


def test_bench_runs(fonts):
    assert set(bench(fonts, repeats=1)) == {"fit_ms", "render_ms"}


if __name__ == "__main__":
    print(bench(typography.installed_fonts()))
