"""The logistic problems of a dataset: per-class 256-bin histograms of each pixel (the ``unit``
and ``raw`` scales) or the sorted values of each pixel (the ``l2`` scale)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnistlab._utils.blocks import map_blocks
from mnistlab.data.dataset import Split
from mnistlab.onepixel.solver import Problems

SCALES = ("unit", "raw", "l2")


def scaled_values(scale: str) -> np.ndarray:
    """The x of each uint8 value 0..255 under a discrete scale."""
    values = np.arange(256, dtype=np.float64)
    return values / 255 if scale == "unit" else values


def histogram_problems(
    hist: np.ndarray, nonzero: np.ndarray, a: np.ndarray, b: np.ndarray, values: np.ndarray
) -> Problems:
    """Problems from per-class, per-pixel histograms ``hist`` (k, m, 256) for the pairs
    ``(a[i], b[i])``: one problem per pair and pixel, pair-major, the empty bins dropped.

    ``nonzero`` is ``hist > 0``: only the bins some image of a or b takes are gathered, so a
    batch costs its points, not ``256 * m`` counts per pair (few images, many classes).
    """
    keep = nonzero[a] | nonzero[b]
    per_pair = hist.shape[1] * 256
    row, rest = np.divmod(np.flatnonzero(keep), per_pair)
    sizes = keep.sum(axis=2).ravel()
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    flat = hist.reshape(-1)
    return Problems(
        values[rest % 256], flat[a[row] * per_pair + rest], flat[b[row] * per_pair + rest], starts
    )


def l2_normalise(images: np.ndarray) -> np.ndarray:
    """Each image divided by its L2 norm over all its pixels, flattened: float64 (n, h*w).

    A blank image (all zeros) has no direction and stays all zeros.

    Parameters
    ----------
    images : ndarray of shape (n, h, w) or (n, features)
        Images on any scale.

    Returns
    -------
    ndarray of shape (n, h*w), float64
        Unit-length rows.

    Examples
    --------
    >>> import numpy as np
    >>> l2_normalise(np.array([[[3, 4]], [[0, 0]]], np.uint8)).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    flat = np.asarray(images).reshape(len(images), -1).astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", flat, flat))
    norms[norms == 0] = 1
    return flat / norms[:, None]


def divisors(flat: np.ndarray, scale: str) -> np.ndarray:
    """What each image's uint8 values are divided by under ``scale`` (flat: (n, h*w) uint8)."""
    if scale == "l2":
        norms = np.sqrt(np.einsum("ij,ij->i", flat, flat, dtype=np.float64))
        norms[norms == 0] = 1  # a blank image stays blank
        return norms
    return np.full(len(flat), 255.0 if scale == "unit" else 1.0)


@dataclass
class SortedColumns:
    """The non-zero values of every pixel of a split, grouped by class, each class's sorted by
    (pixel, value): a pair's problems cost its own two classes' values, not the whole split's."""

    pixel: np.ndarray
    value: np.ndarray
    starts: np.ndarray  # (n_classes + 1,): class c's values are starts[c]:starts[c + 1]
    zeros: np.ndarray  # (n_classes, n_pixels): images of each class where the pixel is 0

    @classmethod
    def from_split(cls, split: Split, pixels: np.ndarray, scale: str) -> SortedColumns:
        k = len(split.classes)
        flat = split.images.reshape(len(split), -1)
        norms = divisors(flat, scale)
        by_pixel = np.ascontiguousarray(flat[:, pixels].T)
        n_pixels = len(pixels)

        # One pixel at a time: its non-zero values sorted, so pixels come out in order and each
        # sort is small; the blocks of pixels run on all cores.
        def sort_pixels(start: int, stop: int) -> list[tuple[np.ndarray, np.ndarray]]:
            out = []
            for column in by_pixel[start:stop]:
                image = np.flatnonzero(column)
                value = column[image] / norms[image]
                order = np.argsort(value)
                out.append((value[order], split.labels[image[order]]))
            return out

        blocks = map_blocks(sort_pixels, n_pixels, max(1, n_pixels // 8))
        parts = [part for block in blocks for part in block]
        sizes = np.array([len(v) for v, _ in parts], dtype=np.int64)
        value = np.concatenate([v for v, _ in parts]) if parts else np.zeros(0)
        label = np.concatenate([lab for _, lab in parts]) if parts else np.zeros(0, np.int64)
        column = np.repeat(np.arange(n_pixels, dtype=np.int64), sizes)
        nonzero = np.bincount(label * n_pixels + column, minlength=k * n_pixels)
        counts = np.bincount(split.labels, minlength=k)
        zeros = counts[:, None] - nonzero.reshape(k, n_pixels)
        by_class = np.argsort(label, kind="stable")  # keeps (pixel, value) order within a class
        starts = np.searchsorted(label[by_class], np.arange(k + 1))
        return cls(column[by_class], value[by_class], starts, zeros)

    def problems(self, a: int, b: int) -> Problems:
        """One problem per pixel for classes a (0) and b (1); each pixel's zeros are one point."""
        mine = np.r_[self.starts[a] : self.starts[a + 1], self.starts[b] : self.starts[b + 1]]
        is_b = (np.arange(len(mine)) >= self.starts[a + 1] - self.starts[a]).astype(np.float64)
        order = np.lexsort((self.value[mine], self.pixel[mine]))
        column, value, is_b = self.pixel[mine][order], self.value[mine][order], is_b[order]
        n_pixels = self.zeros.shape[1]
        nonzero = np.bincount(column, minlength=n_pixels)
        first = np.concatenate(([0], np.cumsum(nonzero)[:-1]))
        x = np.insert(value, first, 0.0)
        n0 = np.insert(1 - is_b, first, self.zeros[a])
        n1 = np.insert(is_b, first, self.zeros[b])
        return Problems(x, n0, n1, first + np.arange(n_pixels))
