"""Image files for tests, made with Pillow on the fly: well-formed ones and hostile ones."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image

from bubble_worker.analysis.synthetic import photo_like

EXIF_ORIENTATION_TAG = 0x0112


def jpeg_rotated_by_exif(path: Path, *, size: tuple[int, int] = (640, 480), seed: int = 1) -> Path:
    """A landscape-stored JPEG whose EXIF says "rotate 90° clockwise" (orientation 6)."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = 6
    photo_like(size, seed=seed).save(path, "JPEG", quality=90, exif=exif)
    return path


def png_with_alpha(path: Path, *, size: tuple[int, int] = (400, 400), seed: int = 2) -> Path:
    image = photo_like(size, seed=seed).convert("RGBA")
    alpha = Image.new("L", size, 0)
    alpha.paste(255, (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4))
    image.putalpha(alpha)
    image.save(path, "PNG")
    return path


def greyscale_jpeg(path: Path, *, size: tuple[int, int] = (500, 700), seed: int = 3) -> Path:
    photo_like(size, seed=seed).convert("L").save(path, "JPEG", quality=90)
    return path


def cmyk_jpeg(path: Path, *, size: tuple[int, int] = (600, 600), seed: int = 4) -> Path:
    photo_like(size, seed=seed).convert("CMYK").save(path, "JPEG", quality=90)
    return path


def decompression_bomb_png(path: Path, *, side: int = 100_000) -> Path:
    """A tiny PNG whose header claims ``side`` x ``side`` pixels (10 gigapixels by default)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit RGB
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )
    return path


def truncated_jpeg(path: Path) -> Path:
    full = path.with_suffix(".full.jpg")
    photo_like((800, 600), seed=5).save(full, "JPEG", quality=90)
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    full.unlink()
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def text_named_jpg(path: Path) -> Path:
    path.write_text("this is a shopping list, not a photo\n")
    return path
