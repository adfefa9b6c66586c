"""How similar are two images? Every usual metric, computed the right way, with its meaning.

The usual first attempt, ``np.corrcoef(a, b)`` on two 28x28 arrays, returns a 56x56 matrix: numpy
treats every *row* of each image as a variable and correlates rows with rows. The correlation of
two images is the correlation of their flattened pixels, one number:
``np.corrcoef(a.ravel(), b.ravel())[0, 1]``, which :func:`compare` reports as ``pearson`` next to
the other metrics.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from mnistlab._utils.blocks import map_blocks

#: What each metric means, in one line, and which way is "more similar".
MEANINGS = {
    "pearson": "correlation of the flattened pixels, -1..1; 1 = same pattern up to brightness "
    "and contrast (undefined for a constant image)",
    "cosine": "cosine of the angle between the pixel vectors, -1..1 (0..1 for non-negative "
    "pixels); 1 = same pattern up to contrast (undefined for an all-zero image)",
    "euclidean": "square root of the summed squared pixel differences, on the images' scale; "
    "0 = identical",
    "rms": "root mean square pixel difference (euclidean / sqrt(pixels)); 0 = identical",
    "ssim": "structural similarity (scikit-image, uniform 7x7 windows), -1..1; 1 = "
    "identical, compares local means, contrasts and structure",
    "normalized_mutual_information": "mutual information of the two images' pixel values "
    "divided by the mean of their entropies (scikit-learn), 0..1; 1 = each image's values "
    "determine the other's",
    "mutual_information_bits": "how many bits knowing a pixel's value in one image tells about "
    "the same pixel in the other; 0 = independent",
}
METRICS = tuple(MEANINGS)
#: Grey levels used for mutual information of float images (uint8 images use their 256 values).
LEVELS = 256


@dataclass(frozen=True)
class Comparison:
    """Every metric for one pair of images; NaN where a metric is undefined (see ``notes``)."""

    pearson: float
    cosine: float
    euclidean: float
    rms: float
    ssim: float
    normalized_mutual_information: float
    mutual_information_bits: float
    data_range: float
    shape: tuple[int, int]
    notes: tuple[str, ...] = field(default=())

    def values(self) -> dict[str, float]:
        """The metrics, name -> value."""
        return {name: getattr(self, name) for name in METRICS}

    def table(self) -> pd.DataFrame:
        """``metric, value, meaning``: one row per metric."""
        return pd.DataFrame(
            {
                "metric": list(METRICS),
                "value": [getattr(self, m) for m in METRICS],
                "meaning": [MEANINGS[m] for m in METRICS],
            }
        )

    def to_dict(self) -> dict:
        out = asdict(self)
        out["shape"] = list(self.shape)
        out["notes"] = list(self.notes)
        return out


def _as_image(values, name: str, shape: tuple[int, int] | None) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"image {name} must hold numbers, got an array of type {array.dtype}.")
    if shape is not None and array.ndim != 1:
        raise ValueError(f"shape= is for flattened images; image {name} is already {array.shape}.")
    if array.ndim == 1:
        if shape is None:
            side = math.isqrt(array.size)
            if side * side != array.size:
                raise ValueError(
                    f"image {name} is flat with {array.size} pixels, not a square: pass shape=(h, w)."
                )
            shape = (side, side)
        if math.prod(shape) != array.size:
            raise ValueError(
                f"image {name} has {array.size} pixels, shape {shape} needs {math.prod(shape)}."
            )
        array = array.reshape(shape)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"image {name} must be 2-D (height, width) or flat, got shape {array.shape}.")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"image {name} contains NaN or infinite values.")
    return array


def _data_range(a: np.ndarray, b: np.ndarray, data_range: float | None) -> float:
    """The span of possible values: given, or 255 for integer images (1 for boolean ones).

    Values must fit the span: ``min(0, lowest) .. min(0, lowest) + data_range``; a wrong span
    would silently distort SSIM and mutual information.
    """
    low = min(0.0, float(a.min()), float(b.min()))
    high = max(float(a.max()), float(b.max()))
    if data_range is None:
        if a.dtype.kind == "b" and b.dtype.kind == "b":
            data_range = 1.0
        elif a.dtype.kind in "biu" and b.dtype.kind in "biu":
            data_range = 255.0
        else:
            raise ValueError(
                "float images: pass data_range, the span of possible values (1.0 for 0..1 "
                "images, 255.0 for 0..255), so that SSIM and mutual information are on a known scale."
            )
    elif isinstance(data_range, bool) or not (
        isinstance(data_range, (int, float, np.number)) and data_range > 0 and math.isfinite(data_range)
    ):
        raise ValueError(f"data_range must be a positive number, got {data_range!r}.")
    if high - low > data_range * (1 + 1e-9):
        raise ValueError(
            f"pixel values span {low:g}..{high:g}, more than data_range={data_range:g}: give the "
            "images' true scale (255 for 0..255, 1.0 for 0..1)."
        )
    return float(data_range)


def _levels(image: np.ndarray, data_range: float, low: float) -> np.ndarray:
    """Integer grey levels for mutual information: 0..255 integers as they are, others binned
    into LEVELS levels over ``low .. low + data_range``."""
    if image.dtype.kind in "iu" and data_range == 255 and low == 0:
        return image.ravel().astype(np.int64)
    scaled = (image.ravel().astype(np.float64) - low) / data_range * (LEVELS - 1)
    return np.clip(np.rint(scaled), 0, LEVELS - 1).astype(np.int64)


def _mutual_information(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Normalised mutual information (arithmetic mean of the entropies, scikit-learn's default)
    and mutual information in bits, of two arrays of grey levels 0..LEVELS-1.

    From one joint histogram: scikit-learn's functions give the same numbers (the tests check)
    but spend milliseconds validating arguments, which dominates when comparing many pairs.
    """
    joint = np.bincount(a * LEVELS + b, minlength=LEVELS * LEVELS).reshape(LEVELS, LEVELS)
    p = joint[joint > 0] / a.size
    pa, pb = joint.sum(axis=1) / a.size, joint.sum(axis=0) / a.size
    ha = -np.sum(pa[pa > 0] * np.log(pa[pa > 0]))
    hb = -np.sum(pb[pb > 0] * np.log(pb[pb > 0]))
    hab = -np.sum(p * np.log(p))
    mi = max(ha + hb - hab, 0.0)
    if ha == 0 and hb == 0:
        nmi = 1.0  # two constant images: each determines the other (scikit-learn's convention)
    elif ha == 0 or hb == 0:
        nmi = 0.0
    else:
        nmi = min(mi / ((ha + hb) / 2), 1.0)
    return float(nmi), float(mi / math.log(2))


