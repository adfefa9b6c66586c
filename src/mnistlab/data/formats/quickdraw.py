"""Quick, Draw! numpy bitmaps: one ``.npy`` file per class, each a uint8 array (n, 784).

Google publishes each class as ``<class>.npy`` (``cat.npy``, ``The Eiffel Tower.npy``); the Cloud
console downloads name them ``full_numpy_bitmap_<class>.npy``. Each row is a 28x28 drawing, white
strokes on black, row-major. A folder of such files is a dataset: every ``*.npy`` in it is a
class, named by its file name without ``.npy`` and without the ``full_numpy_bitmap_`` prefix,
classes sorted by name and labelled by their position in that order.

Each file's header is checked before any of its data is touched (numpy's header parser reads a
literal, never a pickle): uint8, ``(n, 784)`` or ``(n, 28, 28)``, C order, and a file size of
exactly header + n * 784 bytes. The data is then memory-mapped, never copied whole:
:class:`QuickDrawBitmaps` gives the images of all classes, in class order, as an array-like
that reads only the slices asked for, so a 39.5 GB folder streams into a Zarr store in bounded
memory.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab.data.formats.npz import read_npy_header
from mnistlab.errors import FormatError

#: The prefix of the files the Google Cloud console downloads (``full_numpy_bitmap_cat.npy``).
QUICKDRAW_PREFIX = "full_numpy_bitmap_"
#: Every Quick, Draw! bitmap is 28x28 pixels, stored as a row of 784.
QUICKDRAW_IMAGE_SHAPE = (28, 28)
_PIXELS = QUICKDRAW_IMAGE_SHAPE[0] * QUICKDRAW_IMAGE_SHAPE[1]


def quickdraw_class_name(path: str | os.PathLike) -> str:
    """The class a bitmap file holds: its name without ``.npy`` and the console's prefix.

    >>> quickdraw_class_name("full_numpy_bitmap_The Eiffel Tower.npy")
    'The Eiffel Tower'
    """
    return Path(path).name[: -len(".npy")].removeprefix(QUICKDRAW_PREFIX)


def _npy_files(folder: Path) -> list[Path]:
    # Hidden files (.DS_Store, AppleDouble ._cat.npy, interrupted writes) are never data.
    return sorted(
        f for f in folder.iterdir() if f.name.lower().endswith(".npy") and not f.name.startswith(".")
    )


def is_quickdraw_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding ``.npy`` files (read as Quick, Draw! bitmaps)."""
    path = Path(path)
    return path.is_dir() and bool(_npy_files(path))


def quickdraw_folder_files(folder: str | os.PathLike) -> dict[str, Path]:
    """The bitmap file of each class in ``folder``, classes sorted by name.

    Raises FormatError for a folder without ``.npy`` files, a ``.npy`` entry that is not a
    regular file, or two files of one class (``cat.npy`` and ``full_numpy_bitmap_cat.npy``).
    """
    folder = Path(folder)
    files: dict[str, Path] = {}
    for path in _npy_files(folder):
        if not path.is_file():
            raise FormatError(f"{path}: not a regular file; a Quick, Draw! class is a .npy file.")
        name = quickdraw_class_name(path)
        if name in files:
            raise FormatError(
                f"{folder}: {files[name].name} and {path.name} are both class {name!r}; keep one."
            )
        files[name] = path
    if not files:
        raise FormatError(f"{folder}: no .npy files; a Quick, Draw! folder holds <class>.npy files.")
    return dict(sorted(files.items()))


@dataclass(frozen=True)
class BitmapFile:
    """One checked class file: its path, its number of images and its header's size."""

    path: Path
    count: int
    header: int


def check_bitmap_file(path: str | os.PathLike) -> BitmapFile:
    """Check a Quick, Draw! bitmap file from its header and size alone (no data is read).

    Raises FormatError naming the file, what was expected and what was found: not a ``.npy``
    file, Python objects (never unpickled), a dtype other than uint8, a shape other than
    ``(n, 784)`` or ``(n, 28, 28)``, Fortran order, or a size other than header + n * 784 bytes
    (a truncated file, or a header claiming more images than the file holds).
    """
    path = Path(path)
    with open(path, "rb") as f:
        header = read_npy_header(f, str(path))
        size = os.fstat(f.fileno()).st_size
    if header.dtype != np.uint8:
        raise FormatError(f"{path}: dtype {header.dtype}; Quick, Draw! bitmaps are uint8.")
    shape = header.shape
    if not (len(shape) == 2 and shape[1] == _PIXELS) and shape[1:] != QUICKDRAW_IMAGE_SHAPE:
        raise FormatError(f"{path}: shape {shape}; Quick, Draw! bitmaps are (n, 784) or (n, 28, 28).")
    if header.fortran_order:
        raise FormatError(f"{path}: stored in Fortran order; Quick, Draw! bitmaps are in C order.")
    count = shape[0]
    expected = header.size + count * _PIXELS
    if size != expected:
        raise FormatError(
            f"{path}: its header declares {count:,} images, {expected:,} bytes with the "
            f"{header.size}-byte header, but the file has {size:,} bytes: truncated, or not a "
            "Quick, Draw! bitmap file."
        )
    return BitmapFile(path, count, header.size)


