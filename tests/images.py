"""Small, structurally complete JPEG, PNG and GIF images for tests (standard library only)."""

from __future__ import annotations

import struct
import zlib


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid, solid-colour 8-bit RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


#: SOI, a JFIF APP0 segment, a scan header, scan data (with a stuffed 0xFF and a restart marker) and EOI.
JPEG = (
    b"\xff\xd8"
    + b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    + bytes(range(32))
    + b"\xff\x00\xff\xd0"
    + bytes(range(32))
    + b"\xff\xd9"
)
#: GIF89a header, 1x1 logical screen, one image (no colour tables) with one data sub-block, and the trailer.
GIF = (
    b"GIF89a\x01\x00\x01\x00\x00\x00\x00" + b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00" + b"\x02\x02\x4c\x01\x00" + b";"
)
PNG = png(4, 4, (10, 120, 250))
