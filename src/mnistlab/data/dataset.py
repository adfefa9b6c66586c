"""Dataset and Split: uint8 images (n, h, w), int64 labels (n,), class names."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from mnistlab.data.formats import (
    MAX_LABEL,
    as_labels,
    as_uint8_images,
    check_class_names,
    default_classes,
)
from mnistlab.errors import FormatError

#: The splits a Dataset can have.
SPLIT_NAMES = ("train", "test", "validation")

#: Images whose border pixels average above this are dark ink on a light background, below
#: ``DARK_BORDER`` light ink on a dark one; in between (noise, a mid-grey border) the polarity is
#: "undetermined" and nothing is advised. MNIST-like borders sit near the ends: MNIST 0,
#: Fashion-MNIST 12, inverted MNIST 255, inverted Fashion-MNIST 243.
LIGHT_BORDER = 160.0
DARK_BORDER = 255.0 - LIGHT_BORDER
#: The kinds of polarity, and what each means in words.
POLARITY_INK = {
    "light-on-dark": "light ink on a dark background",
    "dark-on-light": "dark ink on a light background",
    "undetermined": "neither light nor dark on the border",
}


@dataclass(frozen=True)
class Polarity:
    """Light ink on a dark background (``"light-on-dark"``, MNIST's convention), the reverse
    (``"dark-on-light"``), or ``"undetermined"`` (a border neither dark nor light).

    Judged from the border: the outermost rows and columns of the images are background in
    MNIST-like data, so their mean value (0..255) says which side the background is on.

    >>> import numpy as np
    >>> Polarity.of(np.zeros((3, 8, 8), np.uint8)).kind
    'light-on-dark'
    """

    kind: str
    border_mean: float

    @classmethod
    def of(cls, images: np.ndarray, *, limit: int = 10_000) -> Polarity:
        """The polarity of (at most the first ``limit`` of) ``images`` (n, h, w) or one (h, w)."""
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        sample = images[:limit]
        border = np.concatenate(
            [
                sample[:, 0, :].ravel(),
                sample[:, -1, :].ravel(),
                sample[:, :, 0].ravel(),
                sample[:, :, -1].ravel(),
            ]
        )
        mean = float(border.mean()) if border.size else 0.0
        if mean > LIGHT_BORDER:
            return cls("dark-on-light", mean)
        return cls("light-on-dark" if mean < DARK_BORDER else "undetermined", mean)

    @property
    def inverted(self) -> bool:
        """True for dark ink on a light background."""
        return self.kind == "dark-on-light"

    @property
    def description(self) -> str:
        return f"{POLARITY_INK[self.kind]} (border pixels average {self.border_mean:.0f} of 255)"


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
        "train", "test", "validation", or a description of a subset.
    indices : ndarray of shape (n,), optional
        Each image's position in the split it was taken from (default 0..n-1).
    files : sequence of str, optional
        The file each image was read from (image folders), so results can name it.

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
    files: np.ndarray | None = field(default=None, repr=False)

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
        files = None if self.files is None else np.asarray(self.files, dtype=object)
        if files is not None and files.shape != labels.shape:
            raise FormatError(f"{source}: {len(files)} file names for {len(labels)} images.")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "files", files)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"Split({self.name!r}, n={len(self)}, image_shape={self.image_shape})"

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of every image."""
        return tuple(self.images.shape[1:])

    @overload
    def __getitem__(self, key: int | np.integer) -> tuple[np.ndarray, int]: ...

    @overload
    def __getitem__(self, key: slice | Sequence[int] | np.ndarray) -> Split: ...

    def __getitem__(self, key):
        """``split[i]`` is ``(image, label)``, as in torchvision; a slice, an index array or a
        boolean mask selects a Split, whose ``indices`` keep each image's position in the
        original split.

        >>> import numpy as np
        >>> s = Split(np.zeros((4, 2, 2), np.uint8), np.array([0, 1, 1, 0]), ("a", "b"))
        >>> image, label = s[1]
        >>> image.shape, label, s[1:3].indices.tolist(), s[s.labels == 0].indices.tolist()
        ((2, 2), 1, [1, 2], [0, 3])
        """
        if isinstance(key, (bool, np.bool_)) or key is None:
            raise TypeError(
                f"a Split is indexed by a position, a slice, positions or a mask, not {key!r}."
            )
        if isinstance(key, (int, np.integer)):
            return self.images[key], int(self.labels[key])
        return Split(
            self.images[key],
            self.labels[key],
            self.classes,
            self.name,
            self.indices[key],
            None if self.files is None else self.files[key],
        )

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        """``(image, label)`` pairs, in order."""
        yield from zip(self.images, self.labels.tolist(), strict=True)

    def file_names(self, indices) -> list[str] | None:
        """The file of each image given by its position in the original split (``indices``
        values), or None when the images were not read from image files."""
        if self.files is None:
            return None
        assert self.indices is not None  # set in __post_init__ (0..n-1 when not given)
        where = dict(zip(self.indices.tolist(), self.files.tolist(), strict=True))
        return [where[int(i)] for i in np.asarray(indices).ravel()]

    def inverted(self) -> Split:
        """The same split with every pixel ``255 - value``: dark ink on light paper swapped."""
        return dataclasses.replace(self, images=255 - self.images)

    def polarity(self) -> Polarity:
        """Whether the ink is light on a dark background (MNIST) or dark on light, judged from
        the pixels on the border of the images (see :class:`Polarity`)."""
        return Polarity.of(self.images)

    def subset(
        self,
        first: int | None = None,
        *,
        label: int | str | Sequence[int | str] | None = None,
        sample: int | float | None = None,
        stratify: bool = True,
        seed: int = 0,
    ) -> Split:
        """A part of the split: the images of the classes ``label`` (an index or a name, or a
        list of them), then a random ``sample`` (a count, or a share 0..1; seeded; stratified by
        class unless ``stratify=False``), then the ``first`` of those. Images keep their order and
        their ``indices`` in the original split.

        >>> import mnistlab
        >>> train = mnistlab.load("digits").train
        >>> len(train.subset(label=["3", 8])), train.subset(sample=100).class_counts()["7"]
        (269, 10)
        """
        split = self
        _check_seed(seed)
        if label is not None:
            if isinstance(label, (bool, np.bool_, float)):
                raise ValueError(
                    f"label must be a class index or name (or a list of them), got {label!r}."
                )
            wanted = [label] if isinstance(label, (int, str, np.integer)) else list(label)
            keep = [self.class_index(k) for k in wanted]
            split = split[np.isin(split.labels, keep)]
        if sample is not None:
            split = split[np.sort(_sample_positions(split, sample, stratify, seed))]
        if first is not None:
            if isinstance(first, bool) or not isinstance(first, (int, np.integer)) or first < 0:
                raise ValueError(f"first must be a whole number >= 0, got {first!r}.")
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
    #: A validation split when the files have one (``val/``, ``x_val``); analyses use train and test.
    validation: Split | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        if len(self.train) == 0:
            raise FormatError(f"{self.source or self.name}: the training split has no images.")
        for name, split in self.splits.items():
            if len(split) == 0:
                raise FormatError(f"{self.source or self.name}: the {name} split has no images.")
            if split.classes != self.classes:
                raise FormatError(f"{self.name}: split {split.name!r} has different classes.")
            if split.image_shape != self.train.image_shape:
                raise FormatError(
                    f"{self.name}: train images are {self.train.image_shape}, {name} images "
                    f"{split.image_shape}; all splits must have the same image shape."
                )

    @classmethod
    def from_arrays(
        cls,
        name: str,
        train: tuple[np.ndarray, np.ndarray],
        test: tuple[np.ndarray, np.ndarray] | None = None,
        classes: Sequence[str] | Mapping[int, str] | None = None,
        source: str = "",
        *,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        files: Mapping[str, Sequence[str]] | None = None,
    ) -> Dataset:
        """Build a Dataset from ``(images, labels)`` pairs; classes default to "0", "1", ...

        ``classes`` is either the class names in label order, or a mapping from the labels in
        the file to class names (``{1: "A", 2: "B"}``, as in EMNIST's ``mapping.txt``): the labels
        are then renumbered 0..K-1 in the mapping's label order. ``files`` gives, per split name,
        the file each image came from. Errors name ``source`` (a file or folder) when given.
        """
        if not isinstance(name, str):
            raise TypeError(
                f"from_arrays(name, train, ...): the name comes first and is text, got "
                f"{type(name).__name__}."
            )
        where = source or name
        given = {"train": train, "test": test, "validation": validation}
        for split, pair in given.items():
            if pair is not None and (not isinstance(pair, (tuple, list)) or len(pair) != 2):
                raise ValueError(f"{split} must be an (images, labels) pair.")
        unknown = sorted(set(files or {}) - {k for k, v in given.items() if v is not None})
        if unknown:
            raise ValueError(f"files for splits {unknown} that are not given.")
        pairs = {k: (v[0], as_labels(v[1], source=where)) for k, v in given.items() if v is not None}
        if isinstance(classes, Mapping):
            classes, pairs = _relabelled(classes, pairs, where)
        elif classes is None:
            classes = default_classes([y for _, y in pairs.values()], source=where)
        classes = tuple(classes)
        check_class_names(classes, source=where)
        split_files = {k: np.asarray(v, dtype=object) for k, v in (files or {}).items()}
        splits = {k: Split(x, y, classes, k, files=split_files.get(k)) for k, (x, y) in pairs.items()}
        return cls(
            name=name,
            train=splits["train"],
            test=splits.get("test"),
            classes=classes,
            source=source,
            validation=splits.get("validation"),
        )

    def subset(self, first: int | None = None) -> Dataset:
        """The same dataset with only the ``first`` images of each split (all of them for None).

        >>> import mnistlab
        >>> mnistlab.load("digits").subset(100)
        Dataset('digits', train=100, test=100, classes=10, shape=(8, 8))
        """
        if first is None:
            return self
        return self._each_split(lambda split: split.subset(first))

    def _each_split(self, change) -> Dataset:
        return dataclasses.replace(self, **{name: change(split) for name, split in self.splits.items()})

    def inverted(self) -> Dataset:
        """The same dataset with every pixel ``255 - value`` (dark ink on light paper swapped)."""
        return self._each_split(Split.inverted)

    def polarity(self) -> Polarity:
        """Light ink on dark (MNIST's convention) or dark on light, judged from the training
        images' borders; see :class:`Polarity`."""
        return self.train.polarity()

    def hold_out(self, test_size: float | int, *, seed: int = 0) -> Dataset:
        """A train-only dataset with a seeded, stratified share of its images held out as test.

        ``test_size`` is a share (0 < test_size < 1) or a number of images (a whole number >= 1),
        as in ``sklearn.model_selection.train_test_split``. Each class keeps its proportion in
        both splits; the held-out images keep their positions in the original training split
        (``Split.indices``), so results still point at the file's rows.

        >>> import mnistlab
        >>> ds = mnistlab.load("digits")
        >>> only_train = Dataset("d", ds.train, None, ds.classes)
        >>> only_train.hold_out(0.25).test
        Split('test', n=337, image_shape=(8, 8))
        """
        from sklearn.model_selection import train_test_split

        _check_seed(seed)
        if self.test is not None:
            raise ValueError(
                f"{self.name} already has a test split ({len(self.test):,} images); a hold-out "
                "(test_size) is for datasets that have only a training split."
            )
        if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.number)):
            raise ValueError(f"test_size must be a share (0..1) or a count, got {test_size!r}.")
        if not (0 < test_size < 1 or (float(test_size).is_integer() and test_size >= 1)):
            raise ValueError(
                f"test_size must be a share between 0 and 1 or a whole number of images, "
                f"got {test_size!r}."
            )
        size = float(test_size) if test_size < 1 else int(test_size)
        positions = np.arange(len(self.train))
        try:
            keep, held = train_test_split(
                positions, test_size=size, random_state=seed, stratify=self.train.labels
            )
        except ValueError as exc:
            raise ValueError(
                f"{self.name}: cannot hold out a stratified test split of {test_size} from "
                f"{len(self.train):,} images in {len(np.unique(self.train.labels))} classes ({exc})."
            ) from None
        test = dataclasses.replace(self.train[np.sort(held)], name="test")
        return dataclasses.replace(self, train=self.train[np.sort(keep)], test=test)

    @property
    def splits(self) -> dict[str, Split]:
        """The splits present, by name: train, then test and validation when present."""
        out = {"train": self.train}
        if self.test is not None:
            out["test"] = self.test
        if self.validation is not None:
            out["validation"] = self.validation
        return out

    def split(self, name: str) -> Split:
        """The split called ``name`` ("train", "test" or "validation"), with a clear error if
        absent."""
        if name not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {', '.join(SPLIT_NAMES)}, got {name!r}.")
        if name not in self.splits:
            raise ValueError(
                f"dataset {self.name!r} has no {name} split (it has {', '.join(self.splits)})."
            )
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
        return describe(self)


