"""Pillow's colour quantiser (median cut, then k-means), computed once per distinct colour.

``Image.quantize(method=MEDIANCUT, kmeans=...)`` hashes every pixel again in each k-means
pass, which made it the analyser's largest cost after decoding and encoding (9 ms for the
128 px sample of a phone photo). This is the same algorithm on the sample's distinct colours
weighted by their pixel counts, step for step, down to Pillow's tie-breaking and the quirks
of its C code that decide clusters (``clustering_test.py`` compares the results with
Pillow's), in a third of the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from bubble_worker.analysis.median_cut import median_cut

Colours = npt.NDArray[np.float64]
"""Whole-number colour values in floating point, so that distances are matrix products
(exact: no value comes near 2**53)."""

MAX_KMEANS_PASSES: Final = 1000
"""Pillow repeats k-means passes until few pixels move, with no limit; rounded means can in
principle cycle, and one image must never hold a worker forever. Photos settle in about 10
passes, pure noise in 40 to 80 (half a millisecond each), so no real image comes near."""


@dataclass(frozen=True)
class Cluster:
    """One colour of the quantised palette and how many pixels it stands for."""

    pixel_count: int
    rgb: tuple[int, int, int]


def quantize(pixels: npt.NDArray[np.uint8], colors: int, kmeans: int) -> list[Cluster]:
    """The clusters ``Image.quantize(colors, MEDIANCUT, kmeans, dither=NONE)`` finds in
    ``pixels`` (rows of red, green, blue), in palette order, leaving out emptied ones."""
    distinct = _Distinct.of(pixels)
    leaves = median_cut(distinct.channels.astype(np.intp), distinct.counts, colors)
    assignment = np.empty(len(distinct.counts), dtype=np.intp)
    for index, members in enumerate(leaves):
        assignment[members] = index
    palette = _means(distinct, assignment, len(leaves))
    assignment = _nearest(distinct, palette, assignment, _Candidates.sorted(palette))
    if kmeans > 0:
        palette, assignment = _kmeans(distinct, assignment, palette, kmeans - 1)
    sizes = np.bincount(assignment, weights=distinct.counts, minlength=len(palette))
    return [
        Cluster(pixel_count=int(size), rgb=(int(red), int(green), int(blue)))
        for size, (red, green, blue) in zip(sizes, palette, strict=True)
        if size > 0
    ]


@dataclass(frozen=True)
class _Distinct:
    """The sample's distinct colours, with what every pass needs of them computed once."""

    channels: Colours
    """Red, green and blue as three rows (one column per colour): NumPy reduces whole rows
    many times faster than along an axis of 3."""
    counts: npt.NDArray[np.int64]
    """Pixels of each colour."""
    weighted: Colours
    """``channels`` times ``counts``: the sums behind each cluster's mean."""
    norms: npt.NDArray[np.float64]
    """Each colour's squared length, for distances as matrix products."""

    @classmethod
    def of(cls, pixels: npt.NDArray[np.uint8]) -> _Distinct:
        rgb = pixels.reshape(-1, 3).astype(np.int64)
        values, counts = np.unique(
            (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2], return_counts=True
        )
        channels = np.stack([values >> 16, (values >> 8) & 0xFF, values & 0xFF]).astype(np.float64)
        return cls(
            channels=channels,
            counts=counts.astype(np.int64),
            weighted=channels * counts,
            norms=np.einsum("ij,ij->j", channels, channels),
        )


