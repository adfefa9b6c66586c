"""Readers and writers for the file formats MNIST-like data comes in.

IDX (gzipped or not), CSV (``mnist_train.csv`` layout without header, and the Kaggle layout with a
``label,pixel0,...`` header), Keras-style NPZ, a folder of PNG files with one sub-folder per class,
and the classic ``mnist.pkl.gz`` pickle (only after its sha256 was verified, and even then through
an unpickler that can build nothing but numpy arrays).

Readers check structure *before* allocating: an IDX header claiming a billion images in a 1 KB file
is rejected from the header and the file size alone.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import math
import mmap
import os
import pickle
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mnistlab.errors import FormatError, IntegrityError

GZIP_MAGIC = b"\x1f\x8b"

#: IDX type codes (third byte of the magic number) and the big-endian dtype each one means.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("=") if dt.itemsize > 1 else dt: code for code, dt in IDX_DTYPES.items()}

# Deflate cannot compress better than about 1032:1, so a gzip file of n bytes cannot hold more
# than this many times n bytes of content: a header claiming more is lying.
_MAX_DEFLATE_RATIO = 1100
_CHUNK = 1 << 22


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    """Return the hex sha256 of an in-memory buffer."""
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------------------------


def _idx_header(head: bytes, source: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """Parse the magic number and dimensions; return dtype, shape and header length."""
    if len(head) < 4:
        raise FormatError(f"{source}: {len(head)} bytes is too short for an IDX magic number.")
    zero, code, ndim = head[:2], head[2], head[3]
    if zero != b"\x00\x00":
        raise FormatError(
            f"{source}: not an IDX file (magic number {head[:4].hex()}; expected 0000 followed by "
            "a type code and the number of dimensions, e.g. 00000803 for MNIST images)."
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise FormatError(f"{source}: unknown IDX type code 0x{code:02X} (known: {known}).")
    if ndim == 0:
        raise FormatError(f"{source}: IDX header declares 0 dimensions.")
    header_len = 4 + 4 * ndim
    if len(head) < header_len:
        raise FormatError(
            f"{source}: truncated IDX header: {ndim} dimensions need {header_len} bytes, "
            f"the file has {len(head)}."
        )
    shape = tuple(int(d) for d in struct.unpack(f">{ndim}I", head[4:header_len]))
    if ndim > 32:  # numpy's own limit is 32 (numpy 1) or 64 (numpy 2) dimensions
        raise FormatError(f"{source}: IDX header declares {ndim} dimensions; at most 32 are read.")
    return IDX_DTYPES[code], shape, header_len


def _payload_size(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=object)) * dtype.itemsize


def parse_idx(content: bytes | bytearray | memoryview, *, source: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into an array of native byte order.

    The header's dimensions must account for the byte length exactly; the returned array is a
    view on ``content`` when the type is one byte wide.
    """
    view = memoryview(content)
    dtype, shape, header_len = _idx_header(bytes(view[: 4 + 4 * 255]), source)
    expected = header_len + _payload_size(dtype, shape)
    if expected != len(view):
        raise _length_error(source, shape, expected, len(view), "data")
    array = np.frombuffer(view, dtype=dtype, offset=header_len).reshape(shape)
    if dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))
    return array


@contextlib.contextmanager
def _open_idx(path: Path) -> Iterator[tuple[io.BufferedIOBase, bytes, bool]]:
    """Open an IDX file, gunzipping if its content is gzip; yield (file, raw header, gzipped).

    gzip and zlib errors anywhere inside the block become one FormatError naming the file.
    """
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
    try:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
            head = f.read(4)
            if len(head) == 4 and head[:2] == b"\x00\x00":
                head += f.read(4 * head[3])
            yield f, head, gzipped
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FormatError(f"{path}: corrupt or truncated gzip data ({exc}).") from exc


