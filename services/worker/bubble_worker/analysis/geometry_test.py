from __future__ import annotations

import pytest

from bubble_worker.analysis.geometry import fit_within


@pytest.mark.parametrize(
    ("size", "edge", "expected"),
    [
        ((4000, 3000), 768, (768, 576)),
        ((3000, 4000), 768, (576, 768)),
        ((500, 200), 768, (500, 200)),
        ((768, 768), 768, (768, 768)),
        ((10000, 1), 256, (256, 1)),
    ],
)
def test_fit_within_scales_down_only(
    size: tuple[int, int], edge: int, expected: tuple[int, int]
) -> None:
    assert fit_within(size, edge) == expected
