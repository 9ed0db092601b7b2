"""The default analyser: classic image measures computed with Pillow."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from PIL import Image

from bubble.processing.v1 import analysis_pb2
from bubble_worker.analysis.colors import dominant_colors
from bubble_worker.analysis.decoding import decode_image
from bubble_worker.analysis.geometry import fit_within
from bubble_worker.analysis.hashing import DHASH_ALGORITHM, dhash64
from bubble_worker.analysis.measures import greyscale, measure
from bubble_worker.analysis.resampling import shrink
from bubble_worker.analysis.thumbnails import THUMBNAIL_SIZES, write_thumbnails

ANALYSIS_EDGE: Final = 512
"""Longer side of the copy that is measured. Measures of exposure, colour and the perceptual
hash barely change above this; sharpness is defined on this copy (analysis.proto: compare it
only within one analyser version)."""


class PillowAnalyzer:
    """Analyses an image file with classic measures (Pillow, OpenCV): no model, no network,
    deterministic."""

    name = "pillow"
    version = "1.2.0"
    """Semantic version: bump the minor (or major) version whenever a computed value changes,
    because (sha256, name, version) keys the analysis cache."""

    def analyze(self, *, image_id: str, path: Path, media_root: Path) -> analysis_pb2.ImageAnalysis:
        """Analyses the file at ``path`` and writes its thumbnails under ``media_root``.

        Leaves ``analyze_time`` unset: the caller stamps it, so that a result reused from the
        cache keeps the time it was really computed. Raises ImageRejectedError for files that
        can never be analysed.
        """
        decoded = decode_image(path, image_id=image_id, max_edge=max(THUMBNAIL_SIZES))
        working = decoded.pixels
        height, width, channels = working.shape
        measured = shrink(working, fit_within((width, height), ANALYSIS_EDGE))
        measured_image = Image.fromarray(measured)
        grey = greyscale(measured_image)
        measures = measure(measured_image, grey)
        analysis = analysis_pb2.ImageAnalysis(
            image_id=image_id,
            format=decoded.format,
            mode=decoded.mode,
            width=decoded.width,
            height=decoded.height,
            size_bytes=decoded.size_bytes,
            sha256=decoded.sha256,
            perceptual_hash=dhash64(grey),
            perceptual_hash_algorithm=DHASH_ALGORITHM,
            dominant_colors=dominant_colors(measured),
            brightness=measures.brightness,
            contrast=measures.contrast,
            sharpness=measures.sharpness,
            has_alpha=channels == 4,
            frame_count=decoded.frame_count,
            analyzer_name=self.name,
            analyzer_version=self.version,
            thumbnails=write_thumbnails(
                [working, measured], sha256=decoded.sha256, media_root=media_root
            ),
        )
        if decoded.exif is not None:
            analysis.exif.CopyFrom(decoded.exif)
        return analysis