def read_idx_shape(path: str | os.PathLike) -> tuple[int, ...]:
    """The shape an IDX file's header declares, reading nothing but the header."""
    with _open_idx(Path(path)) as (_, head, _):
        return _idx_header(head, str(path))[1]


def read_idx_content(path: str | os.PathLike) -> bytearray | mmap.mmap:
    """Return the decompressed bytes of an IDX file (gzipped or not), checked against its header.

    Nothing larger than what the file can really hold is ever allocated: the header is read and
    checked against the file size (or, for gzip, against the most deflate could have packed into
    it) before the payload is read; gzip payloads are then read in bounded chunks, uncompressed
    files are memory-mapped copy-on-write.
    """
    path = Path(path)
    source = str(path)
    compressed_size = path.stat().st_size
    with _open_idx(path) as (f, head, gzipped):
        dtype, shape, header_len = _idx_header(head, source)
        expected = header_len + _payload_size(dtype, shape)
        if not gzipped:
            if expected != compressed_size:
                raise _length_error(source, shape, expected, compressed_size, "file")
            # A private copy-on-write mapping: no read copy, and arrays made from it are
            # writable without ever changing the file.
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        if expected > compressed_size * _MAX_DEFLATE_RATIO:
            raise FormatError(
                f"{source}: the header declares shape {shape} ({expected:,} bytes), more than "
                f"a {compressed_size:,}-byte gzip file can hold."
            )
        buffer = bytearray(head)
        # Read one byte past the declared end so trailing garbage is detected too.
        while len(buffer) < expected + 1:
            chunk = f.read(min(_CHUNK, expected + 1 - len(buffer)))
            if not chunk:
                break
            buffer += chunk
    if len(buffer) != expected:
        raise _length_error(source, shape, expected, len(buffer), "decompressed file")
    return buffer


def _length_error(source: str, shape: tuple, expected: int, actual: int, what: str) -> FormatError:
    problem = "truncated" if actual < expected else "longer than its header says"
    found = f"{actual:,}" if actual < expected else "more"
    return FormatError(
        f"{source}: {problem}: the header declares shape {shape} ({expected:,} bytes with the "
        f"header), the {what} has {found} bytes."
    )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or not, any rank and type) into a numpy array.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from mnistlab.data.formats import read_idx, write_idx
    >>> p = os.path.join(tempfile.mkdtemp(), "x-idx3-ubyte.gz")
    >>> write_idx(p, np.arange(8, dtype=np.uint8).reshape(2, 2, 2))
    >>> read_idx(p).shape
    (2, 2, 2)
    """
    return parse_idx(read_idx_content(path), source=str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise an array to the bytes of an uncompressed IDX file."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if native not in _IDX_CODES:
        raise FormatError(f"IDX cannot store dtype {array.dtype}; use uint8, int8/16/32 or float32/64.")
    if array.ndim == 0 or array.ndim > 255:
        raise FormatError(f"IDX stores 1 to 255 dimensions, got {array.ndim}.")
    header = bytes([0, 0, _IDX_CODES[native], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    big = array.astype(array.dtype.newbyteorder(">"), copy=False)
    return header + np.ascontiguousarray(big).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write an array as an IDX file, gzipped when ``compress`` (default: the name ends in .gz)."""
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    data = idx_bytes(array)
    if compress:
        # mtime=0 keeps the output reproducible: same array, same bytes.
        data = gzip.compress(data, compresslevel=6, mtime=0)
    atomic_write_bytes(path, data)


