"""The tidy route vs mnistlab on the full MNIST training split (60,000 images), in one run.

    .venv/bin/python benchmarks/bench_tidy.py

(a) Building the one-row-per-pixel table: mnistlab.tidy vs pandas.melt of the wide DataFrame
    (one column per pixel), time and bytes per row.
(b) Class centroids plus every image's RMS distance to its centroid: mnistlab (chunked reductions
    on uint8 images) vs the tidy route of the original R analysis (group the long table by class
    and pixel, join the means back, group by image). Both results are checked equal.
"""

from __future__ import annotations

import gc
import os
import platform
import time

import numpy as np
import pandas as pd

import mnistlab
from mnistlab import stats
from mnistlab.tidy import tidy


def timed(func):
    gc.collect()
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def best_of(func, repeat: int):
    runs = [timed(func) for _ in range(repeat)]
    return min(t for t, _ in runs), runs[-1][1]


def melt_route(split) -> pd.DataFrame:
    n, h, w = split.images.shape
    wide = pd.DataFrame(split.images.reshape(n, h * w), columns=[f"pixel{i}" for i in range(h * w)])
    wide.insert(0, "label", split.labels)
    wide.insert(0, "index", np.arange(n))
    long = wide.melt(id_vars=["index", "label"], var_name="pixel", value_name="value")
    pixel = long["pixel"].str.removeprefix("pixel").astype(np.int64)
    long["x"] = pixel % w
    long["y"] = pixel // w
    return long.drop(columns="pixel")


def tidy_route_distances(long: pd.DataFrame) -> pd.Series:
    centre = long.groupby(["label", "x", "y"])["value"].mean().rename("centre").reset_index()
    joined = long.merge(centre, on=["label", "x", "y"])
    joined["sq"] = (joined["value"].astype(np.float64) - joined["centre"]) ** 2
    return np.sqrt(joined.groupby("index")["sq"].mean())


def mnistlab_distances(split) -> np.ndarray:
    centroids = stats.centroids(split.images, split.labels, split.classes)
    return stats.distance_to_centroid(split.images, split.labels, centroids.means)


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    split = mnistlab.load("mnist", download=False, progress=False).train
    rows = len(split) * split.images[0].size

    t_ours, ours = best_of(lambda: tidy(split), 3)
    bytes_ours = ours.memory_usage(index=False).sum() / rows
    t_melt, melted = timed(lambda: melt_route(split))
    bytes_melt = melted.memory_usage(index=False, deep=True).sum() / rows
    assert len(melted) == len(ours) == rows
    del melted

    t_fast, fast = best_of(lambda: mnistlab_distances(split), 5)
    long = tidy(split)
    t_slow, slow = best_of(lambda: tidy_route_distances(long), 2)
    np.testing.assert_allclose(fast, slow.sort_index().to_numpy(), rtol=1e-9)

    print(f"\nMNIST training split: {len(split):,} images, {rows:,} pixel rows\n")
    print(f"{'':44s} {'mnistlab':>10s} {'tidy route':>11s} {'ratio':>8s}")
    print(f"{'(a) tidy table: time':44s} {t_ours:9.2f}s {t_melt:10.2f}s {t_melt / t_ours:7.1f}x")
    ratio = bytes_melt / bytes_ours
    print(f"{'    bytes per row':44s} {bytes_ours:10.1f} {bytes_melt:11.1f} {ratio:7.1f}x")
    print(
        f"{'(b) centroids + distance of every image':44s} {t_fast:9.2f}s {t_slow:10.2f}s "
        f"{t_slow / t_fast:7.0f}x"
    )
    print(
        f"\naims: tidy table < 2 s ({'met' if t_ours < 2 else 'MISSED'}), "
        f"<= 8 bytes per row ({'met' if bytes_ours <= 8 else 'MISSED'}), "
        f"centroid/distance path >= 50x faster ({'met' if t_slow / t_fast >= 50 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
