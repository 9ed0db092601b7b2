"""Times the analyser against a naive full-resolution analysis of the same camera-sized JPEGs.

    ./pants run tools:bench-decode                  # 3 images of 4000x3000, 5 rounds
    ./pants run tools:bench-decode -- --rounds 9

The analyser decodes JPEGs at a reduced scale (libjpeg DCT scaling via ``draft``) and measures a
512 px copy. The naive path decodes every pixel and runs the same measures, colours, hash and
thumbnails on the full-resolution image. Both run in one process, interleaved image by image
and round by round (alternating which goes first), so machine noise hits both alike; medians
per image and the ratio naive/ours are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageOps

from bubble_worker.analysis.colors import dominant_colors
from bubble_worker.analysis.hashing import dhash64, file_sha256
from bubble_worker.analysis.measures import greyscale, measure
from bubble_worker.analysis.pillow_analyzer import PillowAnalyzer
from bubble_worker.analysis.synthetic import photo_like
from bubble_worker.analysis.thumbnails import write_thumbnails

JPEG_QUALITY = 90


def naive_analysis(path: Path, media_root: Path) -> None:
    """What the analyser would cost without reduced decoding: every step at full resolution."""
    with Image.open(path) as opened:
        opened.load()
        upright = ImageOps.exif_transpose(opened).convert("RGB")
    sha256 = file_sha256(path)
    measure(upright)
    dhash64(greyscale(upright))
    dominant_colors(upright)
    write_thumbnails(upright, sha256=sha256, media_root=media_root)


def our_analysis(path: Path, media_root: Path) -> None:
    PillowAnalyzer().analyze(image_id=path.stem, path=path, media_root=media_root)


def timed(run: Callable[[Path, Path], None], path: Path, scratch: Path) -> float:
    """Seconds ``run`` takes, with an empty media root so thumbnails are really rendered."""
    media_root = Path(tempfile.mkdtemp(dir=scratch))
    start = time.perf_counter()
    run(path, media_root)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=3, help="number of generated photos")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per image and path")
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-decode-") as folder:
        scratch = Path(folder)
        paths = []
        for index in range(args.images):
            path = scratch / f"photo-{index + 1}.jpg"
            photo_like((args.width, args.height), seed=index).save(path, quality=JPEG_QUALITY)
            paths.append(path)
            print(
                f"generated {path.name}: {args.width}x{args.height}, {path.stat().st_size:,} bytes"
            )

        for path in paths:  # warm-up: imports, plugin registration, page cache
            timed(naive_analysis, path, scratch)
            timed(our_analysis, path, scratch)

        naive: dict[Path, list[float]] = {path: [] for path in paths}
        ours: dict[Path, list[float]] = {path: [] for path in paths}
        for round_index in range(args.rounds):
            for path in paths:
                if round_index % 2:
                    ours[path].append(timed(our_analysis, path, scratch))
                    naive[path].append(timed(naive_analysis, path, scratch))
                else:
                    naive[path].append(timed(naive_analysis, path, scratch))
                    ours[path].append(timed(our_analysis, path, scratch))

    print(f"\nmedian of {args.rounds} rounds per image:")
    print(f"{'image':<14}{'naive ms':>10}{'ours ms':>10}{'naive/ours':>12}")
    for path in paths:
        naive_median, our_median = statistics.median(naive[path]), statistics.median(ours[path])
        print(
            f"{path.name:<14}{naive_median * 1000:>10.1f}{our_median * 1000:>10.1f}"
            f"{naive_median / our_median:>11.1f}x"
        )
    total_naive = sum(statistics.median(times) for times in naive.values())
    total_ours = sum(statistics.median(times) for times in ours.values())
    ratio = total_naive / total_ours
    print(f"{'all':<14}{total_naive * 1000:>10.1f}{total_ours * 1000:>10.1f}{ratio:>11.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
