"""Statistics of image collections, written as reductions over chunks of images.

Every function takes uint8 images of shape (n, h, w) (values 0..255) and returns small arrays or
dataclasses; none reads files or draws.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TypeGuard

import numpy as np
import pandas as pd

from mnistlab._utils.blocks import CHUNK, chunks, float_rows, map_blocks, shifted
from mnistlab.data.dataset import Split

if TYPE_CHECKING:
    from mnistlab.data.lazy import LazySplit

__all__ = [
    "Centroids",
    "ClassPair",
    "PixelShares",
    "Typicality",
    "binarise",
    "centroids",
    "check_labels",
    "distance_to_centroid",
    "pixel_histograms",
    "pixel_value_counts",
    "pixel_value_counts_by_class",
    "typicality",
]


def _arrays(data, labels, classes) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], np.ndarray | None]:
    """(images, labels, classes, indices) of a Split, or of images given with labels (and class
    names, by default "0", "1", ...)."""
    if isinstance(data, Split):
        if labels is not None or classes is not None:
            raise TypeError("pass a Split, or images with labels and classes; not both.")
        return data.images, data.labels, data.classes, data.indices
    if labels is None:
        raise TypeError("images need their labels (or pass a Split).")
    if classes is None:  # classes "0", "1", ... up to the largest label
        labels = np.asarray(labels)
        top = int(labels.max()) if labels.size and labels.dtype.kind in "iu" else -1
        classes = [str(k) for k in range(top + 1)]
    return np.asarray(data), labels, tuple(classes), None


def check_labels(images: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Labels as int64 class indices 0..n_classes-1, one per image, or a ValueError saying why.

    Parameters
    ----------
    images : array of length n
        The images the labels belong to (only their number is used).
    labels : ndarray of shape (n,)
        Integer class indices 0..n_classes-1, one per image.
    n_classes : int
        The number of classes.

    Returns
    -------
    ndarray of shape (n,), int64

    Raises
    ------
    ValueError
        If there is not one label per image, or a label is not a class index.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"labels must hold one class index per image: {len(images)} images, labels of shape "
            f"{labels.shape}."
        )
    if labels.size and (labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be integer class indices 0..{n_classes - 1}.")
    return labels.astype(np.int64, copy=False)


def _is_lazy(images, client) -> TypeGuard[LazySplit]:
    """Whether ``images`` is a Zarr store's split (to be streamed); ``client`` is only for one."""
    from mnistlab.data.lazy import LazySplit

    if isinstance(images, LazySplit):
        return True
    if client is not None:
        raise ValueError("client= runs a Zarr store's chunks on Dask; these images are in memory.")
    return False


def _store_sums(split, client):
    from mnistlab.scale import image_sums

    return image_sums(split, client=client)


def pixel_value_counts(images, *, client=None) -> np.ndarray:
    """How many pixels take each value 0..255, over all images: int64 array of length 256.

    Parameters
    ----------
    images : ndarray of shape (n, h, w), uint8, Split or LazySplit
        Images, values 0..255 (a Zarr store's split is streamed chunk by chunk).
    client : dask.distributed.Client, optional
        For a Zarr store's split: run its chunks on this Dask cluster.

    Returns
    -------
    ndarray of shape (256,), int64

    Raises
    ------
    TypeError
        If the images are not uint8.

    Examples
    --------
    >>> import numpy as np
    >>> pixel_value_counts(np.array([[[0, 255], [0, 7]]], dtype=np.uint8))[[0, 7, 255]]
    array([2, 1, 1])
    """
    if _is_lazy(images, client):
        return _store_sums(images, client).value_counts.sum(axis=0)
    images = np.asarray(images.images if isinstance(images, Split) else images)
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


