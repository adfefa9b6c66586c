"""The k nearest training images of query images, exactly, chunk by chunk of the training split.

A reduction (partial + combine, as in :mod:`mnistlab.scale.reductions`): the partial is the
exact k-nearest search of :class:`~mnistlab.similarity.NearestImages` within one chunk, the
combine keeps the k nearest of two lists, ties to the smaller training index. Memory: one chunk
of training images and (queries x k) distances and indices, whatever the split's size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mnistlab.similarity.neighbours import NearestImages, check_metric


@dataclass(frozen=True)
class NearestSoFar:
    """The ``k`` nearest training images of each query among those searched so far:
    ``distances`` and ``indices`` (n_queries, at most k), nearest first, ties to the smaller
    index. ``a + b`` keeps the k nearest of both: an order on (distance, index), in which no two
    images tie, so the order of the combines never changes the result."""

    k: int
    distances: np.ndarray
    indices: np.ndarray

    def __add__(self, other: NearestSoFar) -> NearestSoFar:
        distances = np.concatenate([self.distances, other.distances], axis=1)
        indices = np.concatenate([self.indices, other.indices], axis=1)
        order = np.lexsort((indices, distances), axis=1)[:, : self.k]
        return NearestSoFar(
            self.k,
            np.take_along_axis(distances, order, axis=1),
            np.take_along_axis(indices, order, axis=1),
        )


def _nearest_in_chunk(images, labels, start: int, *, queries, k: int, metric: str) -> NearestSoFar:
    """The partial: the k nearest images of the chunk (positions from ``start``) to each query."""
    index = NearestImages(metric=metric).fit(images)
    distances, found = index.kneighbors(queries, min(k, len(images)))
    return NearestSoFar(k, distances, found + start)


def nearest_training_images(
    queries,
    train,
    k: int = 5,
    *,
    metric: str = "euclidean",
    client=None,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest training images of each query, by an exact search chunk by chunk.

    The same as ``NearestImages(metric).fit(train.images).kneighbors(queries, k)`` (indices
    equal but where two training images are exactly as far from a query; distances equal for
    euclidean uint8 images, to rounding for cosine and pearson), without the training images
    in memory: each chunk is searched on its own and the lists are merged, ties going to the
    smaller training index.

    Parameters
    ----------
    queries : ndarray of shape (n, h, w)
        The query images (uint8, 0..255), in memory: a test split's images, say.
    train : Split or LazySplit
        The images searched: in memory (blocks on all cores), or a Zarr store's split (its chunks
        streamed, or one Dask task per chunk with ``client``).
    k : int, default 5
        Neighbours per query, 1..len(train).
    metric : {"euclidean", "cosine", "pearson"}
        As :class:`~mnistlab.similarity.NearestImages` measures it.
    client : dask.distributed.Client, optional
        Run on this cluster; the workers read the store's chunks from its path (each task is
        sent the queries).
    progress : bool, optional
        A bar over the chunks (default: when stderr is a terminal).

    Returns
    -------
    distances, indices : ndarray of shape (n, k)
        Nearest first; ``indices`` are positions in ``train``.

    Raises
    ------
    ValueError
        If ``k`` is not in 1..len(train), ``metric`` is unknown, or the queries' shape does not
        match the training images'.

    Examples
    --------
    >>> import mnistlab
    >>> from mnistlab.scale import nearest_training_images
    >>> digits = mnistlab.load("digits")
    >>> distances, indices = nearest_training_images(digits.test.images[:2], digits.train, k=3)
    >>> indices.shape
    (2, 3)
    """
    from mnistlab.scale import _run

    check_metric(metric)
    queries = np.asarray(queries)
    if queries.ndim != 3 or queries.shape[1:] != tuple(train.image_shape):
        raise ValueError(
            f"queries must be images of the training images' shape (n, {train.image_shape[0]}, "
            f"{train.image_shape[1]}), got shape {queries.shape}."
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(train):
        raise ValueError(f"k must be 1..{len(train)} (the training images), got {k!r}.")
    partial = functools.partial(_nearest_in_chunk, queries=queries, k=int(k), metric=metric)
    found = _run(partial, train, client, progress)
    return found.distances, found.indices
