"""The core analyses on a Zarr store far larger than one pass of memory, three ways, in one run.

    .venv/bin/python benchmarks/bench_scale.py STORE.zarr [--baseline] [--workers 1 2]

STORE is made by ``mnistlab generate infimnist --n 1000000 -o STORE`` (or 8100000). The core
analyses, in as few passes over the images as the maths allows:

- pass 1 over the training split, one reduction (``scale.execute.together``): per-class pixel
  histograms (k x 784 x 256 counts: the one-pixel models' statistic, and with
  ``ImageSums.from_histograms`` the class counts, pixel value histograms and centroids) and a
  64-bit fingerprint of every image (exact duplicates);
- the test split: the same, then the nearest-centroid confusion matrix;
- pass 2 over the training split: every image's distance to its class centroid, the least and
  most typical images per class (a top-k merge) and the distance histograms; and the images
  whose fingerprint is shared, read and compared byte by byte (exact duplicates).

Printed per way: seconds of each pass and in all, images per second (training and test images
/ seconds, end to end) and the peak resident memory of all processes (this one and Dask's
workers), sampled every 50 ms.

- streamed: the store's chunks on a thread pool in this process;
- dask N: a distributed.LocalCluster of N worker processes (one thread each);
- numpy (``--baseline``, where it fits in memory): read both splits whole, then the in-memory
  analyses (stats.pixel_histograms, stats.centroids, stats.typicality, the in-memory exact
  duplicates of find_duplicates, NearestCentroidClassifier); the ratio is numpy seconds /
  streamed seconds. Results of every way are checked equal to the streamed ones.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import threading
import time
from dataclasses import dataclass

import numpy as np
import psutil

import mnistlab
from mnistlab import stats
from mnistlab.scale import (
    ImageSums,
    exact_duplicates,
    nearest_centroid_evaluation,
    reduce,
    typicality_extremes,
)
from mnistlab.scale.duplicates import image_fingerprints
from mnistlab.scale.execute import together
from mnistlab.scale.reductions import pixel_histograms

PER_CLASS = 6


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


@dataclass
class Core:
    """What the core analyses give, to compare between the ways."""

    histograms: np.ndarray
    sums: ImageSums
    typical: object  # TypicalityExtremes, or a stats.Typicality for numpy
    duplicates: list[tuple]
    confusion: np.ndarray | None
    passes: dict[str, float]


def _histograms(images, labels, start, *, n_classes):
    return pixel_histograms(images, labels, n_classes)


def core(store, client) -> Core:
    """The core analyses of a store's splits in two passes over the training images."""
    train, test = store.train, store.test
    k = len(store.classes)
    histograms = functools.partial(_histograms, n_classes=k)
    passes = {}
    began = time.perf_counter()
    hist, prints = reduce(together(histograms, image_fingerprints), train, client=client).parts
    sums = ImageSums.from_histograms(hist)
    passes["pass 1"] = time.perf_counter() - began
    confusion = None
    began = time.perf_counter()
    if test is not None:
        on_test = together(histograms, functools.partial(image_fingerprints, offset=len(train)))
        _, test_prints = reduce(on_test, test, client=client).parts
        prints = prints + test_prints
        confusion = nearest_centroid_evaluation(train, test, client=client, sums=sums).confusion
    passes["test"] = time.perf_counter() - began
    began = time.perf_counter()
    typical = typicality_extremes(train, PER_CLASS, client=client, sums=sums)
    found = exact_duplicates(store, client=client, fingerprints=prints).pairs
    passes["pass 2"] = time.perf_counter() - began
    pairs = list(found[["split_a", "index_a", "split_b", "index_b"]].itertuples(index=False))
    return Core(hist, sums, typical, pairs, confusion, passes)


