"""``mnistlab.load``: a Dataset from a registry name or from files in any supported format."""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnistlab.data import formats
from mnistlab.data.dataset import Dataset
from mnistlab.data.registry import DatasetSpec, get_spec
from mnistlab.data.sources import load_named
from mnistlab.errors import FormatError

#: Written beside converted files so class names survive formats that have no place for them.
CLASSES_FILE = "classes.txt"
_SPLIT_DIRS = {"train": ("train", "training"), "test": ("test", "testing", "t10k")}
_VALIDATION_DIRS = ("val", "valid", "validation")
_IDX_PATTERNS = {
    "train_images": r"train.*images.*idx3",
    "train_labels": r"train.*labels.*idx1",
    "test_images": r"(t10k|test).*images.*idx3",
    "test_labels": r"(t10k|test).*labels.*idx1",
}


def load(
    name_or_path: str | os.PathLike | DatasetSpec,
    *,
    download: bool = True,
    progress: bool | None = None,
    classes: list[str] | None = None,
) -> Dataset:
    """Load a dataset by name (``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``, ``"digits"``) or path.

    Names are looked up in the registry and fetched from the cache, the system, installed
    packages or the official mirrors, verified by sha256 (see ``mnistlab.data.sources``).
    Paths may be:

    - a folder of IDX files (``train-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``...);
    - a CSV file (label first; with or without a ``label,pixel0,...`` header), or a folder holding
      ``*train*.csv`` and ``*test*.csv``;
    - a Keras-style ``.npz`` (``x_train, y_train, x_test, y_test``);
    - a folder of images with one sub-folder per class, optionally inside ``train/`` and
      ``test/`` folders.

    Parameters
    ----------
    name_or_path : str, path or DatasetSpec
    download : bool
        Allow downloading from the official mirrors when no local copy exists.
    progress : bool or None
        Show progress on stderr; None shows it only when stderr is a terminal.
    classes : list of str, optional
        Class names for files that carry none (default "0", "1", ...).

    Returns
    -------
    Dataset

    Examples
    --------
    >>> import mnistlab
    >>> ds = mnistlab.load("digits")
    >>> ds.train.images.shape, ds.classes[:3]
    ((1347, 8, 8), ('0', '1', '2'))
    """
    if isinstance(name_or_path, DatasetSpec):
        return load_named(name_or_path, download=download, progress=progress)
    text = str(name_or_path)
    if not text.strip():
        raise ValueError("empty dataset name or path.")
    path = Path(name_or_path)
    if path.exists():
        return load_path(path, classes=classes)
    if os.sep in text or path.suffix.lower() in {".csv", ".npz", ".gz", ".png"}:
        raise FileNotFoundError(f"No such file or folder: {text!r}.")
    return load_named(get_spec(text), download=download, progress=progress)


def load_path(path: str | os.PathLike, *, classes: list[str] | None = None) -> Dataset:
    """Load a Dataset from a file or folder (see :func:`load` for the layouts understood)."""
    path = Path(path)
    if not path.is_file() and not path.is_dir():
        raise FormatError(f"{path}: neither a regular file nor a folder.")
    name = path.stem if path.is_file() else path.name
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".npz":
            a = formats.read_npz(path)
            test = (a["x_test"], a["y_test"]) if "x_test" in a else None
            if classes is None and "classes" in a:
                classes = _npz_class_names(a["classes"], path)
            return _from_arrays(name, (a["x_train"], a["y_train"]), test, classes, path)
        if suffix == ".csv":
            return _from_arrays(name, formats.read_csv(path), None, classes, path)
        raise FormatError(
            f"{path}: cannot tell the format from the name; pass a .npz or .csv file, or the "
            "folder holding the IDX files or the class sub-folders of images."
        )
    listing = path / CLASSES_FILE
    if classes is None and listing.is_file():
        classes = formats.read_class_names(listing)
    idx = _match_files(path, _IDX_PATTERNS)
    if idx:
        return _from_arrays(name, *_read_idx_splits(path, idx), classes, path)
    csvs = _match_files(path, {"train": r"train.*\.csv$", "test": r"test.*\.csv$"})
    if csvs.get("train"):
        test = None
        if csvs.get("test") and formats.csv_has_labels(csvs["test"]):
            test = formats.read_csv(csvs["test"])
        elif csvs.get("test"):
            warnings.warn(
                f"{csvs['test']} has no label column (Kaggle's competition layout): "
                "loaded the training split only.",
                stacklevel=2,
            )
        return _from_arrays(name, formats.read_csv(csvs["train"]), test, classes, path)
    split_dirs = {
        split: next((path / d for d in dirs if (path / d).is_dir()), None)
        for split, dirs in _SPLIT_DIRS.items()
    }
    if split_dirs["train"] is not None:
        for other in (path / d for d in _VALIDATION_DIRS if (path / d).is_dir()):
            warnings.warn(
                f"{other}: a validation split is not read (mnistlab reads train and test); load it "
                f"on its own (mnistlab.load('{other}')) or merge it into train.",
                stacklevel=2,
            )
        x, y, found = formats.read_image_folder(split_dirs["train"], classes)
        test = None
        if split_dirs["test"] is not None:
            tx, ty, _ = formats.read_image_folder(split_dirs["test"], found)
            test = (tx, ty)
        return _from_arrays(name, (x, y), test, list(found), path)
    if formats.class_folders(path):
        x, y, found = formats.read_image_folder(path, classes)
        return _from_arrays(name, (x, y), None, list(found), path)
    raise FormatError(
        f"{path}: found no dataset here: no IDX files (train-images-idx3-ubyte...), no "
        "*train*.csv, and no class sub-folders of images."
    )