# --------------------------------------------------------------------------------------------
# Validation of image and label arrays, shared by every reader
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


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
    except FormatError as exc:
        if "Pixels stored as fractions" not in str(exc):
            raise
        # 0..1 fractions (x / 255), as Keras users save them: read as floats, scaled if so.
        table = _read_csv_table(path, *layout, "float32")
    labels = as_labels(table.column(0).to_numpy(), source=source)
    # Column by column into one row-major array: far faster than stacking chunked columns.
    dtype = table.schema.field(1).type.to_pandas_dtype()
    pixels = np.empty((table.num_rows, len(pixel_columns)), dtype=dtype)
    for j, column in enumerate(table.columns[1:]):
        pixels[:, j] = column.to_numpy()
    pixels = as_uint8_images(_unit_scaled(pixels, "pixels", source), source=source)
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
            hint = ""
            if value and _is_fraction(value[1]):
                hint = " Pixels stored as fractions (0..1 floats) must be scaled by 255 first."
            raise FormatError(
                f"{source}: every value must be a whole number, pixels in 0..255 ({exc}).{hint}"
            ) from exc
        raise FormatError(
            f"{source}: not a rectangular CSV ({n_columns} columns expected): {exc}"
        ) from exc
    if any(col.null_count for col in table.columns):
        bad = next(n for n, col in zip(wanted, table.columns, strict=True) if col.null_count)
        what = "the label" if bad == wanted[0] else f"pixel column {wanted.index(bad) - 1}"
        raise FormatError(f"{source}: {what} has empty or missing values.")
    return table


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
    flat = np.asarray(images).reshape(len(images), -1)
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