def _cosine(u: np.ndarray, v: np.ndarray) -> float:
    """Cosine of the angle between two vectors, clipped to -1..1; NaN if either is zero."""
    norms = math.sqrt(float(u @ u) * float(v @ v))
    return float(np.clip(u @ v / norms, -1, 1)) if norms else math.nan


def compare(
    a, b, *, data_range: float | None = None, shape: tuple[int, int] | None = None
) -> Comparison:
    """Compare two images of the same shape with every metric, each with its meaning.

    Parameters
    ----------
    a, b : array-like
        Two images, 2-D (height, width) or flattened (square, or give ``shape``). uint8 images
        are on 0..255; float images need ``data_range``.
    data_range : float, optional
        The span of possible pixel values, passed explicitly to SSIM: 255 for uint8 (the
        default for integer images), 1.0 for images scaled to 0..1.
    shape : (h, w), optional
        The shape of flattened non-square images.

    Returns
    -------
    Comparison
        ``pearson`` and ``cosine`` are NaN when undefined (a constant image, an all-zero image),
        and ``notes`` says why.

    Examples
    --------
    The pitfall: ``np.corrcoef`` on two images correlates their rows.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    >>> b = (a // 2 + 20).astype(np.uint8)
    >>> np.corrcoef(a, b).shape                 # a 56x56 matrix, not one number
    (56, 56)
    >>> float(round(np.corrcoef(a.ravel(), b.ravel())[0, 1], 3))
    1.0
    >>> c = compare(a, b)
    >>> float(round(c.pearson, 3)), float(round(c.ssim, 3)), float(round(c.rms, 1))
    (1.0, 0.737, 56.8)
    >>> compare(a, a).values()["euclidean"]
    0.0
    """
    from skimage.metrics import structural_similarity

    first = _as_image(a, "a", shape)
    second = _as_image(b, "b", shape)
    if first.shape != second.shape:
        raise ValueError(
            f"the images differ in shape: {first.shape} and {second.shape}; resize one first "
            "(mnistlab compare --resize does)."
        )
    span = _data_range(first, second, data_range)
    # Correlations and norms on values divided by the largest magnitude: no overflow or
    # underflow whatever the scale; the distance is scaled back.
    x = first.ravel().astype(np.float64)
    y = second.ravel().astype(np.float64)
    magnitude = max(float(np.abs(x).max()), float(np.abs(y).max())) or 1.0
    x, y = x / magnitude, y / magnitude
    notes = []
    # Pearson's correlation is the cosine of the centred pixel vectors.
    pearson = _cosine(x - x.mean(), y - y.mean())
    if math.isnan(pearson):
        notes.append("pearson is undefined: an image is constant (zero variance).")
    cosine = _cosine(x, y)
    if math.isnan(cosine):
        notes.append("cosine is undefined: an image is all zeros.")
    with np.errstate(over="ignore"):
        euclidean = float(np.sqrt(np.sum((x - y) ** 2)) * magnitude)
    h, w = first.shape
    # SSIM's default 7x7 window needs 7 pixels a side: smaller images use the largest odd window.
    window = min(7, h, w) if min(h, w) >= 7 else (min(h, w) if min(h, w) % 2 else min(h, w) - 1)
    if window < 3:
        ssim = math.nan
        notes.append(f"ssim is undefined for images smaller than 3x3 (got {h}x{w}).")
    else:
        ssim = float(
            # On the 0..1 scale (SSIM does not change): its constants neither under- nor overflow.
            structural_similarity(
                first.astype(np.float64) / span,
                second.astype(np.float64) / span,
                data_range=1.0,
                win_size=window,
            )
        )
        if window != 7:
            notes.append(f"ssim used a {window}x{window} window: the image is smaller than 7x7.")
    low = min(0.0, float(first.min()), float(second.min()))
    nmi, mi_bits = _mutual_information(_levels(first, span, low), _levels(second, span, low))
    return Comparison(
        pearson=pearson,
        cosine=cosine,
        euclidean=euclidean,
        rms=euclidean / math.sqrt(x.size),
        ssim=ssim,
        normalized_mutual_information=nmi,
        mutual_information_bits=mi_bits,
        data_range=span,
        shape=(h, w),
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# Nearest neighbours

NEIGHBOUR_METRICS = ("euclidean", "cosine", "pearson")
#: Query rows per block: a block's float64 bound matrix against 60,000 images is about 32 MB.
SCORE_BLOCK_ELEMENTS = 4_000_000
#: Rows converted to float64 at a time when indexing (about 8 MB of 28x28 images).
ROW_BLOCK = 1024
#: Principal directions used for the lower bound, and the images their basis is computed from.
PROJECTION_RANK = 64
PCA_SAMPLE = 5000
#: Above this share of candidates the bound is not pruning: compute every distance instead.
BRUTE_SHARE = 0.05
#: Exact distances computed per query, beyond k, to get an upper bound on the k-th nearest.
EXTRA_PROBES = 1


def _flat(X, what: str) -> np.ndarray:
    array = np.asarray(X)
    if array.ndim == 3:
        array = array.reshape(len(array), -1)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(
            f"{what} must be images (n, h, w) or rows (n, features), got shape {array.shape}."
        )
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{what} must hold numbers, got {array.dtype}.")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or infinite values.")
    return array