def _read_idx_splits(folder: Path, idx: dict[str, Path]):
    """Read the IDX splits present; images and labels must come in pairs of equal counts.

    The counts are compared from the headers alone, before any payload is read.
    """
    splits = []
    for split in ("train", "test"):
        images, labels = idx.get(f"{split}_images"), idx.get(f"{split}_labels")
        if images is None and labels is None:
            splits.append(None)
            continue
        if images is None or labels is None:
            have, lack = (images, "labels") if labels is None else (labels, "images")
            raise FormatError(f"{folder}: found {have.name} but no {split} {lack} file beside it.")
        n_images, n_labels = formats.read_idx_shape(images)[0], formats.read_idx_shape(labels)[0]
        if n_images != n_labels:
            raise FormatError(
                f"{folder}: {images.name} declares {n_images:,} images but {labels.name} "
                f"{n_labels:,} labels; they must match."
            )
        splits.append((formats.read_idx(images), formats.read_idx(labels)))
    if splits[0] is None:
        raise FormatError(f"{folder}: IDX test files but no train-images/train-labels files.")
    return splits[0], splits[1]


def _npz_class_names(values: np.ndarray, path: Path) -> list[str]:
    if values.ndim != 1 or values.dtype.kind not in "US":
        raise FormatError(f"{path}: NPZ member 'classes' must be a 1-D array of strings.")
    if values.dtype.kind == "S":
        return [v.decode("utf-8", errors="replace") for v in values]
    return [str(v) for v in values]


def _match_files(folder: Path, patterns: dict[str, str]) -> dict[str, Path]:
    # Hidden files (.DS_Store, AppleDouble ._*, interrupted writes) are never data.
    files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
    out = {}
    for key, pattern in patterns.items():
        hits = [f for f in files if re.search(pattern, f.name, re.IGNORECASE)]
        if len(hits) > 1:
            raise FormatError(
                f"{folder}: several files could be the {key.replace('_', ' ')}: "
                f"{', '.join(h.name for h in hits)}."
            )
        if hits:
            out[key] = hits[0]
    return out


def _from_arrays(name, train, test, classes, path) -> Dataset:
    source = str(path)
    images, labels = train
    if np.asarray(images).ndim == 2:  # flattened square images (e.g. an NPZ of vectors)
        shape = formats.square_shape(np.asarray(images).shape[1], source=source)
        images = np.asarray(images).reshape(-1, *shape)
        if test is not None:
            test = (np.asarray(test[0]).reshape(-1, *shape), test[1])
    try:
        return Dataset.from_arrays(name, (images, labels), test, classes=classes, source=source)
    except FormatError as exc:
        message = str(exc)
        if not message.startswith(source):
            message = f"{source}: {message}"
        if classes is not None and "no class name" in message:
            message += f" (class names from {CLASSES_FILE} or the file's class list)"
        raise FormatError(message) from exc


