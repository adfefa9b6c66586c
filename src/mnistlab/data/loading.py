"""``mnistlab.load``: a Dataset from a registry name or from files in any supported format."""

from __future__ import annotations

import os
import re
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
    path = Path(name_or_path)
    if path.exists():
        return load_path(path, classes=classes)
    text = str(name_or_path)
    if os.sep in text or path.suffix.lower() in {".csv", ".npz", ".gz", ".png"}:
        raise FileNotFoundError(f"No such file or folder: {text!r}.")
    return load_named(get_spec(text), download=download, progress=progress)


def load_path(path: str | os.PathLike, *, classes: list[str] | None = None) -> Dataset:
    """Load a Dataset from a file or folder (see :func:`load` for the layouts understood)."""
    path = Path(path)
    name = path.stem if path.is_file() else path.name
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".npz":
            a = formats.read_npz(path)
            test = (a["x_test"], a["y_test"]) if "x_test" in a else None
            if classes is None and "classes" in a:
                classes = [str(c) for c in a["classes"]]
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
    if idx.get("train_images") and idx.get("train_labels"):
        train = (formats.read_idx(idx["train_images"]), formats.read_idx(idx["train_labels"]))
        test = None
        if idx.get("test_images") and idx.get("test_labels"):
            test = (formats.read_idx(idx["test_images"]), formats.read_idx(idx["test_labels"]))
        return _from_arrays(name, train, test, classes, path)
    csvs = _match_files(path, {"train": r"train.*\.csv$", "test": r"test.*\.csv$"})
    if csvs.get("train"):
        test = formats.read_csv(csvs["test"]) if csvs.get("test") else None
        return _from_arrays(name, formats.read_csv(csvs["train"]), test, classes, path)
    split_dirs = {
        split: next((path / d for d in dirs if (path / d).is_dir()), None)
        for split, dirs in _SPLIT_DIRS.items()
    }
    if split_dirs["train"] is not None:
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


def _match_files(folder: Path, patterns: dict[str, str]) -> dict[str, Path]:
    files = sorted(f for f in folder.iterdir() if f.is_file())
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
    images, labels = train
    if np.asarray(images).ndim == 2:  # flattened square images (e.g. an NPZ of vectors)
        shape = formats.square_shape(np.asarray(images).shape[1], source=str(path))
        images = np.asarray(images).reshape(-1, *shape)
        if test is not None:
            test = (np.asarray(test[0]).reshape(-1, *shape), test[1])
    return Dataset.from_arrays(name, (images, labels), test, classes=classes, source=str(path))


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

    Every file is written atomically; the result loads back with :func:`load` (``folder`` for
    IDX, CSV and PNG, the ``.npz`` file for NPZ) to the same arrays.
    """
    if to not in SAVE_FORMATS:
        raise ValueError(f"unknown format {to!r}; choose one of {', '.join(SAVE_FORMATS)}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
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
        written.append(folder / f"{dataset.name}.npz")
        formats.write_npz(written[-1], arrays)
        return written
    for split_name, split in dataset.splits.items():
        if to == "idx":
            prefix = "train" if split_name == "train" else "t10k"
            for kind, array in (("images-idx3", split.images), ("labels-idx1", split.labels)):
                written.append(folder / f"{prefix}-{kind}-ubyte.gz")
                data = array if kind.startswith("images") else array.astype(label_dtype)
                formats.write_idx(written[-1], data)
        elif to in ("csv", "csv-kaggle"):
            stem = f"{dataset.name}_{split_name}" if to == "csv" else split_name
            written.append(folder / f"{stem}.csv")
            layout = "plain" if to == "csv" else "kaggle"
            formats.write_csv(written[-1], split.images, split.labels, layout=layout)
        else:
            formats.write_image_folder(folder / split_name, split.images, split.labels, dataset.classes)
            written.append(folder / split_name)
    if to != "png":  # PNG folders carry their own classes.txt per split
        written.append(folder / CLASSES_FILE)
        formats.write_class_names(written[-1], dataset.classes)
    return written
