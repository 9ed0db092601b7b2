"""Phone-size photos with distinct bytes, for the throughput benchmark.

Every file must differ: the analysis cache is keyed by the file's SHA-256, so a repeated file
would be analysed once and measure the cache instead of the work. Rendering a photo-like picture
of 12 MP takes seconds, so a few are rendered and each file stamps its own number into a copy:
the pixels (and the analyser's work) stay a phone photo's, the bytes are distinct.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from bubble_worker.analysis.synthetic import photo_like

PHONE_SIZE = (4032, 3024)
ORIENTATION_TAG = 0x0112
_BASES = 4


def write_phone_photos(
    media_root: Path, folder: str, count: int, *, size: tuple[int, int] = PHONE_SIZE
) -> list[str]:
    """Writes ``count`` JPEGs (quality 90, EXIF orientation 6 like a phone held upright) under
    ``media_root/folder``; their URIs relative to ``media_root``."""
    target = media_root / folder
    target.mkdir(parents=True, exist_ok=True)
    bases = [photo_like(size, seed=seed, noise=4) for seed in range(min(_BASES, count))]
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    uris = []
    for index in range(count):
        photo = bases[index % len(bases)].copy()
        _stamp(photo, index)
        name = f"photo-{index:05d}.jpg"
        photo.save(target / name, "JPEG", quality=90, exif=exif)
        uris.append(f"{folder}/{name}")
    return uris


def _stamp(photo: Image.Image, index: int) -> None:
    """A small block whose place and colour encode ``index``: no two files are alike."""
    width, height = photo.size
    block = 48
    x = (index * 97) % (width - block)
    y = (index * 53) % (height - block)
    colour = (index % 251, (index // 251) % 251, (index * 7) % 251)
    ImageDraw.Draw(photo).rectangle((x, y, x + block, y + block), fill=colour)


def per_item(uris: Sequence[str], images_per_item: int) -> list[list[str]]:
    """``uris`` cut into items of ``images_per_item`` images (a shorter last one is dropped)."""
    whole = len(uris) - len(uris) % images_per_item
    return [
        list(uris[start : start + images_per_item]) for start in range(0, whole, images_per_item)
    ]
