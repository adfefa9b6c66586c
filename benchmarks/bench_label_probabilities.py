"""Out-of-fold class probabilities of the whole MNIST training split, per candidate model.

    .venv/bin/python benchmarks/bench_label_probabilities.py [--models mlp,logreg,knn,forest]
        [--folds 5] [--seed 0] [--dataset mnist]

Confident learning needs every training image's class probabilities from a model that did not
see it: ``out_of_sample_probabilities`` trains one model per fold of a stratified 5-fold
cross-validation. For each model this prints the seconds for all folds, the out-of-fold accuracy
and the log loss (the mean of -log p(given label): lower means sharper, better calibrated
probabilities), the measures the default model (``mnistlab.quality.probabilities.DEFAULT``) was
chosen by: good probabilities, the whole split in at most 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
import warnings

import numpy as np

import mnistlab
from mnistlab.models import resolve_models
from mnistlab.quality.probabilities import DEFAULT, out_of_sample_probabilities

CANDIDATES = (DEFAULT, "logreg", "knn", "forest")


def log_loss(found) -> float:
    picked = found.probabilities[np.arange(len(found)), found.labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, None))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(CANDIDATES), help="model names, comma-separated")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", default="mnist")
    args = parser.parse_args()
    names = resolve_models(args.models)
    dataset = mnistlab.load(args.dataset, progress=False)
    print(
        f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}; "
        f"{args.dataset} train ({len(dataset.train):,} images), {args.folds} folds, "
        f"default model {DEFAULT}\n",
        flush=True,
    )
    print(f"{'model':10} {'seconds':>8} {'accuracy':>9} {'log loss':>9}")
    for name in names:
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # logreg's iteration limit, once per fold
            found = out_of_sample_probabilities(
                dataset, model=name, folds=args.folds, seed=args.seed, progress=True
            )
        seconds = time.perf_counter() - started
        print(f"{name:10} {seconds:8.1f} {found.accuracy:9.4f} {log_loss(found):9.4f}", flush=True)


if __name__ == "__main__":
    main()
