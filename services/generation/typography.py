"""Typography for banners and posters: font choice, line breaking, fitting copy into a box, and
rendering it.

A text is set in one face: the first of :class:`FontBook` (``deploy/fonts/fonts.yaml``) of the
asked weight whose character map holds every character, so nothing is ever drawn as a missing
glyph box; text no face covers raises :class:`UnsupportedScript` naming its script. Lines break
at spaces (Latin words stay whole, no hyphenation) and between ideographs, kana or Hangul,
except where kinsoku forbids: no line starts with closing punctuation or small kana, none ends
with an opening bracket. :func:`fit` finds the largest font size (pixels per em) at which the
broken lines fit a box, measured with the glyphs' real bounds; :func:`render` draws a fitted
block, anti-aliased, into an RGBA array of exactly its size.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import yaml
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "fonts" / "fonts.yaml"
INSTALL_HINT = "run `make fonts` as root: it installs the Debian packages deploy/fonts lists"
REFERENCE_SIZE = 1000  # pixels per em at which pieces are measured once; advances scale linearly

Weight = Literal["regular", "bold"]
Align = Literal["left", "center", "right"]

# Break opportunities follow spaces; ideographic space breaks like a Latin one.
SPACES = frozenset(" \u3000")
# Kinsoku shori (as in JIS X 4051 and GB/T 15834 practice) with the ASCII counterparts: closing
# punctuation, iteration marks and small kana never start a line; opening brackets never end one.
NO_LINE_START = frozenset(
    "。，、．：；！？）」』】〕》〉〗〙｝］〞’”…‥・·〜～ー々〻ゝゞヽヾ゛゜％‰℃"
    "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ"
    ",.;:!?)]}%"
)
NO_LINE_END = frozenset("（「『【〔《〈〖〘｛［〝‘“￥＄([{")
# A break right after these reads as a pause; between two other ideographs it may split a phrase.
BREAK_AFTER = frozenset("。，、．：；！？）」』】〕》〉〗〙｝］…,.;:!?)]}")
MID_PHRASE_BREAK = 0.3
"""Cost of a line break between two ideographs, against the squared slack (as a share of the
line) of each line: a phrase stays whole unless that leaves a line a third emptier."""
WHOLE_PHRASES = 0.75
"""Copy is set up to this much smaller than the largest size that fits when that keeps every
phrase whole (lines break only after punctuation or at spaces): 夏季大促，/全场五折起 rather
than 夏季大/促，全/场五折起."""


class TypographyError(Exception):
    """Base of the errors of this module."""


class FontsMissing(TypographyError):
    """A face of the font manifest is not installed on this machine."""


class UnsupportedScript(TypographyError):
    """No installed face covers every character of a text.

    Attributes:
        script: the script (or scripts, comma-separated) of the characters left uncovered,
            e.g. ``"Arabic"``.
        chars: those characters.
    """

    def __init__(self, script: str, chars: str):
        shown = " ".join(f"U+{ord(c):04X} {c!r}" for c in chars[:5])
        super().__init__(f"no installed font covers {script}: {shown}")
        self.script = script
        self.chars = chars


@dataclass(frozen=True, eq=False)
class Face:
    """One installed font face at one weight.

    Attributes:
        name: family name, e.g. ``"Noto Sans CJK SC"``.
        weight: ``"regular"`` or ``"bold"`` (a bold face is a real bold file, not emboldened).
        path: the font file.
        index: the face's number inside a font collection (0 for a single-face file).
        licence: SPDX identifier of the font's licence.
        chars: code points of its character map.
    """

    name: str
    weight: Weight
    path: Path
    index: int
    licence: str
    chars: frozenset[int] = field(repr=False)

    def font(self, size: int) -> ImageFont.FreeTypeFont:
        """The face at ``size`` pixels per em (cached)."""
        return _font(str(self.path), self.index, size)


# One size of a CJK collection face holds about 2.4 MB of FreeType state and takes about 6 ms to
# open: a banner's few sizes stay open, not every size ever asked for.
@functools.lru_cache(maxsize=32)
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


@functools.lru_cache(maxsize=65536)
def _em_width(face: Face, text: str) -> float:
    """Advance width of ``text`` in ems (kerning inside it included)."""
    return face.font(REFERENCE_SIZE).getlength(text) / REFERENCE_SIZE


@functools.lru_cache(maxsize=65536)
def _line_bounds(face: Face, size: int, line: str) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of ``line``'s ink and advance at ``size`` pixels per em,
    from its pen start on the baseline; layouts try the same lines in many boxes."""
    return face.font(size).getbbox(line, anchor="ls") if line else (0, 0, 0, 0)


