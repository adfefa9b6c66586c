"""Run a reduction (:mod:`mnistlab.scale.reductions`) three ways, with identical results:

- :func:`in_memory`: blocks of an in-memory array on a thread pool (all cores);
- :func:`streamed`: the chunks of a Zarr store read and reduced on a thread pool, one chunk
  per thread in memory at a time, so memory does not grow with the number of images;
- :func:`on_dask`: one task per chunk on a Dask cluster (a ``distributed.Client``, or Dask's
  threaded scheduler without one), combined as a tree; each task reads its chunk from the store
  itself, so the workers need the store's path, not data sent from here.

A task that fails (a worker killed mid-run) is retried by Dask; if it cannot be completed the
run raises: a result is always the sum over every chunk, never a silent partial sum.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistlab._utils.blocks import CHUNK
from mnistlab.errors import MissingExtraError
from mnistlab.progress import console, steps, want_progress

#: ``partial(images, labels, start)`` over one block whose first image is at position
#: ``start``: a summary that adds with ``+``.
Partial = Callable[[np.ndarray, np.ndarray, int], Any]


@dataclass(frozen=True)
class Together:
    """The summaries of several reductions of the same blocks, added side by side."""

    parts: tuple

    def __add__(self, other: Together) -> Together:
        return Together(tuple(a + b for a, b in zip(self.parts, other.parts, strict=True)))


def _together(partials: tuple[Partial, ...], images, labels, start: int) -> Together:
    return Together(tuple(partial(images, labels, start) for partial in partials))


def together(*partials: Partial) -> Partial:
    """One partial running every one of ``partials`` on each block: several statistics in one
    pass over the images, as a :class:`Together` of their summaries (picklable for Dask when
    they are)."""
    return functools.partial(_together, partials)


def _combined(parts: Iterable[Any]) -> Any:
    """The sum of the partials, added as they come, so none is kept once added. Partials are
    integer sums and top-k merges with fixed ties: their order never changes the result."""
    total = None
    for part in parts:
        total = part if total is None else total + part
    if total is None:
        raise ValueError("nothing to reduce: no images.")
    return total


def in_memory(partial: Partial, images: np.ndarray, labels: np.ndarray, rows: int = CHUNK) -> Any:
    """``partial`` over blocks of ``rows`` images of in-memory arrays, on all cores, combined."""
    n = len(labels)
    starts = range(0, n, rows)
    workers = max(1, min(os.cpu_count() or 1, len(starts)))
    with ThreadPoolExecutor(workers) as pool:
        return _combined(
            pool.map(lambda s: partial(images[s : s + rows], labels[s : s + rows], s), starts)
        )


def _read_chunk(path: str, split: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    import zarr

    root = zarr.open_group(path, mode="r")
    images, labels = root[f"{split}/images"], root[f"{split}/labels"]
    assert isinstance(images, zarr.Array) and isinstance(labels, zarr.Array)  # checked when opened
    return np.asarray(images[start:stop]), np.asarray(labels[start:stop])


def _chunk_partial(partial: Partial, path: str, split: str, start: int, stop: int):
    images, labels = _read_chunk(path, split, start, stop)
    return partial(images, labels, start)


def chunk_bounds(n: int, chunk: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of every chunk of ``chunk`` images out of ``n``."""
    return [(start, min(start + chunk, n)) for start in range(0, n, chunk)]


def streamed(
    partial: Partial, path: str | Path, split: str, n: int, chunk: int, progress: bool | None = None
) -> Any:
    """``partial`` over each chunk of a Zarr store's split, read on a thread pool (zarr releases
    the GIL while decompressing), combined in chunk order as they arrive."""
    bounds = chunk_bounds(n, chunk)
    workers = max(1, min(os.cpu_count() or 1, len(bounds)))
    with steps(f"{Path(path).name}:{split}", len(bounds), progress) as advance:

        def one(bound: tuple[int, int]):
            out = _chunk_partial(partial, str(path), split, *bound)
            advance()
            return out

        with ThreadPoolExecutor(workers) as pool:
            return _combined(pool.map(one, bounds))


def on_dask(
    partial: Partial,
    path: str | Path,
    split: str,
    n: int,
    chunk: int,
    client=None,
    progress: bool | None = None,
) -> Any:
    """``partial`` as one Dask task per chunk of a Zarr store's split, on ``client`` (a
    ``dask.distributed.Client``) or, without one, Dask's threads; the partials are combined here
    as they arrive and then released, so memory does not grow with the number of chunks. The
    partials are integer sums and top-k merges with fixed tie-breaks, so the order of the
    combines never changes a result: it equals :func:`streamed`'s bit for bit.

    A task whose worker dies is run again elsewhere (Dask's retries); a chunk that cannot be
    reduced raises its error here: the result is never a sum over fewer chunks.
    """
    try:
        import dask
    except ImportError as exc:  # pragma: no cover - the scale extra is part of make setup
        raise MissingExtraError("Dask needs the scale extra: pip install 'mnistlab[scale]'.") from exc
    path = str(Path(path).resolve())
    bounds = chunk_bounds(n, chunk)
    parts = [dask.delayed(_chunk_partial, pure=True)(partial, path, split, a, b) for a, b in bounds]
    if client is None:
        return _combined(dask.compute(*parts, scheduler="threads"))
    from distributed import as_completed

    futures = client.compute(parts)
    del parts
    if want_progress(progress):
        console.print(f"Dask dashboard: {client.dashboard_link}", highlight=False)
    with steps(f"{Path(path).name}:{split} on Dask", len(futures), progress) as advance:
        done = as_completed(futures)
        futures = []  # as_completed holds them until each is done, then arrived() lets go

        def arrived():
            for future in done:
                part = future.result()  # a chunk that failed after Dask's retries raises here
                future.release()
                advance()
                yield part

        return _combined(arrived())
