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

from mnistlab.scale.reductions import ImageSums
from mnistlab.scale.reductions import image_sums as _image_sums_block

__all__ = ["ImageSums", "image_sums"]


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
    from mnistlab.data.lazy import LazySplit
    from mnistlab.scale import execute

    partial = functools.partial(_image_sums_block, n_classes=len(split.classes))
    if isinstance(split, LazySplit):
        if client is not None:
            return execute.on_dask(
                partial, split.path, split.name, len(split), split.chunk, client, progress
            )
        return execute.streamed(partial, split.path, split.name, len(split), split.chunk, progress)
    if client is not None:
        raise ValueError("client= runs a Zarr store's chunks on Dask; an in-memory split runs here.")
    return execute.in_memory(partial, split.images, split.labels)