def _means(distinct: _Distinct, assignment: npt.NDArray[np.intp], entries: int) -> Colours:
    """Each cluster's mean colour (one row per cluster), rounded half up. An emptied cluster
    becomes black, as in Pillow: its C code divides by zero there, and the NaN it converts to
    a byte comes out as 0 on x86-64 and ARM alike."""
    sizes = np.bincount(assignment, weights=distinct.counts, minlength=entries)
    sums = np.stack(
        [np.bincount(assignment, weights=row, minlength=entries) for row in distinct.weighted],
        axis=1,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.floor(0.5 + sums / sizes[:, None])
    return np.where(sizes[:, None] > 0, means, 0.0)


@dataclass(frozen=True)
class _Candidates:
    """For each palette entry, the other entries in the order a colour assigned to it tries
    them, and how far each is from it (squared)."""

    order: npt.NDArray[np.intp]
    between: npt.NDArray[np.float64]

    @classmethod
    def sorted(cls, palette: Colours) -> _Candidates:
        """By distance, ties by index (Pillow's qsort)."""
        between = _between(palette)
        return cls(np.argsort(between, axis=1, kind="stable"), between)

    def resorted(self, palette: Colours) -> _Candidates:
        """The previous order re-sorted by the new distances the way Pillow does: its
        insertion sort compares each element's neighbours instead of the element, so it
        moves an element at most one step per pass after an ascending run, and a row can
        stay out of order. Which entries a colour tries depends on it, so it is kept."""
        between = _between(palette)
        rows = self.order.tolist()
        for row, distances in zip(rows, between.tolist(), strict=True):
            for position in range(1, len(row)):
                element, slot = row[position], position
                while slot and distances[row[slot - 1]] > distances[row[slot]]:
                    row[slot] = row[slot - 1]
                    slot -= 1
                row[slot] = element
        return _Candidates(np.array(rows, dtype=np.intp), between)

    def is_sorted(self, entry: int) -> bool:
        return bool(np.all(np.diff(self.between[entry, self.order[entry]]) >= 0))


def _between(palette: Colours) -> npt.NDArray[np.float64]:
    return ((palette[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)  # type: ignore[no-any-return]


def _nearest(
    distinct: _Distinct,
    palette: Colours,
    assignment: npt.NDArray[np.intp],
    candidates: _Candidates,
) -> npt.NDArray[np.intp]:
    """Each colour's new entry: it stays where it is unless another is strictly nearer, and
    of equally near others the first its current entry's candidates offer wins.

    Pillow walks the candidates until one is more than twice as far from the current entry as
    the colour is, which cannot skip a nearer one when they are sorted: then the nearest
    entry is taken directly, and only colours of unsorted rows walk as Pillow does.
    """
    # |p - c|^2 as |p|^2 - 2 p.c + |c|^2: one matrix product, exact in floating point.
    distances = (
        np.einsum("ij,ij->i", palette, palette)[:, None]
        - 2 * (palette @ distinct.channels)
        + distinct.norms
    )
    current = distances[assignment, np.arange(len(assignment))]
    nearest = distances.min(axis=0)
    first = np.zeros(len(assignment), dtype=np.intp)
    equally_near = np.zeros(len(assignment), dtype=np.intp)
    for entry in range(len(palette) - 1, -1, -1):  # row by row: faster than argmin(axis=0)
        at_nearest = distances[entry] == nearest
        first[at_nearest] = entry
        equally_near += at_nearest
    moves = nearest < current
    chosen = np.where(moves, first, assignment)
    walk = moves & (equally_near > 1)  # ties: the first candidate offered wins
    for entry in range(len(palette)):
        if not candidates.is_sorted(entry):
            walk |= assignment == entry
    for entry in np.unique(assignment[walk]):
        colours = np.flatnonzero(walk & (assignment == entry))
        chosen[colours] = _walk(distances[:, colours], current[colours], entry, candidates)
    return chosen


def _walk(
    distances: npt.NDArray[np.float64],
    current: npt.NDArray[np.float64],
    entry: int,
    candidates: _Candidates,
) -> npt.NDArray[np.intp]:
    """Pillow's search for colours assigned to ``entry``: its candidates in order, up to the
    first more than twice as far from it as the colour; the first strictly nearest wins."""
    order = candidates.order[entry]
    reachable = np.logical_and.accumulate(
        candidates.between[entry, order][:, None] <= 4 * current[None, :], axis=0
    )
    offered = np.where(reachable, distances[order], np.inf)
    best = offered.min(axis=0)
    position = np.argmax(offered == best, axis=0)
    return np.where(best < current, order[position], entry)


def _kmeans(
    distinct: _Distinct,
    assignment: npt.NDArray[np.intp],
    palette: Colours,
    threshold: int,
) -> tuple[Colours, npt.NDArray[np.intp]]:
    """Lloyd's passes until at most ``threshold`` pixels change cluster; the palette returned
    is the one the last pass assigned to, as in Pillow."""
    candidates: _Candidates | None = None
    for _ in range(MAX_KMEANS_PASSES):
        palette = _means(distinct, assignment, len(palette))
        candidates = (
            _Candidates.sorted(palette) if candidates is None else candidates.resorted(palette)
        )
        moved = _nearest(distinct, palette, assignment, candidates)
        changes = int(distinct.counts[moved != assignment].sum())
        assignment = moved
        if changes <= threshold:
            break
    return palette, assignment
