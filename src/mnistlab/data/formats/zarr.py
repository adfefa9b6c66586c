"""Zarr stores (zarr 3): a dataset too large for memory, chunked along the image axis.

Layout of ``NAME.zarr`` (a folder)::

    zarr.json                   root group; attributes["mnistlab"] = {"format": 1, "name": ...,
                                "classes": [...], "image_shape": [h, w], "splits": [...],
                                "complete": true}
    train/images                uint8 (n, h, w), chunks of ``chunk_images`` images, zstd
    train/labels                int32 (n,), chunked like the images
    test/images, test/labels    the same for every other split

``complete`` is written last, after every chunk: a store without it (a process killed while
writing, or a store another tool is still filling) is refused, never read as a dataset with
fewer images. :func:`write_zarr` also writes into a staging folder renamed into place when done.

Chunk size: Dask's guidance is chunks of tens to a few hundred MB (small enough that a worker
holds a few at once, large enough that the scheduler's per-task overhead of about 1 ms is
negligible); Zarr's is at least 1 MB compressed. ``CHUNK_BYTES`` = 32 MiB of uint8 pixels:
42,799 images of 28x28 per chunk (rounded down to a multiple of 1,000: 42,000), 190 chunks
for 8.1 million images; a 2-core worker with two chunks and their float64 work arrays in
flight stays well under 1 GiB.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from mnistlab.errors import FormatError, MissingExtraError
from mnistlab.progress import steps

#: Uncompressed bytes of pixels per chunk (see the module docstring).
CHUNK_BYTES = 32 << 20
#: The version of this layout; a store of a newer version is refused.
ZARR_LAYOUT = 1
#: The labels' dtype in the store: 2**31 classes is more than any dataset has.
LABEL_DTYPE = np.int32


def _zarr():
    try:
        import zarr
    except ImportError as exc:  # pragma: no cover - the scale extra is part of make setup
        raise MissingExtraError(
            "Zarr stores need the zarr package: pip install 'mnistlab[scale]'."
        ) from exc
    return zarr


def chunk_images(image_shape: tuple[int, int], chunk_bytes: int = CHUNK_BYTES) -> int:
    """Images per chunk for images of ``image_shape``: about ``chunk_bytes`` of uint8 pixels,
    rounded down to a multiple of 1,000 when that many fit (at least one image)."""
    per_image = int(np.prod(image_shape))
    n = max(1, chunk_bytes // max(per_image, 1))
    return n - n % 1000 if n >= 1000 else n


def is_zarr_store(path: Path) -> bool:
    """Whether ``path`` is a folder holding a Zarr group (its ``zarr.json``)."""
    return path.is_dir() and (path / "zarr.json").is_file()


def check_new_store(path: str | os.PathLike) -> Path:
    """``path`` as a Path if a store can be written there (nothing is), else FileExistsError."""
    if not str(path):
        raise ValueError("no store named; name the store to write (e.g. big.zarr).")
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise FileExistsError(f"{path}: already exists; write a Zarr store into a new folder.")
    return path


def write_zarr(
    path: Path,
    name: str,
    classes: tuple[str, ...],
    image_shape: tuple[int, int],
    splits: dict[str, tuple],
    *,
    chunk: int | None = None,
    progress: bool | None = None,
) -> None:
    """Write the new store ``path``: into a staging folder renamed into place when whole (see
    :func:`mnistlab._utils.files.staged`), its ``complete`` attribute last. ``splits`` maps a
    split name to ``(images, labels)``, where ``images`` is any array-like sliceable along its
    first axis (numpy, zarr, a lazy split's images, generated data): it is copied chunk by
    chunk, one chunk per thread in memory at a time."""
    from mnistlab._utils.files import staged

    path = check_new_store(path)
    with staged(path) as staging:
        _fill_store(staging, name, classes, image_shape, splits, chunk, progress)


def _fill_store(folder: Path, name, classes, image_shape, splits, chunk, progress) -> None:
    zarr = _zarr()
    chunk = chunk or chunk_images(image_shape)
    root = zarr.open_group(str(folder), mode="w", zarr_format=3)
    for split, (images, labels) in splits.items():
        _write_split(root.create_group(split), split, images, labels, image_shape, chunk, progress)
    # Last: the attribute that says the store is whole.
    root.attrs["mnistlab"] = {
        "format": ZARR_LAYOUT,
        "name": name,
        "classes": list(classes),
        "image_shape": list(image_shape),
        "splits": list(splits),
        "complete": True,
    }


def _write_split(group, split: str, images, labels, image_shape, chunk: int, progress) -> None:
    """The ``images`` and ``labels`` arrays of one split, written chunk by chunk on all cores:
    distinct chunks are distinct files, so threads write them in parallel (each reading its
    source range, compressing and, for generated data, making the images), one chunk each."""
    from zarr.codecs import ZstdCodec

    n = len(labels)
    pixels = group.create_array(
        "images",
        shape=(n, *image_shape),
        chunks=(chunk, *image_shape),
        dtype="uint8",
        compressors=ZstdCodec(level=3),
        fill_value=0,
    )
    stored = group.create_array(
        "labels",
        shape=(n,),
        chunks=(chunk,),
        dtype=LABEL_DTYPE,
        compressors=ZstdCodec(level=3),
        fill_value=0,
    )
    starts = range(0, n, chunk)
    workers = max(1, min(os.cpu_count() or 1, len(starts)))
    with (
        steps(f"writing {split}", len(starts), progress) as advance,
        ThreadPoolExecutor(workers) as pool,
    ):

        def write(start: int) -> None:
            stop = min(start + chunk, n)
            pixels[start:stop] = np.asarray(images[start:stop], dtype=np.uint8)
            stored[start:stop] = np.asarray(labels[start:stop], dtype=LABEL_DTYPE)
            advance()

        list(pool.map(write, starts))


class ZarrSplitArrays:
    """The arrays of one split of a store, checked, read lazily: ``images`` and ``labels``
    (zarr arrays), ``chunk`` (images per chunk)."""

    def __init__(self, images, labels, chunk: int) -> None:
        self.images = images
        self.labels = labels
        self.chunk = chunk


def open_zarr(path: Path) -> tuple[dict, dict[str, ZarrSplitArrays]]:
    """Open a store written by :func:`write_zarr`: its description (name, classes, image
    shape) and each split's arrays, checked for a complete store and consistent arrays
    (nothing is read but the metadata). Raises FormatError naming what is wrong."""
    zarr = _zarr()
    try:
        root = zarr.open_group(str(path), mode="r")
    except Exception as exc:  # zarr raises several types for a folder that is not a store
        raise FormatError(f"{path}: not a readable Zarr store ({exc}).") from None
    meta = root.attrs.get("mnistlab")
    if not isinstance(meta, dict):
        raise FormatError(
            f"{path}: a Zarr store without mnistlab's description; write stores with "
            "mnistlab convert NAME --to zarr (or mnistlab.save(ds, folder, 'zarr'))."
        )
    if meta.get("complete") is not True:
        raise FormatError(
            f"{path}: an incomplete store (its writing was interrupted or is still going on); "
            "write it again."
        )
    if meta.get("format") != ZARR_LAYOUT:
        raise FormatError(
            f"{path}: store layout {meta.get('format')!r}; this mnistlab reads {ZARR_LAYOUT}."
        )
    classes = meta.get("classes")
    shape = meta.get("image_shape")
    splits = meta.get("splits")
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        raise FormatError(f"{path}: the store's class names are missing or not text.")
    if not (
        isinstance(shape, list) and len(shape) == 2 and all(isinstance(s, int) and s > 0 for s in shape)
    ):
        raise FormatError(f"{path}: the store's image shape {shape!r} is not two positive sizes.")
    if not (isinstance(splits, list) and splits and all(isinstance(s, str) for s in splits)):
        raise FormatError(f"{path}: the store names no splits.")
    arrays = {}
    for split in splits:
        arrays[split] = _split_arrays(root, path, split, tuple(shape))
    return {"name": meta.get("name"), "classes": tuple(classes), "image_shape": tuple(shape)}, arrays


def _split_arrays(root, path: Path, split: str, shape: tuple[int, int]) -> ZarrSplitArrays:
    where = f"{path}/{split}"
    try:
        images = root[f"{split}/images"]
        labels = root[f"{split}/labels"]
    except KeyError:
        raise FormatError(f"{where}: the split's images or labels array is missing.") from None
    if images.dtype != np.uint8:
        raise FormatError(f"{where}/images: dtype {images.dtype}; mnistlab stores uint8 pixels.")
    if images.ndim != 3 or tuple(images.shape[1:]) != shape:
        raise FormatError(f"{where}/images: shape {images.shape}, expected (n, {shape[0]}, {shape[1]}).")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise FormatError(
            f"{where}/labels: shape {labels.shape}, dtype {labels.dtype}; expected (n,) int."
        )
    if labels.shape[0] != images.shape[0]:
        raise FormatError(f"{where}: {images.shape[0]} images but {labels.shape[0]} labels.")
    if images.chunks[1:] != shape or images.chunks[0] != labels.chunks[0]:
        raise FormatError(f"{where}: images and labels must be chunked alike along the image axis.")
    return ZarrSplitArrays(images, labels, int(images.chunks[0]))