#: Output formats of :func:`save`, with a one-line description each.
SAVE_FORMATS = {
    "idx": "gzipped IDX files (train-images-idx3-ubyte.gz, ...), the official layout",
    "csv": "<name>_train.csv / <name>_test.csv, label first, no header (mnist_train.csv layout)",
    "csv-kaggle": "train.csv / test.csv with a label,pixel0,... header",
    "npz": "a Keras-style <name>.npz with x_train, y_train, x_test, y_test",
    "png": "one PNG per image in train/<class>/ and test/<class>/ folders",
}


def save(dataset: Dataset, folder: str | os.PathLike, to: str = "idx") -> list[Path]:
    """Write ``dataset`` to ``folder`` in format ``to`` (see ``SAVE_FORMATS``); return the paths.

    All or nothing: every file is first written to a staging folder inside ``folder`` and moved
    into place only when all were written, so an error leaves ``folder`` as it was. Existing
    files of the same names are replaced; anything else in the way (a folder where a file goes,
    a device, a non-empty class-folder tree) is refused before anything is written. The result
    loads back with :func:`load` (``folder`` for IDX, CSV and PNG, the ``.npz`` file for NPZ).
    """
    if to not in SAVE_FORMATS:
        raise ValueError(f"unknown format {to!r}; choose one of {', '.join(SAVE_FORMATS)}.")
    folder = Path(folder)
    plan = _save_plan(dataset, to)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder}: exists and is not a folder.")
    for name, _ in plan:
        target = folder / name
        if to == "png":
            if target.exists() and (not target.is_dir() or any(target.iterdir())):
                raise FileExistsError(f"{target}: already exists; write PNG folders into a new folder.")
        elif target.exists() and not target.is_file():
            raise FileExistsError(f"{target}: exists and is not a regular file; not replacing it.")
    folder.mkdir(parents=True, exist_ok=True)
    formats.remove_stale_temporaries(folder)
    with tempfile.TemporaryDirectory(dir=folder, prefix=formats.staging_prefix()) as staging:
        for name, write in plan:
            write(Path(staging) / name)
        for name, _ in plan:
            os.replace(Path(staging) / name, folder / name)
    return [folder / name for name, _ in plan]


def _save_plan(dataset: Dataset, to: str) -> list[tuple[str, Callable[[Path], None]]]:
    """(file or folder name, function writing it to a given path) for every output."""
    label_dtype = np.uint8 if len(dataset.classes) <= 256 else np.int32
    if to == "npz":
        arrays = {"x_train": dataset.train.images, "y_train": dataset.train.labels.astype(label_dtype)}
        if dataset.test is not None:
            arrays |= {
                "x_test": dataset.test.images,
                "y_test": dataset.test.labels.astype(label_dtype),
            }
        # A unicode array loads without pickle; Keras-style readers ignore the extra key.
        arrays["classes"] = np.array(dataset.classes, dtype=str)
        return [(f"{dataset.name}.npz", lambda p: formats.write_npz(p, arrays))]
    plan: list[tuple[str, Callable[[Path], None]]] = []
    for split_name, split in dataset.splits.items():
        if to == "idx":
            prefix = "train" if split_name == "train" else "t10k"
            plan.append(
                (f"{prefix}-images-idx3-ubyte.gz", lambda p, s=split: formats.write_idx(p, s.images))
            )
            plan.append(
                (
                    f"{prefix}-labels-idx1-ubyte.gz",
                    lambda p, s=split: formats.write_idx(p, s.labels.astype(label_dtype)),
                )
            )
        elif to in ("csv", "csv-kaggle"):
            stem = f"{dataset.name}_{split_name}" if to == "csv" else split_name
            layout = "plain" if to == "csv" else "kaggle"
            plan.append(
                (
                    f"{stem}.csv",
                    lambda p, s=split, layout=layout: formats.write_csv(
                        p, s.images, s.labels, layout=layout
                    ),
                )
            )
        else:
            plan.append(
                (
                    split_name,
                    lambda p, s=split: formats.write_image_folder(
                        p, s.images, s.labels, dataset.classes
                    ),
                )
            )
    if to != "png":  # PNG folders carry their own classes.txt per split
        plan.append((CLASSES_FILE, lambda p: formats.write_class_names(p, dataset.classes)))
    return plan
