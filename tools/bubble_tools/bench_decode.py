"""Times the analyser against the decode floor and a naive full-resolution analysis, per format.

    ./pants run tools:bench-decode                  # 7 rounds of every image below
    ./pants run tools:bench-decode -- --rounds 15

The analyser is compute-bound, so its CPU per image is the throughput a user gets per core. The
floor is what no analyser of that file can skip: opening it and decoding the pixels it needs
(JPEG: libjpeg's DCT-scaled decode to the largest thumbnail, ``draft`` + ``load``; PNG, WebP and
GIF have no scaled decode, so their floor is the full decode). The naive path decodes every
pixel and runs the same measures, colours, hash and thumbnails at full resolution.

Images are generated photo-like pictures: two phone JPEGs of 4032x3024 with EXIF orientation 6
(one as denoised as a phone's, one with heavy sensor noise, which costs the decoder more), a PNG,
a WebP and a GIF. Every path runs in one process, interleaved image by image and round by round
(rotating which goes first), so machine noise hits all alike; times are CPU seconds of this
process (``time.process_time``: the work is single-threaded), with a fresh media root for each
analysis so thumbnails are really rendered.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from bubble_worker.analysis.colors import dominant_colors
from bubble_worker.analysis.geometry import fit_within
from bubble_worker.analysis.hashing import dhash64, file_sha256
from bubble_worker.analysis.measures import greyscale, measure
from bubble_worker.analysis.pillow_analyzer import PillowAnalyzer
from bubble_worker.analysis.synthetic import photo_like
from bubble_worker.analysis.thumbnails import THUMBNAIL_SIZES, write_thumbnails

ORIENTATION_TAG = 0x0112
PATHS = ("floor", "analyser", "naive")


@dataclass(frozen=True)
class Sample:
    label: str
    path: Path


def make_samples(folder: Path) -> list[Sample]:
    """The benchmark's images, written to ``folder``."""
    phone = photo_like((4032, 3024), seed=1, noise=4)
    noisy = photo_like((4032, 3024), seed=2)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6  # a phone held upright: stored sideways
    samples: list[tuple[Sample, Image.Image, dict[str, Any]]] = [
        (Sample("phone JPEG 12 MP", folder / "phone.jpg"), phone, {"quality": 90, "exif": exif}),
        (Sample("noisy JPEG 12 MP", folder / "noisy.jpg"), noisy, {"quality": 90, "exif": exif}),
        (Sample("PNG 3 MP", folder / "shot.png"), phone.resize((2048, 1536)), {}),
        (Sample("WebP 12 MP", folder / "phone.webp"), phone, {"quality": 80}),
        (Sample("GIF 0.8 MP", folder / "clip.gif"), phone.resize((1024, 768)).quantize(), {}),
    ]
    for sample, image, options in samples:
        image.save(sample.path, **options)
    return [sample for sample, _, _ in samples]


def floor(path: Path, media_root: Path) -> None:
    """Opening and decoding only the pixels the analyser needs."""
    with Image.open(path) as opened:
        # JPEG only (other formats ignore it): the smallest DCT scale that still covers the
        # largest thumbnail, as the analyser asks for. A square box would ask for more.
        opened.draft("RGB", fit_within(opened.size, max(THUMBNAIL_SIZES)))
        opened.load()


def analyser(path: Path, media_root: Path) -> None:
    PillowAnalyzer().analyze(image_id=path.stem, path=path, media_root=media_root)


def naive(path: Path, media_root: Path) -> None:
    """What the analyser would cost without reduced decoding: every step at full resolution."""
    with Image.open(path) as opened:
        opened.load()
        upright = ImageOps.exif_transpose(opened).convert("RGB")
    sha256 = file_sha256(path)
    measure(upright)
    dhash64(greyscale(upright))
    pixels = np.asarray(upright)
    dominant_colors(pixels)
    write_thumbnails([pixels], sha256=sha256, media_root=media_root)


RUNS: dict[str, Callable[[Path, Path], None]] = {
    "floor": floor,
    "analyser": analyser,
    "naive": naive,
}


def cpu_seconds(run: Callable[[Path, Path], None], path: Path, scratch: Path) -> float:
    media_root = Path(tempfile.mkdtemp(dir=scratch))
    start = time.process_time()
    run(path, media_root)
    return time.process_time() - start


def measure_all(
    samples: list[Sample], rounds: int, scratch: Path
) -> dict[str, dict[str, list[float]]]:
    """CPU seconds per sample and path, interleaved, after one warm-up of each."""
    for sample in samples:
        for run in RUNS.values():
            cpu_seconds(run, sample.path, scratch)
    times: dict[str, dict[str, list[float]]] = {
        sample.label: {name: [] for name in PATHS} for sample in samples
    }
    for round_index in range(rounds):
        order = PATHS[round_index % 3 :] + PATHS[: round_index % 3]
        for sample in samples:
            for name in order:
                times[sample.label][name].append(cpu_seconds(RUNS[name], sample.path, scratch))
    return times


def table(samples: list[Sample], times: dict[str, dict[str, list[float]]]) -> str:
    def spread(values: list[float]) -> str:
        low, middle, high = min(values), statistics.median(values), max(values)
        return f"{middle * 1000:.1f} ({low * 1000:.1f}-{high * 1000:.1f})"

    lines = [
        "| image | bytes | floor ms | analyser ms | naive ms | analyser / floor "
        "| naive / analyser |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for sample in samples:
        row = times[sample.label]
        floor_ms, ours, full = (statistics.median(row[name]) for name in PATHS)
        lines.append(
            f"| {sample.label} | {sample.path.stat().st_size:,} | {spread(row['floor'])} | "
            f"{spread(row['analyser'])} | {spread(row['naive'])} | {ours / floor_ms:.2f} | "
            f"{full / ours:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7, help="timed runs per image and path")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-decode-") as folder:
        scratch = Path(folder)
        samples = make_samples(scratch)
        times = measure_all(samples, args.rounds, scratch)
        print(f"CPU ms per image, median (min-max) of {args.rounds} interleaved rounds:\n")
        print(table(samples, times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