def pixel_value_counts_by_class(
    images, labels: np.ndarray | None = None, n_classes: int | None = None, *, client=None
) -> np.ndarray:
    """How many pixels take each value 0..255, per class: int64 array (n_classes, 256).

    Parameters
    ----------
    images : ndarray of shape (n, h, w), uint8, Split or LazySplit
        Images, values 0..255; a split brings its labels and classes (a Zarr store's split is
        streamed chunk by chunk).
    labels : ndarray of shape (n,), optional
        Integer class indices 0..n_classes-1, one per image; with arrays only.
    n_classes : int, optional
        The number of classes; with arrays only.
    client : dask.distributed.Client, optional
        For a Zarr store's split: run its chunks on this Dask cluster.

    Returns
    -------
    ndarray of shape (n_classes, 256), int64

    Raises
    ------
    TypeError
        If the images are not uint8.
    """
    if _is_lazy(images, client):
        return _store_sums(images, client).value_counts
    if isinstance(images, Split):
        images, labels, n_classes = images.images, images.labels, len(images.classes)
    if labels is None or n_classes is None:
        raise TypeError("images need their labels and n_classes (or pass a Split).")
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (0..255), got {images.dtype}.")
    labels = check_labels(images, labels, n_classes)
    per_image = int(np.prod(images.shape[1:]))
    total = np.zeros(n_classes * 256, dtype=np.int64)
    for start in range(0, len(images), CHUNK):
        block = images[start : start + CHUNK].reshape(-1, per_image)
        # One bincount over (class, value) pairs: class k's values land in bins 256k..256k+255.
        keys = labels[start : start + CHUNK, None].astype(np.int64) * 256 + block
        total += np.bincount(keys.ravel(), minlength=n_classes * 256)
    return total.reshape(n_classes, 256)