def _open_face(entry: dict) -> Face:
    """The face an entry of the manifest names, with its character map.

    Raises:
        FontsMissing: the file is absent, or holds no face of that name and weight.
    """
    path, name, weight = Path(entry["file"]), entry["name"], entry["weight"]
    if not path.is_file():
        raise FontsMissing(f"font file {path} ({name} {weight}) is missing; {INSTALL_HINT}")
    index = 0
    while True:
        try:
            font = ImageFont.truetype(str(path), 16, index=index)
        except OSError as e:
            raise FontsMissing(f"{path} holds no face {name} {weight}; {INSTALL_HINT}") from e
        if font.getname() == (name, weight.title()):
            break
        index += 1
    cmap = TTFont(path, fontNumber=index, lazy=True).getBestCmap()
    return Face(name, weight, path, index, entry["licence"], frozenset(cmap))


@dataclass(frozen=True)
class FontBook:
    """The faces text is set in, in order of preference.

    Attributes:
        faces: every face of the manifest, in its order.
    """

    faces: tuple[Face, ...]

    @classmethod
    def load(cls, manifest: Path = MANIFEST) -> FontBook:
        """The faces a manifest lists (``deploy/fonts/fonts.yaml`` by default), with their
        character maps (about 0.3 s for the CJK faces).

        Raises:
            FontsMissing: a listed face is not installed.
        """
        entries = yaml.safe_load(manifest.read_text())["fonts"]
        return cls(tuple(_open_face(entry) for entry in entries))

    def choose(self, text: str, weight: Weight = "regular") -> Face:
        """The first face of ``weight`` covering every character of ``text`` (line breaks
        aside).

        Raises:
            UnsupportedScript: no face of that weight covers them all; names the script of the
                characters that the most covering face lacks.
            ValueError: no face of that weight at all.
        """
        faces = [face for face in self.faces if face.weight == weight]
        if not faces:
            raise ValueError(f"no {weight} face in the font book")
        codes = {ord(c) for c in "".join(text.splitlines())}
        for face in faces:
            if codes <= face.chars:
                return face
        missing = sorted(chr(c) for c in min((codes - face.chars for face in faces), key=len))
        raise UnsupportedScript(
            ", ".join(sorted({script_of(c) for c in missing})), "".join(missing)
        )


@functools.cache
def installed_fonts() -> FontBook:
    """The font book of ``deploy/fonts/fonts.yaml``, loaded once per process.

    Raises:
        FontsMissing: a listed face is not installed (``make fonts`` installs them).
    """
    return FontBook.load()


def script_of(char: str) -> str:
    """The script of a character, for messages: ``"Arabic"``, ``"Thai"``, ``"Han"``; symbols and
    punctuation are ``"Emoji"`` (from U+1F000) or ``"Symbols"``, tabs and other invisible
    characters ``"Control"``.

    A letter's, mark's or digit's Unicode name begins with its script's name ("ARABIC LETTER
    ALEF", "CJK UNIFIED IDEOGRAPH-4E2D"), past a width prefix ("FULLWIDTH LATIN ...").
    """
    words, category = unicodedata.name(char, "").split(), unicodedata.category(char)
    if category[0] == "C":
        return "Control"
    if category[0] not in "LMN" or not words:
        return "Emoji" if ord(char) >= 0x1F000 else "Symbols"
    if words[0] in ("FULLWIDTH", "HALFWIDTH") and len(words) > 1:
        words = words[1:]
    return "Han" if words[0] == "CJK" else words[0].title()


def _wide(char: str) -> bool:
    """Ideographs, kana, Hangul and full-width forms: a line may break on either side."""
    return unicodedata.east_asian_width(char) in "WF"


