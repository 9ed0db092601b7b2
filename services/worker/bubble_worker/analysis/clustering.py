"""Pillow's colour quantiser (median cut, then k-means), computed once per distinct colour.

``Image.quantize(method=MEDIANCUT, kmeans=...)`` hashes every pixel again in each k-means
pass, which made it the analyser's largest cost after decoding and encoding (9 ms for the
128 px sample of a phone photo). This is the same algorithm on the sample's distinct colours
weighted by their pixel counts, step for step, down to Pillow's tie-breaking and the quirks
of its C code that decide clusters (``clustering_test.py`` compares the results with
Pillow's), in a quarter of the time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from bubble_worker.analysis.median_cut import median_cut

Colours = npt.NDArray[np.float64]
"""Whole-number colour values in floating point, so that sums and means are exact."""

Distances = npt.NDArray[np.float32]
"""Squared distances between whole-number colours: at most 3 * 255**2, and no partial sum of
the matrix product behind them beyond 2**24, so single precision holds them exactly and
halves the memory every pass reads."""

MAX_KMEANS_PASSES: Final = 1000
"""Pillow repeats k-means passes until few pixels move, with no limit; rounded means can in
principle cycle, and one image must never hold a worker forever. Photos settle in 10 to 15
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
    palette = _rounded_means(_totals(distinct, assignment, len(leaves)))
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
    """``channels`` times ``counts``, and ``counts`` as a fourth row: what a cluster adds up
    for its mean."""
    augmented: Distances
    """``channels`` with a row of ones below: one matrix product gives every distance."""
    norms: Distances
    """Each colour's squared length."""
    columns: npt.NDArray[np.intp]
    """0, 1, 2, ...: one index per colour."""

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
            weighted=np.vstack([channels * counts, counts]),
            augmented=np.vstack([channels, np.ones(len(counts))]).astype(np.float32),
            norms=np.einsum("ij,ij->j", channels, channels).astype(np.float32),
            columns=np.arange(len(counts)),
        )


def _totals(distinct: _Distinct, assignment: npt.NDArray[np.intp], entries: int) -> Colours:
    """Each cluster's colour sums and pixel count (one row per cluster, the count last)."""
    return np.stack(
        [np.bincount(assignment, weights=row, minlength=entries) for row in distinct.weighted],
        axis=1,
    ).astype(np.float64)


def _rounded_means(totals: Colours) -> Colours:
    """Means rounded half up. An emptied cluster becomes black, as in Pillow: its C code
    divides by zero there, and the NaN it converts to a byte comes out as 0 on x86-64 and
    ARM alike."""
    sums, sizes = totals[:, :3], totals[:, 3:]
    return np.floor(0.5 + np.divide(sums, sizes, out=np.zeros_like(sums), where=sizes > 0))


@dataclass(frozen=True)
class _Candidates:
    """For each palette entry, the other entries in the order a colour assigned to it tries
    them, and how far each is from it (squared)."""

    order: npt.NDArray[np.intp]
    between: npt.NDArray[np.float64]
    unsorted: tuple[int, ...] = ()
    """Entries whose candidates are out of order by distance."""

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
        ordered = between[np.arange(len(between))[:, None], self.order]
        if (ordered[:, 1:] >= ordered[:, :-1]).all():  # the palette barely moved: the usual case
            return _Candidates(self.order, between)
        rows, unsorted = self.order.tolist(), []
        for entry, (row, distances) in enumerate(zip(rows, between.tolist(), strict=True)):
            for position in range(1, len(row)):
                element, slot = row[position], position
                while slot and distances[row[slot - 1]] > distances[row[slot]]:
                    row[slot] = row[slot - 1]
                    slot -= 1
                row[slot] = element
            if any(distances[a] > distances[b] for a, b in itertools.pairwise(row)):
                unsorted.append(entry)
        return _Candidates(np.array(rows, dtype=np.intp), between, tuple(unsorted))


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
    # |p - c|^2 as (-2 p, |p|^2) . (c, 1) + |c|^2: one matrix product, exact (see Distances).
    entries = np.concatenate(
        [-2 * palette, (palette * palette).sum(axis=1, keepdims=True)], axis=1, dtype=np.float32
    )
    distances = entries @ distinct.augmented
    distances += distinct.norms
    current = distances.ravel()[assignment * len(assignment) + distinct.columns]
    moves = np.flatnonzero(distances.min(axis=0) < current)  # after a few passes, few do
    chosen = assignment.copy()
    walkers = [np.flatnonzero(assignment == entry) for entry in candidates.unsorted]
    if len(moves):
        offered = distances[:, moves]
        at_nearest = offered == offered.min(axis=0)
        chosen[moves] = np.argmax(at_nearest, axis=0)  # the lowest index of the nearest
        # Ties: the first offered wins.
        tied = moves[np.add.reduce(at_nearest, axis=0, dtype=np.int16) > 1]
        if len(tied):
            walkers.append(tied)
    if walkers:
        walking = np.unique(np.concatenate(walkers))
        for entry in np.unique(assignment[walking]):
            colours = walking[assignment[walking] == entry]
            chosen[colours] = _walk(distances[:, colours], current[colours], entry, candidates)
    return chosen


def _walk(
    distances: Distances,
    current: Distances,
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
    is the one the last pass assigned to, as in Pillow. Like Pillow, each pass updates the
    clusters' sums with the colours that moved rather than adding everything up again."""
    totals = _totals(distinct, assignment, len(palette))
    candidates: _Candidates | None = None
    for _ in range(MAX_KMEANS_PASSES):
        palette = _rounded_means(totals)
        candidates = (
            _Candidates.sorted(palette) if candidates is None else candidates.resorted(palette)
        )
        moved = _nearest(distinct, palette, assignment, candidates)
        changed = np.flatnonzero(moved != assignment)
        moving = distinct.weighted[:, changed].T
        np.add.at(totals, assignment[changed], -moving)
        np.add.at(totals, moved[changed], moving)
        assignment = moved
        if int(moving[:, 3].sum()) <= threshold:
            break
    return palette, assignment
