"""Blocks of images processed on all cores: consecutive chunks for counting, cache-sized float
blocks, and a thread pool that runs ``func(start, stop)`` over them in order."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

T = TypeVar("T")

#: Images per chunk for counting: bounded memory for any number of images (8 MB of 28x28 uint8).
CHUNK = 10_000
#: Float work is done in blocks of about this many bytes, small enough to stay in the CPU cache:
#: converting, multiplying and reducing a block while it is hot is several times faster than
#: streaming 60,000 converted images through memory.
FLOAT_BLOCK_BYTES = 4 << 20


def float_rows(n_features: int) -> int:
    """Images per block so that one float64 block takes about ``FLOAT_BLOCK_BYTES``."""
    return max(1, FLOAT_BLOCK_BYTES // (8 * max(n_features, 1)))


def map_blocks(func: Callable[[int, int], T], n: int, rows: int) -> list[T]:
    """``func(start, stop)`` for consecutive blocks of ``rows`` out of ``n``, on all cores.

    numpy releases the GIL in conversions, reductions and matrix products, so threads run the
    blocks in parallel; BLAS is held to one thread each to avoid oversubscription. Results come
    back in block order.
    """
    from threadpoolctl import threadpool_limits

    starts = range(0, n, rows)
    workers = min(os.cpu_count() or 1, len(starts))
    if workers <= 1:
        return [func(start, min(start + rows, n)) for start in starts]
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda start: func(start, min(start + rows, n)), starts))


def chunks(images: np.ndarray, size: int = CHUNK) -> Iterator[np.ndarray]:
    """Consecutive blocks of at most ``size`` images (views, no copies)."""
    for start in range(0, len(images), size):
        yield images[start : start + size]


def shifted(func: Callable[[int, int], T], offset: int, start: int, stop: int) -> T:
    """``func`` over a block of a sub-range that starts at ``offset``."""
    return func(offset + start, offset + stop)
