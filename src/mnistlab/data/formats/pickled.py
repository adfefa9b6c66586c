"""The classic ``mnist.pkl.gz``, unpickled only behind a pinned sha256 and an unpickler that can
build nothing but numpy arrays."""

from __future__ import annotations

import gzip
import io
import os
import pickle
from pathlib import Path

import numpy as np

from mnistlab._utils.files import sha256_hex
from mnistlab.data.formats.idx import GZIP_MAGIC
from mnistlab.errors import IntegrityError


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
