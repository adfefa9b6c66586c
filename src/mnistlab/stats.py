"""Statistics of image collections, written as reductions over chunks of images.

Every function takes uint8 images of shape (n, h, w) (values 0..255) and returns small arrays or
dataclasses; none reads files or draws.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

#: Images per chunk: bounded memory for any number of images (about 8 MB of 28x28 uint8).
CHUNK = 10_000


def chunks(images: np.ndarray, size: int = CHUNK) -> Iterator[np.ndarray]:
    """Consecutive blocks of at most ``size`` images (views, no copies)."""
    for start in range(0, len(images), size):
        yield images[start : start + size]


def pixel_value_counts(images: np.ndarray) -> np.ndarray:
    """How many pixels take each value 0..255, over all images: int64 array of length 256.

    Examples
    --------
    >>> import numpy as np
    >>> pixel_value_counts(np.array([[[0, 255], [0, 7]]], dtype=np.uint8))[[0, 7, 255]]
    array([2, 1, 1])
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (0..255), got {images.dtype}.")
    total = np.zeros(256, dtype=np.int64)
    for block in chunks(images):
        total += np.bincount(block.ravel(), minlength=256)
    return total


@dataclass(frozen=True)
class PixelShares:
    """Fractions of pixels that are exactly 0, strictly between, and exactly 255."""

    zero: float
    between: float
    full: float

    @classmethod
    def from_counts(cls, counts: np.ndarray) -> PixelShares:
        n = counts.sum()
        if n == 0:
            return cls(float("nan"), float("nan"), float("nan"))
        return cls(counts[0] / n, counts[1:255].sum() / n, counts[255] / n)
