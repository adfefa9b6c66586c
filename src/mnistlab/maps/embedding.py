"""Maps of a dataset in two dimensions: PCA, t-SNE (openTSNE) and UMAP (umap-learn).

Every map is made from the pixels scaled to 0..1. t-SNE and UMAP first project the images on
their first 50 principal components (when they have more than 50 pixels): the neighbour search
then works in 50 dimensions instead of 784, several times faster, and the dropped components are
mostly pixel noise (on MNIST the first 50 keep 82 % of the pixel variance); this is the usual practice
(van der Maaten and Hinton 2008; openTSNE's and umap-learn's MNIST examples). ``pca=None``
turns it off.

Determinism: a map is a function of the data, ``seed`` and, for t-SNE, the number of threads.
PCA is exact (an eigendecomposition of the covariance matrix). openTSNE gives the same map for
the same seed and threads, a different (equally good) one on another number of threads: t-SNE
uses every core unless ``threads`` is given, and the map records how many it used (pass
``threads=1`` for a map that is the same on every machine, at the cost of speed). umap-learn is
reproducible only on one thread (it turns its parallel optimisation off when given a seed), so a
seeded UMAP runs single-threaded; ``seed=None`` lets it use every core, with a different map at
each run.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mnistlab.data.dataset import Dataset, Split
from mnistlab.maps.faithfulness import (
    FAITHFULNESS_K,
    FAITHFULNESS_SAMPLE,
    Faithfulness,
    faithfulness,
)

__all__ = ["METHODS", "PCA_FIRST", "Map", "Placed", "embed"]

#: The methods, in order of cost.
METHODS = ("pca", "tsne", "umap")
#: Principal components t-SNE and UMAP start from (when the images have more pixels).
PCA_FIRST = 50
#: The shares of variance whose number of components :meth:`Map.components_for` reports.
VARIANCE_SHARES = (0.90, 0.95, 0.99)


@dataclass(frozen=True, eq=False)
class Placed:
    """Points placed into a map fitted on other points (the test split into the training
    split's map): their split, positions in it, labels and coordinates."""

    split: str
    indices: np.ndarray = field(repr=False)
    labels: np.ndarray | None = field(repr=False)
    coordinates: np.ndarray = field(repr=False)
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.coordinates)


