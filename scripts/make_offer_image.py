"""Draw the example DAGs' offer picture (a small PNG) with the standard library only.

Run: python scripts/make_offer_image.py  (rewrites airflow_provider_ccai/example_dags/assets/weekly_offer.png)
The output is deterministic, so the committed file and a fresh run are byte-identical.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

WIDTH, HEIGHT = 320, 200
REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "airflow_provider_ccai" / "example_dags" / "assets" / "weekly_offer.png"


def pixel(x: int, y: int) -> tuple[int, int, int]:
    """A diagonal teal-to-orange gradient with a white ribbon and a '%' made of two discs and a bar."""
    t = (x + y) / (WIDTH + HEIGHT)
    base = (int(20 + 230 * t), int(150 - 40 * t), int(160 - 120 * t))
    if 80 <= y < 120:
        return (255, 255, 255)
    for cx, cy in ((120, 60), (200, 150)):
        if (x - cx) ** 2 + (y - cy) ** 2 < 18**2:
            return (255, 255, 255)
    if abs((x - 160) + (y - 100) * 0.9) < 6 and 40 < y < 170:
        return (255, 255, 255)
    return base


def png_bytes() -> bytes:
    """Encode the picture as an 8-bit RGB PNG."""
    rows = b"".join(b"\x00" + bytes(c for x in range(WIDTH) for c in pixel(x, y)) for y in range(HEIGHT))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(png_bytes())
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")
