"""Out-of-sample class probabilities: for every image of a split, from a model that never saw it.

Confident learning (Northcutt, Jiang and Chuang 2021, "Confident Learning: Estimating Uncertainty
in Dataset Labels", JAIR 70) finds label issues from each image's given label and class
probabilities predicted by a model that was not trained on that image. For the training split they
come from stratified K-fold cross-validation; for the test split, from a model trained on the
training split. :class:`Probabilities` holds them with what made them, and saves itself to one
Parquet file that :func:`load_probabilities` reads back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnistlab._utils.files import atomic_path
from mnistlab.data.dataset import Dataset, Split
from mnistlab.data.formats import check_class_names
from mnistlab.errors import FormatError
from mnistlab.models.catalogue import MODELS, build_estimator, resolve_models
from mnistlab.models.modelfile import MAX_SEED
from mnistlab.models.size_bounds import is_int

__all__ = [
    "DEFAULT",
    "Probabilities",
    "load_probabilities",
    "out_of_sample_probabilities",
    "probability_models",
]

#: The default model: the multilayer perceptron (needs the ``torch`` extra), the fastest with the
#: best probabilities. Out-of-fold probabilities of the whole MNIST training split (5 folds, 2
#: cores): mlp 39 s, accuracy 0.975, log loss 0.08; logreg 166 s (0.913, 0.39); knn 73 s (0.948,
#: 0.64: votes of 5 neighbours, mostly 0 or 1); forest 97 s (0.967, 0.26); cnn 1,720 s (0.992,
#: 0.03; with other jobs sharing the cores).
#: ``benchmarks/bench_label_probabilities.py`` measures them.
DEFAULT = "mlp"
#: The splits probabilities are made for: the training split by cross-validation, the test
#: split by a model trained on the training split.
SPLITS = ("train", "test")
#: How far from 1 a row of probabilities may sum (float error) before it is refused.
ROW_SUM_TOLERANCE = 1e-6
#: The key of the Parquet file's metadata that says what the probabilities are.
FORMAT = "mnistlab-probabilities"
FORMAT_VERSION = 1
_FIXED_COLUMNS = ("index", "label")
_SUMMATION_ERROR = 1e-12


@dataclass(frozen=True, eq=False)
class Probabilities:
    """Class probabilities of every image of a split, each from a model that did not see it.

    The arrays are validated and stored read-only: rows of ``probabilities`` that sum to 1 within
    ``1e-6`` are renormalised; NaN, negative values, other sums, mismatched lengths or labels
    without a class raise ``FormatError`` (a ``ValueError``).

    Attributes
    ----------
    dataset : str
        The dataset's name.
    split : str
        "train" (cross-validated) or "test" (a model trained on the training split).
    model : str
        The named model (:data:`mnistlab.models.MODELS`) that gave them.
    folds : int or None
        The number of cross-validation folds; None for the test split.
    seed : int
        The seed of the folds and of the models.
    classes : tuple of str
        Class names: the columns of ``probabilities``, in label order.
    indices : ndarray of int64, shape (n,)
        Each image's position in its split (:attr:`Split.indices`).
    labels : ndarray of int64, shape (n,)
        Each image's given label (an index into ``classes``).
    probabilities : ndarray of float64, shape (n, len(classes))
        Each image's class probabilities; rows sum to 1.
    """

    dataset: str
    split: str
    model: str
    folds: int | None
    seed: int
    classes: tuple[str, ...]
    indices: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        source = "probabilities"
        for name in ("dataset", "model"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or not value.isprintable():
                raise FormatError(f"{source}: {name} must be a printable name, got {value!r}.")
        if self.split not in SPLITS:
            raise FormatError(f"{source}: split must be one of {', '.join(SPLITS)}, got {self.split!r}.")
        if self.split == "train" and not (is_int(self.folds) and self.folds >= 2):
            raise FormatError(f"{source}: folds must be a whole number >= 2, got {self.folds!r}.")
        if self.split == "test" and self.folds is not None:
            raise FormatError(f"{source}: folds is None for the test split, got {self.folds!r}.")
        if not is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise FormatError(
                f"{source}: seed must be a whole number in 0..{MAX_SEED}, got {self.seed!r}."
            )
        if isinstance(self.classes, str) or not all(isinstance(c, str) for c in self.classes):
            raise FormatError(f"{source}: classes must be a sequence of names, got {self.classes!r}.")
        classes = tuple(self.classes)
        if not classes:
            raise FormatError(f"{source}: there are no classes.")
        check_class_names(classes, source=source)
        probabilities = _checked_probabilities(self.probabilities, len(classes), source)
        n = len(probabilities)
        labels = _checked_integers(self.labels, "labels", n, source)
        if labels.size and labels.max() >= len(classes):
            raise FormatError(
                f"{source}: label {labels.max()} has no class ({len(classes)} classes, labels "
                f"0..{len(classes) - 1})."
            )
        indices = _checked_integers(self.indices, "indices", n, source)
        if len(np.unique(indices)) != n:
            raise FormatError(f"{source}: indices repeat an image; each image has one row.")
        for name, value in (
            ("classes", classes),
            ("probabilities", probabilities),
            ("labels", labels),
            ("indices", indices),
        ):
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def predicted(self) -> np.ndarray:
        """The most probable class of each image (the first of equal ones)."""
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        """The share of images whose most probable class is their given label."""
        return float(np.mean(self.predicted == self.labels))

    def metadata(self) -> dict:
        """What the probabilities are, JSON-ready (as saved in the file's metadata)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "dataset": self.dataset,
            "split": self.split,
            "model": self.model,
            "folds": self.folds,
            "seed": self.seed,
            "classes": list(self.classes),
        }

    def save(self, path: str | Path) -> Path:
        """Write the probabilities to one Parquet file, atomically: all of it or nothing.

        The columns are ``index`` (the image's position in its split), ``label`` (its given
        label) and one float64 column per class in label order, named ``p:`` and the class
        (``p:7``, ``p:T-shirt/top``: never the name of another column); the file's key-value
        metadata ``mnistlab`` holds :meth:`metadata` as JSON.

        Parameters
        ----------
        path : str or Path
            The file; ``.parquet`` is appended unless the name ends with it.

        Returns
        -------
        Path
            The file written.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = _parquet_path(path)
        columns = [pa.array(self.indices), pa.array(self.labels)]
        columns += [pa.array(self.probabilities[:, k]) for k in range(len(self.classes))]
        table = pa.Table.from_arrays(columns, names=_column_names(self.classes))
        table = table.replace_schema_metadata({"mnistlab": json.dumps(self.metadata())})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        return path


def probability_models() -> tuple[str, ...]:
    """The named models that give class probabilities (not the SVMs, which only give scores).

    Returns
    -------
    tuple of str
        Names in :data:`mnistlab.models.MODELS`, in its order.
    """
    return tuple(
        name
        for name, spec in MODELS.items()
        if spec.neural or hasattr(build_estimator(name), "predict_proba")
    )


def out_of_sample_probabilities(
    dataset: Dataset,
    split: str = "train",
    model: str = DEFAULT,
    *,
    folds: int = 5,
    seed: int = 0,
    progress: bool | None = None,
) -> Probabilities:
    """Class probabilities of every image of a split, each from a model that did not see it.

    For the training split, stratified K-fold cross-validation
    (``StratifiedKFold(folds, shuffle=True, random_state=seed)``): each fold's images get their
    probabilities from a model trained on the other folds only. For the test split, a model
    trained on the whole training split gives the test images' probabilities.

    The columns are all the dataset's classes in label order: a class with no image in a model's
    training images (a class absent from the training split) gets probability 0. In a
    cross-validation every class present has at least ``folds`` images, so each training part
    holds some of it.

    Parameters
    ----------
    dataset : Dataset
        Images 0..255; ``split="test"`` needs a test split.
    split : {"train", "test"}
        The images to give probabilities to.
    model : str, default :data:`DEFAULT` ("mlp", which needs the ``torch`` extra)
        A named model of :data:`mnistlab.models.MODELS` that gives probabilities
        (:func:`probability_models`: centroid, knn, logreg, tree, forest, boosting, mlp, cnn).
    folds : int
        The number of cross-validation folds (training split); at least 2.
    seed : int
        Seeds the folds and every model (the same seed, data and machine give the same numbers).
    progress : bool or None
        Show a bar over the folds on stderr; None shows it only when stderr is a terminal.

    Returns
    -------
    Probabilities
        One row per image of the split, in the split's order.

    Raises
    ------
    ValueError
        If ``split`` is neither "train" nor "test" or the dataset has no test split for "test",
        ``model`` is unknown or gives no probabilities, ``folds`` is not a whole number >= 2,
        ``seed`` is not a whole number in 0..2**32 - 1, the training images cover a single
        class, or (training split) a class has fewer images than ``folds``.
    MissingExtraError
        If the model is neural and torch is not installed (before any training).

    Examples
    --------
    >>> import mnistlab
    >>> from mnistlab.quality.probabilities import out_of_sample_probabilities
    >>> digits = mnistlab.load("digits")
    >>> found = out_of_sample_probabilities(digits, model="knn", progress=False)
    >>> found.probabilities.shape, round(found.accuracy, 3)
    ((1347, 10), 0.976)
    """
    from mnistlab.models.trained import fit_model
    from mnistlab.progress import steps

    chosen = _split_to_predict(dataset, split)
    name = _probability_model(model)
    _check_folds_and_seed(folds, seed)
    _check_classes(dataset, split, folds)
    if MODELS[name].neural:
        from mnistlab.models import neural  # noqa: F401  (a missing torch fails before any training)
    rows = np.zeros((len(chosen), len(dataset.classes)))
    if split == "test":
        parts = [(None, slice(None))]
    else:
        from sklearn.model_selection import StratifiedKFold

        cross = StratifiedKFold(folds, shuffle=True, random_state=seed)
        parts = list(cross.split(np.zeros((len(chosen), 1)), chosen.labels))
    with steps(f"{dataset.name}: {name} probabilities of {split}", len(parts), progress) as advance:
        for kept, held in parts:
            # One fold's images at a time: a dataset of the kept ones, the held-out ones as test.
            part = dataset if kept is None else _fold(dataset, chosen, kept, held)
            # No bars of the model's own (a neural net's epochs) inside this one.
            trained = fit_model(part, name, seed=seed, progress=False)
            assert part.test is not None  # _fold and _split_to_predict made sure of it
            rows[held] = trained.predict_proba(part.test.images)
            advance()
    assert chosen.indices is not None  # a Split sets them (0..n-1 when not given)
    return Probabilities(
        dataset=dataset.name,
        split=split,
        model=name,
        folds=folds if split == "train" else None,
        seed=seed,
        classes=tuple(dataset.classes),
        indices=chosen.indices,
        labels=chosen.labels,
        probabilities=rows,
    )


def load_probabilities(path: str | Path) -> Probabilities:
    """Read probabilities written by :meth:`Probabilities.save`, validated.

    Nothing in the file is executed or unpickled: it must be a Parquet file with the columns
    ``index``, ``label`` and ``p:CLASS`` for each class its ``mnistlab`` metadata names.

    Parameters
    ----------
    path : str or Path
        The file; ``.parquet`` is appended when ``path`` itself is not a file.

    Returns
    -------
    Probabilities

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    FormatError
        If the file is not such a Parquet file, or its contents are inconsistent: columns or
        metadata missing or of the wrong type, NaN or negative probabilities, rows not summing
        to 1, labels without a class.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> found = Probabilities("toy", "train", "logreg", 2, 0, ("a", "b"), np.arange(2),
    ...                       np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     again = load_probabilities(found.save(pathlib.Path(folder) / "toy"))
    >>> again.classes, again.probabilities[1].tolist()
    (('a', 'b'), [0.2, 0.8])
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        path = _parquet_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file of probabilities.")
    try:
        table = pq.ParquetFile(path).read()
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(f"{path}: not a Parquet file of probabilities ({exc}).") from None
    meta = _read_metadata(table.schema.metadata, path)
    classes = meta["classes"]
    expected = _column_names(classes)
    if table.column_names != expected:
        raise FormatError(f"{path}: expected the columns {expected}, found {table.column_names}.")
    arrays = []
    for position, name in enumerate(expected):
        column = table.column(position)
        if column.null_count:
            raise FormatError(f"{path}: column {name!r} has missing values.")
        values = column.to_numpy()
        if values.dtype.kind not in ("iu" if name in _FIXED_COLUMNS else "f"):
            raise FormatError(f"{path}: column {name!r} has the type {column.type}.")
        arrays.append(values)
    try:
        return Probabilities(
            dataset=meta["dataset"],
            split=meta["split"],
            model=meta["model"],
            folds=meta["folds"],
            seed=meta["seed"],
            classes=tuple(classes),
            indices=arrays[0],
            labels=arrays[1],
            probabilities=np.column_stack(arrays[2:]) if classes else np.empty((len(table), 0)),
        )
    except FormatError as exc:
        raise FormatError(f"{path}: {str(exc).removeprefix('probabilities: ')}") from None


def _column_names(classes) -> list[str]:
    return [*_FIXED_COLUMNS, *(f"p:{c}" for c in classes)]


def _parquet_path(path: str | Path) -> Path:
    path = Path(path)
    return path if path.suffix == ".parquet" else path.with_name(path.name + ".parquet")


def _read_metadata(metadata: dict | None, path: Path) -> dict:
    """The file's ``mnistlab`` metadata, with every key there and of its type."""
    raw = (metadata or {}).get(b"mnistlab")
    if raw is None:
        raise FormatError(f"{path}: no 'mnistlab' metadata; not a file of mnistlab probabilities.")
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FormatError(f"{path}: its 'mnistlab' metadata is not JSON.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FormatError(f"{path}: its metadata does not say format {FORMAT!r}.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise FormatError(
            f"{path}: format version {meta.get('format_version')!r}; this mnistlab reads "
            f"version {FORMAT_VERSION}."
        )
    types: dict[str, type | tuple[type, ...]] = {
        "dataset": str,
        "split": str,
        "model": str,
        "folds": (int, type(None)),
        "seed": int,
        "classes": list,
    }
    for key, kind in types.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise FormatError(f"{path}: metadata {key!r} is missing or of the wrong type.")
    if not all(isinstance(c, str) for c in meta["classes"]):
        raise FormatError(f"{path}: metadata 'classes' must be names.")
    return meta


def _checked_probabilities(values, n_classes: int, source: str) -> np.ndarray:
    """``values`` as float64 (n, n_classes) with rows renormalised to sum to exactly 1."""
    values = np.asarray(values)
    if values.dtype.kind not in "iuf":
        raise FormatError(f"{source}: probabilities must be numbers, got dtype {values.dtype}.")
    if values.ndim != 2 or values.shape[1] != n_classes:
        raise FormatError(
            f"{source}: probabilities must have shape (n, {n_classes}) for {n_classes} classes, "
            f"got {values.shape}."
        )
    if len(values) == 0:
        raise FormatError(f"{source}: there are no images.")
    rows = values.astype(np.float64)
    if not np.isfinite(rows).all():
        raise FormatError(f"{source}: probabilities contain NaN or infinity.")
    if (rows < 0).any():
        raise FormatError(f"{source}: probabilities contain negative values ({rows.min()}).")
    totals = rows.sum(axis=1)
    off = np.flatnonzero(np.abs(totals - 1) > ROW_SUM_TOLERANCE)
    if off.size:
        raise FormatError(
            f"{source}: {off.size} of {len(rows)} rows of probabilities do not sum to 1 (row "
            f"{off[0]} sums to {totals[off[0]]:.9g})."
        )
    # Only rows off by more than float error: dividing again by a sum of 1 - 1e-16 would change
    # the values of a saved file on every reload.
    rounded = np.abs(totals - 1) > _SUMMATION_ERROR
    rows[rounded] /= totals[rounded, None]
    return rows


def _checked_integers(values, name: str, n: int, source: str) -> np.ndarray:
    """``values`` as int64 (n,) of whole numbers >= 0."""
    values = np.asarray(values)
    if values.dtype.kind not in "iu" or values.ndim != 1:
        raise FormatError(
            f"{source}: {name} must be whole numbers of shape ({n},), got {values.dtype} of shape "
            f"{values.shape}."
        )
    if len(values) != n:
        raise FormatError(f"{source}: {len(values)} {name} for {n} rows of probabilities.")
    if values.size and values.min() < 0:
        raise FormatError(f"{source}: {name} must be >= 0, found {values.min()}.")
    return values.astype(np.int64)


def _split_to_predict(dataset: Dataset, split: str) -> Split:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}.")
    if split == "test" and dataset.test is None:
        raise ValueError(
            f"{dataset.name} has no test split (it has {', '.join(dataset.splits)}); use "
            "split='train' for cross-validated probabilities."
        )
    return dataset.split(split)


def _probability_model(model: str) -> str:
    """``model`` if it is one named model that gives probabilities; else a ValueError."""
    if model not in MODELS:
        resolve_models([model])  # an unknown name raises, naming the choices
        raise ValueError(f"{model!r} is a set of models; give one model.")
    able = probability_models()
    if model not in able:
        raise ValueError(f"{model} gives scores, not probabilities; choose one of: {', '.join(able)}.")
    return model


def _check_folds_and_seed(folds: int, seed: int) -> None:
    if not is_int(folds) or folds < 2:
        raise ValueError(f"folds must be a whole number >= 2, got {folds!r}.")
    if not is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be a whole number in 0..{MAX_SEED}, got {seed!r}.")


def _check_classes(dataset: Dataset, split: str, folds: int) -> None:
    """Refuse training images of a single class and, for cross-validation, a class with fewer
    images than folds (a fold would have none of it, and a training part perhaps none)."""
    present, counts = np.unique(dataset.train.labels, return_counts=True)
    if len(present) < 2:
        named = ", ".join(repr(dataset.classes[c]) for c in present)
        raise ValueError(
            f"{dataset.name}: the training images are all of one class ({named}); a model needs "
            "2 or more."
        )
    few = [(dataset.classes[c], int(k)) for c, k in zip(present, counts, strict=True) if k < folds]
    if split == "train" and few:
        listed = ", ".join(f"{c!r} has {k}" for c, k in few)
        raise ValueError(
            f"{dataset.name}: {folds}-fold cross-validation needs at least {folds} images of each "
            f"class in the training split; {listed}. Use fewer folds or drop the class."
        )


def _fold(dataset: Dataset, split: Split, kept: np.ndarray, held: np.ndarray) -> Dataset:
    """A dataset whose training split is ``split[kept]`` and whose test split is ``split[held]``."""
    return Dataset(dataset.name, split[kept], split[held], dataset.classes, dataset.source)