@dataclass(frozen=True, eq=False)
class Map:
    """A 2-D map of images, with how it was made and how faithful it is.

    Attributes
    ----------
    method : str
        "pca", "tsne" or "umap".
    dataset, split : str
        Where the mapped images come from ("" and "images" for bare arrays).
    coordinates : ndarray of float32, shape (n, 2)
        Each image's place.
    indices : ndarray of int64, shape (n,)
        Each image's position in its split.
    labels : ndarray of int64, shape (n,), or None
        Each image's class (an index into ``classes``), if known.
    classes : tuple of str
        Class names.
    params : dict
        The settings that made the map (perplexity, neighbours, PCA components, seed, threads).
    seconds : float
        The time to fit the map (without placing other points or measuring faithfulness).
    variance : ndarray of float64 or None
        Explained variance ratio of the principal components: all of them for PCA, the
        ``PCA_FIRST`` kept before t-SNE or UMAP; None when no PCA was made.
    placed : Placed or None
        Other points placed into the fitted map.
    faithfulness : Faithfulness or None
        k-NN accuracy in the map vs in pixel space, and trustworthiness.
    """

    method: str
    dataset: str
    split: str
    coordinates: np.ndarray = field(repr=False)
    indices: np.ndarray = field(repr=False)
    labels: np.ndarray | None = field(repr=False)
    classes: tuple[str, ...]
    params: dict
    seconds: float
    variance: np.ndarray | None = field(default=None, repr=False)
    placed: Placed | None = field(default=None, repr=False)
    faithfulness: Faithfulness | None = None

    def __len__(self) -> int:
        return len(self.coordinates)

    @property
    def title(self) -> str:
        """The method's name as written: PCA, t-SNE or UMAP."""
        return {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[self.method]

    def components_for(self, share: float) -> int | None:
        """How many principal components keep ``share`` (0..1) of the pixel variance; None when
        the components computed do not reach it (or no PCA was made)."""
        if self.variance is None:
            return None
        reached = np.flatnonzero(np.cumsum(self.variance) >= share - 1e-12)
        return int(reached[0]) + 1 if reached.size else None

    def positions(self, split: Split, placed: bool = False) -> np.ndarray:
        """The rows of ``split`` that hold the mapped images (or the placed ones), found by their
        indices."""
        wanted: np.ndarray = self.indices
        if placed:
            wanted = self.placed.indices if self.placed is not None else np.zeros(0, np.int64)
        position = {int(i): p for p, i in enumerate(np.asarray(split.indices))}
        try:
            return np.asarray([position[int(i)] for i in wanted], np.int64)
        except KeyError as exc:
            raise ValueError(f"image {exc.args[0]} of the map is not in split {split.name!r}.") from None

    def images(self, split: Split, placed: bool = False) -> np.ndarray:
        """The mapped images (or the placed ones), taken from ``split`` by their indices."""
        return split.images[self.positions(split, placed)]

    def to_frame(self) -> pd.DataFrame:
        """One row per point: ``split, index, label, class, x, y`` (the placed points after)."""
        parts = [(self.split, self.indices, self.labels, self.coordinates)]
        if self.placed is not None:
            p = self.placed
            parts.append((p.split, p.indices, p.labels, p.coordinates))
        frames = []
        for split, indices, labels, xy in parts:
            frame = pd.DataFrame({"split": split, "index": indices})
            if labels is not None:
                frame["label"] = labels
                frame["class"] = np.asarray(self.classes, dtype=object)[labels]
            frame["x"], frame["y"] = xy[:, 0], xy[:, 1]
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> dict:
        """What the map is and how faithful, JSON-ready."""
        out = {
            "method": self.method,
            "dataset": self.dataset,
            "split": self.split,
            "points": len(self),
            "placed": None
            if self.placed is None
            else {"split": self.placed.split, "points": len(self.placed)},
            "params": self.params,
            "seconds": round(self.seconds, 3),
            "faithfulness": None if self.faithfulness is None else self.faithfulness.row(),
        }
        if self.variance is not None:
            out["components_for"] = {f"{s:.0%}": self.components_for(s) for s in VARIANCE_SHARES}
        return out


def embed(
    data: Dataset | Split | np.ndarray,
    method: str = "pca",
    *,
    split: str = "train",
    place: str | None = None,
    first: int | None = None,
    sample: int | None = None,
    labels: np.ndarray | None = None,
    classes: tuple[str, ...] | None = None,
    pca: int | None = PCA_FIRST,
    perplexity: float = 30.0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int | None = 0,
    threads: int | None = None,
    measure: bool = True,
    k: int = FAITHFULNESS_K,
    measure_sample: int = FAITHFULNESS_SAMPLE,
) -> Map:
    """Map images in two dimensions with PCA, t-SNE or UMAP, and measure how faithful the map is.

    Parameters
    ----------
    data : Dataset, Split or ndarray
        A dataset (``split`` says which split is mapped), a split, or images (n, h, w) or rows
        (n, d) of pixel values 0..255.
    method : {"pca", "tsne", "umap"}
        PCA (scikit-learn; exact, the explained variance curve too), t-SNE (openTSNE, PCA
        initialisation; FFT-accelerated gradients from 10,000 points, Barnes-Hut below, where
        the FFT's fixed cost per iteration dominates: openTSNE's own choice) or UMAP
        (umap-learn).
    split : str, default "train"
        The split of a Dataset that is mapped.
    place : str, optional
        Another split of the Dataset to place into the fitted map (``"test"``): PCA projects it,
        openTSNE and UMAP optimise the new points against the fixed map.
    first : int, optional
        Map only the first ``first`` images of the split (and place only the first of ``place``).
    sample : int, optional
        Map a seeded random sample of this many images, stratified by class (before ``first``).
    labels : ndarray of int, optional
        With bare arrays: each image's class.
    classes : tuple of str, optional
        With bare arrays: the class names (default "0", "1", ...).
    pca : int or None, default 50
        t-SNE and UMAP start from this many principal components when there are more pixels;
        None starts from the pixels.
    perplexity : float, default 30
        t-SNE: the effective number of neighbours each point attends to (openTSNE's default, and
        van der Maaten's). It needs more than ``3 * perplexity`` points.
    n_neighbors : int, default 15
        UMAP: the size of the neighbourhood that defines the local structure (umap-learn's
        default); fewer than the points.
    min_dist : float, default 0.1
        UMAP: how tightly points may pack (umap-learn's default).
    seed : int or None, default 0
        Makes the map reproducible. See the module's note on what it costs UMAP in threads.
    threads : int, optional
        t-SNE's threads, and UMAP's when ``seed`` is None (default: every core).
    measure : bool, default True
        Measure faithfulness (k-NN accuracy in the map and in pixel space, trustworthiness).
    k : int, default 10
        Neighbours of the faithfulness measures.
    measure_sample : int, default 5000
        How many points the faithfulness measures use.

    Returns
    -------
    Map

    Raises
    ------
    ValueError
        If the method is unknown, there are too few points for ``perplexity`` or
        ``n_neighbors``, every image is the same, a value is NaN, or an argument is out of range.

    Examples
    --------
    >>> import mnistlab
    >>> ds = mnistlab.load("digits")
    >>> m = embed(ds, "pca", place="test")
    >>> m.coordinates.shape, m.placed.coordinates.shape, m.components_for(0.9)
    ((1347, 2), (450, 2), 21)
    >>> f = m.faithfulness  # two components keep too little: classes overlap in the map
    >>> round(f.knn_map, 2), round(f.knn_pixels, 2)
    (0.66, 0.98)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    _check_options(pca, perplexity, n_neighbors, min_dist, seed, threads)
    mapped, other, dataset = _splits(data, split, place, labels, classes)
    if sample is not None:
        mapped = mapped.subset(sample=sample, seed=0 if seed is None else seed)
    if first is not None:
        mapped = mapped.subset(first=first)
        other = None if other is None else other.subset(first=first)
    X = mapped.images.reshape(len(mapped), -1).astype(np.float32) / 255.0
    _check_points(X, method, perplexity, n_neighbors)
    threads = threads or os.cpu_count() or 1
    started = time.perf_counter()
    fitted = _fit(X, method, pca, perplexity, n_neighbors, min_dist, seed, threads)
    coordinates, transform, variance, params = fitted
    seconds = time.perf_counter() - started
    placed = None
    to_measure = None
    if other is not None:
        began = time.perf_counter()
        Z = other.images.reshape(len(other), -1).astype(np.float32) / 255.0
        placed_xy = np.asarray(transform(Z), np.float32) if len(Z) else np.zeros((0, 2), np.float32)
        indices = np.asarray(other.indices)
        placed = Placed(other.name, indices, other.labels, placed_xy, time.perf_counter() - began)
        to_measure = (Z, placed_xy, other.labels)
    measured = None
    if measure:
        measured = faithfulness(
            X,
            coordinates,
            mapped.labels,
            k=k,
            sample=measure_sample,
            seed=0 if seed is None else seed,
            placed=to_measure,
        )
    return Map(
        method=method,
        dataset=dataset,
        split=mapped.name,
        coordinates=coordinates,
        indices=np.asarray(mapped.indices),
        labels=mapped.labels,
        classes=mapped.classes,
        params=params,
        seconds=seconds,
        variance=variance,
        placed=placed,
        faithfulness=measured,
    )


def _check_options(pca, perplexity, n_neighbors, min_dist, seed, threads) -> None:
    def whole(value) -> bool:
        return not isinstance(value, bool) and isinstance(value, (int, np.integer))

    if pca is not None and not (whole(pca) and pca >= 2):
        raise ValueError(f"pca must be a whole number >= 2 or None, got {pca!r}.")
    if isinstance(perplexity, bool) or not isinstance(perplexity, (int, float)) or not perplexity > 0:
        raise ValueError(f"perplexity must be a number > 0, got {perplexity!r}.")
    if not (whole(n_neighbors) and n_neighbors >= 2):
        raise ValueError(f"n_neighbors must be a whole number >= 2, got {n_neighbors!r}.")
    if isinstance(min_dist, bool) or not isinstance(min_dist, (int, float)) or not min_dist >= 0:
        raise ValueError(f"min_dist must be a number >= 0, got {min_dist!r}.")
    if seed is not None and not (whole(seed) and 0 <= seed < 2**32):
        raise ValueError(f"seed must be a whole number in 0..2**32-1 or None, got {seed!r}.")
    if threads is not None and not (whole(threads) and threads >= 1):
        raise ValueError(f"threads must be a whole number >= 1, got {threads!r}.")


def _splits(data, split, place, labels, classes) -> tuple[Split, Split | None, str]:
    """The split to map, the one to place (or None), and the dataset's name."""
    from mnistlab.data.lazy import LazyDataset

    if isinstance(data, LazyDataset):
        raise ValueError(
            "maps are made in memory: load the images (mnistlab.load(..., first=N)) or pass a "
            "split; a t-SNE or UMAP of more than a few hundred thousand images is not readable."
        )
    if isinstance(data, Dataset):
        mapped = data.split(split)
        other = None if place is None else data.split(place)
        if place == split:
            raise ValueError(f"place must be another split than {split!r}.")
        return mapped, other, data.name
    if place is not None:
        raise ValueError("place needs a Dataset (the split to place into the map).")
    if isinstance(data, Split):
        return data, None, ""
    images = np.asarray(data)
    if images.ndim == 2:
        images = images.reshape(len(images), 1, images.shape[1])
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, h, w) or (n, d), got {images.shape}.")
    if labels is None:
        labels = np.zeros(len(images), np.int64)
        classes = classes or ("all",)
    labels = np.asarray(labels)
    if classes is None:
        classes = tuple(str(c) for c in range(int(labels.max()) + 1 if labels.size else 1))
    return Split(images, labels, tuple(classes), name="images"), None, ""


