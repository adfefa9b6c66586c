"""Statistics that are sums over images, each as a pair: ``partial(images, labels)`` over one
block of images and an associative ``combine(a, b)`` of two partials.

One definition then runs three ways with identical results (see :mod:`mnistlab.scale.execute`):
over an in-memory array, streamed over the chunks of a Zarr store, and as a Dask reduction on a
cluster. Every partial here is made of integer counts and sums (pixel sums of uint8 images fit
int64 exactly up to 3.6e16 images), so the combined result does not depend on the order in which
blocks are combined: the three ways agree bit for bit, and the finishing step (a division) runs
once on the small combined summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageSums:
    """Per class: image ``counts`` (k,), pixel ``value_counts`` (k, 256: how many pixels take
    each value) and pixel ``sums`` (k, h*w), all int64: one pass gives class counts, pixel
    histograms (overall and per class) and centroids."""

    counts: np.ndarray
    value_counts: np.ndarray
    sums: np.ndarray

    def __add__(self, other: ImageSums) -> ImageSums:
        return ImageSums(
            self.counts + other.counts,
            self.value_counts + other.value_counts,
            self.sums + other.sums,
        )

    def means(self, image_shape: tuple[int, int]) -> np.ndarray:
        """Centroids (k, h, w) float64 on the 0..255 scale; NaN for a class without images."""
        with np.errstate(invalid="ignore", divide="ignore"):
            means = self.sums / self.counts[:, None]
        means[self.counts == 0] = np.nan
        return means.reshape(len(self.counts), *image_shape)


def image_sums(images: np.ndarray, labels: np.ndarray, n_classes: int) -> ImageSums:
    """The :class:`ImageSums` partial of one block: uint8 images (n, h, w), labels 0..k-1."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (0..255), got {images.dtype}.")
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels in a block.")
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if len(bad):
        raise ValueError(
            f"label {int(labels[bad[0]])} is outside 0..{n_classes - 1} ({n_classes} classes)."
        )
    d = int(np.prod(images.shape[1:]))
    flat = images.reshape(len(images), d)
    counts = np.bincount(labels, minlength=n_classes).astype(np.int64)
    keys = labels[:, None] * 256 + flat
    value_counts = np.bincount(keys.ravel(), minlength=n_classes * 256).reshape(n_classes, 256)
    sums = np.zeros((n_classes, d), dtype=np.int64)
    for k in np.flatnonzero(counts):
        # int64 sums of uint8: exact, so the combine order never changes a result.
        sums[k] = flat[labels == k].sum(axis=0, dtype=np.int64)
    return ImageSums(counts, value_counts.astype(np.int64), sums)


def combine(a, b):
    """The associative combine of two partials of the same kind (their sum)."""
    return a + b
