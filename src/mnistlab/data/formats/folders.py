"""Folders of image files, one sub-folder per class (``train/<class>/*.png``)."""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mnistlab._utils.files import safe_filename
from mnistlab.data.formats.arrays import default_classes
from mnistlab.data.formats.classes import check_class_names, read_classes, write_class_names
from mnistlab.errors import FormatError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _natural_key(name: str) -> tuple:
    return tuple(int(t) if t.isdecimal() else t for t in re.split(r"(\d+)", name))


def class_folders(root: Path) -> list[Path]:
    """Sub-folders of ``root`` that contain at least one image, in natural order (2 before 10)."""
    folders = [
        d
        for d in root.iterdir()
        if d.is_dir()
        and not d.name.startswith((".", "__"))  # .ipynb_checkpoints, __MACOSX, ...
        and any(f.suffix.lower() in IMAGE_SUFFIXES for f in d.iterdir())
    ]
    return sorted(folders, key=lambda d: _natural_key(d.name))


#: The most pixels (all frames together) an image file may declare: 4096 x 4096, far beyond any
#: MNIST-like image; a larger one is refused from its header, before anything is decoded.
MAX_IMAGE_PIXELS = 4096 * 4096
#: The most pixels (bytes) an image folder may hold in all: 4 GiB, 75 times MNIST's 70,000.
MAX_FOLDER_PIXELS = 4 << 30


def _check_declared_size(path: str | os.PathLike) -> tuple[int, int]:
    """Refuse, from the header alone, an image file declaring more than ``MAX_IMAGE_PIXELS``: a
    small file of zeros can declare 12000 x 12000 pixels and take gigabytes to decode."""
    from PIL import Image

    width: float
    height: float
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                (width, height), frames = image.size, getattr(image, "n_frames", 1)
    except Image.DecompressionBombError:
        width, height, frames = math.inf, math.inf, 1  # Pillow's own, far larger, limit
    except Exception as exc:  # Pillow raises many unrelated types for unreadable files
        raise FormatError(f"{path}: not a readable image ({type(exc).__name__}: {exc}).") from None
    if frames > 1:  # an animated GIF/WebP/PNG or a multi-page TIFF: which frame is the image?
        raise FormatError(
            f"{path}: {frames} frames (animated or multi-page); an image file holds one still "
            "image here. Save the frame you mean as its own file."
        )
    if width * height * frames > MAX_IMAGE_PIXELS:
        size = f"{width}x{height}" if math.isfinite(width) else "a gigapixel-scale"
        raise FormatError(
            f"{path}: the file declares {size} pixels{f' in {frames} frames' if frames > 1 else ''}; "
            f"mnistlab reads images of at most {MAX_IMAGE_PIXELS:,} pixels (4096x4096): resize it "
            "first."
        )
    return int(height), int(width)  # finite here: a size over Pillow's own limit (inf) was refused


def read_image_file(path: str | os.PathLike) -> np.ndarray:
    """Read one image file as a 2-D uint8 grayscale array (colour is converted to luminance)."""
    import imageio.v3 as iio
    from skimage import color

    if not Path(path).is_file():
        raise FormatError(f"{path}: not a regular file.")
    _check_declared_size(path)
    try:
        image = np.asarray(iio.imread(Path(path), plugin="pillow"))
    except Exception as exc:  # Pillow raises many unrelated types for unreadable files
        raise FormatError(f"{path}: not a readable image ({exc}).") from exc
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]  # a single frame (GIF, multi-page formats)
    if image.ndim not in (2, 3):
        raise FormatError(f"{path}: an image of shape {image.shape} (animated or multi-page?).")
    if image.dtype == np.bool_:  # 1-bit images: ink is 255, as in 8-bit files
        image = image.astype(np.uint8) * 255
    elif image.dtype.kind in "ui" and image.dtype.itemsize > 1:
        # 16-bit files (Pillow gives uint16 or int32): scaled by the bit depth, whatever the
        # values, so a dark image is as dark as its 8-bit version.
        image = np.round(image.clip(0, 65535).astype(np.float64) / 257).astype(np.uint8)
    if image.ndim == 3:
        if image.shape[2] == 4:
            image = color.rgba2rgb(image)
        image = color.rgb2gray(image[..., :3]) if image.shape[2] >= 3 else image[..., 0]
    if image.dtype != np.uint8:
        scale = 255.0 if image.dtype.kind == "f" and image.max() <= 1.0 else 1.0
        image = np.clip(np.round(image * scale), 0, 255).astype(np.uint8)
    return image


