"""Dataset maps on MNIST: PCA, t-SNE and UMAP with mnistlab.embed vs the libraries called with
their defaults, and scikit-learn's TSNE as the baseline a newcomer would use.

    .venv/bin/python benchmarks/bench_embed.py [--sizes 10000,70000] [--methods pca,tsne,umap]
        [--sklearn-tsne 10000]

Each row runs in a fresh process (so peak memory is that run's own, read from
``resource.getrusage``), on the first N of MNIST's 70,000 images (training then test):

- ``mnistlab``: ``mnistlab.embed(images, method, measure=False)``: PCA exact; t-SNE and UMAP from
  the first 50 principal components, seed 0 (UMAP then runs on one thread: umap-learn's price for
  reproducibility; t-SNE on every core).
- ``library defaults``: ``openTSNE.TSNE(n_jobs=cores).fit(pixels)`` and
  ``umap.UMAP().fit_transform(pixels)`` on the 784 pixels, no seed (UMAP then uses every core),
  and scikit-learn's ``PCA(2)``.
- ``sklearn TSNE``: ``sklearn.manifold.TSNE(init="pca")`` (Barnes-Hut, every core) on the
  pixels, only up to ``--sklearn-tsne`` images (it is the slow one).

Anchors from the libraries' documentation (4-core laptops): umap-learn about 42 s for the 70,000
MNIST images; openTSNE 1.5 to 3 minutes. UMAP's first call compiles its numba functions, about
40 s in every new process: a warm-up on 5,000 images (seeded and parallel) runs first, untimed,
in each process.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

RUN = r"""
import json, os, resource, sys, time, warnings
import numpy as np
import mnistlab
what, method, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ds = mnistlab.load("mnist", progress=False)
images = np.concatenate([ds.train.images, ds.test.images])[:n]
labels = np.concatenate([ds.train.labels, ds.test.labels])[:n]
pixels = images.reshape(n, -1).astype(np.float32) / 255.0
cores = os.cpu_count()
warnings.simplefilter("ignore")
if method == "umap":  # numba compiles on the first call; not part of the timing
    import umap
    # 5,000 points: beyond 4,096 UMAP searches neighbours with pynndescent, compiled too
    umap.UMAP(random_state=0).fit_transform(pixels[:5000])
    umap.UMAP(n_jobs=cores).fit_transform(pixels[:5000])
started = time.perf_counter()
if what == "mnistlab":
    coords = mnistlab.embed(images, method, labels=labels, measure=False).coordinates
elif what == "defaults":
    if method == "pca":
        from sklearn.decomposition import PCA
        coords = PCA(2).fit_transform(pixels)
    elif method == "tsne":
        from openTSNE import TSNE
        coords = np.asarray(TSNE(n_jobs=cores).fit(pixels))
    else:
        import umap
        coords = umap.UMAP().fit_transform(pixels)
else:  # scikit-learn's t-SNE
    from sklearn.manifold import TSNE
    coords = TSNE(init="pca", n_jobs=cores).fit_transform(pixels)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
# How faithful, the same measure for every row: leave-one-out 10-NN accuracy in the map.
from mnistlab.maps import faithfulness
f = faithfulness(pixels, coords, labels, sample=2000)
print(json.dumps({"seconds": seconds, "peak_gib": peak, "knn_map": f.knn_map,
                  "trust": f.trustworthiness}))
"""


def run(what: str, method: str, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", RUN, what, method, str(n)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,70000")
    parser.add_argument("--methods", default="pca,tsne,umap")
    parser.add_argument("--sklearn-tsne", type=int, default=10_000, help="largest size for it")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = args.methods.split(",")
    print(
        f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}; MNIST, first N of 70,000\n",
        flush=True,
    )
    header = f"{'method':6} {'images':>7} {'who':18} {'seconds':>8} {'peak GiB':>9} {'10-NN map':>10} "
    print(header + f"{'trust':>7} {'vs mnistlab':>12}", flush=True)
    for n in sizes:
        for method in methods:
            rows = [("mnistlab", "mnistlab"), ("defaults", "library defaults")]
            if method == "tsne" and n <= args.sklearn_tsne:
                rows.append(("sklearn", "sklearn TSNE"))
            ours = None
            for what, label in rows:
                r = run(what, method, n)
                if "error" in r:
                    print(f"{method:6} {n:7,} {label:18} failed: {r['error']}", flush=True)
                    continue
                ours = ours or r["seconds"]
                ratio = r["seconds"] / ours
                print(
                    f"{method:6} {n:7,} {label:18} {r['seconds']:8.1f} {r['peak_gib']:9.2f} "
                    f"{r['knn_map']:10.3f} {r['trust']:7.3f} {ratio:11.2f}x",
                    flush=True,
                )
    print(f"\nfinished {time.strftime('%H:%M')}")


if __name__ == "__main__":
    main()
