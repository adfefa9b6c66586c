"""Near duplicates within the 60,000 training images, and what the report shares, in one run.

    .venv/bin/python benchmarks/bench_duplicates.py [--datasets mnist fashion-mnist]

1. Every pair of training images within the report's near-duplicate radius (a quarter of the
   median nearest-neighbour distance), two ways on the same index:
   * mnistlab ``pairs_within(r)``: each block of images compared only with those within r of it
     along the leading principal direction;
   * the same lower bound against all 60,000 images (``pairs_within(r, X=train)``, the previous
     algorithm), self-pairs dropped.
   Both must return the same pairs.
2. ``find_duplicates`` on its own against ``find_duplicates`` given the report's training index
   and test neighbours (which the report needs anyway for its galleries and k-NN): same pairs.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import numpy as np

import mnistlab
from mnistlab.similarity import NEAR_FRACTION, NearestImages, find_duplicates


def timed(func):
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def pair_set(queries, targets) -> set[tuple[int, int]]:
    return set(zip(queries.tolist(), targets.tolist(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores\n")
    print(f"{'dataset / what':<56}{'mnistlab':>10}{'baseline':>10}{'ratio':>8}  result")
    for name in args.datasets:
        ds = mnistlab.load(name, progress=False)
        index = NearestImages().fit(ds.train.images)
        neighbours = index.kneighbors(ds.test.images, 5)
        d = math.prod(ds.image_shape)
        radius = NEAR_FRACTION * float(np.median(neighbours[0][:, 0]))
        ours_t, ours = timed(lambda: index.pairs_within(radius))  # noqa: B023
        full_t, full = timed(lambda: index.pairs_within(radius, ds.train.images))  # noqa: B023
        keep = full[0] != full[1]
        same = pair_set(ours[0], ours[1]) == pair_set(full[0][keep], full[1][keep])
        note = f"{len(ours[0]) // 2:,} pairs within RMS {radius / math.sqrt(d):.2f}, " + (
            "identical" if same else "DIFFERENT"
        )
        label = f"{name}: pairs within train (vs bound on all)"
        print(f"{label:<56}{ours_t:>9.1f}s{full_t:>9.1f}s{full_t / ours_t:>7.1f}x  {note}")
        shared_t, shared = timed(
            lambda: find_duplicates(ds, index=index, neighbours=neighbours)  # noqa: B023
        )
        alone_t, alone = timed(lambda: find_duplicates(ds))  # noqa: B023
        equal = shared.pairs.equals(alone.pairs)
        note = f"{len(alone.pairs)} duplicate pairs, " + ("identical" if equal else "DIFFERENT")
        label = f"{name}: find_duplicates, shared search (vs own)"
        print(f"{label:<56}{shared_t:>9.1f}s{alone_t:>9.1f}s{alone_t / shared_t:>7.1f}x  {note}")


if __name__ == "__main__":
    main()