class QuickDrawBitmaps:
    """The images of several Quick, Draw! class files, in class order, read on demand.

    Parameters
    ----------
    files : mapping of str to path
        The bitmap file of each class, in label order (label k is the k-th class).
    per_class : int, optional
        Only the first ``per_class`` images of each class.

    Attributes
    ----------
    classes : tuple of str
    counts : numpy.ndarray
        Images used of each class (int64).
    images : BitmapImages
        uint8 (n, 28, 28), sliceable along the first axis; each slice is read from the
        memory-mapped files, across file boundaries.
    labels : ClassLabels
        int32 (n,), sliceable alike: the class of each image.
    """

    def __init__(self, files: Mapping[str, str | os.PathLike], *, per_class: int | None = None) -> None:
        if per_class is not None and (isinstance(per_class, bool) or per_class < 1):
            raise ValueError(f"per_class must be a positive number of images, got {per_class!r}.")
        checked = [check_bitmap_file(path) for path in files.values()]
        self.classes = tuple(files)
        self.counts = np.array(
            [f.count if per_class is None else min(f.count, per_class) for f in checked], np.int64
        )
        self.images = BitmapImages(checked, self.counts)
        self.labels = ClassLabels(self.counts)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"QuickDrawBitmaps(n={len(self)}, classes={len(self.classes)})"

    @property
    def nbytes(self) -> int:
        """Bytes of pixels of all the images (what reading them into memory takes)."""
        return len(self) * _PIXELS


class _ClassBlocks:
    """Consecutive blocks of rows, one per class: which blocks a range ``a:b`` covers."""

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = np.asarray(counts, np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)])
        self.shape: tuple[int, ...] = (int(self.starts[-1]),)

    def __len__(self) -> int:
        return self.shape[0]

    def _range(self, key) -> tuple[int, int]:
        if not isinstance(key, slice):
            raise TypeError(f"{type(self).__name__} is read in slices [a:b], not [{key!r}].")
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise ValueError(f"{type(self).__name__} is read in contiguous slices (step 1).")
        return start, max(start, stop)

    def _pieces(self, start: int, stop: int):
        """(class k, first row in class k, last row + 1) of every block that ``start:stop`` covers."""
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        for k in range(max(first, 0), len(self.counts)):
            lo, hi = max(start, self.starts[k]), min(stop, self.starts[k + 1])
            if lo >= stop:
                break
            if lo < hi:
                yield k, int(lo - self.starts[k]), int(hi - self.starts[k])


class ClassLabels(_ClassBlocks):
    """int32 labels of :class:`QuickDrawBitmaps`: ``counts[0]`` zeros, then ones, ...; a slice
    ``[a:b]`` is computed, never stored whole."""

    dtype = np.dtype(np.int32)

    def __getitem__(self, key) -> np.ndarray:
        start, stop = self._range(key)
        pieces = [np.full(hi - lo, k, self.dtype) for k, lo, hi in self._pieces(start, stop)]
        return np.concatenate(pieces) if pieces else np.empty(0, self.dtype)


class BitmapImages(_ClassBlocks):
    """uint8 images (n, 28, 28) of several memory-mapped class files, in class order; a slice
    ``[a:b]`` reads only those rows, crossing file boundaries, into a new array."""

    dtype = np.dtype(np.uint8)
    ndim = 3

    def __init__(self, files: list[BitmapFile], counts: np.ndarray) -> None:
        super().__init__(counts)
        self.files = files
        self.shape = (len(self), *QUICKDRAW_IMAGE_SHAPE)
        self._maps: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()  # write_zarr reads slices on several threads

    def _map(self, k: int) -> np.ndarray:
        with self._lock:
            if k not in self._maps:
                array = np.load(self.files[k].path, mmap_mode="r", allow_pickle=False)
                self._maps[k] = array.reshape(-1, _PIXELS)
            return self._maps[k]

    def __getitem__(self, key) -> np.ndarray:
        start, stop = self._range(key)
        out = np.empty((stop - start, _PIXELS), self.dtype)
        for k, lo, hi in self._pieces(start, stop):
            at = int(self.starts[k]) + lo - start
            out[at : at + hi - lo] = self._map(k)[lo:hi]
        return out.reshape(-1, *QUICKDRAW_IMAGE_SHAPE)