class ImageFolder(NamedTuple):
    """What :func:`read_image_folder` read: images, labels, class names, and each image's file."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    files: list[str]


def read_image_folder(
    root: str | os.PathLike,
    classes: Iterable[str] | Mapping[int, str] | None = None,
    *,
    progress: bool | None = None,
) -> ImageFolder:
    """Read ``root/<class>/*.png`` into images, labels, classes and file names; every image the
    same size.

    The class order is ``classes`` if given (names in label order, or a mapping from folder
    names that are labels, ``{1: "A"}`` for a folder ``1/``, to class names), else the lines of
    ``root/classes.txt`` if present (written by :func:`write_image_folder`, it keeps class order
    and names such as "T-shirt/top" that cannot be folder names), else the folder names in
    natural order. ``progress`` shows a bar on stderr (None: when stderr is a terminal).
    """
    from mnistlab.progress import steps

    root = Path(root)
    folders = class_folders(root)
    _refuse_nested_classes(root, folders)
    if not folders:
        raise FormatError(f"{root}: no sub-folders with images (expected root/<class>/*.png).")
    names, index = _class_index(root, folders, classes)
    skipped: dict[str, int] = {}
    listed: list[tuple[Path, int]] = []
    for folder in folders:
        entries = [f for f in folder.iterdir() if not f.name.startswith(".")]
        for f in entries:
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                kind = "folders" if f.is_dir() else f"{f.suffix.lower() or 'no suffix'} files"
                skipped[kind] = skipped.get(kind, 0) + 1
        files = sorted(
            (f for f in entries if f.suffix.lower() in IMAGE_SUFFIXES),
            key=lambda f: _natural_key(f.name),
        )
        listed.extend((f, index[folder.name]) for f in files)
    if listed:  # what decoding every file would take, from the first file's header
        h, w = _check_declared_size(listed[0][0])
        if h * w * len(listed) > MAX_FOLDER_PIXELS:
            raise FormatError(
                f"{root}: {len(listed):,} images of {w}x{h} pixels would take "
                f"{h * w * len(listed) / 2**30:.1f} GiB in memory; mnistlab reads at most "
                f"{MAX_FOLDER_PIXELS / 2**30:.0f} GiB of pixels from image files (resize them, "
                "or read a part of the folder)."
            )
    images, shape, first = [], None, None
    with steps(f"reading {len(listed):,} images in {root}", len(listed), progress) as advance:
        for f, _ in listed:
            image = read_image_file(f)
            if shape is None:
                shape, first = image.shape, f
            elif image.shape != shape:
                raise FormatError(
                    f"{f}: image of shape {image.shape}, but {first} has shape {shape}; "
                    "all images of a dataset must have the same size."
                )
            images.append(image)
            advance()
    if skipped:
        what = ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items()))
        warnings.warn(
            f"{root}: skipped what is not an image in the class folders ({what}); images are "
            f"{', '.join(sorted(IMAGE_SUFFIXES))}.",
            stacklevel=3,
        )
    if not images:
        raise FormatError(f"{root}: the class folders hold no images.")
    return ImageFolder(
        np.stack(images),
        np.asarray([label for _, label in listed], dtype=np.int64),
        names,
        [str(f) for f, _ in listed],
    )


def _class_index(root: Path, folders: list[Path], classes) -> tuple[tuple[str, ...], dict[str, int]]:
    """The class names, and the label of each class folder's name (see :func:`read_image_folder`)."""
    listing = root / "classes.txt"
    if classes is None and listing.is_file():
        classes = read_classes(listing)  # a list or a label mapping, as beside any dataset
    by_label = all(re.fullmatch("[0-9]+", d.name) for d in folders)
    index: dict[str, int] = {}
    if isinstance(classes, Mapping):
        labels_in_order = sorted(classes)
        names = tuple(str(classes[k]) for k in labels_in_order)
        index = {str(label): i for i, label in enumerate(labels_in_order)}
    elif classes is not None:
        names = tuple(classes)
    elif by_label:
        # Folders named 0..9 mean those labels, even when one of them is missing or empty.
        names = default_classes([np.array([int(d.name) for d in folders])], source=str(root))
    else:
        names = tuple(d.name for d in folders)
    check_class_names(names, source=str(listing) if listing.is_file() else str(root))
    index |= {safe_filename(n): i for i, n in enumerate(names)} | {n: i for i, n in enumerate(names)}
    if by_label and (classes is None or not any(d.name in index for d in folders)):
        # Folders named 0..9 are labels: with a list of names, folder 3 holds the 4th class.
        index = {d.name: int(d.name) for d in folders}
        beyond = sorted(int(d.name) for d in folders if int(d.name) >= len(names))
        if beyond:
            raise FormatError(
                f"{root}: folders named by label {beyond}, but only {len(names)} class names "
                f"(labels 0..{len(names) - 1}) are given."
            )
    unknown = [d.name for d in folders if d.name not in index]
    if unknown:
        raise FormatError(
            f"{root}: class folders {unknown} are not among the classes {names}; name the folders "
            "after the classes, or by label (0, 1, 2, ...) with the class names in a classes.txt."
        )
    return names, index


def _refuse_nested_classes(root: Path, folders: list[Path]) -> None:
    """A folder whose images sit only in sub-folders is most often a class name with a "/"
    ("T-shirt/top") written as a path; read as it is, the class would vanish without a word."""
    for d in sorted(set(root.iterdir()) - set(folders)):
        if not d.is_dir() or d.name.startswith((".", "__")):
            continue
        nested = next((f for f in d.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES), None)
        if nested is not None:
            raise FormatError(
                f"{d}: its images are in sub-folders ({nested.parent.relative_to(root)}), not in the "
                "folder itself; class folders hold their images directly. A class name with '/' "
                "(T-shirt/top) needs a folder name without it (T-shirt_top) and, to keep the name, "
                "a classes.txt listing the class names."
            )


def write_image_folder(
    root: str | os.PathLike, images: np.ndarray, labels: np.ndarray, classes: Iterable[str]
) -> None:
    """Write ``root/<class>/<index>.png`` (one grayscale PNG per image) and ``root/classes.txt``."""
    from PIL import Image  # directly: imageio's writer can complain at exit after a Ctrl-C

    root = Path(root)
    classes = tuple(classes)
    folders = [safe_filename(n) for n in classes]
    if len(set(folders)) != len(folders):
        clash = sorted({f for f in folders if folders.count(f) > 1})
        raise FormatError(f"class names that differ only in punctuation share folders {clash}.")
    if "classes.txt" in folders:
        raise FormatError(
            "a class named 'classes.txt' cannot be a folder beside the class list of that name; "
            "rename the class (or write another format)."
        )
    for k, name in enumerate(classes):
        folder = root / safe_filename(name)
        folder.mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(labels == k):
            Image.fromarray(np.ascontiguousarray(images[i])).save(folder / f"{i}.png")
    write_class_names(root / "classes.txt", classes)
