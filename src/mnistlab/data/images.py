"""Single images named on a command line: ``DATASET:SPLIT:INDEX``, a PNG/JPEG file or a ``.npy``."""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab.data import formats
from mnistlab.data.dataset import POLARITY_INK, Polarity
from mnistlab.errors import FormatError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class ImageRef:
    """One image: uint8 pixels (h, w), where it came from, and its label if it has one."""

    pixels: np.ndarray
    source: str
    label: int | None = None
    class_name: str | None = None
    #: The dataset as named in a ``DATASET:SPLIT:INDEX`` reference (a name or a path), else None.
    dataset: str | None = None


def load_image(
    ref: str,
    *,
    shape: tuple[int, int] | None = None,
    resize: bool = False,
    invert: bool = False,
    download: bool = True,
    polarity: str = "light-on-dark",
) -> ImageRef:
    """Read one image as uint8 (h, w), ink bright on dark as in MNIST.

    Parameters
    ----------
    ref : str
        ``DATASET:SPLIT:INDEX`` (``mnist:train:0``, ``./my.npz:test:3``), a PNG/JPEG/... file
        (colour becomes grey), or a ``.npy`` array (2-D, or flat and square; values 0..255).
    shape : (h, w), optional
        The shape the image must have; a different size is an error unless ``resize``.
    resize : bool
        Resize (anti-aliased) to ``shape`` instead of refusing a different size.
    invert : bool
        255 - value for image files (PNG, JPEG, ...): dark ink on a light background, as in a
        scan or a drawing. Dataset images and ``.npy`` arrays are never inverted.
    polarity : {"light-on-dark", "dark-on-light", "undetermined"}
        The polarity of the images this one will be compared with (``Dataset.polarity().kind``);
        an image file of the other polarity gets a warning that says whether to invert it
        (none when either polarity is undetermined).
    download : bool, default True
        Whether a named dataset (for ``DATASET:SPLIT:INDEX``) may be downloaded if not found.

    Returns
    -------
    ImageRef
        ``pixels`` (uint8, h x w), ``source`` (what was read), and for a dataset image its
        ``label`` and ``class_name``.

    Raises
    ------
    ValueError
        If the reference cannot be read as one image, or its size is not ``shape``.

    Examples
    --------
    >>> load_image("digits:test:0").pixels.shape
    (8, 8)
    """
    if polarity not in POLARITY_INK:
        raise ValueError(f"polarity must be one of {', '.join(POLARITY_INK)}; got {polarity!r}.")
    path = Path(ref)
    if path.suffix.lower() in IMAGE_SUFFIXES and not _looks_like_dataset_ref(ref, path):
        pixels, label, name, dataset = formats.read_image_file(path), None, None, None
        source = str(path)
    elif path.suffix.lower() == ".npy":
        pixels, label, name, dataset = _read_npy(path), None, None, None
        source = str(path)
    else:
        pixels, label, name, source = _dataset_image(ref, download)
        dataset = ref.rsplit(":", 2)[0]
    is_file_image = dataset is None and path.suffix.lower() in IMAGE_SUFFIXES
    if invert and is_file_image:
        pixels = (255 - pixels).astype(np.uint8)
    if is_file_image:
        _warn_on_polarity(pixels, source, polarity, invert)
    image = ImageRef(pixels, source, label, name, dataset)
    return image if shape is None else fit_to_shape(image, shape, resize=resize)


def fit_to_shape(ref: ImageRef, shape: tuple[int, int], *, resize: bool = False) -> ImageRef:
    """``ref`` if its image has ``shape``; resized (stretched) to it if ``resize``; else an error."""
    pixels = ref.pixels
    if pixels.shape == tuple(shape):
        return ref
    if not resize:
        raise ValueError(
            f"{ref.source}: the image is {pixels.shape[0]}x{pixels.shape[1]}, expected "
            f"{shape[0]}x{shape[1]}; resize it (--resize) or give an image of that size."
        )
    return dataclasses.replace(ref, pixels=resize_image(pixels, shape))


