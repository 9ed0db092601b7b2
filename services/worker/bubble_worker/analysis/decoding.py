"""Opens untrusted image files safely and decodes only the pixels that analysis needs.

Every upload is potentially hostile: the format is sniffed from the bytes (never the name or
the declared content type), only a few well-understood formats are parsed at all, the pixel
count is checked from the header before anything is decoded, and every decoding failure is
turned into an :class:`ImageRejectedError` with a sentence an item owner can act on.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from PIL import Image, UnidentifiedImageError

from bubble.processing.v1 import analysis_pb2
from bubble_worker.analysis.errors import (
    IMAGE_CORRUPT,
    IMAGE_TOO_LARGE,
    IMAGE_UNSUPPORTED,
    ImageRejectedError,
)
from bubble_worker.analysis.exif import apply_orientation, read_exif, swaps_axes
from bubble_worker.analysis.files import checked_file_size
from bubble_worker.analysis.geometry import fit_within
from bubble_worker.analysis.resampling import Pixels, downscale, downscaled_pixels, pixels_of

OPEN_FORMATS: Final = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
"""The only Pillow plugins allowed to parse a file.

Keeping the list short keeps e.g. EPS (which Pillow renders through Ghostscript), PSD and the
long tail of rarely fuzzed plugins away from untrusted bytes. MPO (multi-picture JPEG from
cameras and phones) is not in this list because Pillow has no MPO opener: the JPEG opener
returns MPO images itself, and naming "MPO" here makes Pillow 13 raise KeyError.
"""

ACCEPTED_FORMATS: Final = frozenset({*OPEN_FORMATS, "MPO"})

MAX_PIXELS: Final = 64_000_000
"""Largest image accepted, in pixels (width x height, from the header, before decoding).

64 MP covers the full-resolution output of current phones and DSLRs in their default modes, and
keeps the full decode that non-JPEG formats need at or below 256 MB (RGBA) per worker process.
It is deliberately below Pillow's own DecompressionBombWarning threshold (about 89.5 MP): any
image Pillow would only warn about is rejected here, so the warning never decides anything and
the process-wide ``warnings`` filters (not thread-safe to change) are left alone.
"""

_DECODING_ERRORS: Final = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
)
"""What Pillow's plugins raise for malformed data (truncated, bad chunks, impossible tiles).
Only Pillow calls on the file's image are wrapped with it, so our own bugs stay visible."""

_RESAMPLABLE_MODES: Final = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "RGBX"})
"""Modes whose samples Pillow can resample directly, so they are converted to RGB only after
shrinking. Palette modes ("P", "PA") are not among them: their samples are palette indices."""

_UNSUPPORTED: Final = (
    f"is not an image in a supported format ({', '.join(sorted(ACCEPTED_FORMATS))})"
)
_ALLOWED_MEGAPIXELS: Final = f"{MAX_PIXELS / 1e6:g} megapixels allowed"

_SIGNATURES: Final = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)


@dataclass(frozen=True)
class DecodedImage:
    """The facts about a file plus a small upright copy of its first frame to measure."""

    format: str
    """Pillow's format name, sniffed from the bytes."""
    mode: str
    """Pillow's mode of the file as decoded (e.g. "CMYK"), before any conversion."""
    width: int
    """Upright full-resolution width: the header's size, swapped for orientations 5 to 8."""
    height: int
    size_bytes: int
    sha256: str
    """SHA-256 of the file's bytes (lowercase hex), from the same read as the decoding: a large
    file is read once, not once to hash and once to decode."""
    frame_count: int
    exif: analysis_pb2.ExifInfo | None
    decoded_size: tuple[int, int]
    """Pixels actually decoded, in stored orientation: smaller than the header's size when the
    JPEG decoder scaled the image down while decoding (DCT scaling)."""
    pixels: Pixels
    """Upright copy whose longer side is at most the requested edge: RGBA when the alpha
    channel is actually used (some pixel is not fully opaque), otherwise RGB."""

    @property
    def image(self) -> Image.Image:
        """:attr:`pixels` as a Pillow image ("RGB" or "RGBA"), a copy."""
        return Image.fromarray(self.pixels)


def decode_image(path: Path, *, image_id: str, max_edge: int) -> DecodedImage:
    """Decodes ``path`` into a copy no larger than ``max_edge`` pixels on its longer side.

    JPEGs are decoded directly at a reduced scale (``draft``: libjpeg's DCT scaling by 1/2, 1/4
    or 1/8), which skips most of the decoding work for camera photos; other formats must be
    decoded fully and are then reduced by integer factors before resampling. The whole reduced
    image is always decoded, so truncation anywhere in the file is noticed.

    Raises :class:`ImageRejectedError` for files that can never be analysed; ``OSError`` for
    anything else (e.g. permission denied), which a retry may fix.
    """
    checked_file_size(path, image_id)
    data = path.read_bytes()  # read once: hashed here, decoded from memory
    head = data[:16]
    with io.BytesIO(data) as file:
        try:
            opened = Image.open(file, formats=OPEN_FORMATS)
        except UnidentifiedImageError:
            raise _unidentified(head, image_id) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(image_id, _declared_size(file, head)) from None
        except _DECODING_ERRORS:
            raise _reject(
                image_id, IMAGE_CORRUPT, "is corrupt: the file is damaged and cannot be read"
            ) from None
        with opened:
            return _decode_opened(
                opened,
                image_id=image_id,
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                max_edge=max_edge,
            )


