"""
The image checks: format by content and the structural walk that finds files cut short. Real encoders
(Pillow) make the images, with the features that trip a naive check: progressive scans, restart markers,
an EXIF thumbnail (a whole JPEG inside the JPEG), PNG text chunks, animated GIFs with colour tables.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image, PngImagePlugin

from airflow_provider_ccai.utils.images import is_complete_image, sniff_image_type
from tests.images import GIF, JPEG, PNG


def _picture(size: tuple[int, int] = (40, 30)) -> Image.Image:
    """A picture with detail, so the encoders produce entropy-coded data with 0xFF bytes in it."""
    picture = Image.new("RGB", size)
    picture.putdata([((x * 37) % 256, (y * 59) % 256, (x * y) % 256) for y in range(size[1]) for x in range(size[0])])
    return picture


def _encode(picture: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, image_format, **options)
    return buffer.getvalue()


def _jpeg_with_exif_thumbnail() -> bytes:
    """A JPEG whose APP1 (EXIF) segment carries a whole thumbnail JPEG, SOI to EOI."""
    main = _encode(_picture(), "JPEG")
    thumbnail = _encode(_picture((8, 6)), "JPEG")
    payload = b"Exif\x00\x00" + thumbnail
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return main[:2] + app1 + main[2:]


def _animated_gif() -> bytes:
    frames = [_picture().quantize(colors=16), _picture((40, 30)).rotate(90).quantize(colors=64)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0, comment=b"offer")


def _png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "Weekly offer")
    return _encode(_picture(), "PNG", pnginfo=info)


IMAGES: dict[str, tuple[Callable[[], bytes], str]] = {
    "baseline JPEG": (lambda: _encode(_picture(), "JPEG", quality=90), "image/jpeg"),
    "progressive JPEG": (lambda: _encode(_picture(), "JPEG", progressive=True), "image/jpeg"),
    "JPEG with restart markers": (lambda: _encode(_picture(), "JPEG", restart_marker_blocks=2), "image/jpeg"),
    "JPEG with an EXIF thumbnail": (_jpeg_with_exif_thumbnail, "image/jpeg"),
    "PNG with a text chunk": (_png_with_text, "image/png"),
    "palette PNG": (lambda: _encode(_picture().quantize(colors=8), "PNG"), "image/png"),
    "single-frame GIF87a": (lambda: _encode(_picture().quantize(colors=32), "GIF"), "image/gif"),
    "animated GIF with a comment": (_animated_gif, "image/gif"),
    "hand-made JPEG of the unit tests": (lambda: JPEG, "image/jpeg"),
    "hand-made PNG of the unit tests": (lambda: PNG, "image/png"),
    "hand-made GIF of the unit tests": (lambda: GIF, "image/gif"),
}


@pytest.mark.parametrize(("make", "mime_type"), IMAGES.values(), ids=IMAGES.keys())
def test_a_whole_image_is_complete_and_every_cut_short_copy_is_not(make: Callable[[], bytes], mime_type: str) -> None:
    content = make()
    assert sniff_image_type(content) == mime_type
    assert is_complete_image(content, mime_type)
    assert is_complete_image(content + b"\x00" * 100, mime_type)  # padding after the end marker is harmless
    cut_short = [length for length in range(8, len(content)) if is_complete_image(content[:length], mime_type)]
    assert cut_short == []


def test_the_encoded_images_have_the_features_their_names_promise() -> None:
    def count(name: str, marker: bytes) -> int:
        return IMAGES[name][0]().count(marker)

    assert count("progressive JPEG", b"\xff\xda") > 1  # several scans
    assert count("JPEG with restart markers", b"\xff\xd0") > 0
    assert count("baseline JPEG", b"\xff\x00") > 0  # stuffed 0xFF bytes inside the scan
    assert count("JPEG with an EXIF thumbnail", b"\xff\xd9") == 2
    assert count("animated GIF with a comment", b"\x21\xfe") == 1  # comment extension
    assert IMAGES["single-frame GIF87a"][0]().startswith(b"GIF87a")
    assert count("PNG with a text chunk", b"tEXt") == 1


def test_the_thumbnail_end_marker_does_not_hide_a_cut_short_main_image() -> None:
    content = _jpeg_with_exif_thumbnail()
    thumbnail_end = content.index(b"\xff\xd9") + 2
    assert thumbnail_end < len(content) - 100  # the thumbnail's EOI comes well before the main image's
    assert not is_complete_image(content[: len(content) - 100], "image/jpeg")


def test_stray_bytes_that_decoders_step_over_are_accepted() -> None:
    jpeg = _encode(_picture(), "JPEG")
    app0_end = 4 + int.from_bytes(jpeg[4:6], "big")
    assert is_complete_image(jpeg[:app0_end] + b"\x00\x00" + jpeg[app0_end:], "image/jpeg")  # libjpeg warns only
    assert is_complete_image(GIF[:-1] + b"\x00;", "image/gif")


@pytest.mark.parametrize(
    ("content", "mime_type"),
    [
        (PNG[:33] + b"\x00\x00\x00\x05JUNK", "image/png"),
        (GIF[:-1] + b"\x99", "image/gif"),
        (GIF[:-1], "image/gif"),
        (PNG[:33] + PNG[-12:], "image/png"),
        (b"\xff\xd8\xff\xd9", "image/jpeg"),
        (b"\xff\xd8\xff\xe0\x00\x02\xff\xd9", "image/jpeg"),
        (GIF[:13] + b";", "image/gif"),
    ],
    ids=[
        "PNG chunk past the end",
        "GIF with an unknown block",
        "GIF without its trailer (as if cut between frames)",
        "PNG without image data",
        "JPEG of SOI and EOI only",
        "JPEG without a scan",
        "GIF without an image",
    ],
)
def test_damaged_or_empty_structure_is_not_complete(content: bytes, mime_type: str) -> None:
    assert not is_complete_image(content, mime_type)


def test_pillow_reads_the_hand_made_png_it_is_modelled_on() -> None:
    with Image.open(io.BytesIO(PNG)) as picture:
        picture.load()
        assert picture.size == (4, 4)