# --------------------------------------------------------------------------------------------
# NPZ (Keras layout)
# --------------------------------------------------------------------------------------------

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_NPZ_OPTIONAL = ("x_val", "y_val", "classes")  # classes: written by mnistlab, a unicode array
#: Member names read as each key (compared without case): Keras' ``X_train``, ``x_valid``, ...
_NPZ_ALIASES = {key: (key,) for key in NPZ_KEYS + _NPZ_OPTIONAL} | {
    "x_val": ("x_val", "x_valid", "x_validation"),
    "y_val": ("y_val", "y_valid", "y_validation"),
}


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a Keras-style ``mnist.npz`` (``x_train, y_train`` and optionally ``x_test, y_test``,
    ``x_val, y_val``; names in any case, ``X_train``), as :func:`keras_arrays` normalises them.

    Object arrays are refused (``allow_pickle=False``): an NPZ never executes code. Each
    member's ``.npy`` header is checked against the member's size in the zip directory before
    any array is allocated.
    """
    source = str(path)
    if not zipfile.is_zipfile(path):
        raise FormatError(f"{source}: not an NPZ file (an NPZ is a zip archive of .npy files).")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _npz_members(archive, source)
            shapes = {key: _check_npy_member(archive, info, source) for key, info in members.items()}
        # Counts compared from the headers, before a single array is decompressed.
        for x, y in (("x_train", "y_train"), ("x_test", "y_test"), ("x_val", "y_val")):
            if x in shapes and y in shapes and shapes[x][:1] != shapes[y][:1]:
                raise FormatError(
                    f"{source}: {x} holds {shapes[x][0] if shapes[x] else 0:,} images but {y} "
                    f"{shapes[y][0] if shapes[y] else 0:,} labels; they must match."
                )
        with np.load(path, allow_pickle=False) as npz:
            files = list(npz.files)
            arrays = {k: npz[info.filename.removesuffix(".npy")] for k, info in members.items()}
    except FormatError:
        raise
    except (
        ValueError,
        TypeError,
        OSError,
        EOFError,
        RuntimeError,
        NotImplementedError,
        MemoryError,
        zlib.error,
        zipfile.BadZipFile,
    ) as exc:
        raise FormatError(f"{source}: unreadable NPZ file ({type(exc).__name__}: {exc}).") from exc
    missing = [k for k in ("x_train", "y_train") if k not in arrays]
    if missing:
        raise FormatError(
            f"{source}: NPZ lacks {', '.join(missing)} (found: {', '.join(files) or 'nothing'}); "
            f"expected the Keras layout {', '.join(NPZ_KEYS)}."
        )
    for x, y in (("x_test", "y_test"), ("x_val", "y_val")):
        if (x in arrays) != (y in arrays):
            raise FormatError(f"{source}: NPZ has only one of {x} and {y}.")
    for key, array in arrays.items():
        if not isinstance(array, np.ndarray) or array.dtype.kind in "OV":
            raise FormatError(f"{source}: NPZ member {key} is not a plain numeric array.")
    return keras_arrays(arrays, source=source)


def keras_arrays(arrays: dict[str, np.ndarray], *, source: str) -> dict[str, np.ndarray]:
    """Normalise the array layouts Keras and PyTorch users have, where the meaning is certain.

    - images ``(n, h, w, 1)`` or ``(n, 1, h, w)``: the single channel is dropped; colour
      images ``(n, h, w, 3)`` are refused (convert them to grey first);
    - one-hot labels ``(n, K)`` (every row a single 1): the index of the 1;
    - float images within 0..1 holding fractions (``x / 255``): scaled back to 0..255 and
      rounded, with a warning; binary images holding only 0 and 1: 1 becomes 255.

    Everything else is left for the dataset's checks, which say what is wrong.
    """
    out = dict(arrays)
    for key, array in arrays.items():
        if key.startswith("x_"):
            out[key] = _single_channel(array, key, source)
            out[key] = _unit_scaled(out[key], key, source)
        elif key.startswith("y_"):
            out[key] = _from_one_hot(array, key, source)
    return out


def _single_channel(images: np.ndarray, key: str, source: str) -> np.ndarray:
    if images.ndim != 4:
        return images
    if images.shape[-1] == 1:
        return images[..., 0]
    if images.shape[1] == 1:
        return images[:, 0]
    raise FormatError(
        f"{source}: {key} has shape {images.shape}: colour or multi-channel images; mnistlab "
        "reads grey images (n, height, width), so convert them to grey first."
    )


def _unit_scaled(images: np.ndarray, key: str, source: str) -> np.ndarray:
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


def _from_one_hot(labels: np.ndarray, key: str, source: str) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        return labels[:, 0]
    if labels.ndim != 2:
        return labels
    if labels.shape[1] >= 2 and ((labels == 0) | (labels == 1)).all() and (labels.sum(1) == 1).all():
        return labels.argmax(axis=1)
    raise FormatError(
        f"{source}: {key} has shape {labels.shape}: labels must be one per image, class indices "
        "(n,) or one-hot rows (n, K) holding a single 1 each."
    )


def _npz_members(archive: zipfile.ZipFile, source: str) -> dict:
    """The member numpy will read for each key present (``KEY``, else ``KEY.npy``, as
    ``NpzFile.__getitem__`` looks them up, with the names of ``_NPZ_ALIASES``), refusing
    archives where that is ambiguous: a name twice in the zip directory, two aliases of one
    key (``x_train`` and ``X_train``), or a member of the same name elsewhere
    (``decoy/x_train.npy``), which a check of the wrong member would let through."""
    infos = archive.infolist()
    found = {}
    for key, aliases in _NPZ_ALIASES.items():
        alike = [
            i for i in infos if Path(i.filename).stem.lower() in aliases or i.filename.lower() in aliases
        ]
        if len(alike) > 1:
            names = ", ".join(i.filename for i in alike[:4])
            raise FormatError(
                f"{source}: several members could be {key} ({names}); refused as ambiguous."
            )
        if alike and alike[0].filename.lower().removesuffix(".npy") in aliases:
            found[key] = alike[0]
    return found


def _check_npy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> tuple:
    """The shape a member's .npy header declares; refuse it if the member holds other sizes."""
    with archive.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            reader = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if reader is None:
                raise ValueError(f"unsupported .npy version {version}")
            shape, _, dtype = reader(f)
        except ValueError as exc:
            raise FormatError(f"{source}: member {info.filename} is not a .npy array ({exc}).") from exc
        header = f.tell()
    if dtype.hasobject:
        raise FormatError(f"{source}: member {info.filename} holds Python objects; refused.")
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if header + expected != info.file_size:
        raise FormatError(
            f"{source}: member {info.filename} declares shape {_short_shape(shape)} "
            f"({expected:,} bytes) but holds {info.file_size - header:,} bytes."
        )
    return tuple(shape)