class NearestImages:
    """Exact k nearest neighbours of images, fast and in bounded memory.

    Distances: ``euclidean`` (on the images' own scale), ``cosine`` (1 - cosine similarity) and
    ``pearson`` (1 - correlation of the flattened pixels). Queries are processed in blocks: one
    float32 matrix product per block ranks every image approximately, a proven bound on the
    float32 rounding keeps every image that could be among the k nearest, and those candidates
    are re-ranked exactly in float64. Results therefore equal an exact float64 search; ties go to
    the lower index.

    Parameters
    ----------
    metric : {"euclidean", "cosine", "pearson"}
    n_neighbors : int
        Default number of neighbours for :meth:`kneighbors`.

    Examples
    --------
    >>> import numpy as np
    >>> index = NearestImages().fit(np.array([[0, 0], [3, 4], [1, 1]]))
    >>> distances, indices = index.kneighbors(np.array([[1, 0]]), n_neighbors=2)
    >>> indices.tolist(), distances.round(3).tolist()
    ([[0, 2]], [[1.0, 1.0]])
    """

    def __init__(self, metric: str = "euclidean", n_neighbors: int = 5) -> None:
        self.metric = metric
        self.n_neighbors = n_neighbors

    def _row_scales(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row, what to subtract and divide by so that the metric becomes Euclidean."""
        offsets = np.zeros(len(X))
        scales = np.ones(len(X))
        if self.metric == "euclidean":
            return offsets, scales
        for start in range(0, len(X), ROW_BLOCK):
            block = X[start : start + ROW_BLOCK].astype(np.float64)
            if self.metric == "pearson":
                offsets[start : start + ROW_BLOCK] = block.mean(axis=1)
                block -= offsets[start : start + ROW_BLOCK, None]
            scales[start : start + ROW_BLOCK] = np.sqrt(np.einsum("ij,ij->i", block, block))
        if np.any(scales == 0):
            what = "constant" if self.metric == "pearson" else "all zero"
            raise ValueError(
                f"{int(np.sum(scales == 0))} image(s) are {what}: the {self.metric} distance is "
                "undefined for them."
            )
        return offsets, scales

    @staticmethod
    def _features(X: np.ndarray, offsets: np.ndarray, scales: np.ndarray, rows) -> np.ndarray:
        """Rows ``rows`` of X in float64, transformed (cosine, pearson: unit vectors)."""
        out = X[rows].astype(np.float64)
        out -= offsets[rows, None]
        out /= scales[rows, None]
        return out

    def fit(self, X) -> NearestImages:
        """Index the images ``X`` (n, h, w) or rows (n, features); they are kept, not copied."""
        if self.metric not in NEIGHBOUR_METRICS:
            raise ValueError(
                f"unknown metric {self.metric!r}; choose one of {', '.join(NEIGHBOUR_METRICS)}."
            )
        X = _flat(X, "X")
        if len(X) == 0:
            raise ValueError("X has no images to search.")
        self._data = X
        self._offsets, self._scales = self._row_scales(X)
        n = len(X)
        total = np.zeros(X.shape[1])
        for start in range(0, n, ROW_BLOCK):
            total += self._features(X, self._offsets, self._scales, slice(start, start + ROW_BLOCK)).sum(
                0
            )
        self._centre = total / n
        # Principal directions of (a sample of) the images: the projection that makes the lower
        # bound below tight.
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(n, size=min(n, PCA_SAMPLE), replace=False))
        centred = self._features(X, self._offsets, self._scales, sample) - self._centre
        rank = min(PROJECTION_RANK, X.shape[1], len(sample))
        # The leading eigenvectors of the sample's scatter matrix (features x features): much
        # cheaper than an SVD of the sample itself.
        from scipy.linalg import eigh

        d = X.shape[1]
        with np.errstate(over="ignore", invalid="ignore"):
            scatter = centred.T @ centred
        if not np.isfinite(scatter).all():
            raise ValueError("values too large to compare in floating point; rescale the data.")
        self._basis = eigh(scatter, subset_by_index=[d - rank, d - 1])[1]
        parts = [
            self._summarise(
                self._features(X, self._offsets, self._scales, slice(start, start + ROW_BLOCK))
            )
            for start in range(0, n, ROW_BLOCK)
        ]
        self._summary = np.concatenate([p[0] for p in parts])
        self._squared = np.concatenate([p[1] for p in parts])
        if not np.isfinite(self._squared).all():
            raise ValueError("values too large to compare in floating point; rescale the data.")
        # The float32 bounds work in units of the largest distance from the centre, so that
        # neither huge nor tiny values leave float32's range.
        self._unit = float(np.sqrt(self._squared.max())) or 1.0
        self._summary32 = (self._summary / self._unit).astype(np.float32)
        self._squared32 = (self._squared / self._unit**2).astype(np.float32)
        self._order = np.argsort(self._summary[:, -2], kind="stable")
        self.n_samples_fit_ = n
        self.n_features_in_ = X.shape[1]
        return self

    def _summarise(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row as (projection on the basis, length of what the projection leaves out), and
        its squared distance from the centre."""
        centred = rows - self._centre
        squared = np.einsum("ij,ij->i", centred, centred)
        projected = centred @ self._basis
        rest = np.sqrt(np.maximum(squared - np.einsum("ij,ij->i", projected, projected), 0))
        return np.column_stack([projected, rest]), squared

    def kneighbors(self, X=None, n_neighbors: int | None = None, return_distance: bool = True):
        """Distances and indices of the ``n_neighbors`` nearest indexed images of each query.

        ``X=None`` queries the indexed images themselves, each excluding itself (scikit-learn's
        convention). Returns (distances, indices), each (n_queries, n_neighbors), nearest first;
        ties go to the lower index.
        """
        if not hasattr(self, "_data"):
            raise ValueError("NearestImages is not fitted yet: call fit(X) first.")
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        exclude_self = X is None
        available = self.n_samples_fit_ - exclude_self
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= available:
            raise ValueError(f"n_neighbors must be 1..{available}, got {k!r}.")
        Q, offsets, scales = self._queries(X)
        distances = np.empty((len(Q), k))
        indices = np.empty((len(Q), k), dtype=np.int64)
        rows = max(1, SCORE_BLOCK_ELEMENTS // self.n_samples_fit_)

        def block(start: int, stop: int) -> None:
            part = slice(start, stop)
            queries = self._features(Q, offsets, scales, part)
            summary, squared = (
                (self._summary[part], self._squared[part]) if exclude_self else self._summarise(queries)
            )
            d, i = self._search(queries, summary, squared, k, start if exclude_self else None)
            distances[part], indices[part] = d, i

        map_blocks(block, len(Q), rows)
        return (distances, indices) if return_distance else indices

    def _queries(self, X):
        """The queries (the indexed images themselves for X=None) with their row transforms."""
        if X is None:
            return self._data, self._offsets, self._scales
        Q = _flat(X, "X")
        if Q.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {Q.shape[1]} features per image, the index {self.n_features_in_}.")
        return (Q, *self._row_scales(Q))

    def _lower_bounds(self, summary: np.ndarray, squared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 lower bounds on the squared distances of a block of queries to every indexed
        image, in units of ``_unit**2`` (see :meth:`_search`), and the queries' scaled |q - c|^2."""
        scaled_sq = squared / self._unit**2
        bound = (summary / self._unit).astype(np.float32) @ self._summary32.T
        bound *= -2
        bound += scaled_sq.astype(np.float32)[:, None]
        bound += self._squared32[None, :]
        return bound, scaled_sq

    def _limit(self, reach: np.ndarray | float, scaled_sq: np.ndarray) -> np.ndarray:
        """The float32 threshold on the bounds that keeps every image within ``reach`` (squared
        distance, unscaled) of each query, rounding included.

        A float32 dot product of rounded inputs errs by at most (r + 3) u |a| |b| (u = 2**-24,
        r + 1 terms), doubled; each of the three additions and the roundings of the squared norms
        by u times their size. Counted generously.
        """
        u = 2.0**-24
        terms = self._summary.shape[1] + 3
        largest = float(self._squared32.max())
        sizes = np.sqrt(scaled_sq) * np.sqrt(largest)
        slack = 2 * terms * u * sizes * 1.01 + 6 * u * (scaled_sq + largest + 2 * sizes) + 1e-30
        return np.nextafter((reach / self._unit**2 + slack).astype(np.float32), np.float32(np.inf))

    def pairs_within(self, radius: float, X=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query, indexed image) pair closer than ``radius`` (strictly), exactly.

        ``X=None`` pairs the indexed images among themselves (each pair twice, once from each
        side; never an image with itself). Returns (query positions, indices, distances) in
        query order. Fast when few pairs qualify: the lower bound alone rules out the rest.
        """
        if not hasattr(self, "_data"):
            raise ValueError("NearestImages is not fitted yet: call fit(X) first.")
        if isinstance(radius, bool) or not (isinstance(radius, (int, float, np.number)) and radius >= 0):
            raise ValueError(f"radius must be a non-negative number, got {radius!r}.")
        reach = radius**2 if self.metric == "euclidean" else 2 * radius
        if X is None:
            return self._pairs_among_indexed(reach)
        Q, offsets, scales = self._queries(X)
        rows = max(1, SCORE_BLOCK_ELEMENTS // self.n_samples_fit_)

        def block(start: int, stop: int):
            queries = self._features(Q, offsets, scales, slice(start, stop))
            bound, scaled_sq = self._lower_bounds(*self._summarise(queries))
            query_ids, candidates = np.nonzero(bound <= self._limit(reach, scaled_sq)[:, None])
            close, distances = self._close(queries, query_ids, candidates, reach)
            return query_ids[close] + start, candidates[close], distances

        return _joined(map_blocks(block, len(Q), rows))

    def _close(self, queries, query_ids, candidates, reach) -> tuple[np.ndarray, np.ndarray]:
        """Which candidate pairs are within ``reach`` (squared, exactly), and their distances."""
        exact = self._exact(queries, query_ids, candidates)
        close = exact < reach
        distances = exact[close]
        return close, np.sqrt(distances) if self.metric == "euclidean" else distances / 2

    def _pairs_among_indexed(self, reach: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every pair of indexed images within ``reach`` (squared distance), both ways round.

        Two images closer than r are closer than r along any unit direction, the leading
        principal one included: with the images sorted along it, a block of neighbouring images
        is compared only with those whose coordinate is within r of the block's range (plus a
        rounding margin), instead of with all of them. Same pairs, a fraction of the bounds.
        """
        order = self._order
        along = self._summary[order, -2]  # the leading principal coordinate (eigh: ascending)
        margin = np.sqrt(reach) + 1e-9 * (1 + np.sqrt(self._squared.max()))
        rows = max(1, SCORE_BLOCK_ELEMENTS // self.n_samples_fit_)

        def block(start: int, stop: int):
            ids = order[start:stop]
            first = np.searchsorted(along, along[start] - margin, side="left")
            last = np.searchsorted(along, along[stop - 1] + margin, side="right")
            window = order[first:last]
            scaled_sq = self._squared[ids] / self._unit**2
            bound = (self._summary32[ids] @ self._summary32[window].T) * np.float32(-2)
            bound += scaled_sq.astype(np.float32)[:, None]
            bound += self._squared32[window][None, :]
            query_ids, candidates = np.nonzero(bound <= self._limit(reach, scaled_sq)[:, None])
            query_ids, candidates = ids[query_ids], window[candidates]
            keep = candidates != query_ids
            query_ids, candidates = query_ids[keep], candidates[keep]
            queries = self._features(self._data, self._offsets, self._scales, query_ids)
            close, distances = self._close(queries, np.arange(len(query_ids)), candidates, reach)
            return query_ids[close], candidates[close], distances

        query_ids, candidates, distances = _joined(map_blocks(block, len(order), rows))
        sort = np.lexsort((candidates, query_ids))  # query order, as for other queries
        return query_ids[sort], candidates[sort], distances[sort]

    def _exact(self, queries: np.ndarray, query_ids: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Squared Euclidean distances of (query, indexed row) pairs, in float64 from the data."""
        out = np.empty(len(query_ids))
        for start in range(0, len(query_ids), 4096):
            part = slice(start, start + 4096)
            diff = self._features(self._data, self._offsets, self._scales, candidates[part])
            diff -= queries[query_ids[part]]
            out[part] = np.einsum("ij,ij->i", diff, diff)
        return out

    def _brute(self, queries: np.ndarray, k: int, offset: int | None):
        """Every distance of a block of queries, in blocks of indexed rows, as a matrix product
        in float64 (exact for integer images: every sum stays below 2**53); the k smallest by
        (distance, index)."""
        m, n = len(queries), self.n_samples_fit_
        q_squared = np.einsum("ij,ij->i", queries, queries)
        full = np.empty((m, n))
        for start in range(0, n, ROW_BLOCK):
            rows = self._features(
                self._data, self._offsets, self._scales, slice(start, start + ROW_BLOCK)
            )
            part = full[:, start : start + len(rows)]
            np.matmul(queries, rows.T, out=part)
            part *= -2
            part += q_squared[:, None]
            part += np.einsum("ij,ij->i", rows, rows)[None, :]
        np.maximum(full, 0, out=full)
        if offset is not None:
            full[np.arange(m), offset + np.arange(m)] = np.inf
        kth = np.partition(full, k - 1, axis=1)[:, k - 1]
        query_ids, candidates = np.nonzero(full <= kth[:, None])
        exact = full[query_ids, candidates]
        if self.metric != "euclidean":
            exact = exact / 2
        order = np.lexsort((candidates, exact, query_ids))
        query_ids, candidates, exact = query_ids[order], candidates[order], exact[order]
        take = np.searchsorted(query_ids, np.arange(m))[:, None] + np.arange(k)[None, :]
        distances = np.sqrt(exact[take]) if self.metric == "euclidean" else exact[take]
        return distances, candidates[take]

    def _search(self, queries, summary, squared, k: int, offset: int | None):
        """Exact k nearest of a block of queries.

        For a query q and an indexed row f, with p the projections on the principal basis and
        r the lengths left out, |q - f|^2 = |p_q - p_f|^2 + |rest_q - rest_f|^2
        >= |p_q - p_f|^2 + (r_q - r_f)^2 = |q - c|^2 + |f - c|^2 - 2 (p_q.p_f + r_q r_f): a lower
        bound from one small matrix product. The exact distances of the rows with the smallest
        bounds give an upper bound on the k-th nearest; every row whose lower bound is within it
        is a candidate, and candidates are ranked by their exact distances.
        """
        m = len(queries)
        if not (np.isfinite(summary).all() and (squared / self._unit**2).max(initial=0) < 1e30):
            return self._brute(queries, k, offset)
        bound, scaled_sq = self._lower_bounds(summary, squared)
        if offset is not None:
            bound[np.arange(m), offset + np.arange(m)] = np.inf
        # Probes: the rows with the smallest bounds, found by repeated argmin (several times
        # faster than argpartition over 60,000 columns), masked and restored afterwards.
        few = min(bound.shape[1] - (offset is not None), k + EXTRA_PROBES)
        everyone = np.arange(m)
        probes = np.empty((m, few), dtype=np.int64)
        saved = np.empty((m, few), dtype=bound.dtype)
        for j in range(few):
            probes[:, j] = np.argmin(bound, axis=1)
            saved[:, j] = bound[everyone, probes[:, j]]
            bound[everyone, probes[:, j]] = np.inf
        for j in range(few):
            bound[everyone, probes[:, j]] = saved[:, j]
        probe_exact = self._exact(queries, np.repeat(everyone, few), probes.ravel())
        upper = np.partition(probe_exact.reshape(m, -1), k - 1, axis=1)[:, k - 1]
        limit = self._limit(upper, scaled_sq)
        within = bound <= limit[:, None]
        counts = within.sum(axis=1)
        if counts.sum() > BRUTE_SHARE * within.size or (counts < k).any():
            # The bound prunes little here (noise, many identical images): brute force is faster.
            return self._brute(queries, k, offset)
        query_ids, candidates = np.nonzero(within)
        exact = self._exact(queries, query_ids, candidates)
        if self.metric != "euclidean":
            exact = exact / 2  # |a - b|^2 / 2 = 1 - a.b for unit vectors
        order = np.lexsort((candidates, exact, query_ids))
        query_ids, candidates, exact = query_ids[order], candidates[order], exact[order]
        first = np.searchsorted(query_ids, np.arange(m))
        take = first[:, None] + np.arange(k)[None, :]
        distances = exact[take]
        if self.metric == "euclidean":
            distances = np.sqrt(distances)
        return distances, candidates[take]


def _joined(parts: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query positions, indices, distances) of every block, concatenated."""
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


# --------------------------------------------------------------------------------------------
# k-nearest-neighbour classification


def vote(neighbour_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority label of each row of neighbour labels; ties go to the smallest label.

    The rule of scikit-learn's ``KNeighborsClassifier(weights="uniform")``.
    """
    counts = np.zeros((len(neighbour_labels), n_classes), dtype=np.int64)
    np.add.at(counts, (np.arange(len(neighbour_labels))[:, None], neighbour_labels), 1)
    return np.argmax(counts, axis=1)


class KNearestImagesClassifier(ClassifierMixin, BaseEstimator):
    """k-nearest-neighbour classifier on :class:`NearestImages`: exact neighbours, majority vote.

    A scikit-learn estimator (``get_params``, ``score``, pipelines) that also takes images
    (n, h, w) as they are.

    Predictions equal scikit-learn's ``KNeighborsClassifier(n_neighbors, algorithm="brute")``
    with uniform weights (ties between classes go to the smallest label), except where two
    training images are exactly as near and only one of them fits in the k.

    Examples
    --------
    >>> import mnistlab
    >>> ds = mnistlab.load("digits")
    >>> model = KNearestImagesClassifier(n_neighbors=3).fit(ds.train.images, ds.train.labels)
    >>> round(model.score(ds.test.images, ds.test.labels), 3)
    0.971
    """

    def __init__(self, n_neighbors: int = 5, metric: str = "euclidean") -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric

    def fit(self, X, y) -> KNearestImagesClassifier:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(np.asarray(X)):
            raise ValueError(
                f"y must hold one label per image: {len(np.asarray(X))} images, y {y.shape}."
            )
        self.classes_, self._encoded = np.unique(y, return_inverse=True)
        self._index = NearestImages(metric=self.metric, n_neighbors=self.n_neighbors).fit(X)
        return self

    def _neighbour_labels(self, X) -> np.ndarray:
        if not hasattr(self, "_index"):
            raise ValueError("KNearestImagesClassifier is not fitted yet: call fit(X, y) first.")
        return self._encoded[self._index.kneighbors(X, self.n_neighbors, return_distance=False)]

    def predict(self, X) -> np.ndarray:
        """The majority class among the ``n_neighbors`` nearest training images."""
        labels = self._neighbour_labels(X)
        return self.classes_[vote(labels, len(self.classes_))]

    def predict_proba(self, X) -> np.ndarray:
        """Share of the neighbours in each class, columns in ``classes_`` order."""
        labels = self._neighbour_labels(X)
        counts = np.zeros((len(labels), len(self.classes_)))
        np.add.at(counts, (np.arange(len(labels))[:, None], labels), 1)
        return counts / labels.shape[1]


def knn_accuracy(dataset, ks: tuple[int, ...] = (1, 3, 5), metric: str = "euclidean") -> pd.DataFrame:
    """Test accuracy of k-nearest-neighbour voting for each k, from one neighbour search.

    ``dataset`` needs a test split; returns ``k, metric, accuracy, errors``.

    Examples
    --------
    >>> import mnistlab
    >>> knn_accuracy(mnistlab.load("digits"), ks=(1, 3))["accuracy"].round(3).tolist()
    [0.962, 0.971]
    """
    if dataset.test is None:
        raise ValueError(f"{dataset.name} has no test split to measure accuracy on.")
    if not ks or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise ValueError(f"ks must be positive whole numbers, got {ks!r}.")
    index = NearestImages(metric=metric).fit(dataset.train.images)
    _, neighbours = index.kneighbors(dataset.test.images, n_neighbors=max(ks))
    labels = dataset.train.labels[neighbours]
    rows = []
    for k in ks:
        predicted = vote(labels[:, :k], len(dataset.classes))
        errors = int(np.sum(predicted != dataset.test.labels))
        rows.append((k, metric, float(np.mean(predicted == dataset.test.labels)), errors))
    return pd.DataFrame(rows, columns=["k", "metric", "accuracy", "errors"])


# --------------------------------------------------------------------------------------------
# Duplicates and train/test leakage

DUPLICATE_COLUMNS = [
    "kind",
    "split_a",
    "index_a",
    "label_a",
    "split_b",
    "index_b",
    "label_b",
    "rms_distance",
    "exact",
    "labels_differ",
    "name_a",
    "name_b",
]
_DUPLICATE_DTYPES = {
    "kind": object,
    "split_a": object,
    "index_a": np.int64,
    "label_a": np.int64,
    "split_b": object,
    "index_b": np.int64,
    "label_b": np.int64,
    "rms_distance": np.float64,
    "exact": bool,
    "labels_differ": bool,
    "name_a": object,
    "name_b": object,
}
#: Groups of identical images up to this size are reported pair by pair.
EXACT_GROUP = 20
#: Default near-duplicate threshold: this fraction of the median nearest-neighbour RMS distance
#: (test to train, or within train without a test split). On MNIST that is 9.9 on the 0..255
#: scale, on Fashion-MNIST 7.9: images a reader would call the same picture.
NEAR_FRACTION = 0.25


@dataclass(frozen=True)
class Duplicates:
    """Exact and near-duplicate pairs within and between the splits of a dataset.

    ``pairs`` has ``DUPLICATE_COLUMNS``: ``kind`` is "within train", "within test" or
    "train-test" (leakage); ``rms_distance`` is on the 0..255 scale; ``labels_differ`` flags pairs
    whose two images carry different classes. ``threshold`` is the RMS distance below which a
    nearest neighbour counts as a near duplicate.
    """

    dataset: str
    classes: tuple[str, ...]
    threshold: float
    pairs: pd.DataFrame
    median_nearest: float
    #: False for a dataset without a test split: nothing "within test" or "train-test" was
    #: looked for, so those kinds have no count at all (not a count of 0).
    has_test: bool = True

    @property
    def missing(self) -> str | None:
        """Why kinds are missing from :meth:`counts` (``None`` when none is)."""
        if self.has_test:
            return None
        return "no test split: within test and train-test (leakage) cannot be looked for"

    def counts(self) -> pd.DataFrame:
        """Per kind searched: exact and near pairs, and how many of them have differing labels.

        Without a test split only "within train" is counted (see :attr:`missing`).
        """
        kinds = ["within train", "within test", "train-test"] if self.has_test else ["within train"]
        rows = []
        for kind in kinds:
            mine = self.pairs[self.pairs["kind"] == kind]
            rows.append(
                (
                    kind,
                    int(mine["exact"].sum()),
                    int((~mine["exact"]).sum()),
                    int(mine["labels_differ"].sum()),
                )
            )
        return pd.DataFrame(rows, columns=["kind", "exact", "near", "labels_differ"])


def _rows(split) -> np.ndarray:
    return np.ascontiguousarray(split.images.reshape(len(split), -1))


def _exact_pairs(splits: dict) -> list[tuple]:
    """Pairs of byte-identical images: every pair of a group of up to ``EXACT_GROUP`` copies;
    in a larger group (blank images, say) each copy is paired with the group's first."""
    names = [name for name in splits for _ in range(len(splits[name]))]
    positions = np.concatenate([np.arange(len(s)) for s in splits.values()])
    rows = np.concatenate([_rows(s) for s in splits.values()])
    keys = rows.view(np.dtype((np.void, rows.shape[1]))).ravel()
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    members = np.flatnonzero(counts[inverse] > 1)
    groups = members[np.argsort(inverse[members], kind="stable")]
    starts = np.flatnonzero(np.diff(inverse[groups], prepend=-1))
    out = []
    for group in np.split(groups, starts[1:]):
        if len(group) <= EXACT_GROUP:
            chosen = [(a, b) for i, a in enumerate(group) for b in group[i + 1 :]]
        else:
            chosen = [(group[0], b) for b in group[1:]]
        for a, b in chosen:
            out.append((names[a], int(positions[a]), names[b], int(positions[b]), 0.0))
    return out


def find_duplicates(
    dataset,
    threshold: float | None = None,
    *,
    index: NearestImages | None = None,
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
) -> Duplicates:
    """Exact duplicates (identical bytes) and near duplicates within train, within test and
    between them (train/test leakage).

    Near duplicates are all pairs closer than ``threshold`` in RMS difference per pixel (0..255
    scale), found by an exact radius search (:meth:`NearestImages.pairs_within`); the default
    threshold is ``NEAR_FRACTION`` of the median nearest-neighbour RMS distance of the dataset
    (test to train, or within train). Exact duplicates are every pair of identical images (a group
    of more than ``EXACT_GROUP`` copies: each copy with the first). Each pair appears once; exact
    pairs are reported as exact, not again as near.

    ``index`` (a Euclidean :class:`NearestImages` fitted on the training images) and
    ``neighbours`` (its ``kneighbors(test images, k)`` for any k) are computed here unless a caller
    that already has them passes them in: the report shares one neighbour search between its
    sections. With them, a test image whose k-th nearest training image is beyond the threshold
    needs no radius search: its train-test pairs are among its k neighbours.

    Examples
    --------
    >>> import mnistlab
    >>> found = find_duplicates(mnistlab.load("digits"))
    >>> found.counts()["exact"].tolist()
    [0, 0, 0]
    """
    splits = dataset.splits
    d = int(np.prod(dataset.image_shape))
    if index is None:
        train_index = NearestImages().fit(dataset.train.images)
    elif index.metric != "euclidean" or index.n_samples_fit_ != len(dataset.train):
        raise ValueError("index must be a Euclidean NearestImages fitted on the training images.")
    else:
        train_index = index
    # The median nearest-neighbour distance sets the default threshold; then every pair within
    # the threshold is found by a radius search.
    if neighbours is not None:
        if (
            dataset.test is None
            or np.shape(neighbours[0]) != np.shape(neighbours[1])
            or (len(neighbours[0]) != len(dataset.test))
        ):
            raise ValueError("neighbours must be index.kneighbors(test images): one row per test image.")
        reference = neighbours[0][:, 0]
    elif dataset.test is not None:
        reference = train_index.kneighbors(dataset.test.images, 1)[0][:, 0]
    elif len(dataset.train) > 1:
        reference = train_index.kneighbors(None, 1)[0][:, 0]
    else:
        reference = np.zeros(0)
    median = float(np.median(reference) / math.sqrt(d)) if len(reference) else math.nan
    if threshold is None:
        threshold = NEAR_FRACTION * median if math.isfinite(median) else 0.0
    elif isinstance(threshold, bool) or not (
        isinstance(threshold, (int, float, np.number)) and threshold >= 0 and math.isfinite(threshold)
    ):
        raise ValueError(f"threshold must be a non-negative RMS distance, got {threshold!r}.")
    radius = float(threshold) * math.sqrt(d)
    nearest = {"within train": ("train", "train", *train_index.pairs_within(radius))}
    if dataset.test is not None:
        nearest["train-test"] = (
            "test",
            "train",
            *_train_test_pairs(train_index, dataset, radius, neighbours),
        )
        test_index = NearestImages().fit(dataset.test.images)
        nearest["within test"] = ("test", "test", *test_index.pairs_within(radius))

    found: dict[tuple, float] = {}
    for split_a, index_a, split_b, index_b, rms in _exact_pairs(splits):
        found[(split_a, index_a, split_b, index_b)] = rms
    for query_split, target_split, queries, targets, distances in nearest.values():
        for query, target, distance in zip(queries, targets, distances, strict=True):
            if distance == 0:
                continue  # an exact duplicate, reported as such
            a, b = (query_split, int(query)), (target_split, int(target))
            if query_split == target_split:
                a, b = sorted((a, b))
            elif query_split == "test":
                a, b = b, a  # train first
            found.setdefault((*a, *b), float(distance / math.sqrt(d)))
    rows = []
    for (split_a, index_a, split_b, index_b), rms in found.items():
        label_a = int(splits[split_a].labels[index_a])
        label_b = int(splits[split_b].labels[index_b])
        kind = f"within {split_a}" if split_a == split_b else "train-test"
        rows.append(
            (
                kind,
                split_a,
                index_a,
                label_a,
                split_b,
                index_b,
                label_b,
                rms,
                rms == 0,
                label_a != label_b,
                dataset.classes[label_a],
                dataset.classes[label_b],
            )
        )
    table = (
        pd.DataFrame(rows, columns=DUPLICATE_COLUMNS)
        .astype(_DUPLICATE_DTYPES)
        .sort_values(["rms_distance", "kind", "index_a", "index_b"], ignore_index=True)
    )
    return Duplicates(
        dataset.name, tuple(dataset.classes), float(threshold), table, median, dataset.test is not None
    )


def _train_test_pairs(index: NearestImages, dataset, radius: float, neighbours):
    """Every (test, train) pair closer than ``radius``: from the known neighbours where they
    reach beyond it, by a radius search for the other test images."""
    if neighbours is None:
        return index.pairs_within(radius, dataset.test.images)
    distances, found = neighbours
    complete = distances[:, -1] >= radius  # every train image within radius is among the k
    rows, cols = np.nonzero(complete[:, None] & (distances < radius))
    parts = [(rows, found[rows, cols], distances[rows, cols])]
    rest = np.flatnonzero(~complete)
    if len(rest):
        queries, targets, within = index.pairs_within(radius, dataset.test.images[rest])
        parts.append((rest[queries], targets, within))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


# --------------------------------------------------------------------------------------------
# Context: what is a typical value of each metric?

#: Neighbours looked at per image for its nearest of the same class (see metric_context).
CONTEXT_DEPTH = 30
#: Metrics where a smaller value means more similar.
DISTANCES = ("euclidean", "rms")


def metric_context(split, n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Each metric over typical pairs of a split, to put a single comparison in context.

    Two kinds of pairs, ``n`` of each (fewer if the split is small): an image and its nearest
    neighbour of the same class ("same-class nearest neighbour"), and two images drawn at random
    ("random pair"). Returns a long table ``kind, metric, value``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive whole number, got {n!r}.")
    if len(split) < 2:
        return pd.DataFrame(columns=["kind", "metric", "value"])  # no pair to compare
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(split), size=min(n, len(split)), replace=False)
    labels = split.labels
    pairs: list[tuple[str, int, int]] = []
    # The nearest image of the same class is the first of that class in the overall ranking:
    # one search of the whole split, and a search within the class for the rare image whose
    # CONTEXT_DEPTH nearest are all of other classes.
    depth = min(CONTEXT_DEPTH, len(split) - 1)
    found = (
        NearestImages().fit(split.images).kneighbors(split.images[chosen], depth + 1)[1]
        if depth
        else None
    )
    missing = []
    for row, query in enumerate(chosen):
        same = (
            [] if found is None else [j for j in found[row] if j != query and labels[j] == labels[query]]
        )
        if same:
            pairs.append(("same-class nearest neighbour", int(query), int(same[0])))
        elif np.sum(labels == labels[query]) > 1:
            missing.append(int(query))
    for query in missing:
        members = np.flatnonzero(labels == labels[query])
        others = members[members != query]
        _, nearest = NearestImages().fit(split.images[others]).kneighbors(split.images[[query]], 1)
        pairs.append(("same-class nearest neighbour", query, int(others[nearest[0, 0]])))
    for _ in range(len(chosen)):
        i, j = rng.choice(len(split), size=2, replace=False)
        pairs.append(("random pair", int(i), int(j)))
    rows = []
    for kind, i, j in pairs:
        for metric, value in compare(split.images[i], split.images[j]).values().items():
            rows.append((kind, metric, value))
    return pd.DataFrame(rows, columns=["kind", "metric", "value"])


def percentiles(comparison: Comparison, context: pd.DataFrame) -> pd.DataFrame:
    """For each metric and kind of pair: the share of such pairs *less similar* than this one.

    Returns ``metric, kind, more_similar_than`` (0..1); NaN values are left out.
    """
    rows = []
    for (kind, metric), values in context.groupby(["kind", "metric"])["value"]:
        value = getattr(comparison, metric)
        values = values.dropna().to_numpy()
        if not len(values) or not math.isfinite(value):
            continue
        less_similar = values > value if metric in DISTANCES else values < value
        rows.append((metric, kind, float(np.mean(less_similar))))
    return pd.DataFrame(rows, columns=["metric", "kind", "more_similar_than"])
