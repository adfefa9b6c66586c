"""Keras-style NPZ archives (``x_train``, ``y_train``, ...), read without pickle, every member's
``.npy`` header checked before it is loaded."""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np

from mnistlab._utils.files import atomic_write_bytes
from mnistlab.data.formats.arrays import unit_scaled
from mnistlab.errors import FormatError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_NPZ_OPTIONAL = ("x_val", "y_val", "classes")  # classes: written by mnistlab, a unicode array
#: Member names read as each key (compared without case): Keras' ``X_train``, ``x_valid``, ...
_NPZ_ALIASES = {key: (key,) for key in NPZ_KEYS + _NPZ_OPTIONAL} | {
    "x_val": ("x_val", "x_valid", "x_validation"),
    "y_val": ("y_val", "y_valid", "y_validation"),
}


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a Keras-style ``mnist.npz`` (``x_train, y_train`` and optionally ``x_test, y_test``,
    ``x_val, y_val``; names in any case, ``X_train``), as :func:`keras_arrays` normalises them.

    Object arrays are refused (``allow_pickle=False``): an NPZ never executes code. Each
    member's ``.npy`` header is checked against the member's size in the zip directory before
    any array is allocated.
    """
    source = str(path)
    if not zipfile.is_zipfile(path):
        raise FormatError(f"{source}: not an NPZ file (an NPZ is a zip archive of .npy files).")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _npz_members(archive, source)
            shapes = {key: _check_npy_member(archive, info, source) for key, info in members.items()}
        # Counts compared from the headers, before a single array is decompressed.
        for x, y in (("x_train", "y_train"), ("x_test", "y_test"), ("x_val", "y_val")):
            if x in shapes and y in shapes and shapes[x][:1] != shapes[y][:1]:
                raise FormatError(
                    f"{source}: {x} holds {shapes[x][0] if shapes[x] else 0:,} images but {y} "
                    f"{shapes[y][0] if shapes[y] else 0:,} labels; they must match."
                )
        with np.load(path, allow_pickle=False) as npz:
            files = list(npz.files)
            arrays = {k: npz[info.filename.removesuffix(".npy")] for k, info in members.items()}
    except FormatError:
        raise
    except (
        ValueError,
        TypeError,
        OSError,
        EOFError,
        RuntimeError,
        NotImplementedError,
        MemoryError,
        zlib.error,
        zipfile.BadZipFile,
    ) as exc:
        raise FormatError(f"{source}: unreadable NPZ file ({type(exc).__name__}: {exc}).") from exc
    missing = [k for k in ("x_train", "y_train") if k not in arrays]
    if missing:
        raise FormatError(
            f"{source}: NPZ lacks {', '.join(missing)} (found: {', '.join(files) or 'nothing'}); "
            f"expected the Keras layout {', '.join(NPZ_KEYS)}."
        )
    for x, y in (("x_test", "y_test"), ("x_val", "y_val")):
        if (x in arrays) != (y in arrays):
            raise FormatError(f"{source}: NPZ has only one of {x} and {y}.")
    for key, array in arrays.items():
        if not isinstance(array, np.ndarray) or array.dtype.kind in "OV":
            raise FormatError(f"{source}: NPZ member {key} is not a plain numeric array.")
    return keras_arrays(arrays, source=source)


def keras_arrays(arrays: dict[str, np.ndarray], *, source: str) -> dict[str, np.ndarray]:
    """Normalise the array layouts Keras and PyTorch users have, where the meaning is certain.

    - images ``(n, h, w, 1)`` or ``(n, 1, h, w)``: the single channel is dropped; colour
      images ``(n, h, w, 3)`` are refused (convert them to grey first);
    - one-hot labels ``(n, K)`` (every row a single 1): the index of the 1;
    - float images within 0..1 holding fractions (``x / 255``): scaled back to 0..255 and
      rounded, with a warning; binary images holding only 0 and 1: 1 becomes 255.

    Everything else is left for the dataset's checks, which say what is wrong.
    """
    out = dict(arrays)
    for key, array in arrays.items():
        if key.startswith("x_"):
            out[key] = _single_channel(array, key, source)
            out[key] = unit_scaled(out[key], key, source)
        elif key.startswith("y_"):
            out[key] = _from_one_hot(array, key, source)
    return out


def _single_channel(images: np.ndarray, key: str, source: str) -> np.ndarray:
    if images.ndim != 4:
        return images
    if images.shape[-1] == 1:
        return images[..., 0]
    if images.shape[1] == 1:
        return images[:, 0]
    raise FormatError(
        f"{source}: {key} has shape {images.shape}: colour or multi-channel images; mnistlab "
        "reads grey images (n, height, width), so convert them to grey first."
    )


def _from_one_hot(labels: np.ndarray, key: str, source: str) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        return labels[:, 0]
    if labels.ndim != 2:
        return labels
    if labels.shape[1] >= 2 and ((labels == 0) | (labels == 1)).all() and (labels.sum(1) == 1).all():
        return labels.argmax(axis=1)
    raise FormatError(
        f"{source}: {key} has shape {labels.shape}: labels must be one per image, class indices "
        "(n,) or one-hot rows (n, K) holding a single 1 each."
    )


def _npz_members(archive: zipfile.ZipFile, source: str) -> dict:
    """The member numpy will read for each key present (``KEY``, else ``KEY.npy``, as
    ``NpzFile.__getitem__`` looks them up, with the names of ``_NPZ_ALIASES``), refusing
    archives where that is ambiguous: a name twice in the zip directory, two aliases of one
    key (``x_train`` and ``X_train``), or a member of the same name elsewhere
    (``decoy/x_train.npy``), which a check of the wrong member would let through."""
    infos = archive.infolist()
    found = {}
    for key, aliases in _NPZ_ALIASES.items():
        alike = [
            i for i in infos if Path(i.filename).stem.lower() in aliases or i.filename.lower() in aliases
        ]
        if len(alike) > 1:
            names = ", ".join(i.filename for i in alike[:4])
            raise FormatError(
                f"{source}: several members could be {key} ({names}); refused as ambiguous."
            )
        if alike and alike[0].filename.lower().removesuffix(".npy") in aliases:
            found[key] = alike[0]
    return found


def _check_npy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> tuple:
    """The shape a member's .npy header declares; refuse it if the member holds other sizes."""
    with archive.open(info) as f:
        header = read_npy_header(f, f"{source}: member {info.filename}")
    expected = int(np.prod(header.shape, dtype=object)) * header.dtype.itemsize
    if header.size + expected != info.file_size:
        raise FormatError(
            f"{source}: member {info.filename} declares shape {_short_shape(header.shape)} "
            f"({expected:,} bytes) but holds {info.file_size - header.size:,} bytes."
        )
    return header.shape


