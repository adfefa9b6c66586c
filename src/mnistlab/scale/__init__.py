"""The analyses on datasets larger than memory: sums over images as partial + combine
(:mod:`~mnistlab.scale.reductions`), run in memory, streamed over a Zarr store's chunks, or on
Dask (:mod:`~mnistlab.scale.execute`).

>>> import mnistlab, numpy as np
>>> from mnistlab.scale import image_sums
>>> digits = mnistlab.load("digits")
>>> sums = image_sums(digits.train)
>>> sums.counts.sum(), np.allclose(sums.means((8, 8)), mnistlab.centroids(digits.train).means)
(np.int64(1347), True)
"""

from __future__ import annotations

import functools

import numpy as np

from mnistlab.models.evaluation import Evaluation
from mnistlab.scale.duplicates import exact_duplicates
from mnistlab.scale.neighbours import nearest_training_images
from mnistlab.scale.reductions import Extremes, ImageSums, extremes, nearest_centroid_confusion
from mnistlab.scale.reductions import image_sums as _image_sums_block
from mnistlab.scale.reductions import pixel_histograms as _pixel_histograms_block
from mnistlab.scale.results import TypicalityExtremes

__all__ = [
    "Extremes",
    "ImageSums",
    "TypicalityExtremes",
    "exact_duplicates",
    "image_sums",
    "nearest_centroid_evaluation",
    "nearest_training_images",
    "pixel_histograms",
    "reduce",
    "typicality_extremes",
]


def image_sums(split, *, client=None, progress: bool | None = None) -> ImageSums:
    """Class counts, pixel value counts and pixel sums per class of a split, in one pass.

    Parameters
    ----------
    split : Split or LazySplit
        An in-memory split (blocks on all cores), or a split of a Zarr store (its chunks
        streamed on all cores, or one Dask task per chunk with ``client``).
    client : dask.distributed.Client, optional
        Run on this cluster; the workers read the store's chunks from its path.
    progress : bool, optional
        A bar over the chunks (default: when stderr is a terminal).

    Returns
    -------
    ImageSums
        Identical whichever way it ran (integer sums).
    """
    return _run(functools.partial(_sums, n_classes=len(split.classes)), split, client, progress)


def reduce(partial, split, *, client=None, progress: bool | None = None):
    """Run a reduction of your own over a split: in memory, streamed, or on Dask.

    Parameters
    ----------
    partial : callable
        ``partial(images, labels, start)`` over one block of uint8 images (n, h, w), their
        labels and the position of the first in the split, returning a summary that adds with
        ``+`` (associatively, and in any order: integer sums, top-k merges with fixed ties).
        On Dask it must be picklable (a module-level function or a ``functools.partial`` of
        one). :func:`mnistlab.scale.execute.together` runs several in one pass.
    split : Split or LazySplit
        In memory (blocks on all cores), or a Zarr store's split (its chunks streamed on all
        cores, or one Dask task per chunk with ``client``).
    client : dask.distributed.Client, optional
        Run on this cluster.
    progress : bool, optional
        A bar over the chunks.

    Returns
    -------
    object
        The sum of the partials over every block: never over fewer (a failed chunk raises).

    Examples
    --------
    >>> import mnistlab, numpy as np
    >>> ink = lambda images, labels, start: np.count_nonzero(images)
    >>> int(reduce(ink, mnistlab.load("digits").train)) > 0
    True
    """
    return _run(partial, split, client, progress)


def _run(partial, split, client, progress):
    """``partial`` over ``split``: in memory, streamed over a store's chunks, or on Dask."""
    from mnistlab.data.lazy import LazySplit
    from mnistlab.scale import execute

    if isinstance(split, LazySplit):
        if client is not None:
            return execute.on_dask(
                partial, split.path, split.name, len(split), split.chunk, client, progress
            )
        return execute.streamed(partial, split.path, split.name, len(split), split.chunk, progress)
    if client is not None:
        raise ValueError("client= runs a Zarr store's chunks on Dask; an in-memory split runs here.")
    return execute.in_memory(partial, split.images, split.labels)


def _sums(images, labels, start: int, *, n_classes: int) -> ImageSums:
    return _image_sums_block(images, labels, n_classes)


def _histograms(images, labels, start: int, *, n_classes: int) -> np.ndarray:
    return _pixel_histograms_block(images, labels, n_classes)


