"""IDX files (LeCun's format of MNIST), gzipped or not: read with every size checked from
the header before anything is allocated, and written."""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mnistlab._utils.files import atomic_write_bytes
from mnistlab.errors import FormatError

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
#: The largest single item (one image) an IDX file may declare: 1 GiB, far beyond any image.
MAX_ITEM_BYTES = 1 << 30


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
    item = math.prod(shape[1:]) * IDX_DTYPES[code].itemsize
    if item > MAX_ITEM_BYTES:  # even with 0 items, numpy cannot shape such an array
        raise FormatError(
            f"{source}: IDX header declares items of shape {shape[1:]} ({item:,} bytes each); "
            f"at most {MAX_ITEM_BYTES:,} bytes per item (image or label) are read."
        )
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


def read_idx_content(path: str | os.PathLike) -> bytearray:
    """Return the decompressed bytes of an IDX file (gzipped or not), checked against its header.

    Nothing larger than what the file can really hold is ever allocated: the header is read and
    checked against the file size (or, for gzip, against the most deflate could have packed into
    it) before the payload is read in bounded chunks. The bytes are a copy in memory, never a
    mapping of the file: a dataset already loaded does not change (or crash with a bus error)
    when someone rewrites or truncates the file.
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
        elif expected > compressed_size * _MAX_DEFLATE_RATIO:
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
