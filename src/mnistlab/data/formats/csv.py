"""CSV files of images: ``mnist_train.csv`` (label first, no header) and Kaggle's layout (a header
naming the label column), read with pyarrow."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np

from mnistlab._utils.files import atomic_write_bytes
from mnistlab.data.formats.arrays import as_labels, as_uint8_images, square_shape, unit_scaled
from mnistlab.errors import FormatError

#: 256 x 256 pixels plus the label; wider rows make pyarrow use memory far beyond the file size.
MAX_CSV_COLUMNS = 256 * 256 + 1
_MAX_LINE = 8 << 20


def _first_line(path: Path) -> str:
    """The first non-blank line, read with a length limit (a file may have no newline at all)."""
    with open(path, "rb") as f:
        for _ in range(1000):
            raw = f.readline(_MAX_LINE)
            if not raw:
                return ""
            if len(raw) == _MAX_LINE and not raw.endswith(b"\n"):
                raise FormatError(
                    f"{path}: the first line is longer than {_MAX_LINE >> 20} MB: not a CSV of "
                    f"images of at most {MAX_CSV_COLUMNS - 1:,} pixels."
                )
            line = raw.decode("utf-8", errors="replace").strip().lstrip("\ufeff")
            if line:
                return line
    return ""


#: Header names of a label column, and of columns that are neither label nor pixel (ids).
_LABEL_COLUMNS = ("label", "labels", "class", "target", "y")
_ID_COLUMNS = ("id", "index", "imageid", "image_id", "unnamed: 0", "")
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?")


def _csv_header(path: Path) -> tuple[str, list[str]]:
    """The delimiter and the fields of the first line."""
    first = _first_line(path)
    if not first:
        raise FormatError(f"{path}: empty CSV file.")
    delimiter = max(",;\t", key=first.count)
    return delimiter, [x.strip().strip('"') for x in first.split(delimiter)]


def _csv_roles(fields: list[str], source: str) -> tuple[bool, int, list[int]]:
    """(has a header, the label column, the pixel columns) from the first line's fields.

    Without a header the label comes first (``mnist_train.csv``). A header names the label
    column (``label``, ``class``, ``target``...; first or last, as people write them); ``id``
    or index columns are left out; every other column must be a pixel.
    """
    if _NUMBER.fullmatch(fields[0]):
        trailing = fields[-1] == "" and len(fields) > 2  # "5,0,0,...,0," : a trailing delimiter
        return False, 0, list(range(1, len(fields) - trailing))
    lowered = [f.lower() for f in fields]
    labels = [i for i, f in enumerate(lowered) if f in _LABEL_COLUMNS]
    if len(labels) != 1:
        found = "several label columns" if labels else "no label column"
        raise FormatError(
            f"{source}: the header has {found} (named one of {', '.join(_LABEL_COLUMNS)}); a CSV "
            "of images needs exactly one. A CSV without labels, such as Kaggle's test.csv, cannot "
            "form a dataset."
        )
    ids = {i for i, f in enumerate(lowered) if f in _ID_COLUMNS}
    pixels = [i for i in range(len(fields)) if i != labels[0] and i not in ids]
    return True, labels[0], pixels


def csv_has_labels(path: str | os.PathLike) -> bool:
    """Whether a CSV has a label column (no header: label first; a header naming one)."""
    try:
        _csv_roles(_csv_header(Path(path))[1], str(path))
    except FormatError:
        return False
    return True


def read_csv(
    path: str | os.PathLike, *, image_shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read images and labels from a CSV file (pyarrow).

    The layout comes from the first line: no header (``mnist_train.csv``: each row is
    ``label,p0,...,p783``), or a header naming the label column, first or last
    (Kaggle: ``label,pixel0,...``), with ``id`` columns left out. Pixels are whole numbers
    0..255, or fractions 0..1 (scaled by 255, with a warning). Returns ``(images, labels)`` as
    uint8 (n, h, w) and int64 (n,).
    """
    path = Path(path)
    source = str(path)
    delimiter, fields = _csv_header(path)
    if len(fields) > MAX_CSV_COLUMNS + 1:
        raise FormatError(
            f"{source}: {len(fields):,} columns; CSV images may have at most "
            f"{MAX_CSV_COLUMNS - 1:,} pixels (256x256). Use NPZ or image folders for larger ones."
        )
    has_header, label, pixel_columns = _csv_roles(fields, source)
    if not pixel_columns:
        raise FormatError(f"{source}: a row needs a label and at least one pixel column.")
    layout = (delimiter, len(fields), has_header, label, pixel_columns)
    try:
        table = _read_csv_table(path, *layout, "uint8")
    except _Fractions:
        # 0..1 fractions (x / 255), as Keras users save them: read as floats, scaled if so.
        table = _read_csv_table(path, *layout, "float32")
    labels = as_labels(table.column(0).to_numpy(), source=source)
    # Column by column into one row-major array: far faster than stacking chunked columns.
    dtype = table.schema.field(1).type.to_pandas_dtype()
    pixels = np.empty((table.num_rows, len(pixel_columns)), dtype=dtype)
    for j, column in enumerate(table.columns[1:]):
        pixels[:, j] = column.to_numpy()
    pixels = as_uint8_images(unit_scaled(pixels, "pixels", source), source=source)
    shape = image_shape or square_shape(pixels.shape[1], source=source)
    if shape[0] * shape[1] != pixels.shape[1]:
        raise FormatError(f"{source}: image_shape {shape} does not fit {pixels.shape[1]} pixels.")
    return pixels.reshape(-1, *shape), labels


