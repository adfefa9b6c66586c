"""One-row-per-pixel ("tidy") tables of a split, and back.

The long layout of Robinson's tidy MNIST analysis: columns ``index`` (position of the image in the
split), ``label``, ``x`` (column, 0 = left), ``y`` (row, 0 = top) and ``value`` (0..255), each
with the smallest integer type that holds it: 6 bytes per row for MNIST (uint16 + 4 x uint8).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mnistlab._utils.files import atomic_path
from mnistlab.data.dataset import Split
from mnistlab.data.formats import MAX_LABEL, check_class_names, default_classes
from mnistlab.errors import FormatError

__all__ = [
    "TIDY_COLUMNS",
    "from_tidy",
    "save_tidy",
    "tidy",
]


TIDY_COLUMNS = ("index", "label", "x", "y", "value")


def _smallest_uint(top: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def tidy(split: Split, first: int | None = None) -> pd.DataFrame:
    """One row per pixel per image: ``index, label, x, y, value``, in image then row-major order.

    Parameters
    ----------
    split : Split
    first : int, optional
        Only the first ``first`` images.

    Returns
    -------
    DataFrame
        ``n * h * w`` rows; ``index`` is the image's position in the original split (so a
        subset keeps its images' names), the other columns use the smallest unsigned type.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistlab import Split
    >>> s = Split(np.array([[[0, 9], [255, 1]]], np.uint8), [1], ("a", "b"))
    >>> tidy(s)
       index  label  x  y  value
    0      0      1  0  0      0
    1      0      1  1  0      9
    2      0      1  0  1    255
    3      0      1  1  1      1
    """
    if first is not None:
        split = split.subset(first=first)
    n, h, w = split.images.shape
    per_image = h * w
    index = split.indices
    assert index is not None  # every Split has indices (0..n-1 unless given)
    columns = {
        "index": np.repeat(index.astype(_smallest_uint(int(index.max(initial=0)))), per_image),
        "label": np.repeat(
            split.labels.astype(_smallest_uint(max(len(split.classes) - 1, 0))), per_image
        ),
        "x": np.tile(np.arange(w, dtype=_smallest_uint(w - 1)), n * h),
        "y": np.tile(np.repeat(np.arange(h, dtype=_smallest_uint(h - 1)), w), n),
        "value": split.images.reshape(-1),
    }
    return pd.DataFrame(columns, copy=False)


def from_tidy(
    table: pd.DataFrame, classes: tuple[str, ...] | list[str] | None = None, name: str = "train"
) -> Split:
    """Rebuild a Split from a tidy table (any row order); the inverse of :func:`tidy`.

    Every image must have exactly one row per pixel of the same (h, w) grid, and one label.

    Parameters
    ----------
    table : DataFrame
        Columns ``index, label, x, y, value`` (as :func:`tidy` writes them).
    classes : sequence of str, optional
        The class names (default: the labels as text).
    name : str, default "train"
        The split's name.

    Returns
    -------
    Split
        The images, in ``index`` order, with the values' dtype (uint8 for a table :func:`tidy`
        made).

    Raises
    ------
    FormatError
        If columns are missing, values are NaN, or rows do not make whole images.
    """
    missing = [c for c in TIDY_COLUMNS if c not in table.columns]
    if missing:
        raise FormatError(f"tidy table lacks columns {missing}; expected {list(TIDY_COLUMNS)}.")
    if len(table) == 0:
        raise FormatError("tidy table is empty.")
    values = table["value"].to_numpy()
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise FormatError("tidy table has missing (NaN) pixel values.")
    x, y, ids, label_column = (_whole_numbers(table[c], c) for c in ("x", "y", "index", "label"))
    h, w = int(y.max()) + 1, int(x.max()) + 1
    image_ids, position = np.unique(ids, return_inverse=True)
    n = len(image_ids)
    if len(table) != n * h * w:
        raise FormatError(
            f"tidy table has {len(table):,} rows; {n} images of {h}x{w} pixels need {n * h * w:,}."
        )
    cell = (position * h + y) * w + x
    if np.bincount(cell, minlength=n * h * w).max() != 1:
        raise FormatError("tidy table has duplicate rows for the same image and pixel.")
    flat = np.empty(n * h * w, dtype=values.dtype)
    flat[cell] = values
    labels = np.zeros(n, dtype=np.int64)
    labels[position] = label_column
    if (labels[position] != label_column).any():
        raise FormatError("tidy table gives some image more than one label.")
    if classes is not None:
        check_class_names(classes, source="tidy table")
    if classes is None:
        classes = default_classes([labels], source="tidy table")
    return Split(flat.reshape(n, h, w), labels, tuple(classes), name, indices=image_ids)


def _whole_numbers(column: pd.Series, name: str) -> np.ndarray:
    """A column of non-negative whole numbers as int64, or a FormatError naming the column."""
    try:
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise FormatError(f"tidy table column {name!r} must be numeric.") from None
    if not np.isfinite(values).all() or (values != np.round(values)).any() or (values < 0).any():
        raise FormatError(f"tidy table column {name!r} must hold whole numbers >= 0.")
    if values.size and values.max() > MAX_LABEL:
        raise FormatError(f"tidy table column {name!r} has values above {MAX_LABEL}.")
    return values.astype(np.int64)


def save_tidy(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a tidy table as Parquet (``.parquet``, zstd) or CSV (``.csv``), atomically.

    Parameters
    ----------
    table : DataFrame
        A tidy table (:func:`tidy`).
    path : str or Path
        The file to write; its suffix chooses the format.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the suffix is neither ``.parquet`` nor ``.csv``.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ValueError(f"write tidy tables to a .parquet or .csv file, not {path.name!r}.")
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            pq.write_table(arrow, tmp, compression="zstd")
        else:
            pacsv.write_csv(arrow, tmp, write_options=pacsv.WriteOptions(quoting_header="none"))
    return path
