"""Validation of image and label arrays, shared by every reader: uint8 images 0..255, class
indices as labels, default class names, square shapes, 0..1 images brought to 0..255."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np

from mnistlab.errors import FormatError


def as_uint8_images(values: np.ndarray, *, source: str, name: str = "images") -> np.ndarray:
    """Return ``values`` as uint8, or raise if any value is NaN, fractional or outside 0..255.

    Booleans are ink (255) or background (0).
    """
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return values
    if values.dtype == np.bool_:  # ink or background, as in a 1-bit image
        return values.astype(np.uint8) * np.uint8(255)
    if values.dtype.kind == "f":
        if np.isnan(values).any():
            raise FormatError(f"{source}: {name} contain NaN values.")
        if (values != np.round(values)).any():
            raise FormatError(
                f"{source}: {name} must be integers in 0..255, found fractional values "
                f"(min {values.min():.9g}, max {values.max():.9g}); scale 0..1 images by 255 "
                "first."
            )
    elif values.dtype.kind not in "iub":
        raise FormatError(f"{source}: {name} must be numeric, got dtype {values.dtype}.")
    if values.size and (values.min() < 0 or values.max() > 255):
        raise FormatError(
            f"{source}: {name} must lie in 0..255, found values from {values.min()} to {values.max()}."
        )
    return values.astype(np.uint8)


#: Labels are class indices; anything this large is not one (and would not fit an int64 class list).
MAX_LABEL = 2**31 - 1


def as_labels(values: np.ndarray, *, source: str) -> np.ndarray:
    """Return labels as int64, or raise if they are not non-negative integer class indices."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise FormatError(f"{source}: labels must be one-dimensional, got shape {values.shape}.")
    if values.dtype.kind == "f":
        if not np.isfinite(values).all() or (values != np.round(values)).any():
            raise FormatError(
                f"{source}: labels must be whole numbers, found NaN, infinity or fractions."
            )
    elif values.dtype.kind not in "iub":
        raise FormatError(f"{source}: labels must be integers, got dtype {values.dtype}.")
    if values.size:
        # Range checks on the original values: a cast first could wrap 2**64-1 around to -1.
        low, high = values.min(), values.max()
        if low < 0:
            raise FormatError(f"{source}: labels must be >= 0, found {low}.")
        if high > MAX_LABEL:
            raise FormatError(f"{source}: label {high} is not a class index (at most {MAX_LABEL}).")
    return values.astype(np.int64)


def default_classes(label_arrays: Iterable[np.ndarray], *, source: str) -> tuple[str, ...]:
    """Class names "0".."K-1" for labels without names, refusing labels that are not indices.

    Labels are class indices 0..K-1; a few classes may be absent from a file, but labels such as
    {0, 1000000} are ids, not indices, and would create a million empty classes.
    """
    arrays = [np.asarray(y) for y in label_arrays]
    present = np.unique(np.concatenate(arrays)) if arrays else np.array([], np.int64)
    if present.size == 0:
        return ()
    top = int(present[-1])
    if top + 1 > max(256, 4 * present.size):
        raise FormatError(
            f"{source}: labels are not class indices 0..K-1: {present.size} distinct labels, the "
            f"largest {top}. Relabel them 0..{present.size - 1} (or pass class names)."
        )
    if present[0] == 1 and present.size == top:  # exactly 1..K: counted from 1, most likely
        warnings.warn(
            f"{source}: the labels run 1..{top}, so class 0 has no images; if they count from 1, "
            f"subtract 1 from them (or give class names, e.g. a classes.txt beside the file).",
            stacklevel=3,
        )
    return tuple(str(k) for k in range(top + 1))


def square_shape(n_pixels: int, *, source: str) -> tuple[int, int]:
    """The (side, side) shape of a flattened square image of ``n_pixels`` pixels."""
    side = round(n_pixels**0.5)
    if side * side != n_pixels or n_pixels == 0:
        raise FormatError(
            f"{source}: {n_pixels} pixel columns do not form a square image; save non-square "
            "images as NPZ (n, height, width) or as image folders."
        )
    return side, side


def unit_scaled(images: np.ndarray, key: str, source: str) -> np.ndarray:
    """Images on a 0..1 scale brought to 0..255, with a warning: floats within 0..1 holding
    fractions (``x / 255``), and binary images holding only 0 and 1 (floats or integers), whose
    ink would otherwise be 1 of 255, drawn black."""
    if images.dtype.kind not in "fiu" or not images.size:
        return images
    if images.dtype.kind == "f" and not np.isfinite(images).all():
        return images  # refused with its reason by as_uint8_images
    low, high = images.min(), images.max()
    if low < 0 or (high != 1 and (high > 1 or images.dtype.kind != "f")):
        return images
    if images.dtype.kind in "iu" or (images == np.round(images)).all():
        if high == 0:
            return images
        warnings.warn(
            f"{source}: {key} hold only the values 0 and 1; read as binary images, 1 as ink 255.",
            stacklevel=4,
        )
        return (images != 0).astype(np.uint8) * np.uint8(255)
    warnings.warn(
        f"{source}: {key} holds fractions in 0..1; read as value x 255, rounded to 0..255.",
        stacklevel=4,
    )
    return np.rint(images * 255.0).astype(np.uint8)