def match_sizes(first: ImageRef, second: ImageRef, *, resize: bool = False) -> tuple[ImageRef, ImageRef]:
    """The two images at one size for a comparison: an image file is resized to a dataset
    image's size (the dataset's scale is the one with context), otherwise the second image to
    the first's; images of different sizes without ``resize`` are an error."""
    if first.pixels.shape == second.pixels.shape:
        return first, second
    if first.dataset is None and second.dataset is not None:
        return fit_to_shape(first, second.pixels.shape, resize=resize), second
    return first, fit_to_shape(second, first.pixels.shape, resize=resize)


def resize_image(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An anti-aliased resize of a uint8 image to ``shape`` (scikit-image), uint8 again."""
    from skimage.transform import resize

    scaled = resize(pixels, tuple(shape), preserve_range=True, anti_aliasing=True)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def looks_like_single_image(ref: str) -> bool:
    """True for ``DATASET:SPLIT:INDEX``, an image file or a ``.npy``; False for a dataset or path."""
    path = Path(ref)
    if path.suffix.lower() in (*IMAGE_SUFFIXES, ".npy") and not path.is_dir():
        return True  # a file, or a missing one: load_image says it is missing
    return _looks_like_dataset_ref(ref, path)


def _looks_like_dataset_ref(ref: str, path: Path) -> bool:
    return not path.exists() and ref.count(":") >= 2


def _warn_on_polarity(pixels: np.ndarray, source: str, expected: str, inverted: bool) -> None:
    """Warn when an image file's polarity differs from that of the images it meets, saying
    whether to add or drop the inversion."""
    found = Polarity.of(pixels)
    if "undetermined" in (found.kind, expected) or found.kind == expected:
        return  # nothing to compare with, or nothing to advise
    other = POLARITY_INK[expected]
    advice = "drop invert (--invert)" if inverted else "pass invert=True (--invert)"
    warnings.warn(
        f"{source}: {'once inverted, ' if inverted else ''}the image is {found.description}, but "
        f"the images it is compared with have {other}; {advice} unless that is what you want.",
        stacklevel=3,
    )


def _read_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FormatError(f"{path}: no such file.")
    try:  # a mapping reads the header only: its shape is checked before anything is read
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise FormatError(
            f"{path}: not a plain numpy array file, or its header declares more data than the "
            f"file holds ({exc})."
        ) from exc
    if mapped.size > formats.MAX_IMAGE_PIXELS:
        raise FormatError(
            f"{path}: an array of shape {mapped.shape}; one image has at most "
            f"{formats.MAX_IMAGE_PIXELS:,} pixels (4096x4096)."
        )
    array = np.array(mapped)  # a copy: nothing stays mapped to the file
    del mapped
    if array.ndim == 1:
        side = math.isqrt(array.size)
        if side * side != array.size:
            raise FormatError(f"{path}: a flat array of {array.size} values is not a square image.")
        array = array.reshape(side, side)
    if array.ndim != 2 or array.size == 0:
        raise FormatError(f"{path}: expected one 2-D image, got an array of shape {array.shape}.")
    return formats.as_uint8_images(array[None], source=str(path), name="image")[0]


def _dataset_image(ref: str, download: bool):
    from mnistlab.data.loading import load

    parts = ref.rsplit(":", 2)
    if len(parts) != 3:
        raise ValueError(
            f"{ref!r} is not an image: give DATASET:SPLIT:INDEX (mnist:train:0), an image file or "
            "a .npy file."
        )
    name, split_name, index = parts
    try:
        position = int(index)
    except ValueError:
        raise ValueError(f"{ref!r}: the index {index!r} is not a whole number.") from None
    ds = load(name, download=download)
    split = ds.split(split_name)
    if not -len(split) <= position < len(split):
        raise ValueError(f"{ref!r}: {split_name} has {len(split)} images (0..{len(split) - 1}).")
    position %= len(split)
    image, label = split[position]  # a store's split reads this one image
    source = f"{ds.name}:{split_name}:{position}"
    return np.asarray(image), label, split.classes[label], source