def _check_points(X: np.ndarray, method: str, perplexity: float, n_neighbors: int) -> None:
    n = len(X)
    if n < 3:
        raise ValueError(f"a map needs at least 3 images, got {n}.")
    if method == "tsne" and n - 1 < 3 * perplexity:
        raise ValueError(
            f"t-SNE with perplexity {perplexity:g} looks at 3 x {perplexity:g} = {3 * perplexity:g} "
            f"neighbours of each point, so it needs more than {3 * perplexity:g} images; got {n}. "
            f"Map more images or lower the perplexity (at most {(n - 1) / 3:g})."
        )
    if method == "umap" and n_neighbors >= n:
        raise ValueError(
            f"UMAP with n_neighbors={n_neighbors} needs more images than neighbours; got {n}. "
            f"Map more images or lower n_neighbors (at most {n - 1})."
        )
    if not np.ptp(X, axis=0).any():
        raise ValueError(f"all {n} images are the same: a map of identical points has nothing to show.")


def _pca(X: np.ndarray, components: int | None, seed: int | None):
    """An exact PCA (eigendecomposition of the covariance): the fitted model."""
    from sklearn.decomposition import PCA

    components = min(components or X.shape[1], X.shape[0], X.shape[1])
    return PCA(n_components=components, svd_solver="covariance_eigh", random_state=seed).fit(X)