def _break_allowed(before: str, after: str, spaced: bool) -> bool:
    """Whether a line may break just before ``after``, the last character ahead of it that is
    not a space being ``before`` (``spaced``: spaces lie between them)."""
    if after in SPACES or after in NO_LINE_START or before in NO_LINE_END:
        return False
    return spaced or _wide(before) or _wide(after)


class Piece(NamedTuple):
    """What lies between two break opportunities: text, the spaces after it, their widths
    (ems)."""

    body: str
    tail: str
    body_width: float
    tail_width: float


@functools.lru_cache(maxsize=4096)
def _pieces(face: Face, paragraph: str) -> tuple[Piece, ...]:
    """A paragraph cut at its break opportunities, measured in ``face``."""
    paragraph = paragraph.strip("".join(SPACES))
    cuts, before = [], paragraph[:1]
    for i in range(1, len(paragraph)):
        if _break_allowed(before, paragraph[i], paragraph[i - 1] in SPACES):
            cuts.append(i)
        if paragraph[i] not in SPACES:
            before = paragraph[i]
    pieces = []
    for start, end in zip([0, *cuts], [*cuts, len(paragraph)], strict=True):
        body = paragraph[start:end].rstrip("".join(SPACES))
        tail = paragraph[start + len(body) : end]
        pieces.append(Piece(body, tail, _em_width(face, body), _em_width(face, tail)))
    return tuple(pieces)


def _mid_phrase(piece: Piece) -> bool:
    """Whether a break after ``piece`` would split a phrase (two ideographs, no pause)."""
    return not piece.tail and piece.body[-1] not in BREAK_AFTER


def _phrases(pieces: tuple[Piece, ...]) -> tuple[Piece, ...]:
    """The pieces joined wherever a break between them would split a phrase."""
    joined: list[Piece] = []
    for piece in pieces:
        if joined and _mid_phrase(joined[-1]):
            last = joined.pop()
            piece = Piece(
                last.body + piece.body,
                piece.tail,
                last.body_width + piece.body_width,
                piece.tail_width,
            )
        joined.append(piece)
    return tuple(joined)


def _break_lines(paragraphs: list[tuple[Piece, ...]], width: float) -> list[str] | None:
    """Greedy line breaking of measured paragraphs into lines at most ``width`` ems wide;
    ``None`` when one piece (a word, or ideographs held together by kinsoku) is wider alone."""
    lines = []
    for pieces in paragraphs:
        line, line_width, gap, gap_width = "", 0.0, "", 0.0
        for piece in pieces:
            if piece.body_width > width:
                return None
            if line and line_width + gap_width + piece.body_width <= width:
                line += gap + piece.body
                line_width += gap_width + piece.body_width
            else:
                if line:
                    lines.append(line)
                line, line_width = piece.body, piece.body_width
            gap, gap_width = piece.tail, piece.tail_width
        lines.append(line)  # an empty paragraph is an empty line
    return lines


def _balance(pieces: tuple[Piece, ...], width: float, count: int) -> list[str]:
    """The paragraph in ``count`` lines at most ``width`` ems wide, chosen (among all such
    breakings) to make the lines as even as possible and to break Chinese copy after its
    punctuation rather than inside a phrase: squared slack per line plus
    :data:`MID_PHRASE_BREAK` per break between two ideographs. ``count`` must be reachable
    (the greedy line count is)."""
    n = len(pieces)
    starts = [0.0]
    for piece in pieces:
        starts.append(starts[-1] + piece.body_width + piece.tail_width)

    def cost(i: int, j: int) -> float:
        used = starts[j] - starts[i] - pieces[j - 1].tail_width
        if used > width:
            return float("inf")
        mid_phrase = j < n and _mid_phrase(pieces[j - 1])
        return ((width - used) / width) ** 2 + (MID_PHRASE_BREAK if mid_phrase else 0.0)

    best = [[float("inf")] * (n + 1) for _ in range(count + 1)]
    back = [[0] * (n + 1) for _ in range(count + 1)]
    best[0][0] = 0.0
    for lines in range(1, count + 1):
        for j in range(1, n + 1):
            for i in range(lines - 1, j):
                total = best[lines - 1][i] + cost(i, j)
                if total < best[lines][j]:
                    best[lines][j], back[lines][j] = total, i
    ends, j = [], n
    for lines in range(count, 0, -1):
        ends.append(j)
        j = back[lines][j]
    text = []
    for i, j in zip([0, *reversed(ends[1:])], reversed(ends), strict=True):
        text.append("".join(p.body + p.tail for p in pieces[i : j - 1]) + pieces[j - 1].body)
    return text