def _short_shape(shape: tuple) -> str:
    return (
        str(tuple(shape))
        if len(shape) <= 6
        else f"({', '.join(map(str, shape[:4]))}, ...) of {len(shape)} dimensions"
    )


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays in the Keras NPZ layout (compressed)."""
    sink = io.BytesIO()
    np.savez_compressed(sink, **arrays)
    atomic_write_bytes(Path(path), sink.getvalue())


# --------------------------------------------------------------------------------------------
# A folder of images, one sub-folder per class
# --------------------------------------------------------------------------------------------

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _natural_key(name: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


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


def _check_declared_size(path: str | os.PathLike) -> None:
    """Refuse, from the header alone, an image file declaring more than ``MAX_IMAGE_PIXELS``: a
    small file of zeros can declare 12000 x 12000 pixels and take gigabytes to decode."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                (width, height), frames = image.size, getattr(image, "n_frames", 1)
    except Image.DecompressionBombError:
        width, height, frames = math.inf, math.inf, 1  # Pillow's own, far larger, limit
    except Exception as exc:  # Pillow raises many unrelated types for unreadable files
        raise FormatError(f"{path}: not a readable image ({type(exc).__name__}: {exc}).") from None
    if width * height * frames > MAX_IMAGE_PIXELS:
        size = f"{width}x{height}" if math.isfinite(width) else "a gigapixel-scale"
        raise FormatError(
            f"{path}: the file declares {size} pixels{f' in {frames} frames' if frames > 1 else ''}; "
            f"mnistlab reads images of at most {MAX_IMAGE_PIXELS:,} pixels (4096x4096): resize it "
            "first."
        )


def read_image_file(path: str | os.PathLike) -> np.ndarray:
    """Read one image file as a 2-D uint8 grayscale array (colour is converted to luminance)."""
    import imageio.v3 as iio
    from skimage import color

    if not Path(path).is_file():
        raise FormatError(f"{path}: not a regular file.")
    _check_declared_size(path)
    try:
        image = np.asarray(iio.imread(path, plugin="pillow"))
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
    listing = root / "classes.txt"
    if classes is None and listing.is_file():
        classes = read_class_names(listing)
    index: dict[str, int] = {}
    if isinstance(classes, Mapping):
        labels_in_order = sorted(classes)
        names = tuple(str(classes[k]) for k in labels_in_order)
        index = {str(label): i for i, label in enumerate(labels_in_order)}
    elif classes is not None:
        names = tuple(classes)
    elif all(d.name.isdigit() for d in folders):
        # Folders named 0..9 mean those labels, even when one of them is missing or empty.
        names = default_classes([np.array([int(d.name) for d in folders])], source=str(root))
    else:
        names = tuple(d.name for d in folders)
    check_class_names(names, source=str(listing) if listing.is_file() else str(root))
    index |= {safe_filename(n): i for i, n in enumerate(names)} | {n: i for i, n in enumerate(names)}
    by_label = all(re.fullmatch("[0-9]+", d.name) for d in folders)
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
    skipped: dict[str, int] = {}
    listed = []
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
    import imageio.v3 as iio

    root = Path(root)
    classes = tuple(classes)
    folders = [safe_filename(n) for n in classes]
    if len(set(folders)) != len(folders):
        clash = sorted({f for f in folders if folders.count(f) > 1})
        raise FormatError(f"class names that differ only in punctuation share folders {clash}.")
    for k, name in enumerate(classes):
        folder = root / safe_filename(name)
        folder.mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(labels == k):
            iio.imwrite(folder / f"{i}.png", images[i], plugin="pillow")
    write_class_names(root / "classes.txt", classes)


#: First line of the class lists mnistlab writes: every line below it is one name, literally,
#: so that names such as "9 cat" or "# 1" are never read as a label mapping or a comment.
CLASS_LIST_HEADER = "# mnistlab class names: one per line, for labels 0, 1, 2, ..."


