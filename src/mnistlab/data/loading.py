"""``mnistlab.load``: a Dataset from a registry name or from files in any supported format."""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from mnistlab._utils.files import safe_filename, staged
from mnistlab.data import formats
from mnistlab.data.dataset import Dataset
from mnistlab.data.quickdraw import NAME_THE_CLASSES, load_quickdraw, quickdraw_source
from mnistlab.data.registry import QUICKDRAW, DatasetSpec, get_spec
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
    "val_images": r"(?<![a-z])val(id|idation)?(?![a-z]).*images.*idx3",
    "val_labels": r"(?<![a-z])val(id|idation)?(?![a-z]).*labels.*idx1",
}
#: The split words are whole words: "contest_train.csv" is a training file, not a test one.
_CSV_PATTERNS = {
    "train": r"(?<![a-z])train(ing)?(?![a-z]).*\.csv$",
    "test": r"(?<![a-z])test(ing)?(?![a-z]).*\.csv$",
    "val": r"(?<![a-z])val(id|idation)?(?![a-z]).*\.csv$",
}


def load(
    name_or_path: str | os.PathLike | DatasetSpec,
    *,
    download: bool = True,
    progress: bool | None = None,
    classes: list[str] | dict[int, str] | str | os.PathLike | None = None,
    name: str | None = None,
    test_size: float | None = None,
    seed: int = 0,
    invert: bool = False,
) -> Dataset:
    """Load a dataset by name (``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``, ``"digits"``) or path.

    Names are looked up in the registry and fetched from the cache, the system, installed
    packages or the official mirrors, verified by sha256 (see ``mnistlab.data.sources``).
    Paths may be:

    - a folder of IDX files (``train-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``...);
    - a CSV file (a ``label`` column first or last, or no header and the label first; an ``id``
      column is dropped), or a folder holding ``*train*.csv`` and ``*test*.csv``;
    - a Keras-style ``.npz`` (``x_train, y_train, x_test, y_test``; also ``X_train``, ``x_val``,
      ``(n, 28, 28, 1)`` images and one-hot labels);
    - a folder of images with one sub-folder per class, optionally inside ``train/``, ``test/``
      and ``val/`` folders.

    Class names come from ``classes``, else from a ``classes.txt`` or ``*mapping.txt`` in the
    folder (or beside the file), else from the file itself, else "0", "1", ...

    Parameters
    ----------
    name_or_path : str, path or DatasetSpec
    download : bool
        Allow downloading from the official mirrors when no local copy exists.
    progress : bool or None
        Show progress on stderr; None shows it only when stderr is a terminal.
    classes : list of str, dict or path, optional
        Class names for files that carry none: the names in label order, a mapping from the
        file's labels to names (labels are then renumbered 0..K-1), or a text file of either
        (see :func:`mnistlab.data.formats.read_classes`; EMNIST's ``mapping.txt`` works).
    name : str, optional
        The dataset's name in results and reports (default: the file's or folder's name; a
        file named ``train.csv`` or ``data.npz`` is named after its folder).
    test_size : float or int, optional
        For a dataset with only a training split: hold out this share (0..1) or number of its
        images as a stratified test split, seeded by ``seed`` (see :meth:`Dataset.hold_out`).
    seed : int
        The seed of the hold-out.
    invert : bool
        Store ``255 - value``: for dark ink on light paper, so the ink is bright as in MNIST.
        Loading such a dataset without it warns.

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
        if name_or_path is QUICKDRAW:
            raise ValueError(NAME_THE_CLASSES)
        _refuse_classes_for_named(name_or_path.name, classes)
        ds = load_named(name_or_path, download=download, progress=progress)
    else:
        text = str(name_or_path)
        if not text.strip():
            raise ValueError("empty dataset name or path.")
        path = Path(name_or_path)
        if formats.is_zarr_store(path):
            return _lazy(path, name=name, classes=classes, test_size=test_size, invert=invert)
        if path.exists():
            ds = load_path(path, classes=classes, progress=progress)
        elif os.sep in text or path.suffix.lower() in {".csv", ".npz", ".gz", ".png"}:
            raise FileNotFoundError(f"No such file or folder: {text!r}.")
        elif quickdraw_source(text) is not None:
            _refuse_classes_for_named(QUICKDRAW.name, classes)
            ds = load_quickdraw(text, download=download, progress=progress)
        else:
            spec = get_spec(text)
            _refuse_classes_for_named(spec.name, classes)
            ds = load_named(spec, download=download, progress=progress)
    return _as_asked(ds, name=name, test_size=test_size, seed=seed, invert=invert)


def _lazy(path: Path, *, name, classes, test_size, invert):
    """A Zarr store, opened lazily; the options that would rewrite every image are refused."""
    from mnistlab.data.lazy import load_zarr

    asked = {"classes": classes is not None, "test_size": test_size is not None, "invert": invert}
    refused = [option for option, given in asked.items() if given]
    if refused:
        raise ValueError(
            f"{path}: a Zarr store is read as it was written; {', '.join(refused)} would rewrite it. "
            "Set them when writing the store (load the source with them, then save to zarr)."
        )
    return load_zarr(path, name=name)


def _refuse_classes_for_named(name: str, classes) -> None:
    if classes is not None:
        raise ValueError(f"{name} has its own class names; classes= is for files without them.")


def _as_asked(ds: Dataset, *, name, test_size, seed, invert) -> Dataset:
    """Apply the options of :func:`load` that change a loaded dataset."""
    if name is not None:
        formats.check_name(str(name), source="name", what="dataset name")
        ds = dataclasses.replace(ds, name=str(name))
    if invert:
        ds = ds.inverted()
    elif ds.source:
        polarity = ds.polarity()
        if polarity.inverted:
            warnings.warn(
                f"{ds.source}: the images are {polarity.description}; MNIST-like data, "
                "and mnistlab's figures, have light ink on dark. Load with invert=True "
                "to store 255 - value.",
                stacklevel=3,
            )
    if test_size is not None:
        ds = ds.hold_out(test_size, seed=seed)
    return ds


#: File names that say what a file holds, not which dataset: such a file is named after its folder.
_GENERIC_STEMS = re.compile(
    r"(?is)^(.*?)(?:(?:^|[-_. ]+)(?:train|training|test|testing|data|dataset|images|all|full))?$"
)


def default_name(path: str | os.PathLike) -> str:
    """The name a dataset loaded from ``path`` gets: the file's name without its suffix and a
    trailing ``train``/``test``/``data`` word (``mnist_train.csv`` -> ``mnist``), the folder's
    name when nothing is left (Kaggle's ``digits/train.csv`` -> ``digits``).

    >>> default_name("kaggle/fashion/train.csv"), default_name("emnist-letters-train.csv")
    ('fashion', 'emnist-letters')
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        stem = path.resolve().name if path.name in ("", ".", "..") else path.name
        if stem.lower() in _SPLIT_DIRS["train"] + _SPLIT_DIRS["test"] + _VALIDATION_DIRS:
            return path.resolve().parent.name or stem
        return stem
    stem = path.stem
    generic = _GENERIC_STEMS.fullmatch(stem)
    assert generic is not None  # the pattern matches every string: all but (.*?) is optional
    base = generic[1]
    return base or path.resolve().parent.name or stem


def load_path(
    path: str | os.PathLike,
    *,
    classes: list[str] | dict[int, str] | str | os.PathLike | None = None,
    progress: bool | None = None,
) -> Dataset:
    """Load a Dataset from a file or folder (see :func:`load` for the layouts understood)."""
    path = Path(path)
    if not path.is_file() and not path.is_dir():
        raise FormatError(f"{path}: neither a regular file nor a folder.")
    name = default_name(path)
    given = classes
    if isinstance(classes, (str, os.PathLike)):
        classes = formats.read_classes(classes)
    elif classes is None:
        classes = _class_file(path.parent if path.is_file() else path)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".npz":
            a = formats.read_npz(path)
            splits = {k: (a[f"x_{k}"], a[f"y_{k}"]) for k in ("train", "test", "val") if f"x_{k}" in a}
            if classes is None and "classes" in a:
                classes = _npz_class_names(a["classes"], path)
            return _from_arrays(name, splits, classes, path)
        if suffix == ".csv":
            return _from_arrays(name, {"train": formats.read_csv(path)}, classes, path)
        raise FormatError(
            f"{path}: cannot tell the format from the name; pass a .npz or .csv file, or the "
            "folder holding the IDX files or the class sub-folders of images."
        )
    idx = _match_files(path, _IDX_PATTERNS)
    if idx:
        return _from_arrays(name, _read_idx_splits(path, idx), classes, path)
    csvs = _match_files(path, _CSV_PATTERNS)
    if csvs.get("train"):
        splits = {"train": formats.read_csv(csvs["train"])}
        for split in ("test", "val"):
            if csvs.get(split) and formats.csv_has_labels(csvs[split]):
                splits[split] = formats.read_csv(csvs[split])
            elif csvs.get(split):
                warnings.warn(
                    f"{csvs[split]} has no label column (Kaggle's competition layout): "
                    "loaded the training split only.",
                    stacklevel=2,
                )
        return _from_arrays(name, splits, classes, path)
    npzs = sorted(f for f in path.glob("*.npz") if not f.name.startswith("."))
    if len(npzs) == 1 and not any(d.is_dir() and not d.name.startswith(".") for d in path.iterdir()):
        return load_path(npzs[0], classes=classes, progress=progress)  # as save(..., "npz") writes
    if formats.is_quickdraw_folder(path):
        if given is not None:
            raise ValueError(
                f"{path}: Quick, Draw! classes are named by their files; classes= does not apply."
            )
        return load_quickdraw(path, name=name, progress=progress)
    return _load_image_folders(path, name, classes, progress)


#: A folder of this many image files is worth converting once to a format that loads fast.
MANY_IMAGE_FILES = 10_000


def _load_image_folders(path: Path, name: str, classes, progress) -> Dataset:
    subfolders = sorted(d for d in path.iterdir() if d.is_dir())
    split_dirs = {}
    for split, names in {**_SPLIT_DIRS, "val": _VALIDATION_DIRS}.items():
        present = [d for d in subfolders if d.name.lower() in names]
        if len(present) > 1:
            raise FormatError(
                f"{path}: folders {', '.join(d.name + '/' for d in present)} would all be the "
                f"{'validation' if split == 'val' else split} split; keep one of them."
            )
        split_dirs[split] = present[0] if present else None
    if split_dirs["train"] is not None:
        found: dict[str, formats.ImageFolder] = {}
        for split, folder in split_dirs.items():
            if folder is None:
                continue
            # Each split folder may carry its class names (convert writes them into each).
            own = classes if classes is not None else _class_file(folder)
            if own is None and found:
                own = list(found["train"].classes)
            found[split] = formats.read_image_folder(folder, own, progress=progress)
            if found[split].classes != found["train"].classes:
                raise FormatError(
                    f"{folder}: classes {list(found[split].classes)} differ from those of "
                    f"{split_dirs['train']} {list(found['train'].classes)}."
                )
    elif formats.class_folders(path):
        found = {"train": formats.read_image_folder(path, classes, progress=progress)}
    else:
        raise FormatError(
            f"{path}: found no dataset here: no IDX files (train-images-idx3-ubyte...), no "
            "*train*.csv, and no class sub-folders of images."
        )
    n = sum(len(f.files) for f in found.values())
    if n >= MANY_IMAGE_FILES:
        warnings.warn(
            f"{path}: read {n:,} image files; every command reads them again. Convert the folder "
            f"once to a format that loads in a second: mnistlab convert {path} --to npz -o FOLDER, "
            f"then use FOLDER/{safe_filename(name)}.npz.",
            stacklevel=3,
        )
    splits = {k: (f.images, f.labels) for k, f in found.items()}
    files = {k: f.files for k, f in found.items()}
    return _from_arrays(name, splits, list(found["train"].classes), path, files=files)


def _class_file(folder: Path) -> list[str] | dict[int, str] | None:
    """Class names from ``classes.txt`` or a single ``*mapping.txt`` in ``folder``, if any."""
    found = sorted(f for f in folder.glob("*mapping.txt") if f.is_file())
    if (folder / CLASSES_FILE).is_file():
        found.insert(0, folder / CLASSES_FILE)
    if len(found) > 1:
        raise FormatError(
            f"{folder}: several class-name files ({', '.join(f.name for f in found)}); pass the "
            "right one as classes (--classes FILE)."
        )
    return formats.read_classes(found[0]) if found else None


def _read_idx_splits(folder: Path, idx: dict[str, Path]):
    """Read the IDX splits present; images and labels must come in pairs of equal counts.

    The counts are compared from the headers alone, before any payload is read.
    """
    splits = {}
    for split in ("train", "test", "val"):
        images, labels = idx.get(f"{split}_images"), idx.get(f"{split}_labels")
        if images is None and labels is None:
            continue
        if images is None or labels is None:
            have, lack = (images, "labels") if labels is None else (labels, "images")
            assert have is not None  # not both absent: skipped above
            raise FormatError(f"{folder}: found {have.name} but no {split} {lack} file beside it.")
        n_images, n_labels = formats.read_idx_shape(images)[0], formats.read_idx_shape(labels)[0]
        if n_images != n_labels:
            raise FormatError(
                f"{folder}: {images.name} declares {n_images:,} images but {labels.name} "
                f"{n_labels:,} labels; they must match."
            )
        splits[split] = (formats.read_idx(images), formats.read_idx(labels))
    if "train" not in splits:
        raise FormatError(f"{folder}: IDX test files but no train-images/train-labels files.")
    return splits


def _npz_class_names(values: np.ndarray, path: Path) -> list[str]:
    if values.ndim != 1 or values.dtype.kind not in "US":
        raise FormatError(f"{path}: NPZ member 'classes' must be a 1-D array of strings.")
    if values.dtype.kind == "S":
        try:
            return [v.decode("utf-8") for v in values]
        except UnicodeDecodeError as exc:
            raise FormatError(f"{path}: NPZ member 'classes' is not UTF-8 text ({exc}).") from exc
    return [str(v) for v in values]


def _match_files(folder: Path, patterns: dict[str, str]) -> dict[str, Path]:
    # Hidden files (.DS_Store, AppleDouble ._*, interrupted writes) are never data.
    files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
    found = {f: _split_of(f.name, patterns) for f in files}
    out = {}
    for key in patterns:
        hits = [f for f, k in found.items() if k == key]
        if len(hits) > 1:
            raise FormatError(
                f"{folder}: several files could be the {key.replace('_', ' ')}: "
                f"{', '.join(h.name for h in hits)}."
            )
        if hits:
            out[key] = hits[0]
    return out


def _split_of(name: str, patterns: dict[str, str]) -> str | None:
    """The key whose pattern matches ``name``; a file naming two splits (``my_test_train.csv``,
    as ``save`` names a dataset called "my test") belongs to the one named last."""
    # Every place a pattern matches (a lookahead finds overlapping ones), the last one counts.
    last = {key: [m.start() for m in re.finditer(f"(?={p})", name, re.I)] for key, p in patterns.items()}
    matches = [(starts[-1], key) for key, starts in last.items() if starts]
    return max(matches)[1] if matches else None


def _from_arrays(name, splits: dict, classes, path, files=None) -> Dataset:
    """A Dataset from ``{"train"|"test"|"val": (images, labels)}`` read from ``path``."""
    source = str(path)
    shape = None
    pairs = {}
    for split, (images, labels) in splits.items():
        images = np.asarray(images)
        if images.ndim == 2:  # flattened square images (e.g. an NPZ of vectors)
            shape = shape or formats.square_shape(images.shape[1], source=source)
            images = images.reshape(-1, *shape)
        pairs["validation" if split == "val" else split] = (images, labels)
    if files is not None:
        files = {("validation" if k == "val" else k): v for k, v in files.items()}
    try:
        return Dataset.from_arrays(
            name,
            pairs["train"],
            pairs.get("test"),
            classes=classes,
            source=source,
            validation=pairs.get("validation"),
            files=files,
        )
    except FormatError as exc:
        message = str(exc)
        if not message.startswith(source):
            message = f"{source}: {message}"
        if classes is not None and "no class name" in message:
            message += f" (class names from {CLASSES_FILE}, a mapping file or the file's class list)"
        raise FormatError(message) from exc


#: Output formats of :func:`save`, with a one-line description each.
SAVE_FORMATS = {
    "idx": "gzipped IDX files (train-images-idx3-ubyte.gz, ...), the official layout",
    "csv": "<name>_train.csv / <name>_test.csv, label first, no header (mnist_train.csv layout)",
    "csv-kaggle": "train.csv / test.csv with a label,pixel0,... header",
    "npz": "a Keras-style <name>.npz with x_train, y_train, x_test, y_test",
    "png": "one PNG per image in train/<class>/ and test/<class>/ folders",
    "zarr": "a Zarr store (the folder itself, e.g. big.zarr): chunked, compressed, read lazily",
}


def save(dataset: Dataset, folder: str | os.PathLike, to: str = "idx") -> list[Path]:
    """Write ``dataset`` to ``folder`` in format ``to`` (see ``SAVE_FORMATS``); return the paths.

    All or nothing: every file is first written to a staging folder and moved into place only
    when all were written, so an error leaves ``folder`` as it was. A new ``folder`` appears
    in one rename, complete, even if the process is killed; into an existing folder the files
    are moved one by one (a kill -9 between two of those renames leaves the new files that were
    moved beside the old others). Existing files of the same names are replaced; anything else
    in the way (a folder where a file goes, a device, a non-empty class-folder tree) is refused
    before anything is written. The dataset's name is used in file names only as
    :func:`~mnistlab._utils.files.safe_filename` makes it (never as a path). The result loads
    back with :func:`load` (``folder`` for IDX, CSV and PNG, the ``.npz`` file for NPZ).

    Parameters
    ----------
    dataset : Dataset
        What to write: every split, the class names beside the data.
    folder : str or PathLike
        The folder to write into (created if missing).
    to : {"idx", "csv", "csv-kaggle", "npz", "png", "zarr"}, default "idx"
        The file format; for ``zarr`` the store is ``folder`` itself, which must be new.

    Returns
    -------
    list of Path
        The files written (split folders for ``png``).

    Raises
    ------
    ValueError
        If the format is unknown or a class name cannot be written in it.
    FileExistsError
        If something other than our files is in the way.
    """
    if to not in SAVE_FORMATS:
        raise ValueError(f"unknown format {to!r}; choose one of {', '.join(SAVE_FORMATS)}.")
    from mnistlab.data.lazy import LazyDataset

    if isinstance(dataset, LazyDataset) or to == "zarr":
        return _save_zarr_or_read(dataset, folder, to)
    if not isinstance(dataset, Dataset):
        raise TypeError(
            f"save writes a Dataset, not {type(dataset).__name__}; for arrays or a Split, "
            "make one with Dataset.from_arrays(name, (images, labels), ...)."
        )
    if not str(folder):
        raise ValueError("folder is empty; name the folder to write into ('.' for this one).")
    folder = Path(folder)
    plan = _save_plan(dataset, to)
    if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
        raise FileExistsError(f"{folder}: exists and is not a folder.")
    for name, _ in plan:
        target = folder / name
        if to == "png":
            if target.exists() and (not target.is_dir() or any(target.iterdir())):
                raise FileExistsError(f"{target}: already exists; write PNG folders into a new folder.")
        elif target.exists() and not target.is_file():
            raise FileExistsError(f"{target}: exists and is not a regular file; not replacing it.")
    with staged(folder) as staging:
        for name, write in plan:
            write(staging / name)
    return [folder / name for name, _ in plan]


def _save_zarr_or_read(dataset, folder: str | os.PathLike, to: str) -> list[Path]:
    """``save`` to a Zarr store (the folder itself, new; from a Dataset or, chunk by chunk, from
    another store), or of a store to another format (read into memory first)."""
    from mnistlab.data.lazy import LazyDataset

    if to != "zarr":
        return save(dataset.subset(), folder, to)
    if not isinstance(dataset, (Dataset, LazyDataset)):
        raise TypeError(f"save writes a Dataset, not {type(dataset).__name__}.")
    folder = formats.check_new_store(folder)
    if isinstance(dataset, LazyDataset):
        splits = {k: (v.arrays.images, v.arrays.labels) for k, v in dataset.splits.items()}
    else:
        splits = {k: (v.images, v.labels) for k, v in dataset.splits.items()}
    formats.write_zarr(folder, dataset.name, dataset.classes, dataset.image_shape, splits)
    return [folder]


def save_targets(dataset: Dataset, folder: str | os.PathLike, to: str = "idx") -> list[Path]:
    """The paths :func:`save` would write (files, or split folders for ``png``), writing nothing."""
    if to not in SAVE_FORMATS:
        raise ValueError(f"unknown format {to!r}; choose one of {', '.join(SAVE_FORMATS)}.")
    if to == "zarr":
        return [Path(folder)]
    from mnistlab.data.lazy import LazyDataset

    if isinstance(dataset, LazyDataset):  # the names depend on the splits, not on the images
        dataset = dataset.subset(1)
    return [Path(folder) / name for name, _ in _save_plan(dataset, to)]


def _save_plan(dataset: Dataset, to: str) -> list[tuple[str, Callable[[Path], None]]]:
    """(file or folder name, function writing it to a given path) for every output."""
    label_dtype = np.uint8 if len(dataset.classes) <= 256 else np.int32
    stem = safe_filename(dataset.name)  # a name is never a path ("../x", "/etc/x")
    h, w = dataset.image_shape
    if to in ("csv", "csv-kaggle") and h != w:
        raise FormatError(
            f"{dataset.name}: images of {h}x{w} pixels; a CSV row holds a square image (its side "
            "is read from the column count). Save these as idx, npz or png."
        )
    if to == "npz":
        arrays: dict[str, np.ndarray] = {}
        for split_name, split in dataset.splits.items():
            key = "val" if split_name == "validation" else split_name
            arrays |= {f"x_{key}": split.images, f"y_{key}": split.labels.astype(label_dtype)}
        # A unicode array loads without pickle; Keras-style readers ignore the extra key.
        arrays["classes"] = np.array(dataset.classes, dtype=str)
        return [(f"{stem}.npz", lambda p: formats.write_npz(p, arrays))]
    plan: list[tuple[str, Callable[[Path], None]]] = []
    for split_name, split in dataset.splits.items():
        if to == "idx":
            prefix = {"train": "train", "test": "t10k", "validation": "val"}[split_name]
            plan.append(
                (f"{prefix}-images-idx3-ubyte.gz", partial(formats.write_idx, array=split.images))
            )
            plan.append(
                (
                    f"{prefix}-labels-idx1-ubyte.gz",
                    partial(formats.write_idx, array=split.labels.astype(label_dtype)),
                )
            )
        elif to in ("csv", "csv-kaggle"):
            file_stem = f"{stem}_{split_name}" if to == "csv" else split_name
            layout = "plain" if to == "csv" else "kaggle"
            plan.append(
                (
                    f"{file_stem}.csv",
                    partial(formats.write_csv, images=split.images, labels=split.labels, layout=layout),
                )
            )
        else:
            plan.append(
                (
                    split_name,
                    partial(
                        formats.write_image_folder,
                        images=split.images,
                        labels=split.labels,
                        classes=dataset.classes,
                    ),
                )
            )
    if to != "png":  # PNG folders carry their own classes.txt per split
        plan.append((CLASSES_FILE, lambda p: formats.write_class_names(p, dataset.classes)))
    return plan