def pixel_histograms(split, *, client=None, progress: bool | None = None) -> np.ndarray:
    """Per class and pixel, how many images take each value 0..255, in one pass: the sufficient
    statistic of every one-pixel model (:func:`mnistlab.onepixel.one_pixel_separability`).

    Parameters
    ----------
    split : Split or LazySplit
        In memory, or a Zarr store's split (streamed, or on Dask with ``client``).
    client : dask.distributed.Client, optional
        Run on this cluster.
    progress : bool, optional
        A bar over the chunks.

    Returns
    -------
    ndarray of shape (n_classes, h*w, 256), int64
        Equal to :func:`mnistlab.stats.pixel_histograms` of the split's images and labels.
        Its size is fixed, k * h*w * 256 * 8 bytes (16 MB for 10 classes of 28x28), whatever the
        number of images.
    """
    partial = functools.partial(_histograms, n_classes=len(split.classes))
    return _run(partial, split, client, progress)


def _extremes(images, labels, start: int, *, means, per_class: int) -> Extremes:
    return extremes(images, labels, start, means, per_class)


def typicality_extremes(
    split,
    per_class: int = 6,
    *,
    client=None,
    progress: bool | None = None,
    sums: ImageSums | None = None,
) -> TypicalityExtremes:
    """The least and most typical images of each class, in two passes over the images.

    The first pass sums the images per class (:func:`image_sums`: the centroids); the second
    measures every image's RMS distance to its class centroid and keeps, per class, the
    ``per_class`` farthest and nearest (a top-k merge) and a histogram of the distances.

    Parameters
    ----------
    split : Split or LazySplit
        In memory, or a Zarr store's split (streamed, or on Dask with ``client``).
    per_class : int, default 6
        Images kept per class at each end.
    client : dask.distributed.Client, optional
        Run both passes on this cluster.
    progress : bool, optional
        Bars over the chunks.
    sums : ImageSums, optional
        The split's :func:`image_sums` if already made: the first pass is not run again.

    Returns
    -------
    TypicalityExtremes
        Equal to :func:`mnistlab.stats.typicality`'s ``least_typical`` and ``most_typical``
        tables, without holding every distance in memory.
    """
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be a positive whole number, got {per_class!r}.")
    if sums is None:
        sums = image_sums(split, client=client, progress=progress)
    means = sums.means(split.image_shape)
    partial = functools.partial(_extremes, means=means, per_class=per_class)
    found = _run(partial, split, client, progress)
    return TypicalityExtremes(tuple(split.classes), sums.counts, found)


def _confusion(images, labels, start: int, *, centroids, present, n_classes: int) -> np.ndarray:
    return nearest_centroid_confusion(images, labels, centroids, present, n_classes)


def nearest_centroid_evaluation(
    train, test, *, client=None, progress: bool | None = None, sums: ImageSums | None = None
) -> Evaluation:
    """Test accuracy and confusion matrix of the nearest-centroid classifier, in one pass over
    each split: the training split's per-class sums (:func:`image_sums`), then the confusion
    matrix of the test images as a sum over their chunks.

    Parameters
    ----------
    train, test : Split or LazySplit
        The training and test splits, in memory or in a Zarr store (the same classes).
    client : dask.distributed.Client, optional
        Run both passes on this cluster.
    progress : bool, optional
        Bars over the chunks.
    sums : ImageSums, optional
        The training split's :func:`image_sums` if already made: its pass is not run again.

    Returns
    -------
    Evaluation
        The same as ``evaluate(test.labels, NearestCentroidClassifier().fit(train.images,
        train.labels).predict(test.images), classes)``: the classes with training images are
        the candidates (0..255 Euclidean distance, ties to the first).

    Raises
    ------
    ValueError
        If the splits' classes differ, or fewer than two classes have training images.
    """
    if tuple(train.classes) != tuple(test.classes):
        raise ValueError("train and test must have the same classes.")
    k = len(train.classes)
    if sums is None:
        sums = image_sums(train, client=client, progress=progress)
    present = np.flatnonzero(sums.counts)
    if len(present) < 2:
        raise ValueError(f"need at least 2 classes with training images, got {len(present)}.")
    centroids = sums.means(train.image_shape).reshape(k, -1)[present]
    partial = functools.partial(_confusion, centroids=centroids, present=present, n_classes=k)
    return Evaluation.from_confusion(_run(partial, test, client, progress), train.classes)