@dataclass(frozen=True)
class Line:
    """One set line of a :class:`TextBlock`.

    Attributes:
        text: its characters (no spaces at either end).
        width: pixels from its leftmost to its rightmost point, ink or advance.
        left: x of that leftmost point from the pen's start, pixels (< 0 when ink overhangs).
        baseline: y of the baseline from the block's top, pixels.
    """

    text: str
    width: int
    left: int
    baseline: int


@dataclass(frozen=True)
class TextBlock:
    """A text broken into lines and sized: what :func:`render` draws.

    Attributes:
        text: the text as given.
        face: the face it is set in.
        size: font size, pixels per em.
        lines: the lines, top to bottom.
        width, height: the block's size in pixels; every glyph's ink lies inside.
        align: how lines shorter than the block sit in it.
    """

    text: str
    face: Face
    size: int
    lines: tuple[Line, ...]
    width: int
    height: int
    align: Align

    @property
    def font(self) -> ImageFont.FreeTypeFont:
        """The face at the block's size."""
        return self.face.font(self.size)


def _set(
    text: str, face: Face, size: int, lines: list[str], line_spacing: float, align: Align
) -> TextBlock:
    """Lines placed with their real glyph bounds: the block spans the first line's ascent to the
    last line's descent, widened wherever ink reaches beyond them."""
    font = face.font(size)
    ascent, descent = font.getmetrics()
    boxes = [_line_bounds(face, size, line) for line in lines]
    offsets = [round(i * line_spacing * size) for i in range(len(lines))]
    top = max(max(ascent, -box[1]) - offset for box, offset in zip(boxes, offsets, strict=True))
    height = max(
        top + offset + max(descent, box[3]) for box, offset in zip(boxes, offsets, strict=True)
    )
    set_lines = tuple(
        Line(line, box[2] - box[0], box[0], top + offset)
        for line, box, offset in zip(lines, boxes, offsets, strict=True)
    )
    width = max(line.width for line in set_lines)
    return TextBlock(text, face, size, set_lines, width, height, align)


