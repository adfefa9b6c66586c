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

from mnistlab.scale.reductions import Extremes, ImageSums, extremes
from mnistlab.scale.reductions import image_sums as _image_sums_block
from mnistlab.scale.results import TypicalityExtremes

__all__ = ["Extremes", "ImageSums", "TypicalityExtremes", "image_sums", "typicality_extremes"]


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


def _extremes(images, labels, start: int, *, means, per_class: int) -> Extremes:
    return extremes(images, labels, start, means, per_class)


def typicality_extremes(
    split, per_class: int = 6, *, client=None, progress: bool | None = None
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

    Returns
    -------
    TypicalityExtremes
        Equal to :func:`mnistlab.stats.typicality`'s ``least_typical`` and ``most_typical``
        tables, without holding every distance in memory.
    """
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be a positive whole number, got {per_class!r}.")
    sums = image_sums(split, client=client, progress=progress)
    means = sums.means(split.image_shape)
    partial = functools.partial(_extremes, means=means, per_class=per_class)
    found = _run(partial, split, client, progress)
    return TypicalityExtremes(tuple(split.classes), sums.counts, found)
