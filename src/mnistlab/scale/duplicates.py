"""Exact duplicates of a dataset larger than memory, in two passes over its chunks.

Pass 1 is a reduction (partial + combine, as in :mod:`mnistlab.scale.reductions`): every image's
64-bit content fingerprint and its position, 16 bytes per image whatever the images' size. The
images whose fingerprint another image shares are the candidates; pass 2 reads only them, chunk
by chunk, and groups them by their exact bytes, so a fingerprint collision costs a read, never a
false pair.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from mnistlab.data.lazy import LazySplit
from mnistlab.similarity.duplicates import Duplicates, _duplicate_table, _exact_pairs

#: The fingerprint's random keys come from this seed: an image has the same fingerprint in every
#: run, process and Dask worker.
FINGERPRINT_SEED = 14
#: Images fingerprinted at a time: their 64-bit words (6 MB for 28x28) stay in cache.
FINGERPRINT_ROWS = 4096


@functools.cache
def _keys(words: int) -> np.ndarray:
    """Two independent sets of random 64-bit keys, one per 32-bit word of an image: (words, 2)."""
    return np.random.default_rng(FINGERPRINT_SEED).integers(0, 2**64, (words, 2), dtype=np.uint64)


def fingerprint(images: np.ndarray) -> np.ndarray:
    """A 64-bit fingerprint of each image's bytes: (n,) uint64.

    Two multilinear hashes of the image's little-endian 32-bit words (rows padded with zero
    bytes to a multiple of 4; images of one shape are padded alike), ``sum(key_i * word_i)`` in
    uint64 arithmetic that wraps, with keys drawn from ``FINGERPRINT_SEED``; the fingerprint
    joins the high 32 bits of each, the bits in which this family of hashes is universal: two
    different images share it with a probability of about 2**-62. Equal images always do.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (0..255), got {images.dtype}.")
    n = len(images)
    rows = np.ascontiguousarray(images.reshape(n, -1))
    if rows.shape[1] % 4:
        rows = np.pad(rows, ((0, 0), (0, -rows.shape[1] % 4)))
    words = rows.view("<u4")
    keys = _keys(words.shape[1])
    hashes = np.empty((n, 2), dtype=np.uint64)
    for start in range(0, n, FINGERPRINT_ROWS):
        part = slice(start, start + FINGERPRINT_ROWS)
        np.matmul(words[part].astype(np.uint64), keys, out=hashes[part])
    return (hashes[:, 0] >> np.uint64(32) << np.uint64(32)) | (hashes[:, 1] >> np.uint64(32))


@dataclass(frozen=True)
class Fingerprints:
    """Images' fingerprints and positions, as ``(hashes, positions)`` parts, one per block:
    ``a + b`` keeps both parts (no copy), and :meth:`shared` looks at them all at once."""

    parts: tuple[tuple[np.ndarray, np.ndarray], ...]

    def __add__(self, other: Fingerprints) -> Fingerprints:
        return Fingerprints(self.parts + other.parts)

    def shared(self) -> np.ndarray:
        """The positions, ascending, of the images whose fingerprint another image has."""
        hashes = np.concatenate([h for h, _ in self.parts])
        order = np.argsort(hashes)
        hashes = hashes[order]
        same = hashes[1:] == hashes[:-1]
        del hashes
        shared = np.zeros(len(order), dtype=bool)
        shared[1:] = same
        shared[:-1] |= same
        positions = np.concatenate([p for _, p in self.parts])
        return np.sort(positions[order[shared]])


def image_fingerprints(images, labels, start: int, *, offset: int = 0) -> Fingerprints:
    """The partial of pass 1: the block's fingerprints and positions (``offset`` + position).
    ``offset`` numbers the images of all splits as one sequence: a split's is the number of
    images in the splits before it (in ``dataset.splits`` order)."""
    positions = offset + start + np.arange(len(images), dtype=np.int64)
    return Fingerprints(((fingerprint(images), positions),))