def fit(
    text: str,
    width: int,
    height: int,
    weight: Weight = "regular",
    *,
    max_size: int,
    min_size: int,
    line_spacing: float = 1.2,
    max_lines: int | None = None,
    align: Align = "left",
    fonts: FontBook | None = None,
) -> TextBlock | None:
    """The text at the largest font size that fits a box.

    Lines break at spaces and between CJK characters (kinsoku obeyed, Latin words whole, line
    breaks in ``text`` kept; Chinese phrases kept whole when that costs at most a quarter of
    the size, :data:`WHOLE_PHRASES`); the block's real glyph bounds, ascent to descent, must
    lie within ``width`` x ``height``.

    Args:
        text: the copy; any mix of the scripts the fonts cover.
        width, height: the box, pixels (>= 1).
        weight: ``"regular"`` or ``"bold"``.
        max_size, min_size: font sizes tried, pixels per em, 1 <= ``min_size`` <= ``max_size``.
        line_spacing: baseline-to-baseline distance in ems (> 0).
        max_lines: most lines allowed; ``None`` for any number.
        align: alignment recorded in the block for :func:`render`.
        fonts: the faces to choose from; :func:`installed_fonts` by default.

    Returns:
        The block, ``block.width <= width`` and ``block.height <= height``; ``None`` when the
        text does not fit even at ``min_size`` (a word wider than the box, too many lines).

    Raises:
        UnsupportedScript: no installed face covers every character.
        FontsMissing: the fonts are not installed.
        ValueError: empty text, an empty box or a bad size range.
    """
    if not text.strip():
        raise ValueError("no text to set")
    if width < 1 or height < 1 or not 1 <= min_size <= max_size or line_spacing <= 0:
        raise ValueError(
            f"bad box {width}x{height}, sizes {min_size}..{max_size} or spacing {line_spacing}"
        )
    face = (fonts or installed_fonts()).choose(text, weight)
    paragraphs = [_pieces(face, paragraph) for paragraph in text.splitlines()]
    reference = face.font(REFERENCE_SIZE)
    ascent, descent = (metric / REFERENCE_SIZE for metric in reference.getmetrics())

    def estimate(size: int, paragraphs: list[tuple[Piece, ...]]) -> list[str] | None:
        """Lines at ``size`` if they fit by advances and font metrics (no glyph drawn)."""
        lines = _break_lines(paragraphs, width / size)
        if lines is None or (max_lines is not None and len(lines) > max_lines):
            return None
        fits = (ascent + descent + (len(lines) - 1) * line_spacing) * size <= height
        return lines if fits else None

    def largest(low: int, high: int, paragraphs: list[tuple[Piece, ...]]) -> int:
        """The largest size in [low, high] whose estimate fits, ``low - 1`` for none. Larger
        sizes only take more room in the estimate, so it is found by bisection."""
        best = low - 1
        while low <= high:
            middle = (low + high) // 2
            if estimate(middle, paragraphs) is None:
                high = middle - 1
            else:
                best, low = middle, middle + 1
        return best

    best = largest(min_size, max_size, paragraphs)
    phrases = [_phrases(pieces) for pieces in paragraphs]
    floor = max(min_size, math.ceil(WHOLE_PHRASES * best))
    whole = largest(floor, best, phrases) if phrases != paragraphs else floor - 1
    if whole >= floor:
        best, paragraphs = whole, phrases
    # The exact bounds step the size down in the rare case ink overhangs the box.
    for size in range(best, min_size - 1, -1):
        if estimate(size, paragraphs) is None:
            continue
        lines = [
            line
            for pieces in paragraphs
            for line in _balance(pieces, width / size, len(_break_lines([pieces], width / size)))
        ]
        block = _set(text, face, size, lines, line_spacing, align)
        if block.width <= width and block.height <= height:
            return block
    return None


def _draw(block: TextBlock, align: Align | None) -> Image.Image:
    """The block's anti-aliased coverage, an ``L`` image of exactly its size.

    Raises:
        RuntimeError: some ink fell outside the block (a measuring fault: never clipped
            silently).
    """
    align = align or block.align
    pad = block.size  # room around the block for ink escaping its measured bounds, to see it
    canvas = Image.new("L", (block.width + 2 * pad, block.height + 2 * pad))
    draw = ImageDraw.Draw(canvas)
    for line in block.lines:
        room = block.width - line.width
        shift = {"left": 0, "center": room // 2, "right": room}[align]
        xy = (pad + shift - line.left, pad + line.baseline)
        draw.text(xy, line.text, fill=255, font=block.font, anchor="ls")
    inside = (pad, pad, pad + block.width, pad + block.height)
    inked = canvas.getbbox()  # (left, top, right, bottom) of the non-zero pixels
    if inked is not None and (
        min(inked[0], inked[1]) < pad or inked[2] > inside[2] or inked[3] > inside[3]
    ):
        raise RuntimeError(f"ink of {block.text!r} at {block.size} px lies outside its block")
    return canvas.crop(inside)


def ink(block: TextBlock, align: Align | None = None) -> np.ndarray:
    """The block's ink: anti-aliased coverage, ``uint8`` ``(block.height, block.width)``, 0 where
    no glyph touches (``ink(block) > 0`` is the ink mask).

    Args:
        align: overrides ``block.align``.

    Raises:
        RuntimeError: some ink fell outside the block (a measuring fault: never clipped
            silently).
    """
    return np.array(_draw(block, align))


def render(block: TextBlock, color: tuple[int, int, int], align: Align | None = None) -> np.ndarray:
    """The block drawn in ``color``: ``uint8`` RGBA ``(block.height, block.width, 4)``, straight
    (not premultiplied) alpha carrying the anti-aliased coverage.

    Args:
        color: (r, g, b), 0-255.
        align: overrides ``block.align``.

    Raises:
        RuntimeError: as :func:`ink`.
    """
    image = Image.new("RGBA", (block.width, block.height), (*color, 0))
    image.putalpha(_draw(block, align))
    return np.array(image)
