"""One-pixel separability: the scikit-learn loop vs mnistlab, on MNIST, in one run.

    .venv/bin/python benchmarks/bench_onepixel.py [--pairs 6] [--pixels 20]

The published analysis fits one ``LogisticRegression`` per (pair of classes, pixel): 45 x 784 =
35,280 fits for MNIST. For each scale this script

1. times that scikit-learn loop (default settings, C=1) on a sample: ``--pairs`` random pairs x
   ``--pixels`` random pixels from the middle rows, where there is ink;
2. times mnistlab on exactly the same sample (one call, ``pairs=`` and ``pixels=``) and checks
   that both pick the same best pixel per pair with the same coefficient;
3. times mnistlab's full sweep (all 35,280 fits) and compares it with the scikit-learn loop
   extrapolated from its measured time per fit.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression

import mnistlab
from mnistlab.onepixel import l2_normalise, one_pixel_separability

FULL_FITS = 45 * 784


def features(images: np.ndarray, scale: str) -> np.ndarray:
    if scale == "l2":
        return l2_normalise(images)
    flat = images.reshape(len(images), -1).astype(np.float64)
    return flat / 255 if scale == "unit" else flat


def sklearn_loop(ds, scale: str, pairs, pixels) -> dict:
    """Best pixel per pair by fitting every (pair, pixel) with scikit-learn, as published."""
    best = {}
    for a, b in pairs:
        mine = np.isin(ds.train.labels, [a, b])
        X = features(ds.train.images[mine], scale)
        y = (ds.train.labels[mine] == b).astype(int)
        scores = []
        for k in pixels:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # lbfgs may stop at max_iter on raw values
                model = LogisticRegression(C=1.0).fit(X[:, [k]], y)
            scores.append((model.score(X[:, [k]], y), -k, model.coef_[0, 0]))
        accuracy, k, coef = max(scores)
        best[(a, b)] = (-k, accuracy, coef)
    return best


def timed(func):
    gc.collect()
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--pixels", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ds = mnistlab.load("mnist", progress=False)
    rng = np.random.default_rng(args.seed)
    all_pairs = [(a, b) for a in range(10) for b in range(a + 1, 10)]
    pairs = [all_pairs[i] for i in sorted(rng.choice(45, size=args.pairs, replace=False))]
    pixels = np.sort(rng.choice(np.arange(6 * 28, 22 * 28), size=args.pixels, replace=False))
    n_sample = len(pairs) * len(pixels)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; MNIST train 60,000")
    print(f"sample: {len(pairs)} pairs x {len(pixels)} pixels = {n_sample} fits\n")
    header = (
        f"{'scale':<6}{'sklearn/fit':>12}{'sample sk':>11}{'sample ours':>12}{'ratio':>8}"
        f"{'full ours':>11}{'full sk (est.)':>16}{'ratio':>8}  same best pixels"
    )
    print(header)
    for scale in ("unit", "raw", "l2"):
        sk_time, sk_best = timed(lambda scale=scale: sklearn_loop(ds, scale, pairs, pixels))
        ours_time, ours = timed(
            lambda scale=scale: one_pixel_separability(
                ds, scale, pairs=pairs, pixels=pixels, progress=False
            )
        )
        agree = 0
        for row in ours.pairs.itertuples():
            pixel, _, coef = sk_best[(row.class_a, row.class_b)]
            # scikit-learn's default tolerance (1e-4) leaves coefficients a little short of the optimum.
            agree += row.pixel == pixel and np.isclose(row.coef, coef, rtol=1e-2)
        full_time, _ = timed(lambda scale=scale: one_pixel_separability(ds, scale, progress=False))
        per_fit = sk_time / n_sample
        print(
            f"{scale:<6}{per_fit * 1e3:>10.1f}ms{sk_time:>10.1f}s{ours_time:>11.2f}s"
            f"{sk_time / ours_time:>7.0f}x{full_time:>10.1f}s{per_fit * FULL_FITS:>15.0f}s"
            f"{per_fit * FULL_FITS / full_time:>7.0f}x  {agree}/{len(pairs)}"
        )


if __name__ == "__main__":
    main()