def numpy_route(store) -> Core:
    """Everything read into memory first, then the in-memory analyses."""
    from mnistlab.models import NearestCentroidClassifier
    from mnistlab.similarity.duplicates import _exact_pairs

    passes = {}
    began = time.perf_counter()
    splits = {name: split.read() for name, split in store.splits.items()}
    whole, test = splits["train"], splits.get("test")
    passes["read"] = time.perf_counter() - began
    began = time.perf_counter()
    hist = stats.pixel_histograms(whole.images, whole.labels, len(whole.classes))
    sums = ImageSums.from_histograms(hist)
    stats.centroids(whole)
    typical = stats.typicality(whole)
    pairs = [tuple(p[:4]) for p in _exact_pairs(splits)]
    confusion = None
    if test is not None:
        model = NearestCentroidClassifier().fit(whole.images, whole.labels)
        predicted = model.predict(test.images)
        k = len(whole.classes)
        confusion = np.bincount(test.labels * k + predicted, minlength=k * k).reshape(k, k)
    passes["analyses"] = time.perf_counter() - began
    return Core(hist, sums, typical, sorted(pairs), confusion, passes)


def run(label: str, func, n: int) -> tuple[float, Core]:
    with PeakMemory() as memory:
        start = time.perf_counter()
        result = func()
        seconds = time.perf_counter() - start
    each = ", ".join(f"{name} {s:.1f} s" for name, s in result.passes.items())
    print(
        f"{label:<12} {seconds:8.1f} s  {n / seconds:>10,.0f} images/s  "
        f"peak {memory.peak / 2**30:5.2f} GiB (all processes)  [{each}]",
        flush=True,
    )
    return seconds, result


def same(a: Core, b: Core) -> bool:
    """Equal counts, histograms, duplicate pairs and confusion; the same extremes (ranks and
    indices equal, distances to 1e-9)."""
    columns = ["label", "rank_in_class", "index"]
    k = PER_CLASS
    ends = []
    for found in (a.typical, b.typical):
        if isinstance(found, stats.Typicality):
            ends.append((found.least_typical(k), found.most_typical(k)))
        else:
            ends.append((found.least_typical(), found.most_typical()))
    tables = [t.reset_index(drop=True) for pair in ends for t in pair]
    equal_ranks = tables[0][columns].equals(tables[2][columns]) and tables[1][columns].equals(
        tables[3][columns]
    )
    close = np.allclose(tables[0]["distance"], tables[2]["distance"], rtol=1e-9, atol=0)
    confusion = (a.confusion is None and b.confusion is None) or np.array_equal(a.confusion, b.confusion)
    return (
        equal_ranks
        and close
        and np.array_equal(a.histograms, b.histograms)
        and np.array_equal(a.sums.sums, b.sums.sums)
        and sorted(map(tuple, a.duplicates)) == sorted(map(tuple, b.duplicates))
        and confusion
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--baseline", action="store_true", help="also load everything into numpy")
    args = parser.parse_args()
    store = mnistlab.load(args.store)
    n = sum(len(s) for s in store.splits.values())
    sizes = ", ".join(f"{name} {len(s):,}" for name, s in store.splits.items())
    print(
        f"{args.store}: {sizes} images in chunks of {store.train.chunk:,}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}"
    )
    streamed_s, streamed = run("streamed", lambda: core(store, None), n)
    print(
        f"{'':13}exact duplicate pairs: {len(streamed.duplicates):,}; nearest-centroid test "
        f"accuracy: {np.trace(streamed.confusion) / streamed.confusion.sum():.4f}"
        if streamed.confusion is not None
        else f"{'':13}exact duplicate pairs: {len(streamed.duplicates):,}"
    )
    for workers in args.workers:
        import distributed

        with (
            distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            _, found = run(f"dask {workers}", lambda c=client: core(store, c), n)
        print(f"{'':13}equal to streamed: {same(found, streamed)}")
    if args.baseline:
        numpy_s, found = run("numpy", lambda: numpy_route(store), n)
        print(
            f"{'':13}equal to streamed: {same(found, streamed)}; numpy / streamed time: "
            f"{numpy_s / streamed_s:.2f}x"
        )


if __name__ == "__main__":
    main()
