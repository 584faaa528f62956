"""Files written for people: extension from the content, nothing overwritten."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from common.outputs import OutputFolder, sniff


def encoded(ext: str) -> bytes:
    return cv2.imencode(ext, np.zeros((8, 8, 3), np.uint8))[1].tobytes()


@pytest.mark.parametrize(
    ("ext", "media_type"),
    [
        (".png", "image/png"),
        (".jpg", "image/jpeg"),
        (".webp", "image/webp"),
        (".tif", "image/tiff"),
        (".bmp", "image/bmp"),
    ],
)
def test_sniff_images_encoded_by_opencv(ext, media_type):
    assert sniff(encoded(ext)[:32]) == (media_type, ext)


def test_sniff_videos_and_unknown_bytes():
    assert sniff(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00") == ("video/mp4", ".mp4")
    assert sniff(b"\x00\x00\x00\x14ftypqt  ") == ("video/quicktime", ".mov")
    assert sniff(b"\x1a\x45\xdf\xa3\x01") == ("video/webm", ".webm")
    assert sniff(b"8BPS\x00\x01") == ("image/vnd.adobe.photoshop", ".psd")
    assert sniff(b"hello") == ("application/octet-stream", ".bin")
    assert sniff(b"") == ("application/octet-stream", ".bin")


def test_a_jpeg_is_never_named_png(tmp_path):
    path = OutputFolder(tmp_path).write_bytes("cutout-on-white", encoded(".jpg"))
    assert path.name == "cutout-on-white.jpg"


def test_existing_files_are_never_replaced(tmp_path):
    (tmp_path / "a.image.png").write_bytes(b"mine")
    folder = OutputFolder(tmp_path / "")
    first = folder.write_bytes("a.image", encoded(".png"))
    second = folder.write_with("a.image", lambda p: p.write_bytes(encoded(".png")))
    assert (tmp_path / "a.image.png").read_bytes() == b"mine"
    assert [first.name, second.name] == ["a.image-2.png", "a.image-3.png"]
    assert folder.written == [first, second]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.image-2.png",
        "a.image-3.png",
        "a.image.png",
    ]  # no partial files left


def test_concurrent_writers_get_distinct_names(tmp_path):
    folder = OutputFolder(tmp_path)
    threads = [
        threading.Thread(target=folder.write_bytes, args=("same", encoded(".png")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({p.name for p in tmp_path.iterdir()}) == 8


def test_a_failed_download_leaves_nothing(tmp_path):
    def fail(path):
        path.write_bytes(b"half")
        raise ConnectionError("lost")

    with pytest.raises(ConnectionError):
        OutputFolder(tmp_path).write_with("x", fail)
    assert list(tmp_path.iterdir()) == []


def test_contact_sheet_keeps_every_picture_in_rows_of_the_given_height():
    import numpy as np

    from common.outputs import contact_sheet

    pictures = [np.full((628, 1200, 3), 200, np.uint8), np.full((90, 728, 3), 100, np.uint8)]
    pictures += [np.full((1920, 1080, 3), 50, np.uint8)] * 3
    sheet = contact_sheet(pictures, row_height=240, width=1300)
    assert sheet.shape[1] == 1300 and sheet.dtype == np.uint8
    # 1200x628 -> 459x240 and 728x90 stays 90 tall: both fit the first row; the three
    # 135x240 portraits fill the second.
    assert sheet.shape[0] == 12 + 240 + 12 + 240 + 12
    assert (sheet == 200).all(axis=2).sum() == 459 * 240
