"""Exact nearest images: :class:`NearestImages`, a k-nearest search under euclidean, cosine or
Pearson distance that prunes with a lower bound from a few principal directions."""

from __future__ import annotations

from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval

from mnistlab._utils.blocks import map_blocks
from mnistlab.data.dataset import Split

NEIGHBOUR_METRICS = ("euclidean", "cosine", "pearson")
#: Query rows per block: a block's float64 bound matrix against 60,000 images is about 32 MB.
SCORE_BLOCK_ELEMENTS = 4_000_000
#: Rows converted to float64 at a time when indexing (about 8 MB of 28x28 images).
ROW_BLOCK = 1024
#: Principal directions used for the lower bound, and the images their basis is computed from.
#: 128 leave about 20 candidates per MNIST query and 200 per Fashion-MNIST one (64: 115 and 790,
#: whose exact distances took most of the search: 6 and 21 s for 10,000 test images, 4 and 9 s
#: with 128).
PROJECTION_RANK = 128
#: The leading directions the search for close pairs bounds with: its radius is small, so a few
#: directions rule out nearly every pair and more would only make each bound dearer.
PAIR_RANK = 64
PCA_SAMPLE = 5000
#: Above this share of candidates the bound is not pruning: compute every distance instead.
BRUTE_SHARE = 0.05
#: Exact distances computed per query, beyond k, to get an upper bound on the k-th nearest.
EXTRA_PROBES = 1


def _flat(X, what: str) -> np.ndarray:
    """Rows (n, features) of images (n, h, w), rows, or a Split's images."""
    array = np.asarray(X.images if isinstance(X, Split) else X)
    if array.ndim == 3:
        array = array.reshape(len(array), array.shape[1] * array.shape[2])
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(
            f"{what} must be images (n, h, w) or rows (n, features), got shape {array.shape}."
        )
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{what} must hold numbers, got {array.dtype}.")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or infinite values.")
    return array


def check_metric(metric: str) -> str:
    """``metric`` if :class:`NearestImages` can search with it; a ValueError otherwise."""
    if metric not in NEIGHBOUR_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(NEIGHBOUR_METRICS)}.")
    return metric


class NearestImages(BaseEstimator):
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
    >>> NearestImages(metric="cosine")
    NearestImages(metric='cosine')
    """

    _parameter_constraints: ClassVar[dict] = {
        # Which names: check_metric, in fit, so that a wrong name reads the same here as in the
        # CLI, which checks it before loading any data.
        "metric": [str],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
    }

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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X) -> NearestImages:
        """Index the images ``X`` (n, h, w) or rows (n, features); they are kept, not copied."""
        check_metric(self.metric)
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
        self._pair_summary32 = (_leading(self._summary, PAIR_RANK) / self._unit).astype(np.float32)
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
            pair = self._pair_summary32
            bound = (pair[ids] @ pair[window].T) * np.float32(-2)
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


def _leading(summary: np.ndarray, rank: int) -> np.ndarray:
    """A summary (projections on the basis in ascending order of variance, then the length left
    out) cut to its ``rank`` leading directions: the others' projections join the length left out,
    so the lower bound it gives stays a lower bound, only looser."""
    projected, rest = summary[:, :-1], summary[:, -1]
    if projected.shape[1] <= rank:
        return summary
    dropped = projected[:, :-rank]
    rest = np.sqrt(rest**2 + np.einsum("ij,ij->i", dropped, dropped))
    return np.column_stack([projected[:, -rank:], rest])


def _joined(parts: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query positions, indices, distances) of every block, concatenated."""
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    positions, indices, distances = zip(*parts, strict=True)
    return np.concatenate(positions), np.concatenate(indices), np.concatenate(distances)
