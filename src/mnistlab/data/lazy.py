"""Datasets that stay on disk: a Zarr store's splits, read chunk by chunk.

A :class:`LazySplit` holds no pixels: its analyses run as reductions over the store's chunks
(:mod:`mnistlab.scale`), ``split[a:b]``, ``first`` and ``subset`` read only the images they
return (as an in-memory :class:`~mnistlab.data.dataset.Split`), and ``info`` reads the labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

import numpy as np

from mnistlab.data.dataset import Split, describe
from mnistlab.data.formats.zarr import ZarrSplitArrays, open_zarr
from mnistlab.errors import FormatError


@dataclass(frozen=True, eq=False)
class LazySplit:
    """One split of a Zarr store, read on demand.

    Attributes
    ----------
    path : Path
        The store.
    name : str
        The split's name in the store (``train``, ``test``).
    classes : tuple of str
    arrays : ZarrSplitArrays
        The store's ``images`` and ``labels`` arrays and their chunk size.
    """

    path: Path
    name: str
    classes: tuple[str, ...]
    arrays: ZarrSplitArrays = field(repr=False)

    def __len__(self) -> int:
        return int(self.arrays.labels.shape[0])

    def __repr__(self) -> str:
        return (
            f"LazySplit({self.name!r}, n={len(self)}, shape={self.image_shape}, "
            f"chunks of {self.chunk}, store={str(self.path)!r})"
        )

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of every image."""
        h, w = self.arrays.images.shape[1:]
        return int(h), int(w)

    @property
    def chunk(self) -> int:
        """Images per chunk of the store."""
        return self.arrays.chunk

    def read(self, start: int = 0, stop: int | None = None) -> Split:
        """Images ``start:stop`` in memory, as a Split whose ``indices`` are their positions in
        this split; labels out of range raise a FormatError naming the store."""
        n = len(self)
        stop = n if stop is None else min(stop, n)
        start = max(0, min(start, stop))
        images = np.asarray(self.arrays.images[start:stop])
        labels = np.asarray(self.arrays.labels[start:stop])
        check_labels_in_range(labels, len(self.classes), f"{self.path}/{self.name}", start)
        return Split(images, labels, self.classes, self.name, indices=np.arange(start, stop))

    @overload
    def __getitem__(self, key: int | np.integer) -> tuple[np.ndarray, int]: ...

    @overload
    def __getitem__(self, key: slice) -> Split: ...

    def __getitem__(self, key):
        """``split[i]``: image ``i`` and its label (as :class:`Split`); ``split[a:b]``: those
        images as an in-memory Split. Only what is asked is read."""
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            n = len(self)
            if not -n <= key < n:
                raise IndexError(f"image {key} of a split of {n}.")
            return self.read(int(key) % n, int(key) % n + 1)[0]
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a lazy split is read by index or range: split[i], split[a:b].")
        start, stop, _ = key.indices(len(self))
        return self.read(start, stop)

    def subset(self, first: int | None = None, *, label=None) -> Split:
        """In memory: the first ``first`` images (of the classes ``label``, as
        :meth:`Split.subset`), reading chunk by chunk only as far as needed; without ``first``
        the whole split (or all of those classes) is read, so give one for a large store."""
        if first is not None and (isinstance(first, bool) or not isinstance(first, int) or first < 0):
            raise ValueError(f"first must be a whole number >= 0, got {first!r}.")
        if label is None:
            return self.read(0, first)
        parts = []
        found = 0
        for start in range(0, len(self), self.chunk):
            if first is not None and found >= first:
                break
            part = self.read(start, start + self.chunk).subset(label=label)
            parts.append(part)
            found += len(part)
        kept = Split(
            np.concatenate([p.images for p in parts]),
            np.concatenate([p.labels for p in parts]),
            self.classes,
            self.name,
            indices=np.concatenate([np.asarray(p.indices) for p in parts]),
        )
        return kept.subset(first)

    def class_counts(self) -> dict[str, int]:
        """Images per class name (reads the labels, chunk by chunk)."""
        counts = np.zeros(len(self.classes), dtype=np.int64)
        for start in range(0, len(self), self.chunk):
            labels = np.asarray(self.arrays.labels[start : start + self.chunk])
            check_labels_in_range(labels, len(self.classes), f"{self.path}/{self.name}", start)
            counts += np.bincount(labels, minlength=len(self.classes))
        return {name: int(c) for name, c in zip(self.classes, counts, strict=True)}

    def take(self, positions) -> Split:
        """The images at ``positions`` (any order, repeats allowed) in memory, as a Split whose
        ``indices`` are those positions: each chunk holding some of them is read once."""
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        n = len(self)
        if len(positions) and (positions.min() < 0 or positions.max() >= n):
            raise IndexError(f"positions must be in 0..{n - 1} for a split of {n} images.")
        wanted, back = np.unique(positions, return_inverse=True)
        images = np.asarray(self.arrays.images.oindex[wanted])[back]
        labels = np.asarray(self.arrays.labels.oindex[wanted])[back]
        check_labels_in_range(labels, len(self.classes), f"{self.path}/{self.name}")
        return Split(images, labels, self.classes, self.name, indices=positions)

    def class_index(self, label: int | str) -> int:
        """Index of a class given its index or name, as :meth:`Split.class_index`."""
        return Split.class_index(self, label)  # type: ignore[arg-type]  # it reads .classes only