def _read_csv_table(path, delimiter, n_columns, has_header, label, pixel_columns, pixel_type):
    """The label column, then the pixel columns, typed so the parser itself refuses anything
    else (fractions, text, values out of range)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    source = str(path)
    names = [f"c{i}" for i in range(n_columns)]
    wanted = [names[label]] + [names[i] for i in pixel_columns]
    # Labels are read as floats with float pixels: "5.0" is a whole number (checked later).
    label_type = pa.int32() if pixel_type == "uint8" else pa.float64()
    types = {names[label]: label_type} | dict.fromkeys(wanted[1:], getattr(pa, pixel_type)())
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1 if has_header else 0, block_size=1 << 23
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=False, include_columns=wanted
            ),
        )
    except pa.ArrowInvalid as exc:
        if "conversion error" in str(exc):
            value = re.search(r"invalid value '([^']*)'", str(exc))
            fractions = pixel_type == "uint8" and value and _is_fraction(value[1])
            raise (_Fractions if fractions else FormatError)(
                f"{source}: every value must be a whole number, pixels in 0..255 ({exc})."
            ) from exc
        raise FormatError(
            f"{source}: not a rectangular CSV ({n_columns} columns expected): {exc}"
        ) from exc
    if any(col.null_count for col in table.columns):
        bad = next(n for n, col in zip(wanted, table.columns, strict=True) if col.null_count)
        what = "the label" if bad == wanted[0] else f"pixel column {wanted.index(bad) - 1}"
        raise FormatError(f"{source}: {what} has empty or missing values.")
    return table


class _Fractions(FormatError):
    """A value written as a float ("0.5", "5.0") where a whole number was expected: the file is
    read again with float columns."""


def _is_fraction(text: str) -> bool:
    """'0.5', '.25', '1e-3': a number written as a float, not as a whole number."""
    text = text.strip()
    try:
        float(text)
    except ValueError:
        return False
    return re.fullmatch(r"[+-]?\d+", text) is None and text.lower() not in ("nan", "inf", "-inf")


def write_csv(
    path: str | os.PathLike, images: np.ndarray, labels: np.ndarray, *, layout: str = "plain"
) -> None:
    """Write images and labels as CSV: ``layout="plain"`` (no header) or ``"kaggle"`` (header)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if layout not in ("plain", "kaggle"):
        raise ValueError(f"layout must be 'plain' or 'kaggle', got {layout!r}.")
    images = np.asarray(images)
    if images.ndim == 3 and images.shape[1] != images.shape[2]:
        raise FormatError(
            f"{path}: images of {images.shape[1]}x{images.shape[2]} pixels; a CSV row holds a square "
            "image (its side is read from the column count). Save these as idx, npz or png."
        )
    flat = images.reshape(len(images), -1)
    names = ["label"] + [f"pixel{i}" for i in range(flat.shape[1])]
    columns = [pa.array(np.asarray(labels))] + [pa.array(flat[:, i]) for i in range(flat.shape[1])]
    table = pa.Table.from_arrays(columns, names=names)
    sink = io.BytesIO()
    pacsv.write_csv(
        table,
        sink,
        write_options=pacsv.WriteOptions(
            include_header=layout == "kaggle", quoting_header="none", quoting_style="none"
        ),
    )
    atomic_write_bytes(Path(path), sink.getvalue())
