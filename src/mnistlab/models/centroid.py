"""Nearest-centroid classification with chunked reductions (any number of images, bounded memory)."""

from __future__ import annotations

from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval

from mnistlab import stats
from mnistlab._utils.validation import checked_fit, checked_predict
from mnistlab.stats import float_rows


class NearestCentroidClassifier(ClassifierMixin, BaseEstimator):
    """Assign each image to the class whose mean image is closest in Euclidean distance.

    The same decisions as ``sklearn.neighbors.NearestCentroid()`` (Euclidean metric), computed
    chunk by chunk from uint8 images without a float64 copy of the whole training set.

    Parameters
    ----------
    chunk_size : int or None
        Samples per block in ``predict``; None picks a cache-sized block (``fit`` uses
        :func:`mnistlab.stats.centroids`).

    Attributes
    ----------
    classes_ : ndarray
        The distinct labels seen in ``fit``, sorted.
    centroids_ : ndarray (n_classes, n_features) float64
        Mean of each class, on the scale of ``X``.

    Examples
    --------
    >>> import mnistlab
    >>> ds = mnistlab.load("digits")
    >>> clf = NearestCentroidClassifier().fit(ds.train.images, ds.train.labels)
    >>> round(clf.score(ds.test.images, ds.test.labels), 3)
    0.869
    """

    _parameter_constraints: ClassVar[dict] = {
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, chunk_size: int | None = None) -> None:
        self.chunk_size = chunk_size

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> NearestCentroidClassifier:
        X, y = checked_fit(self, X, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"need at least 2 classes, got {len(self.classes_)} class.")
        # The same blocked class means the exploration uses (exact float32 sums for uint8).
        names = tuple(str(c) for c in self.classes_)
        self.centroids_ = stats.centroids(X, codes.reshape(-1), names).means
        return self

    def decision_distances(self, X) -> np.ndarray:
        """Squared Euclidean distance of each sample to each centroid, (n_samples, n_classes)."""
        X = checked_predict(self, X)
        return squared_distances(X, self.centroids_, self.chunk_size)

    def predict(self, X) -> np.ndarray:
        """The class of the nearest centroid for each sample (ties: the first class)."""
        nearest = np.argmin(self.decision_distances(X), axis=1)  # checks fitted first
        return self.classes_[nearest]


def squared_distances(X: np.ndarray, centroids: np.ndarray, rows: int | None = None) -> np.ndarray:
    """Squared Euclidean distance of each row of ``X`` (n, d) to each of ``centroids`` (k, d),
    (n, k) float64, computed ``rows`` at a time as ``|x|^2 - 2 x.c + |c|^2`` (a matrix product);
    ``X`` stays in its dtype (uint8) but for one block at a time. The one computation behind
    :meth:`NearestCentroidClassifier.predict` and the streamed evaluation on a Zarr store
    (:func:`mnistlab.scale.nearest_centroid_evaluation`), so both decide alike."""
    norms = np.einsum("ij,ij->i", centroids, centroids)
    out = np.empty((len(X), len(centroids)))
    rows = rows or float_rows(X.shape[1])
    for start in range(0, len(X), rows):
        block = X[start : start + rows].astype(np.float64)
        cross = block @ centroids.T
        own = np.einsum("ij,ij->i", block, block)
        out[start : start + len(block)] = own[:, None] - 2 * cross + norms[None, :]
    return np.maximum(out, 0)
