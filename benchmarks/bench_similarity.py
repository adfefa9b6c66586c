"""Exact 1-nearest neighbour of every MNIST test image among the 60,000 training images.

    .venv/bin/python benchmarks/bench_similarity.py [--kd-queries 500]

mnistlab's NearestImages against scikit-learn's NearestNeighbors, in one run, on the same data:

* ``algorithm="brute"`` given the uint8 images as they are (scikit-learn computes in float64),
* ``algorithm="brute"`` given float32 images (its fastest brute-force path),
* ``algorithm="kd_tree"`` on the first ``--kd-queries`` test images, extrapolated to 10,000
  (a k-d tree in 784 dimensions visits most of its leaves; the full run takes many minutes).

Every method must return the same neighbour (ties aside: equal distances are accepted) and the
same distance. Peak memory is what numpy allocates during the search (tracemalloc).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
import tracemalloc

import numpy as np
from sklearn.neighbors import NearestNeighbors

import mnistlab
from mnistlab.similarity import NearestImages


def measured(func):
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak, result


def agree(ours, theirs) -> str:
    (d1, i1), (d2, i2) = ours, theirs
    same = i1[:, 0] == i2[:, 0]
    tied = ~same & np.isclose(d1[:, 0], d2[:, 0], rtol=1e-9)
    close = np.allclose(d1[:, 0], d2[:, 0], rtol=1e-6)
    return f"{int(same.sum())} same, {int(tied.sum())} tied, distances {'equal' if close else 'DIFFER'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kd-queries", type=int, default=500)
    args = parser.parse_args()
    ds = mnistlab.load("mnist", progress=False)
    train = ds.train.images.reshape(len(ds.train), -1)
    test = ds.test.images.reshape(len(ds.test), -1)
    print(f"{platform.machine()}, {os.cpu_count()} cores; 10,000 queries x 60,000 images, 784 pixels\n")

    ours_t, ours_mem, ours = measured(lambda: NearestImages().fit(train).kneighbors(test, 1))
    brute_t, brute_mem, brute = measured(
        lambda: NearestNeighbors(n_neighbors=1, algorithm="brute").fit(train).kneighbors(test)
    )
    b32_t, b32_mem, b32 = measured(
        lambda: (
            NearestNeighbors(n_neighbors=1, algorithm="brute")
            .fit(train.astype(np.float32))
            .kneighbors(test.astype(np.float32))
        )
    )
    few = test[: args.kd_queries]
    kd_t, kd_mem, kd = measured(
        lambda: NearestNeighbors(n_neighbors=1, algorithm="kd_tree").fit(train).kneighbors(few)
    )
    kd_full = kd_t * len(test) / len(few)
    print(f"{'method':<38}{'seconds':>9}{'peak MB':>9}{'ours faster':>12}  neighbours vs mnistlab")
    print(f"{'mnistlab NearestImages':<38}{ours_t:>9.1f}{ours_mem / 1e6:>9.0f}{'':>12}")
    rows = [
        ("sklearn brute (uint8 in, float64)", brute_t, brute_mem, agree(ours, brute)),
        ("sklearn brute (float32 in)", b32_t, b32_mem, agree(ours, b32)),
        (
            f"sklearn kd_tree ({len(few)} queries, x{len(test) // len(few)})",
            kd_full,
            kd_mem,
            agree((ours[0][: len(few)], ours[1][: len(few)]), kd),
        ),
    ]
    for name, seconds, memory, note in rows:
        print(f"{name:<38}{seconds:>9.1f}{memory / 1e6:>9.0f}{seconds / ours_t:>11.1f}x  {note}")
    accuracy = np.mean(ds.train.labels[ours[1][:, 0]] == ds.test.labels)
    print(f"\n1-NN test accuracy (euclidean): {accuracy:.2%}")


if __name__ == "__main__":
    main()
