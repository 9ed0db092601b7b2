"""Matrix products for the analyser, on one core."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from bubble_worker.analysis.opencv import cv2

_NOTHING: Final = np.empty((0, 0))
"""gemm's third operand, which a weight of 0 leaves out."""


def matrix_product(
    first: npt.NDArray[np.float64], second: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """``first @ second``, computed by OpenCV on one thread.

    Not NumPy's ``@``: its BLAS may work products as small as 5 x 3 by 3 x 3,000 on a thread
    per core, and its threads spin between products: measured here, a loop of them billed the
    process twice its own thread's CPU, taking from the core the next analysis should have.
    """
    return np.asarray(cv2.gemm(first, second, 1.0, _NOTHING, 0.0), dtype=np.float64)