def _fit(X, method, pca, perplexity, n_neighbors, min_dist, seed, threads):
    """(coordinates, transform of new points, variance, params) of one method."""
    if method == "pca":
        model = _pca(X, None, seed)
        coordinates = model.transform(X)[:, :2].astype(np.float32)

        def project(Z):
            return model.transform(Z)[:, :2]

        return coordinates, project, model.explained_variance_ratio_, {"seed": seed}
    variance = None
    reduce = None
    if pca is not None and X.shape[1] > pca:
        reduce = _pca(X, pca, seed)
        X = reduce.transform(X).astype(np.float32)
        variance = reduce.explained_variance_ratio_
    params: dict = {"pca": None if reduce is None else reduce.n_components_, "seed": seed}
    if method == "tsne":
        from openTSNE import TSNE

        tsne = TSNE(
            perplexity=perplexity,
            initialization="pca",
            negative_gradient_method="auto",  # Barnes-Hut below 10,000 points, FFT from there
            n_jobs=threads,
            random_state=seed,
        )
        embedding = tsne.fit(X)
        params |= {"perplexity": perplexity, "threads": threads}

        def transform(Z):
            return embedding.transform(Z if reduce is None else reduce.transform(Z))

        return np.asarray(embedding, np.float32), transform, variance, params
    import umap  # umap-learn; numba compiles its functions on the first call

    jobs = 1 if seed is not None else threads
    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, n_jobs=jobs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs.*")
        coordinates = reducer.fit_transform(X)
    params |= {"n_neighbors": n_neighbors, "min_dist": min_dist, "threads": jobs}

    def place(Z):
        return reducer.transform(Z if reduce is None else reduce.transform(Z))

    return np.asarray(coordinates, np.float32), place, variance, params
