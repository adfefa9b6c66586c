"""How faithful a 2-D map is to the images: k-NN accuracy in the map vs in pixel space, and
trustworthiness.

A map can draw islands that are not in the data, and tear apart what is close in it. Two numbers
say how far to trust one, both on a seeded sample of the mapped points:

- **k-NN accuracy**, leave-one-out: each sampled point is classified by the majority label of its
  ``k`` nearest other mapped points, once with the map's 2-D coordinates and once with the
  pixels. Equal accuracies mean the map kept the class neighbourhoods; a lower map accuracy
  means classes were mixed by the projection.
- **trustworthiness** (Venna and Kaski 2001; scikit-learn's ``trustworthiness``): 1 when every
  point's ``k`` nearest neighbours in the map are also among its nearest in pixel space, lower
  when the map brings together points that are far apart. It costs n² memory, hence the sample.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> labels = np.repeat([0, 1, 2], 50)
>>> pixels = rng.normal(size=(150, 20)) + 20 * labels[:, None]
>>> coords = rng.normal(size=(150, 2)) + 20 * labels[:, None]
>>> f = faithfulness(pixels, coords, labels, k=5)
>>> f.knn_map, f.knn_pixels
(1.0, 1.0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["FAITHFULNESS_K", "FAITHFULNESS_SAMPLE", "Faithfulness", "faithfulness", "mixed_pairs"]

#: The neighbours of the k-NN vote and of trustworthiness.
FAITHFULNESS_K = 10
#: How many mapped points are sampled (seeded, stratified by class) for the measures.
FAITHFULNESS_SAMPLE = 5_000


@dataclass(frozen=True)
class Faithfulness:
    """How faithful a map is; see the module's description.

    Attributes
    ----------
    k : int
        Neighbours of the vote and of trustworthiness.
    sample : int
        How many mapped points the measures were computed on.
    knn_map, knn_pixels : float or None
        Leave-one-out k-NN accuracy of the sampled points among all mapped points, with the map's
        coordinates and with the pixels; None with fewer than two classes (a vote then says
        nothing).
    trustworthiness : float
        scikit-learn's ``trustworthiness`` of the sample (0..1, 1 is best).
    placed_knn_map, placed_knn_pixels : float or None
        For points placed into a fitted map (the test split into the training split's map): the
        accuracy of classifying them by their ``k`` nearest fitted points, in the map and in
        pixel space; None when no point was placed.
    """

    k: int
    sample: int
    knn_map: float | None
    knn_pixels: float | None
    trustworthiness: float
    placed_knn_map: float | None = None
    placed_knn_pixels: float | None = None

    def row(self) -> dict:
        """The numbers as one JSON-ready dict."""
        return asdict(self)


def faithfulness(
    pixels: np.ndarray,
    coordinates: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    k: int = FAITHFULNESS_K,
    sample: int = FAITHFULNESS_SAMPLE,
    seed: int = 0,
    placed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Faithfulness:
    """Measure how faithful ``coordinates`` (a 2-D map of ``pixels``) is.

    Parameters
    ----------
    pixels : ndarray, shape (n, d) or (n, h, w)
        The mapped points in the space the map was made from (images are flattened; any scale,
        the same for every point).
    coordinates : ndarray, shape (n, 2)
        Their places on the map.
    labels : ndarray of int, shape (n,), optional
        Their classes; without them only trustworthiness is measured.
    k : int, default 10
        Neighbours of the vote and of trustworthiness; the sample must hold more than ``2 * k``
        points (scikit-learn's bound for trustworthiness).
    sample : int, default 5000
        How many points are measured: a seeded sample, stratified by class when ``labels`` are
        given. Trustworthiness holds two ``sample x sample`` matrices.
    seed : int, default 0
        The sample's seed.
    placed : tuple of (pixels, coordinates, labels), optional
        Points placed into the fitted map afterwards; their accuracy by their ``k`` nearest
        fitted points is measured in both spaces (on at most ``sample`` of them).

    Returns
    -------
    Faithfulness

    Raises
    ------
    ValueError
        If the shapes disagree, a value is not finite, or there are too few points for ``k``.

    Examples
    --------
    A map that is the data itself keeps every neighbour:

    >>> import numpy as np
    >>> points = np.random.default_rng(1).normal(size=(60, 2))
    >>> faithfulness(points, points, np.repeat([0, 1], 30), k=3).trustworthiness
    1.0
    """
    from sklearn.manifold import trustworthiness as sk_trustworthiness

    X = _rows(pixels, "pixels")
    Y = _rows(coordinates, "coordinates")
    n = len(X)
    if Y.shape != (n, 2):
        raise ValueError(f"coordinates must have shape ({n}, 2) for {n} points, got {Y.shape}.")
    y = None if labels is None else _labels(labels, n)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a whole number >= 1, got {k!r}.")
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < 1:
        raise ValueError(f"sample must be a whole number >= 1, got {sample!r}.")
    size = min(sample, n)
    if size <= 2 * k:
        raise ValueError(
            f"faithfulness with k={k} neighbours needs more than {2 * k} points "
            f"(trustworthiness' bound), got {size}; lower k or map more points."
        )
    chosen = _sample(n, size, y, seed)
    trust = float(sk_trustworthiness(X[chosen], Y[chosen], n_neighbors=k))
    knn_map = knn_pixels = None
    if y is not None and len(np.unique(y)) > 1:
        knn_map = _leave_one_out(Y, y, chosen, k)
        knn_pixels = _leave_one_out(X, y, chosen, k)
    placed_map = placed_pixels = None
    if placed is not None and y is not None:
        px, pc, pl = placed
        px, pc = _rows(px, "placed pixels"), _rows(pc, "placed coordinates")
        pl = _labels(pl, len(px))
        if px.shape[1] != X.shape[1] or pc.shape != (len(px), 2):
            raise ValueError(
                f"placed points must have {X.shape[1]} features and 2 coordinates, got "
                f"{px.shape} and {pc.shape}."
            )
        if len(px):
            some = _sample(len(px), min(sample, len(px)), pl, seed)
            placed_map = _held_out(Y, y, pc[some], pl[some], k)
            placed_pixels = _held_out(X, y, px[some], pl[some], k)
    return Faithfulness(int(k), int(size), knn_map, knn_pixels, trust, placed_map, placed_pixels)


def _rows(values, name: str) -> np.ndarray:
    """``values`` as float32 rows (n, d), images flattened; finite."""
    X = np.asarray(values)
    if X.ndim == 3:
        X = X.reshape(len(X), -1)
    if X.ndim != 2:
        raise ValueError(f"{name} must be rows (n, d) or images (n, h, w), got shape {X.shape}.")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numbers, got dtype {X.dtype}.")
    X = X.astype(np.float32, copy=False)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} hold NaN or infinite values.")
    return X


def _labels(labels, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be {n} whole numbers, got shape {y.shape}, dtype {y.dtype}.")
    return y.astype(np.int64, copy=False)


def _sample(n: int, size: int, labels: np.ndarray | None, seed: int) -> np.ndarray:
    """``size`` sorted positions out of ``n``, stratified by ``labels`` when given."""
    if size >= n:
        return np.arange(n)
    if labels is None or len(np.unique(labels)) < 2:
        return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
    from sklearn.model_selection import train_test_split

    try:
        kept, _ = train_test_split(np.arange(n), train_size=size, stratify=labels, random_state=seed)
    except ValueError:  # a class with one point cannot be stratified
        kept = np.random.default_rng(seed).choice(n, size, replace=False)
    return np.sort(kept)


def _vote(neighbour_labels: np.ndarray) -> np.ndarray:
    """The most frequent label of each row (the smallest of tied ones)."""
    classes = int(neighbour_labels.max()) + 1
    counts = np.zeros((len(neighbour_labels), classes), np.int64)
    np.add.at(counts, (np.arange(len(neighbour_labels))[:, None], neighbour_labels), 1)
    return counts.argmax(axis=1)


def _leave_one_out(X: np.ndarray, y: np.ndarray, chosen: np.ndarray, k: int) -> float:
    """Accuracy of classifying ``X[chosen]`` by its ``k`` nearest other points of ``X``."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(X) - 1)
    index = NearestNeighbors(n_neighbors=k + 1).fit(X)
    _, near = index.kneighbors(X[chosen])
    # Drop each query itself: the first neighbour, or wherever a duplicate put it.
    own = near == chosen[:, None]
    keep = np.where(own.any(axis=1)[:, None], ~own, np.arange(k + 1) < k)
    near = near[keep].reshape(len(chosen), k)
    return float(np.mean(_vote(y[near]) == y[chosen]))


def _held_out(X: np.ndarray, y: np.ndarray, queries: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Accuracy of classifying ``queries`` by their ``k`` nearest points of ``X``."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=min(k, len(X))).fit(X)
    _, near = index.kneighbors(queries)
    return float(np.mean(_vote(y[near]) == truth))


def mixed_pairs(
    coordinates: np.ndarray, labels: np.ndarray, classes, *, k: int = FAITHFULNESS_K, top: int = 3
) -> list[tuple[str, str, float]]:
    """The pairs of classes that mix most on a map: for classes a and b, the share of the ``k``
    nearest map neighbours of a's and b's points that belong to the other class of the pair.

    Parameters
    ----------
    coordinates : ndarray, shape (n, 2)
        The map.
    labels : ndarray of int, shape (n,)
        Each point's class, an index into ``classes``.
    classes : sequence of str
        Class names.
    k : int, default 10
        Neighbours of each point.
    top : int, default 3
        How many pairs.

    Returns
    -------
    list of (str, str, float)
        ``(class a, class b, share)``, the most mixed first; pairs that do not mix are left out.

    Examples
    --------
    >>> import numpy as np
    >>> xy = np.array([[0, 0], [0, 1], [0, 2], [9, 0], [9, 1], [9, 2.0]])
    >>> [(a, b, round(share, 2)) for a, b, share in mixed_pairs(xy, [0, 1, 0, 2, 2, 2], "abc", k=2)]
    [('a', 'b', 0.67)]
    """
    from sklearn.neighbors import NearestNeighbors

    Y = _rows(coordinates, "coordinates")
    y = _labels(labels, len(Y))
    k = min(k, len(Y) - 1)
    if k < 1:
        return []
    _, near = NearestNeighbors(n_neighbors=k + 1).fit(Y).kneighbors(Y)
    near = near[:, 1:]  # the point itself (or a point at the same place) first
    n_classes = len(classes)
    links = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(links, (np.repeat(y, k), y[near].ravel()), 1)
    counts = np.bincount(y, minlength=n_classes)
    pairs = []
    for a in range(n_classes):
        for b in range(a + 1, n_classes):
            mixed = links[a, b] + links[b, a]
            if mixed:
                pairs.append((str(classes[a]), str(classes[b]), mixed / ((counts[a] + counts[b]) * k)))
    pairs.sort(key=lambda pair: -pair[2])
    return [(a, b, float(share)) for a, b, share in pairs[:top]]
