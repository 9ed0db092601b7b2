"""Pillow's median cut (Quant.c), on distinct colours weighted by their pixel counts.

The first half of Pillow's MEDIANCUT quantiser (see ``clustering.py``); kept step for step,
including its heap, because which of two equally populous boxes is split first, and where a
split falls, decide the palette.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

Counts = npt.NDArray[np.int64]

_AXIS_WEIGHTS: Final = np.array([77, 150, 29])
"""Pillow splits a box along the side whose range, weighted by its share of luminance, is
longest."""


@dataclass
class _Box:
    members: npt.NDArray[np.intp]
    """Indices of the distinct colours inside the box."""
    channels: npt.NDArray[np.intp]
    """Their red, green and blue values as three rows: reductions run along whole rows."""
    pixel_count: int
    halves: tuple[_Box, _Box] | None = field(default=None)

    @functools.cached_property
    def ranges(self) -> npt.NDArray[np.intp]:
        """Each channel's extent: read once to skip a one-colour box, again to split it."""
        # Row by row: NumPy reduces a whole row many times faster than along an axis of 3.
        return np.array([row.max() - row.min() for row in self.channels])


def median_cut(
    channels: npt.NDArray[np.intp], counts: Counts, boxes: int
) -> list[npt.NDArray[np.intp]]:
    """Pillow's median cut of distinct colours (``channels``: red, green and blue rows, one
    column per colour; ``counts``: its pixels): the most populous box that holds more than
    one colour is split, until there are ``boxes``. Returns each box's colours (column
    indices), numbered as Pillow numbers its palette: upper half first."""
    root = _Box(np.arange(len(counts)), channels, int(counts.sum()))
    heap = _BoxHeap()
    heap.add(root)
    for _ in range(boxes - 1):
        box = heap.remove()
        while box is not None and not box.ranges.any():  # one colour: nothing to split
            box = heap.remove()
        if box is None:
            break
        box.halves = _split(box, counts)
        heap.add(box.halves[0])
        heap.add(box.halves[1])
    return [leaf.members for leaf in _leaves(root) if len(leaf.members)]


def _split(box: _Box, counts: Counts) -> tuple[_Box, _Box]:
    """Splits at the median pixel along the box's longest side, keeping every colour of the
    median's value on the upper side (so the split depends on values, never on order)."""
    axis = int(np.argmax(box.ranges * _AXIS_WEIGHTS))
    values = box.channels[axis]
    per_value = np.bincount(values, weights=counts[box.members], minlength=256)
    from_top = np.cumsum(per_value[::-1])
    median = 255 - int(np.argmax(from_top * 2 > box.pixel_count))
    upper = values >= median
    if upper.all():  # the median fell in the lowest value: that value alone goes below
        upper = values > values.min()
    return _half(box, upper, counts), _half(box, ~upper, counts)


def _half(box: _Box, selected: npt.NDArray[np.bool_], counts: Counts) -> _Box:
    members = box.members[selected]
    return _Box(members, box.channels[:, selected], int(counts[members].sum()))


def _leaves(box: _Box) -> list[_Box]:
    if box.halves is None:
        return [box]
    return _leaves(box.halves[0]) + _leaves(box.halves[1])


class _BoxHeap:
    """Pillow's binary max-heap of boxes by pixel count (QuantHeap.c), kept exactly because
    which of two equally populous boxes is split first changes the palette."""

    def __init__(self) -> None:
        self._slots: list[_Box | None] = [None]  # 1-based, like the C code

    def add(self, box: _Box) -> None:
        self._slots.append(box)
        slot = len(self._slots) - 1
        while slot != 1:
            parent = self._at(slot // 2)
            if box.pixel_count - parent.pixel_count <= 0:
                break
            self._slots[slot] = parent
            slot //= 2
        self._slots[slot] = box

    def remove(self) -> _Box | None:
        if len(self._slots) == 1:
            return None
        top = self._at(1)
        last = self._at(len(self._slots) - 1)
        del self._slots[-1]
        count = len(self._slots) - 1
        slot = 1
        while slot * 2 <= count:
            child = slot * 2
            if child < count and self._at(child).pixel_count < self._at(child + 1).pixel_count:
                child += 1
            if last.pixel_count > self._at(child).pixel_count:
                break
            self._slots[slot] = self._slots[child]
            slot = child
        if count:
            self._slots[slot] = last
        return top

    def _at(self, slot: int) -> _Box:
        box = self._slots[slot]
        assert box is not None
        return box