def describe(dataset: Any) -> dict:
    """:meth:`Dataset.summary` of any dataset with its attributes (in memory or lazy)."""
    return {
        "name": dataset.name,
        "source": dataset.source,
        "classes": list(dataset.classes),
        "image_shape": list(dataset.image_shape),
        "dtype": "uint8",
        "polarity": dataset.polarity().kind,
        "splits": {
            k: {"n": len(v), "class_counts": v.class_counts()} for k, v in dataset.splits.items()
        },
    }


def _relabelled(
    mapping: Mapping[int, str], pairs: dict[str, tuple[np.ndarray, np.ndarray]], source: str
) -> tuple[tuple[str, ...], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Class names in the mapping's label order, and labels renumbered to index them."""
    by_label: dict[int, str] | None
    try:
        by_label = {int(k): v for k, v in mapping.items()}  # {"1": "cat"} as {1: "cat"}
    except (TypeError, ValueError):
        by_label = None
    if by_label is None or any(not 0 <= k <= MAX_LABEL for k in by_label):
        raise FormatError(
            f"{source}: a class mapping's keys must be whole-number labels in 0..{MAX_LABEL}."
        )
    raw = np.array(sorted(by_label), dtype=np.int64)
    names = tuple(str(by_label[k]) for k in raw.tolist())
    out = {}
    for split, (x, y) in pairs.items():
        where = np.searchsorted(raw, y).clip(max=max(len(raw) - 1, 0))
        known = raw[where] == y if len(raw) else np.zeros(len(y), bool)
        if not known.all():
            missing = sorted(set(y[~known].tolist()))
            raise FormatError(
                f"{source}: labels {missing[:10]} of the {split} split are not in the class mapping "
                f"(which maps {raw.min()}..{raw.max()})."
                if len(raw)
                else f"{source}: the class mapping is empty."
            )
        out[split] = (x, where)
    return names, out


def _sample_positions(split: Split, size: int | float, stratify: bool, seed: int) -> np.ndarray:
    """Positions of a seeded random sample of ``size`` images (a count, or a share 0..1)."""
    from sklearn.model_selection import train_test_split

    n = len(split)
    if isinstance(size, bool) or not isinstance(size, (int, float, np.number)):
        raise ValueError(f"sample must be a count or a share between 0 and 1, got {size!r}.")
    if not (0 < size < 1 or (float(size).is_integer() and 1 <= size <= n)):
        raise ValueError(f"sample must be a share between 0 and 1 or a count 1..{n}, got {size!r}.")
    size = float(size) if size < 1 else int(size)
    if size == n:
        return np.arange(n)
    try:
        chosen, _ = train_test_split(
            np.arange(n), train_size=size, random_state=seed, stratify=split.labels if stratify else None
        )
    except ValueError as exc:  # too few images of a class to stratify
        raise ValueError(
            f"cannot draw a stratified sample of {size} from {n:,} images ({exc})."
        ) from None
    return chosen


def _check_seed(seed) -> None:
    """A seed is a whole number 0..2**32 - 1 (what numpy and scikit-learn take)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be a whole number 0..2**32-1, got {seed!r}.")