def write_class_names(path: str | os.PathLike, classes: Iterable[str]) -> None:
    """Write class names one per line (UTF-8), in label order, under ``CLASS_LIST_HEADER``."""
    text = "\n".join([CLASS_LIST_HEADER, *classes]) + "\n"
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Read a list of class names (as :func:`write_class_names` writes them), refusing a mapping."""
    names = read_classes(path)
    if isinstance(names, dict):
        raise FormatError(
            f"{path}: a label mapping (LABEL NAME lines); here class names are listed one per "
            "line, in label order."
        )
    return names


#: Larger class files are not class lists.
MAX_CLASS_FILE = 16 << 20
#: ``LABEL NAME``: ASCII digits only (``\d`` would take "²" and other Unicode digits).
_MAPPING_LINE = re.compile(r"([0-9]+)[ \t,:;]+(\S.*)")


def read_classes(path: str | os.PathLike) -> list[str] | dict[int, str]:
    """Class names from a text file: the names in label order, or a label mapping.

    Three layouts are understood (UTF-8, blank lines ignored):

    - one name per line, for labels 0, 1, 2, ... (``classes.txt``); a first line
      ``CLASS_LIST_HEADER`` (mnistlab writes it) makes every following line a name as it is;
    - ``LABEL NAME`` on every line (``1 cat``), mapping the labels in the data to names;
    - EMNIST's ``mapping.txt``, ``LABEL CODE [CODE...]`` with character codes (``10 65 97``):
      the class is named by its characters (``A/a``).

    A file mixing the layouts (a ``# label name`` header above a mapping, a ``-1 neg`` line),
    or a list holding a line that starts with ``#``, is refused rather than guessed: read the
    wrong way, it would shift or rename classes. A mapping renumbers the labels 0..K-1 in
    label order when the dataset is built.

    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "mapping.txt"
    >>> _ = f.write_text("1 65 97\\n2 66 98\\n")
    >>> read_classes(f)
    {1: 'A/a', 2: 'B/b'}
    """
    source = str(path)
    lines = _class_file_lines(path)
    if lines and lines[0] == CLASS_LIST_HEADER:
        names = lines[1:]
        check_class_names(names, source=source)
        return names
    matches = [_MAPPING_LINE.fullmatch(line) for line in lines]
    if not any(matches):
        comment = next((line for line in lines if line.startswith("#")), None)
        if comment is not None:
            raise FormatError(
                f"{source}: line {comment!r} looks like a comment; a class list has one name per "
                f"line and no comments. To keep it as a class name, make the first line "
                f"{CLASS_LIST_HEADER!r}."
            )
        check_class_names(lines, source=source)
        return lines
    if not all(matches):
        odd = next(line for line, match in zip(lines, matches, strict=True) if not match)
        example = next(line for line, match in zip(lines, matches, strict=True) if match)
        raise FormatError(
            f"{source}: mixes LABEL NAME lines ({example!r}) with other lines ({odd!r}); a class "
            "file is either a label mapping, every line LABEL NAME with a label 0 or above, or a "
            f"list of names, one per line (then make the first line {CLASS_LIST_HEADER!r})."
        )
    mapping: dict[int, str] = {}
    for line, match in zip(lines, matches, strict=True):
        if len(match[1].lstrip("0")) > len(str(MAX_LABEL)) or int(match[1]) > MAX_LABEL:
            raise FormatError(f"{source}: {line!r}: the label is above {MAX_LABEL}.")
        label, rest = int(match[1]), match[2].strip()
        if label in mapping:
            raise FormatError(f"{source}: label {label} is mapped twice ({line!r}).")
        codes = rest.split()
        if all(re.fullmatch("[0-9]+", c) for c in codes):  # EMNIST: character codes
            if any(len(c) > 7 or not 32 < int(c) < 0x110000 for c in codes):
                raise FormatError(f"{source}: {line!r}: not printable character codes.")
            chars = dict.fromkeys(chr(int(c)) for c in codes)
            rest = "/".join(chars)
        mapping[label] = rest
    check_class_names(mapping.values(), source=source)
    return mapping


def _class_file_lines(path: str | os.PathLike) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such class-name file.")
    if path.stat().st_size > MAX_CLASS_FILE:
        raise FormatError(f"{path}: {path.stat().st_size:,} bytes is too large for a class list.")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # bytes: no newline translation of "\r"
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: class names must be UTF-8 text ({exc}).") from exc
    # Only line feeds end lines here: a "\r" or U+2028 inside a name is refused, not a new name.
    return [line.strip(" \t\r") for line in text.split("\n") if line.strip(" \t\r")]


#: The longest class name accepted (as for model files).
MAX_CLASS_NAME = 200


def check_class_names(names: Iterable[str], *, source: str) -> None:
    """Refuse class names that could not survive every format and every terminal unchanged.

    Duplicates and empty names would silently merge counts; a line break, tab or other control
    character (``"cat\\ndog"``, ``"\\x1b[2J"``, U+2028) would split a name into two in
    the one-name-per-line formats, relabelling images, or reach the terminal as an escape
    sequence; leading or trailing spaces do not survive folder names and text files.
    """
    names = [str(n) for n in names]
    seen = set()
    duplicates = sorted({n for n in names if n in seen or seen.add(n)})
    if duplicates:
        raise FormatError(f"{source}: duplicate class names {duplicates}.")
    if any(not n.strip() for n in names):
        raise FormatError(f"{source}: empty class name.")
    for n in names:
        check_name(n, source=source)


def check_name(name: str, *, source: str, what: str = "class name") -> None:
    """Refuse a name (of a class or a dataset) that is not one line of printable text without
    edge spaces, of at most ``MAX_CLASS_NAME`` characters."""
    if not name.strip():
        raise FormatError(f"{source}: empty {what}.")
    if not name.isprintable():
        raise FormatError(
            f"{source}: {what} {name!r} holds a line break, tab or other control character; "
            f"a {what} must be one line of printable text."
        )
    if name != name.strip():
        raise FormatError(f"{source}: {what} {name!r} starts or ends with a space; remove it.")
    if len(name) > MAX_CLASS_NAME:
        raise FormatError(f"{source}: a {what} is {len(name)} characters, at most {MAX_CLASS_NAME}.")


def safe_filename(name: str) -> str:
    """A class name usable as a folder name ('T-shirt/top' -> 'T-shirt_top', '..' -> '_..')."""
    safe = re.sub(r"[^\w.+-]+", "_", name).strip("_") or "_"
    return "_" + safe if safe.startswith(".") else safe  # never hidden, never '.' or '..'


# --------------------------------------------------------------------------------------------
# The classic mnist.pkl.gz, behind a pinned hash
# --------------------------------------------------------------------------------------------


class _NumpyArraysOnly(pickle.Unpickler):
    """An unpickler that can build numpy arrays and dtypes, and nothing else."""

    _allowed = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) not in self._allowed:
            raise IntegrityError(f"pickle refers to {module}.{name}, which is not allowed.")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(1))[0]
        return getattr(np, name)


def read_verified_pickle(path: str | os.PathLike, sha256: str):
    """Unpickle a (gzipped) pickle of numpy arrays, only if its bytes match ``sha256``.

    The hash is checked on the file exactly as stored, before a single byte is unpickled; the
    unpickler can then only rebuild numpy arrays (defence in depth).
    """
    raw = Path(path).read_bytes()
    actual = sha256_hex(raw)
    if actual != sha256:
        raise IntegrityError(
            f"{path}: sha256 {actual} does not match the pinned {sha256}; refusing to unpickle it."
        )
    content = gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw
    return _NumpyArraysOnly(io.BytesIO(content), encoding="latin1").load()


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    Whatever writes to the yielded path, readers see the old file or the whole new one: an
    exception or interruption removes the temporary file and leaves ``path`` untouched.
    """
    path = Path(path)
    tmp = _temporary_beside(path)
    try:
        yield tmp
        _finish(Path(tmp), path)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        name_the_target(exc, Path(tmp), path)
        raise


def _temporary_beside(path: Path) -> Path:
    """A new empty hidden file ``.NAME.PID.XXXXXXXX.tmp`` in ``path``'s folder (made if missing),
    to be renamed over ``path``; refuses a ``path`` that exists and is not a regular file. The
    temporaries a killed mnistlab left in that folder are removed first."""
    import tempfile

    if path.exists() and not path.is_file():
        raise FileExistsError(f"{path}: exists and is not a regular file; not replacing it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


#: The temporaries mnistlab makes beside its outputs, with the id of the process writing them:
#: files ``.NAME.PID.XXXXXXXX.tmp`` and staging folders ``.mnistlab-save-PID-XXXXXXXX``.
_TEMPORARY_FILE = re.compile(r"\..+\.(\d+)\.[A-Za-z0-9_]{8}\.tmp")
_STAGING_FOLDER = re.compile(r"\.mnistlab-save-(\d+)-[A-Za-z0-9_]{8}")


def staging_prefix() -> str:
    """The prefix of a staging folder (``tempfile.TemporaryDirectory(prefix=...)``) that
    :func:`remove_stale_temporaries` can recognise and clean up after a crash."""
    return f".mnistlab-save-{os.getpid()}-"


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove what a killed mnistlab left in ``folder``: only temporaries named as mnistlab names
    them, and only when the process that made them no longer runs. Returns what was removed.

    A write interrupted by kill -9 (or a power cut) cannot remove its own temporary file; the
    next write into the same folder does. Another user's, or a live process's, are left alone.
    """
    import shutil

    removed = []
    try:
        entries = [e for e in Path(folder).iterdir() if e.name.startswith(".")]
    except OSError:
        return removed
    for entry in entries:
        pattern = _STAGING_FOLDER if entry.is_dir() and not entry.is_symlink() else _TEMPORARY_FILE
        match = pattern.fullmatch(entry.name)
        if match is None or _process_alive(int(match[1])):
            continue
        try:
            shutil.rmtree(entry) if pattern is _STAGING_FOLDER else entry.unlink()
        except OSError:
            continue  # not ours to remove after all (permissions), or gone already
        removed.append(entry)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process (or an impossible id): leave its files alone
    return True


def _finish(tmp: Path, path: Path) -> None:
    """fsync a written temporary file and give it the usual permissions (mkstemp makes 0600)."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.chmod(tmp, 0o666 & ~_umask())


def name_the_target(exc: BaseException, tmp: Path, path: Path) -> None:
    """An error while writing a hidden temporary file (or folder) names what the user asked for
    ("report/index.html: No space left on device"), not the temporary one or nothing at all: a
    file name inside ``tmp`` becomes the same name inside ``path``."""
    if not isinstance(exc, OSError) or isinstance(exc.filename, bytes):
        return
    if exc.filename is None:
        exc.filename = str(path)
        return
    with contextlib.suppress(ValueError):
        exc.filename = str(path / Path(exc.filename).relative_to(tmp))


def atomic_write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_files(files: dict[Path, bytes]) -> None:
    """Write several files all or nothing, as far as a file system allows.

    Every file is first written in full (and fsynced) to a temporary file beside it; only when
    all are written are they renamed into place, one rename each. A full disk, an error or an
    interruption while writing leaves every old file as it was and no temporary file behind.
    """
    written: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            path = Path(path)
            tmp = _temporary_beside(path)
            written.append((tmp, path))
            try:
                tmp.write_bytes(data)
                _finish(tmp, path)
            except OSError as exc:
                name_the_target(exc, tmp, path)
                raise
        for tmp, path in written:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