def check_labels_in_range(labels: np.ndarray, n_classes: int, where: str, offset: int = 0) -> None:
    """Raise a FormatError if a label of a store is not a class index."""
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if len(bad):
        raise FormatError(
            f"{where}: image {offset + int(bad[0])} has label {int(labels[bad[0]])}, outside "
            f"0..{n_classes - 1} (the store has {n_classes} classes)."
        )


@dataclass(frozen=True, eq=False)
class LazyDataset:
    """A dataset in a Zarr store (see :mod:`mnistlab.data.formats.zarr`): its splits stay on
    disk until an analysis reads them chunk by chunk."""

    name: str
    classes: tuple[str, ...]
    lazy_splits: dict[str, LazySplit]
    source: str = ""

    @property
    def splits(self) -> dict[str, LazySplit]:
        return dict(self.lazy_splits)

    @property
    def train(self) -> LazySplit:
        return self.split("train")

    @property
    def test(self) -> LazySplit | None:
        return self.lazy_splits.get("test")

    def split(self, name: str) -> LazySplit:
        if name not in self.lazy_splits:
            raise ValueError(
                f"dataset {self.name!r} has no {name} split (it has {', '.join(self.lazy_splits)})."
            )
        return self.lazy_splits[name]

    @property
    def image_shape(self) -> tuple[int, int]:
        return next(iter(self.lazy_splits.values())).image_shape

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={len(v)}" for k, v in self.lazy_splits.items())
        return (
            f"LazyDataset({self.name!r}, {parts}, classes={len(self.classes)}, shape={self.image_shape})"
        )

    def subset(self, first: int | None = None):
        """The first ``first`` images of each split, in memory, as a Dataset (the whole store
        without ``first``)."""
        from mnistlab.data.dataset import Dataset

        parts = {k: v.subset(first) for k, v in self.lazy_splits.items()}
        return Dataset(
            self.name,
            parts["train"],
            parts.get("test"),
            self.classes,
            self.source,
            parts.get("validation"),
        )

    def summary(self) -> dict:
        """As :meth:`Dataset.summary`, with ``storage: zarr``; the polarity is judged on the first
        chunk of train."""
        return describe(self) | {"storage": "zarr"}

    def polarity(self):
        return self.train.read(0, self.train.chunk).polarity()


def load_zarr(path: Path, name: str | None = None) -> LazyDataset:
    """Open a store written by ``mnistlab.save(ds, folder, "zarr")`` as a :class:`LazyDataset`
    (reads only its metadata); ``name`` overrides the stored name."""
    meta, arrays = open_zarr(path)
    if "train" not in arrays:
        raise FormatError(f"{path}: the store has no train split (it has {', '.join(arrays)}).")
    classes = meta["classes"]
    splits = {k: LazySplit(path, k, classes, a) for k, a in arrays.items()}
    stored = meta["name"] if isinstance(meta["name"], str) and meta["name"] else path.stem
    return LazyDataset(name or stored, classes, splits, source=str(path))
