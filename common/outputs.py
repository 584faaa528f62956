"""Media files written for people: the extension says what the bytes are, nothing is overwritten.

The CLI and `make demo` write what the mesh returns through `OutputFolder`. A file's extension
comes from its content (its magic bytes), never from a name or a declared media type, so a JPEG
is never saved as ``.png``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

UNKNOWN = ("application/octet-stream", ".bin")

_SIGNATURES: tuple[tuple[int, bytes, str, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (0, b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (0, b"GIF87a", "image/gif", ".gif"),
    (0, b"GIF89a", "image/gif", ".gif"),
    (0, b"II*\x00", "image/tiff", ".tif"),
    (0, b"MM\x00*", "image/tiff", ".tif"),
    (0, b"BM", "image/bmp", ".bmp"),
    (0, b"8BPS", "image/vnd.adobe.photoshop", ".psd"),
    (0, b"%PDF-", "application/pdf", ".pdf"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm", ".webm"),
    (0, b"ID3", "audio/mpeg", ".mp3"),
    (0, b"fLaC", "audio/flac", ".flac"),
    (0, b"OggS", "audio/ogg", ".ogg"),
    (0, b"<svg", "image/svg+xml", ".svg"),
    (0, b"<?xml", "application/xml", ".xml"),
    (0, b"{", "application/json", ".json"),
)
"""(offset, magic, media type, extension), checked in order."""

_RIFF = {
    b"WEBP": ("image/webp", ".webp"),
    b"WAVE": ("audio/wav", ".wav"),
    b"AVI ": ("video/x-msvideo", ".avi"),
}
_ISO_BRANDS = {
    b"qt  ": ("video/quicktime", ".mov"),
    b"avif": ("image/avif", ".avif"),
    b"heic": ("image/heic", ".heic"),
}


def sniff(head: bytes) -> tuple[str, str]:
    """Media type and file extension of content from its first bytes (32 are enough).

    Returns ``("application/octet-stream", ".bin")`` for content it does not know.
    """
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        return _ISO_BRANDS.get(head[8:12], ("video/mp4", ".mp4"))
    for offset, magic, media_type, ext in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return media_type, ext
    return UNKNOWN


def sniff_file(path: Path) -> tuple[str, str]:
    """`sniff` of a file's first bytes."""
    with open(path, "rb") as f:
        return sniff(f.read(32))


def free_name(folder: Path, stem: str, ext: str) -> Path:
    """``folder/stem+ext``, or ``stem-2+ext``, ``stem-3+ext``... when that name is taken."""
    path = folder / f"{stem}{ext}"
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}{ext}"
        n += 1
    return path


class OutputFolder:
    """Writes media into `folder` as ``<stem><extension from the content>``, never replacing an
    existing file (a taken name gets ``-2``, ``-3``...), and remembers what it wrote.

    Args:
        folder: created on the first write.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.written: list[Path] = []

    def write_bytes(self, stem: str, data: bytes) -> Path:
        """Write `data` as ``<stem><ext>``; returns the path."""
        return self.write_with(stem, lambda path: path.write_bytes(data))

    def write_with(self, stem: str, fill: Callable[[Path], object]) -> Path:
        """Let `fill(path)` write a file (e.g. a streamed download), then give it its name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, partial_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".partial", dir=self.folder)
        os.close(fd)
        partial = Path(partial_name)
        try:
            fill(partial)
            ext = sniff_file(partial)[1]
            while True:
                path = free_name(self.folder, stem, ext)
                try:
                    # A hard link fails when the name exists (a rename would replace it), so a
                    # file written meanwhile by someone else is never lost.
                    os.link(partial, path)
                    break
                except FileExistsError:
                    continue
        finally:
            partial.unlink(missing_ok=True)
        self.written.append(path)
        return path


def contact_sheet(
    pictures: list[np.ndarray], row_height: int = 240, width: int = 1800, gap: int = 12
) -> np.ndarray:
    """``uint8`` RGB pictures laid out in rows on a dark sheet, for people to look at: each
    scaled to ``row_height`` (a picture less tall keeps its size), rows filled left to right
    up to ``width`` pixels.

    Raises:
        ValueError: no pictures.
    """
    if not pictures:
        raise ValueError("a contact sheet needs at least one picture")
    rows: list[list[np.ndarray]] = [[]]
    used = 0
    for picture in pictures:
        h, w = picture.shape[:2]
        scale = min(1.0, row_height / h, (width - 2 * gap) / w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        thumb = cv2.resize(picture[..., :3], size, interpolation=cv2.INTER_AREA)
        if rows[-1] and used + size[0] + gap > width - gap:
            rows.append([])
            used = 0
        rows[-1].append(thumb)
        used += size[0] + gap
    height = gap + sum(max(t.shape[0] for t in row) + gap for row in rows)
    sheet = np.full((height, width, 3), 32, np.uint8)
    y = gap
    for row in rows:
        x = gap
        for thumb in row:
            sheet[y : y + thumb.shape[0], x : x + thumb.shape[1]] = thumb
            x += thumb.shape[1] + gap
        y += max(t.shape[0] for t in row) + gap
    return sheet
