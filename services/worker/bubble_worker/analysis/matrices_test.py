from __future__ import annotations

import time

import numpy as np

from bubble_worker.analysis.matrices import matrix_product

RNG = np.random.default_rng(4)
PALETTE = RNG.integers(0, 256, (5, 3)).astype(np.float64)
COLOURS = RNG.integers(0, 256, (3, 3264)).astype(np.float64)


def test_products_are_numpys() -> None:
    assert np.array_equal(matrix_product(PALETTE, COLOURS), PALETTE @ COLOURS)


def test_products_keep_to_one_core() -> None:
    """NumPy's BLAS works such products on a thread per core: billed, not faster."""
    for _ in range(200):
        matrix_product(PALETTE, COLOURS)

    process, thread = time.process_time(), time.thread_time()
    for _ in range(3000):
        matrix_product(PALETTE, COLOURS)
    process, thread = time.process_time() - process, time.thread_time() - thread

    assert process < 1.15 * thread, (process, thread)