def exact_duplicates(
    dataset, *, client=None, progress: bool | None = None, fingerprints: Fingerprints | None = None
) -> Duplicates:
    """Exact duplicates (identical bytes) within train, within test and between them, in
    memory that does not grow with the images' bytes.

    Pass 1 fingerprints every image (:func:`fingerprint`, faster than reading them): 16 bytes
    per image are kept (fingerprint and position; twice that while they are sorted), not the
    pixels. Pass 2 reads only the images whose fingerprint is shared (each chunk holding one
    once, here) and groups them by their bytes (memory: those images), so the pairs are exact
    whatever the fingerprints.
    Pairs are made as :func:`mnistlab.similarity.find_duplicates` makes them: every pair of a
    group of up to ``EXACT_GROUP`` copies, else each copy with the group's first.

    Parameters
    ----------
    dataset : Dataset or LazyDataset
        In memory (blocks on all cores), or a Zarr store (its chunks streamed on all cores, or
        one Dask task per chunk with ``client``); all its splits are searched.
    client : dask.distributed.Client, optional
        Run pass 1 on this cluster; the workers read the store's chunks from its path.
    progress : bool, optional
        Bars over the chunks (default: when stderr is a terminal).
    fingerprints : Fingerprints, optional
        Pass 1's result if already made, for instance in one pass with other statistics
        (:func:`mnistlab.scale.execute.together` with :func:`image_fingerprints` per split, the
        splits' sums added): pass 1 is not run again.

    Returns
    -------
    Duplicates
        ``threshold`` 0.0 and ``pairs`` equal to the exact rows of
        ``find_duplicates(dataset).pairs`` (same columns, types and order);
        ``median_nearest`` is NaN: no nearest-neighbour search is made.

    Raises
    ------
    TypeError
        If ``dataset`` is a split rather than a dataset.

    Examples
    --------
    >>> import mnistlab
    >>> from mnistlab.scale import exact_duplicates
    >>> exact_duplicates(mnistlab.load("digits")).counts()["exact"].tolist()
    [0, 0, 0]
    """
    from mnistlab.scale import _run

    if not hasattr(dataset, "splits"):
        raise TypeError(
            f"exact_duplicates searches a Dataset or a LazyDataset (its splits and the leakage "
            f"between them), not {type(dataset).__name__}."
        )
    splits = dataset.splits
    offsets = dict(zip(splits, np.cumsum([0, *map(len, splits.values())]).tolist(), strict=False))
    if fingerprints is None:
        found = [
            _run(functools.partial(image_fingerprints, offset=offsets[name]), split, client, progress)
            for name, split in splits.items()
        ]
        fingerprints = functools.reduce(lambda a, b: a + b, found)
        del found
    shared = fingerprints.shared()
    del fingerprints
    candidates, positions = {}, {}
    for name, split in splits.items():
        mine = shared[(shared >= offsets[name]) & (shared < offsets[name] + len(split))]
        if len(mine):
            positions[name] = mine - offsets[name]
            # Only the chunks holding a candidate are read (each once).
            lazy = isinstance(split, LazySplit)
            candidates[name] = split.take(positions[name]) if lazy else split[positions[name]]
    pairs = {}
    for split_a, a, split_b, b, rms in _exact_pairs(candidates) if candidates else []:
        pairs[(split_a, int(positions[split_a][a]), split_b, int(positions[split_b][b]))] = rms
    # What the table reads of a dataset: the classes, and the labels of the paired images.
    labelled = SimpleNamespace(
        classes=tuple(dataset.classes),
        splits={
            name: SimpleNamespace(
                labels=dict(zip(positions[name].tolist(), c.labels.tolist(), strict=True))
            )
            for name, c in candidates.items()
        },
    )
    return Duplicates(
        dataset.name,
        tuple(dataset.classes),
        0.0,
        _duplicate_table(labelled, pairs),
        math.nan,
        dataset.test is not None,
    )