class NpyHeader(NamedTuple):
    """What a ``.npy`` header declares, and its own length in bytes (where the data starts)."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    size: int


def read_npy_header(f: IO[bytes], where: str) -> NpyHeader:
    """Read the ``.npy`` header at the start of the open file ``f`` (left just after it).

    numpy parses the header as a Python literal, never as a pickle; formats 1.0 and 2.0 are
    read, and a dtype holding Python objects (which only a pickle could load) is refused.

    Parameters
    ----------
    f : binary file
        Positioned at the start of the ``.npy`` data.
    where : str
        What ``f`` is, for error messages ("x.npz: member x_train", "cat.npy").

    Returns
    -------
    NpyHeader
        The declared shape, order and dtype, and the header's size in bytes.

    Raises
    ------
    FormatError
        If ``f`` does not start with a ``.npy`` header, or declares Python objects.
    """
    try:
        version = np.lib.format.read_magic(f)
        reader = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }.get(version)
        if reader is None:
            raise ValueError(f"unsupported .npy version {version}")
        shape, fortran_order, dtype = reader(f)
    except (ValueError, EOFError) as exc:
        raise FormatError(f"{where} is not a .npy array ({exc}).") from exc
    if dtype.hasobject:
        raise FormatError(f"{where} holds Python objects; refused.")
    return NpyHeader(tuple(shape), bool(fortran_order), dtype, f.tell())


def _short_shape(shape: tuple) -> str:
    return (
        str(tuple(shape))
        if len(shape) <= 6
        else f"({', '.join(map(str, shape[:4]))}, ...) of {len(shape)} dimensions"
    )


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays in the Keras NPZ layout (compressed)."""
    sink = io.BytesIO()
    # numpy's stub matches **arrays against allow_pickle: bool; every value is an array.
    np.savez_compressed(sink, **arrays)  # type: ignore[arg-type]
    atomic_write_bytes(Path(path), sink.getvalue())
