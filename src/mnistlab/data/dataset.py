"""Dataset and Split: uint8 images (n, h, w), int64 labels (n,), class names."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mnistlab.data.formats import as_labels, as_uint8_images, check_class_names, default_classes
from mnistlab.errors import FormatError


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset: images, labels and the class names they index.

    Parameters
    ----------
    images : ndarray of shape (n, h, w)
        Pixel values 0..255; any integer or whole-valued float array is accepted and stored as
        uint8 (NaN, fractions or values outside 0..255 raise ``FormatError``).
    labels : ndarray of shape (n,)
        Class indices 0..len(classes)-1, stored as int64.
    classes : sequence of str
        Class names; ``labels`` index into them.
    name : str
        "train", "test", or a description of a subset.

    Examples
    --------
    >>> import numpy as np
    >>> s = Split(np.zeros((4, 2, 2), np.uint8), np.array([0, 1, 1, 0]), ("a", "b"))
    >>> len(s), s.class_counts()
    (4, {'a': 2, 'b': 2})
    >>> s.subset(first=3).labels
    array([0, 1, 1])
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    name: str = "train"
    indices: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        source = f"split {self.name!r}"
        images = np.asarray(self.images)
        if images.ndim != 3:
            raise FormatError(
                f"{source}: images must have shape (n, height, width), got {images.shape}."
            )
        if 0 in images.shape[1:]:
            raise FormatError(f"{source}: images of shape {images.shape[1:]} have no pixels.")
        images = as_uint8_images(images, source=source)
        labels = as_labels(self.labels, source=source)
        if len(images) != len(labels):
            raise FormatError(
                f"{source}: {len(images)} images but {len(labels)} labels; they must match."
            )
        classes = tuple(str(c) for c in self.classes)
        check_class_names(classes, source=source)
        if labels.size and labels.max() >= len(classes):
            raise FormatError(
                f"{source}: label {labels.max()} has no class name ({len(classes)} classes)."
            )
        indices = np.arange(len(images)) if self.indices is None else np.asarray(self.indices, np.int64)
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "indices", indices)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"Split({self.name!r}, n={len(self)}, image_shape={self.image_shape})"

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of every image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __getitem__(self, key: int | slice | Sequence[int] | np.ndarray) -> Split:
        """Select images by position, slice, index array or boolean mask; returns a Split.

        ``indices`` keeps each image's position in the original split.
        """
        if isinstance(key, (int, np.integer)):
            key = [int(key)]
        return Split(
            self.images[key],
            self.labels[key],
            self.classes,
            self.name,
            self.indices[key],
        )

    def subset(self, first: int | None = None, *, label: int | str | None = None) -> Split:
        """The images of one class (``label``: index or name), then the ``first`` of those."""
        split = self
        if label is not None:
            k = self.class_index(label)
            split = split[split.labels == k]
        if first is not None:
            if first < 0:
                raise ValueError(f"first must be >= 0, got {first}.")
            split = split[:first]
        return split

    def class_index(self, label: int | str) -> int:
        """Index of a class given its index or name (``"7"``, ``7`` or ``"Sneaker"``)."""
        if isinstance(label, str) and label in self.classes:
            return self.classes.index(label)
        try:
            k = int(label)
        except (TypeError, ValueError):
            raise ValueError(
                f"label {label!r} is neither a class index nor one of {list(self.classes)}."
            ) from None
        if not 0 <= k < len(self.classes):
            raise ValueError(f"label {k} is out of range 0..{len(self.classes) - 1}.")
        return k

    def class_counts(self) -> dict[str, int]:
        """Number of images per class name, in class order (classes with none included)."""
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(c) for name, c in zip(self.classes, counts, strict=True)}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A named dataset with a training split and, usually, a test split.

    Examples
    --------
    >>> import mnistlab
    >>> ds = mnistlab.load("digits")
    >>> ds.train.images.shape, ds.train.images.dtype
    ((1347, 8, 8), dtype('uint8'))
    """

    name: str
    train: Split
    test: Split | None
    classes: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        if len(self.train) == 0:
            raise FormatError(f"{self.source or self.name}: the training split has no images.")
        if self.test is not None and len(self.test) == 0:
            raise FormatError(f"{self.source or self.name}: the test split has no images.")
        for split in self.splits.values():
            if split.classes != self.classes:
                raise FormatError(f"{self.name}: split {split.name!r} has different classes.")
        if self.test is not None and self.test.image_shape != self.train.image_shape:
            raise FormatError(
                f"{self.name}: train images are {self.train.image_shape}, test images "
                f"{self.test.image_shape}; both splits must have the same image shape."
            )

    @classmethod
    def from_arrays(
        cls,
        name: str,
        train: tuple[np.ndarray, np.ndarray],
        test: tuple[np.ndarray, np.ndarray] | None = None,
        classes: Sequence[str] | None = None,
        source: str = "",
    ) -> Dataset:
        """Build a Dataset from ``(images, labels)`` pairs; classes default to "0", "1", ...

        Errors name ``source`` (a file or folder) when given.
        """
        where = source or name
        if classes is None:
            ys = [as_labels(train[1], source=where)]
            if test is not None:
                ys.append(as_labels(test[1], source=where))
            classes = default_classes(ys, source=where)
        classes = tuple(classes)
        check_class_names(classes, source=where)
        return cls(
            name=name,
            train=Split(train[0], train[1], classes, "train"),
            test=Split(test[0], test[1], classes, "test") if test is not None else None,
            classes=classes,
            source=source,
        )

    def subset(self, first: int | None = None) -> Dataset:
        """The same dataset with only the ``first`` images of each split (all of them for None).

        >>> import mnistlab
        >>> mnistlab.load("digits").subset(100)
        Dataset('digits', train=100, test=100, classes=10, shape=(8, 8))
        """
        if first is None:
            return self
        test = None if self.test is None else self.test.subset(first)
        return dataclasses.replace(self, train=self.train.subset(first), test=test)

    @property
    def splits(self) -> dict[str, Split]:
        """The splits present, by name."""
        out = {"train": self.train}
        if self.test is not None:
            out["test"] = self.test
        return out

    def split(self, name: str) -> Split:
        """The split called ``name`` ("train" or "test"), with a clear error if absent."""
        if name not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {name!r}.")
        if name not in self.splits:
            raise ValueError(f"dataset {self.name!r} has no {name} split.")
        return self.splits[name]

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of every image."""
        return self.train.image_shape

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return f"Dataset({self.name!r}, {parts}, classes={len(self.classes)}, shape={self.image_shape})"

    def summary(self) -> dict:
        """A JSON-ready description: name, classes, image shape, and per split n and counts."""
        return {
            "name": self.name,
            "source": self.source,
            "classes": list(self.classes),
            "image_shape": list(self.image_shape),
            "dtype": "uint8",
            "splits": {
                k: {"n": len(v), "class_counts": v.class_counts()} for k, v in self.splits.items()
            },
        }
