"""Statistics that are sums over images, each as a pair: a partial over one block of images
and an associative combine of two partials, written ``a + b``.

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

    @classmethod
    def from_histograms(cls, histograms: np.ndarray) -> ImageSums:
        """The sums that per-class pixel histograms (k, h*w, 256) hold: the same numbers as
        :func:`image_sums` of the same images, so one pass can give both."""
        histograms = np.asarray(histograms, dtype=np.int64)
        return cls(
            histograms[:, 0].sum(axis=1),
            histograms.sum(axis=1),
            histograms @ np.arange(256, dtype=np.int64),
        )

    def means(self, image_shape: tuple[int, int]) -> np.ndarray:
        """Centroids (k, h, w) float64 on the 0..255 scale; NaN for a class without images."""
        with np.errstate(invalid="ignore", divide="ignore"):
            means = self.sums / self.counts[:, None]
        means[self.counts == 0] = np.nan
        return means.reshape(len(self.counts), *image_shape)


#: Pixels a partial reduces at a time within a block (4,096 images of 28x28): their int64 keys
#: (26 MB) stay near the cache, so a chunk of 42,000 images is summed 3 to 10 times faster than
#: in one step, and without a 260 MB temporary. The steps' sums are added: the result is the same.
STEP_PIXELS = 4096 * 784


def _in_steps(step, images: np.ndarray, labels: np.ndarray, *args):
    """``step(images, labels, *args)`` over consecutive parts of ``STEP_PIXELS`` pixels, summed."""
    rows = max(1, STEP_PIXELS // max(1, int(np.prod(images.shape[1:]))))
    total = step(images[:rows], labels[:rows], *args)
    for start in range(rows, len(images), rows):
        total = total + step(images[start : start + rows], labels[start : start + rows], *args)
    return total


def image_sums(images: np.ndarray, labels: np.ndarray, n_classes: int) -> ImageSums:
    """The :class:`ImageSums` partial of one block: uint8 images (n, h, w), labels 0..k-1."""
    images = np.asarray(images)
    labels = _checked_labels(images, labels, n_classes)
    return _in_steps(_image_sums_step, images, labels, n_classes)


def _image_sums_step(images: np.ndarray, labels: np.ndarray, n_classes: int) -> ImageSums:
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


def _checked_labels(images: np.ndarray, labels, n_classes: int) -> np.ndarray:
    """``labels`` as int64 after checking the block: uint8 images, one label each, in range."""
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
    return labels


#: Width of the distance histogram bins (0..255 scale): medians to within half of it.
DISTANCE_BIN = 0.01
#: Histogram bins: distances of uint8 images to centroids on the same scale are at most 255.
DISTANCE_BINS = round(255 / DISTANCE_BIN) + 1


@dataclass(frozen=True)
class Extremes:
    """Per class, the ``per_class`` least and most typical images (largest and smallest RMS
    distance to the class centroid; ties as :class:`mnistlab.stats.Typicality` ranks them), and a
    histogram of all distances (bins of ``DISTANCE_BIN``) for medians and percentiles.

    ``least[k]`` and ``most[k]`` are ``(distances, positions)`` arrays, best first.
    """

    per_class: int
    least: tuple[tuple[np.ndarray, np.ndarray], ...]
    most: tuple[tuple[np.ndarray, np.ndarray], ...]
    histogram: np.ndarray

    def __add__(self, other: Extremes) -> Extremes:
        least = tuple(
            _keep(a, b, self.per_class, least=True) for a, b in zip(self.least, other.least, strict=True)
        )
        most = tuple(
            _keep(a, b, self.per_class, least=False) for a, b in zip(self.most, other.most, strict=True)
        )
        return Extremes(self.per_class, least, most, self.histogram + other.histogram)


def _keep(a, b, n: int, *, least: bool) -> tuple[np.ndarray, np.ndarray]:
    """The best ``n`` of two ``(distances, positions)`` lists: the largest distances first (ties:
    smaller position) for ``least``; else the smallest first (ties: larger position)."""
    distances = np.concatenate([a[0], b[0]])
    positions = np.concatenate([a[1], b[1]])
    order = np.lexsort((positions, -distances) if least else (-positions, distances))[:n]
    return distances[order], positions[order]


def extremes(images, labels, offset: int, means: np.ndarray, per_class: int) -> Extremes:
    """The :class:`Extremes` partial of one block whose first image is at ``offset``: its images'
    distances to ``means`` (their class centroids, 0..255 scale)."""
    from mnistlab.stats import distance_to_centroid

    labels = np.asarray(labels, dtype=np.int64)
    distances = distance_to_centroid(np.asarray(images), labels, means)
    positions = offset + np.arange(len(labels), dtype=np.int64)
    empty = (np.empty(0), np.empty(0, np.int64))
    least, most = [], []
    for k in range(len(means)):
        mine = labels == k
        own = (distances[mine], positions[mine])
        least.append(_keep(own, empty, per_class, least=True))
        most.append(_keep(own, empty, per_class, least=False))
    bins = np.minimum(np.rint(distances / DISTANCE_BIN).astype(np.int64), DISTANCE_BINS - 1)
    histogram = np.bincount(labels * DISTANCE_BINS + bins, minlength=len(means) * DISTANCE_BINS)
    return Extremes(per_class, tuple(least), tuple(most), histogram.reshape(len(means), DISTANCE_BINS))


def nearest_centroid_confusion(
    images, labels, centroids: np.ndarray, present: np.ndarray, n_classes: int
) -> np.ndarray:
    """The confusion matrix (k, k) int64 of one block of test images classified by their nearest
    centroid: ``centroids`` (m, h*w) of the ``present`` classes (labels, m of them) on the 0..255
    scale, decided as :class:`mnistlab.models.NearestCentroidClassifier` decides (ties: the first
    present class)."""
    from mnistlab.models.centroid import squared_distances

    labels = np.asarray(labels, dtype=np.int64)
    flat = np.asarray(images).reshape(len(labels), -1)
    predicted = present[np.argmin(squared_distances(flat, centroids), axis=1)]
    cells = np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes)
    return cells.reshape(n_classes, n_classes).astype(np.int64)


def pixel_histograms(images, labels, n_classes: int) -> np.ndarray:
    """Per class and pixel, the images taking each value (k, h*w, 256) int64, of one block: the
    sufficient statistic of the one-pixel models (:func:`mnistlab.stats.pixel_histograms`)."""
    from mnistlab.stats import pixel_histogram_counts

    images = np.asarray(images)
    labels = _checked_labels(images, labels, n_classes)
    d = int(np.prod(images.shape[1:]))
    counts = _in_steps(pixel_histogram_counts, images, labels, n_classes)
    return counts.reshape(n_classes, d, 256)
