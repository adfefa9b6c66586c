"""The core analyses on a Zarr store far larger than one pass of memory, three ways, in one run.

    .venv/bin/python benchmarks/bench_scale.py STORE.zarr [--baseline] [--workers 1 2]

STORE is made by ``mnistlab generate infimnist --n 1000000 -o STORE`` (or 8100000). The core
analyses are class counts, pixel value histograms (overall and per class), centroids, and every
image's distance to its class centroid with the least and most typical images per class:
``scale.typicality_extremes``, two passes over the images (the first gives the counts,
histograms and centroids). Printed per way: seconds, images per second (images / seconds, end
to end) and the peak resident memory of all processes (this one and Dask's workers), sampled
every 50 ms.

- streamed: the store's chunks on a thread pool in this process;
- dask N: a distributed.LocalCluster of N worker processes (one thread each);
- numpy (``--baseline``, where it fits in memory): read the whole split, then the in-memory
  analyses (stats.pixel_value_counts_by_class, stats.centroids, stats.typicality); the ratio
  is numpy seconds / streamed seconds. Results of every way are checked equal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import threading
import time

import numpy as np
import psutil

import mnistlab
from mnistlab import stats
from mnistlab.scale import typicality_extremes


class PeakMemory:
    """Peak of the summed RSS of this process and its children, sampled in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a process that just ended
                    total += process.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run(label: str, func, n: int):
    with PeakMemory() as memory:
        start = time.perf_counter()
        result = func()
        seconds = time.perf_counter() - start
    print(
        f"{label:<12} {seconds:8.1f} s  {n / seconds:>10,.0f} images/s  "
        f"peak {memory.peak / 2**30:5.2f} GiB (all processes)",
        flush=True,
    )
    return seconds, result


def same(a, b) -> bool:
    columns = ["label", "rank_in_class", "index"]
    tables = (a.least_typical(), b.least_typical(), a.most_typical(), b.most_typical())
    equal_ranks = tables[0][columns].equals(tables[1][columns]) and tables[2][columns].equals(
        tables[3][columns]
    )
    close = np.allclose(tables[0]["distance"], tables[1]["distance"], rtol=1e-9, atol=0)
    return equal_ranks and close and np.array_equal(a.counts, b.counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--baseline", action="store_true", help="also load everything into numpy")
    args = parser.parse_args()
    split = mnistlab.load(args.store).train
    n = len(split)
    print(
        f"{args.store}: {n:,} images in chunks of {split.chunk:,}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}"
    )
    streamed_s, streamed = run("streamed", lambda: typicality_extremes(split, progress=False), n)
    for workers in args.workers:
        import distributed

        with (
            distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            _, found = run(
                f"dask {workers}",
                lambda c=client: typicality_extremes(split, client=c, progress=False),
                n,
            )
        print(f"             equal to streamed: {same(found, streamed)}")
    if args.baseline:

        def numpy_route():
            whole = split.read()
            stats.pixel_value_counts_by_class(whole.images, whole.labels, len(whole.classes))
            stats.centroids(whole)
            return stats.typicality(whole)

        numpy_s, typical = run("numpy", numpy_route, n)
        k = streamed.extremes.per_class
        least = typical.least_typical(k)[["label", "rank_in_class", "index"]]
        equal = least.reset_index(drop=True).equals(
            streamed.least_typical()[["label", "rank_in_class", "index"]]
        )
        print(f"{'':13}equal to streamed: {equal}; numpy / streamed time: {numpy_s / streamed_s:.2f}x")


if __name__ == "__main__":
    main()