def pixel_histograms(images: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Per class and per pixel, how many images have each value 0..255: int64 (k, h*w, 256).

    The sufficient statistic of any one-pixel model on the 0..255 (or rescaled) values; a sum
    over chunks of images.

    Parameters
    ----------
    images : ndarray of shape (n, h, w), uint8
        Images, values 0..255.
    labels : ndarray of shape (n,)
        Integer class indices 0..n_classes-1, one per image.
    n_classes : int
        The number of classes.

    Returns
    -------
    ndarray of shape (n_classes, h*w, 256), int64

    Raises
    ------
    TypeError
        If the images are not uint8.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.array([[[0, 9]], [[0, 9]], [[3, 9]]], np.uint8)
    >>> h = pixel_histograms(images, np.array([0, 0, 1]), 2)
    >>> h.shape, int(h[0, 0, 0]), int(h[1, 0, 3]), int(h[0, 1, 9])
    ((2, 2, 256), 2, 1, 2)
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (0..255), got {images.dtype}.")
    labels = check_labels(images, labels, n_classes)
    d = int(np.prod(images.shape[1:]))
    rows = max(1, CHUNK * 784 // max(d, 1))

    def block_counts(start: int, stop: int) -> np.ndarray:
        return pixel_histogram_counts(images[start:stop], labels[start:stop], n_classes)

    total = np.zeros(n_classes * d * 256, dtype=np.int64)
    # A few blocks at a time, so that at most one partial count per core is alive at once.
    step = rows * (os.cpu_count() or 1)
    for start in range(0, len(images), step):
        stop = min(start + step, len(images))
        group = functools.partial(shifted, block_counts, start)
        for partial in map_blocks(group, stop - start, rows):
            total += partial
    return total.reshape(n_classes, d, 256)


def pixel_histogram_counts(images: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """:func:`pixel_histograms` of one block of uint8 images with checked labels, flat
    (k * h*w * 256,) int64: one bincount of (class, pixel, value) keys, no loop over pixels."""
    d = int(np.prod(images.shape[1:]))
    pixel_offsets = np.arange(d, dtype=np.int64) * 256
    keys = (np.asarray(labels, np.int64)[:, None] * (d * 256) + pixel_offsets) + images.reshape(-1, d)
    return np.bincount(keys.ravel(), minlength=n_classes * d * 256).astype(np.int64, copy=False)


def binarise(images: np.ndarray, threshold: int = 128) -> np.ndarray:
    """Pixels >= ``threshold`` become 255 (ink), the others 0; uint8 in, uint8 out.

    Parameters
    ----------
    images : ndarray, uint8
        Images, values 0..255.
    threshold : int, default 128
        The smallest value that counts as ink.

    Returns
    -------
    ndarray, uint8
        The images with only 0 and 255.
    """
    return np.where(np.asarray(images) >= threshold, np.uint8(255), np.uint8(0))


class ClassPair(NamedTuple):
    """Two classes (labels, a < b) and the RMS difference of their centroids (0..255 scale)."""

    a: int
    b: int
    rms: float


@dataclass(frozen=True, repr=False)
class Centroids:
    """The mean image of each class, on the 0..255 scale.

    Attributes
    ----------
    means : ndarray (n_classes, h, w) float64
        NaN for a class without images.
    counts : ndarray (n_classes,) int64
    classes : tuple of str
    """

    means: np.ndarray
    counts: np.ndarray
    classes: tuple[str, ...]

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.means.shape[1:]))
        return f"Centroids(classes={len(self.classes)}, shape={shape}, images={int(self.counts.sum())})"

    def closest_pairs(self, n: int | None = None) -> pd.DataFrame:
        """Pairs of classes by the RMS difference of their centroids (0..255 scale), closest first.

        Columns ``class_a, class_b`` (labels, a < b), ``name_a, name_b, rms``; only classes with
        images; the ``n`` closest (default all k (k - 1) / 2, ties in label order).

        Examples
        --------
        >>> import numpy as np
        >>> means = np.array([0, 10, 250], np.float64).reshape(3, 1, 1)
        >>> c = Centroids(means, np.array([1, 1, 1]), ("a", "b", "c"))
        >>> c.closest_pairs(2)[["name_a", "name_b", "rms"]].values.tolist()
        [['a', 'b', 10.0], ['b', 'c', 240.0]]
        >>> c.closest_pair()
        ClassPair(a=0, b=1, rms=10.0)
        """
        from scipy.spatial.distance import pdist

        present = np.flatnonzero(np.asarray(self.counts) > 0)
        if len(present) < 2:
            columns = ["class_a", "class_b", "name_a", "name_b", "rms"]
            return pd.DataFrame({c: [] for c in columns}).astype({"class_a": int, "class_b": int})
        flat = self.means[present].reshape(len(present), -1)
        rms = np.sqrt(pdist(flat, "sqeuclidean") / max(flat.shape[1], 1))
        order = np.argsort(rms, kind="stable")[:n]
        i, j = np.triu_indices(len(present), 1)
        a, b = present[i[order]], present[j[order]]
        names = np.array(self.classes, dtype=object)
        return pd.DataFrame(
            {"class_a": a, "class_b": b, "name_a": names[a], "name_b": names[b], "rms": rms[order]}
        )

    def closest_pair(self) -> ClassPair | None:
        """The two classes whose centroids differ least (RMS over pixels), and that difference.

        Classes without images are left out; None if fewer than two classes have images.
        """
        pairs = self.closest_pairs(1)
        if pairs.empty:
            return None
        row = pairs.iloc[0]
        return ClassPair(int(row["class_a"]), int(row["class_b"]), float(row["rms"]))

    def table(self) -> pd.DataFrame:
        """Tidy table of the centroids: ``label, class, x, y, mean``."""
        k, h, w = self.means.shape
        return pd.DataFrame(
            {
                "label": np.repeat(np.arange(k), h * w),
                "class": np.repeat(np.array(self.classes, dtype=object), h * w),
                "x": np.tile(np.arange(w), k * h),
                "y": np.tile(np.repeat(np.arange(h), w), k),
                "mean": self.means.reshape(-1),
            }
        )


def centroids(
    images: np.ndarray | Split | LazySplit,
    labels: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
    *,
    client=None,
) -> Centroids:
    """Mean image per class, as a reduction (per-class sums and counts) over chunks of images.

    Parameters
    ----------
    images : Split, LazySplit or ndarray of shape (n, height, width)
        A split (a Zarr store's split is streamed chunk by chunk), or images (uint8 0..255, or
        floats on any scale: the means keep it).
    labels : ndarray of shape (n,), optional
        Integer labels 0..k-1; with arrays only (a Split brings its own).
    classes : sequence of str, optional
        The k class names; with arrays only.
    client : dask.distributed.Client, optional
        For a Zarr store's split: run its chunks on this Dask cluster.

    Returns
    -------
    Centroids
        ``means`` (k, height, width) float64, NaN for a class without images, and ``counts``.

    Raises
    ------
    ValueError
        If labels are missing, out of range, or not one per image.

    Examples
    --------
    >>> import numpy as np
    >>> c = centroids(np.array([[[0]], [[10]], [[255]]], np.uint8), np.array([0, 0, 1]), ("a", "b"))
    >>> c.means.ravel().tolist(), c.counts.tolist()
    ([5.0, 255.0], [2, 1])
    """
    if _is_lazy(images, client):  # a Zarr store: its chunks streamed (mnistlab.scale)
        summed = _store_sums(images, client)
        return Centroids(summed.means(images.image_shape), summed.counts, images.classes)
    images, labels, classes, _ = _arrays(images, labels, classes)
    k = len(classes)
    labels = check_labels(images, labels, k)
    d = int(np.prod(images.shape[1:]))
    counts = np.bincount(labels, minlength=k).astype(np.int64)
    rows = float_rows(d)
    # float32 is exact here: a block's per-class sums of uint8 values stay below 2**24.
    exact = images.dtype == np.uint8 and rows * 255 < 2**24
    dtype = np.float32 if exact else np.float64

    def block_sums(start: int, stop: int) -> np.ndarray:
        block = images[start:stop].reshape(-1, d).astype(dtype)
        # Summing through a one-hot matrix product is one BLAS call instead of a Python loop.
        one_hot = np.zeros((len(block), k), dtype=dtype)
        one_hot[np.arange(len(block)), labels[start:stop]] = 1
        return one_hot.T @ block

    sums = np.zeros((k, d), dtype=np.float64)
    for partial in map_blocks(block_sums, len(images), rows):
        sums += partial
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    return Centroids(means.reshape(k, *images.shape[1:]), counts, tuple(classes))


def distance_to_centroid(images: np.ndarray, labels: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Root mean square difference of each image to its class centroid, sqrt(mean((v - c)^2)).

    ``images`` uint8 (0..255) and ``means`` (n_classes, h, w) on the same scale; returns float64
    distances on the 0..255 scale, one per image. Computed block by block as
    ``|v|^2 - 2 v.c + |c|^2`` in float64 (a matrix product), which agrees with the direct
    formula to about 1e-14 relative.

    Parameters
    ----------
    images : ndarray of shape (n, h, w)
        Images, values 0..255.
    labels : ndarray of shape (n,)
        Each image's class index.
    means : ndarray of shape (n_classes, h, w)
        The class centroids, on the images' scale.

    Returns
    -------
    ndarray of shape (n,), float64
        RMS distances, 0..255 scale.

    Raises
    ------
    ValueError
        If the labels or the centroids' shape do not match the images.
    """
    images = np.asarray(images)
    labels = check_labels(images, labels, len(means))
    flat_means = np.asarray(means, dtype=np.float64).reshape(len(means), -1)
    if flat_means.shape[1] != int(np.prod(images.shape[1:])):
        raise ValueError(f"means of shape {np.shape(means)} do not match images {images.shape[1:]}.")
    d = flat_means.shape[1]
    mean_norms = np.einsum("ij,ij->i", flat_means, flat_means)
    out = np.empty(len(images), dtype=np.float64)

    def block_distances(start: int, stop: int) -> None:
        block = images[start:stop].reshape(-1, d).astype(np.float64)
        own = labels[start:stop]
        cross = (block @ flat_means.T)[np.arange(len(block)), own]
        squared = np.einsum("ij,ij->i", block, block) - 2 * cross + mean_norms[own]
        out[start:stop] = np.sqrt(np.maximum(squared, 0) / d)

    map_blocks(block_distances, len(images), float_rows(d))
    return out


@dataclass(frozen=True)
class Typicality:
    """Every image's distance to its class centroid, and its rank within its class.

    ``rank_in_class`` 1 is the least typical image of its class (largest distance); ties go to
    the smaller index.
    """

    indices: np.ndarray
    labels: np.ndarray
    distances: np.ndarray
    rank_in_class: np.ndarray
    classes: tuple[str, ...]

    def table(self) -> pd.DataFrame:
        """``index, label, distance, rank_in_class``, in split order."""
        return pd.DataFrame(
            {
                "index": self.indices,
                "label": self.labels,
                "distance": self.distances,
                "rank_in_class": self.rank_in_class,
            }
        )

    def least_typical(self, per_class: int = 1) -> pd.DataFrame:
        """The ``per_class`` least typical images of each class, most atypical first.

        Returns
        -------
        DataFrame
            ``label, class, rank_in_class, index, position, distance``: ``index`` names the
            image in its split (``Split.indices``), ``position`` its row in the analysed images.
        """
        return self._table(self.positions_by_class(per_class, least=True))

    def most_typical(self, per_class: int = 1) -> pd.DataFrame:
        """The ``per_class`` most typical images of each class, most typical first (the columns
        of :meth:`least_typical`)."""
        return self._table(self.positions_by_class(per_class, least=False))

    def positions_by_class(self, per_class: int, *, least: bool = True) -> list[np.ndarray]:
        """Per class (in label order), the positions of its ``per_class`` least typical images,
        most atypical first; with ``least=False`` its most typical, most typical first."""
        if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
            raise ValueError(f"per_class must be a positive whole number, got {per_class!r}.")
        out = []
        for k in range(len(self.classes)):
            members = np.flatnonzero(self.labels == k)
            order = np.argsort(self.rank_in_class[members], kind="stable")
            if not least:
                order = order[::-1]
            out.append(members[order[:per_class]])
        return out

    def _table(self, positions: list[np.ndarray]) -> pd.DataFrame:
        rows = np.concatenate([np.empty(0, np.int64), *positions]).astype(np.int64)
        return pd.DataFrame(
            {
                "label": self.labels[rows],
                "class": [self.classes[k] for k in self.labels[rows]],
                "rank_in_class": self.rank_in_class[rows],
                "index": self.indices[rows],
                "position": rows,
                "distance": self.distances[rows],
            }
        )

    def summary(self) -> pd.DataFrame:
        """Per class: count, median, 90th percentile and maximum distance."""
        frame = self.table().assign(**{"class": [self.classes[k] for k in self.labels]})
        grouped = frame.groupby(["label", "class"], sort=True)["distance"]
        return grouped.agg(
            n="size", median="median", p90=lambda d: d.quantile(0.9), max="max"
        ).reset_index()


def typicality(
    images: np.ndarray | Split,
    labels: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
    indices: np.ndarray | None = None,
    means: np.ndarray | None = None,
) -> Typicality:
    """Distances to class centroids (computed on these same images unless ``means`` is given).

    Parameters
    ----------
    images : Split or ndarray of shape (n, height, width)
        A split (its ``indices`` name the images), or images on the 0..255 scale.
    labels : ndarray of shape (n,), optional
        Integer labels 0..k-1; with arrays only.
    classes : sequence of str, optional
        The k class names; with arrays only.
    indices : ndarray of shape (n,), optional
        What to call each image in results (default: a Split's indices, else 0..n-1).
    means : ndarray of shape (k, height, width), optional
        Centroids to measure against, e.g. the training split's for test images (default: the
        centroids of these images).

    Returns
    -------
    Typicality
        Each image's RMS distance to its class centroid (0..255 scale) and its rank in its
        class (1 = least typical).

    Raises
    ------
    ValueError
        If labels, indices or means do not match the images.
    """
    images, labels, classes, own = _arrays(images, labels, classes)
    indices = own if indices is None else indices
    labels = check_labels(images, labels, len(classes))
    if indices is not None and len(indices) != len(labels):
        raise ValueError(f"{len(indices)} indices for {len(labels)} images.")
    if means is None:
        means = centroids(images, labels, classes).means
    distances = distance_to_centroid(images, labels, means)
    positions = np.arange(len(labels))
    # Sort by class, then distance descending, then position: rank = place within the class.
    order = np.lexsort((positions, -distances, labels))
    ranks = np.empty(len(labels), dtype=np.int64)
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    ranks[order] = np.arange(len(labels)) - starts + 1
    return Typicality(
        indices=positions if indices is None else np.asarray(indices),
        labels=labels,
        distances=distances,
        rank_in_class=ranks,
        classes=tuple(classes),
    )
