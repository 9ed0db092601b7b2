from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from bubble_worker.analysis.clustering import quantize
from bubble_worker.analysis.synthetic import photo_like

RNG_SEED = 7


def pillows(
    pixels: npt.NDArray[np.uint8], colors: int, kmeans: int
) -> list[tuple[int, tuple[int, ...]]]:
    """What Pillow's own quantiser finds: (pixel count, colour) of each palette entry in use."""
    image = Image.fromarray(pixels)
    quantized = image.quantize(
        colors=colors, method=Image.Quantize.MEDIANCUT, kmeans=kmeans, dither=Image.Dither.NONE
    )
    palette = quantized.getpalette() or []
    used = [(count, int(index)) for count, index in quantized.getcolors(colors) or []]  # type: ignore[arg-type]
    return sorted((count, tuple(palette[3 * index : 3 * index + 3])) for count, index in used)


def ours(
    pixels: npt.NDArray[np.uint8], colors: int, kmeans: int
) -> list[tuple[int, tuple[int, ...]]]:
    return sorted(
        (cluster.pixel_count, cluster.rgb)
        for cluster in quantize(pixels.reshape(-1, 3), colors, kmeans)
    )


def photo_samples() -> list[npt.NDArray[np.uint8]]:
    return [
        np.asarray(
            photo_like((512, 384), seed=seed, noise=seed % 8).resize(
                (128, 96), Image.Resampling.BOX
            )
        )
        for seed in range(24)
    ]


def awkward_samples() -> list[npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(RNG_SEED)
    two = np.zeros((96, 128, 3), dtype=np.uint8)
    two[:, :64] = (200, 30, 30)
    ramp = np.repeat(np.arange(128, dtype=np.uint8)[None, :, None], 96, axis=0).repeat(3, axis=2)
    return [
        np.full((96, 128, 3), (10, 20, 30), dtype=np.uint8),  # one colour: nothing to split
        np.array([[[1, 2, 3]]], dtype=np.uint8),  # one pixel
        two,
        ramp,  # grey ramp: every split falls inside a run of equal values
        rng.integers(0, 256, (96, 128, 3), dtype=np.uint8),  # noise: every pixel distinct
        # Four levels per channel: colours equally far from two entries, and equally
        # populous boxes, everywhere.
        (rng.integers(0, 4, (96, 128, 3)) * 80).astype(np.uint8),
        (rng.integers(0, 2, (40, 40, 3)) * 255).astype(np.uint8),
    ]


@pytest.mark.parametrize("sample", photo_samples() + awkward_samples())
def test_the_clusters_are_pillows(sample: npt.NDArray[np.uint8]) -> None:
    assert ours(sample, 5, 4) == pillows(sample, 5, 4)


@pytest.mark.parametrize(("colors", "kmeans"), [(2, 4), (5, 0), (5, 1), (8, 4), (16, 2)])
def test_other_settings_match_pillow_too(colors: int, kmeans: int) -> None:
    for sample in photo_samples()[:6] + awkward_samples()[-3:]:
        assert ours(sample, colors, kmeans) == pillows(sample, colors, kmeans)