def _decode_opened(
    opened: Image.Image, *, image_id: str, size_bytes: int, sha256: str, max_edge: int
) -> DecodedImage:
    stored_width, stored_height = opened.size
    if stored_width < 1 or stored_height < 1:
        raise _reject(image_id, IMAGE_CORRUPT, "is corrupt: its header declares no pixels")
    if stored_width * stored_height > MAX_PIXELS:
        raise _too_many_pixels(image_id, opened.size)
    file_format, mode = opened.format or "", opened.mode
    if file_format not in ACCEPTED_FORMATS:
        raise _reject(image_id, IMAGE_UNSUPPORTED, _UNSUPPORTED)
    try:
        frame_count = getattr(opened, "n_frames", 1)
        opened.draft(None, fit_within(opened.size, max_edge))
        opened.load()
        decoded_size = opened.size
        working = _working_copy(opened, max_edge)
    except _DECODING_ERRORS:
        raise _reject(
            image_id, IMAGE_CORRUPT, "is corrupt: the file is damaged or truncated"
        ) from None
    exif = read_exif(opened)
    orientation = exif.orientation if exif is not None else 0
    working, applied = apply_orientation(working, orientation)
    if exif is not None:
        exif.orientation_applied = applied
    swap = applied and swaps_axes(orientation)
    return DecodedImage(
        format=file_format,
        mode=mode,
        width=stored_height if swap else stored_width,
        height=stored_width if swap else stored_height,
        size_bytes=size_bytes,
        sha256=sha256,
        frame_count=frame_count,
        exif=exif,
        decoded_size=decoded_size,
        pixels=working,
    )


def _working_copy(image: Image.Image, max_edge: int) -> Pixels:
    """``image`` reduced to ``max_edge`` and converted to RGB, or RGBA when alpha is used.

    Colour conversion happens after shrinking where Pillow can resample the mode, so it runs on
    few pixels; palette, bilevel and 16-bit images are converted first because resampling is
    undefined on palette indices and 16-bit values must be scaled, not clipped, to 8 bits.
    """
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit samples (e.g. 16-bit greyscale PNG/TIFF) would clip to white in a plain
        # conversion; keep their top 8 bits instead.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    elif image.mode not in _RESAMPLABLE_MODES:
        image = image.convert("RGBA" if _may_have_alpha(image) else "RGB")
    size = fit_within(image.size, max_edge)
    if image.mode == "RGB":  # photos: straight into NumPy, scaled there
        return downscaled_pixels(image, size)
    image = downscale(image, size)
    if image.mode in ("RGBA", "LA"):
        image = image.convert("RGBA")
        fully_opaque = image.getchannel("A").histogram()[255]
        if fully_opaque < image.width * image.height:
            return pixels_of(image)
    return pixels_of(image.convert("RGB"))


def _may_have_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands() or "transparency" in image.info


def _unidentified(head: bytes, image_id: str) -> ImageRejectedError:
    """Tells a damaged file of an allowed format apart from a file of another format.

    Pillow reports both as "cannot identify": a PNG whose header chunk is broken is corrupt
    (the owner should re-export it) while a PDF is unsupported (the owner should convert it).
    """
    claimed = _claimed_format(head)
    if claimed is None:
        return _reject(image_id, IMAGE_UNSUPPORTED, _UNSUPPORTED)
    return _reject(
        image_id, IMAGE_CORRUPT, f"is corrupt: it starts like a {claimed} image but cannot be read"
    )


def _claimed_format(head: bytes) -> str | None:
    """The allowed format the file's first bytes announce, if any."""
    claimed = next((name for magic, name in _SIGNATURES if head.startswith(magic)), None)
    if claimed is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        claimed = "WEBP"
    return claimed


def _declared_size(file: IO[bytes], head: bytes) -> tuple[int, int] | None:
    """The width and height the header declares, for a file Pillow refused as a bomb.

    Pillow's error only gives the pixel count, and the owner needs the size to act on. The
    format's own opener parses the header again without ``Image.open``'s pixel check; nothing
    is decoded. None when that fails too (e.g. a GIF frame beyond its screen is checked
    inside the opener).
    """
    claimed = _claimed_format(head)
    if claimed is None or claimed not in Image.OPEN:
        return None
    factory, _ = Image.OPEN[claimed]
    try:
        file.seek(0)
        with factory(file, "") as header_only:
            width, height = header_only.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, *_DECODING_ERRORS):
        return None
    return (width, height) if width * height > MAX_PIXELS else None


def _too_many_pixels(image_id: str, size: tuple[int, int] | None) -> ImageRejectedError:
    if size is None:
        return _reject(image_id, IMAGE_TOO_LARGE, f"has more pixels than the {_ALLOWED_MEGAPIXELS}")
    width, height = size
    megapixels = _megapixels(width * height)
    return _reject(
        image_id,
        IMAGE_TOO_LARGE,
        f"is {width} \N{MULTIPLICATION SIGN} {height} pixels ({megapixels} megapixels), "
        f"more than the {_ALLOWED_MEGAPIXELS}",
    )


def _megapixels(pixels: int) -> str:
    """``pixels`` in megapixels, with just enough decimals to differ from the limit."""
    for digits in range(6):
        shown = f"{pixels / 1e6:,.{digits}f}"
        if shown != f"{MAX_PIXELS / 1e6:,.{digits}f}":
            return shown
    return f"{pixels / 1e6:,.6f}"


def _reject(image_id: str, code: str, reason: str) -> ImageRejectedError:
    return ImageRejectedError(code=code, image_id=image_id, reason=reason)
