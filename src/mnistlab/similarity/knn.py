"""k-nearest-neighbour classification over :class:`~mnistlab.similarity.neighbours.NearestImages`."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context

from mnistlab._utils.validation import checked_fit, checked_predict
from mnistlab.similarity.neighbours import NearestImages


def vote(neighbour_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority label of each row of neighbour labels; ties go to the smallest label.

    The rule of scikit-learn's ``KNeighborsClassifier(weights="uniform")``.

    Parameters
    ----------
    neighbour_labels : ndarray of shape (n, k), int
        The labels of each query's k nearest images.
    n_classes : int
        The number of classes.

    Returns
    -------
    ndarray of shape (n,), int
        Each query's predicted label.
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

    # The index's own: the same constraints, and a wrong metric name in check_metric's words.
    _parameter_constraints: ClassVar[dict] = dict(NearestImages._parameter_constraints)

    def __init__(self, n_neighbors: int = 5, metric: str = "euclidean") -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> KNearestImagesClassifier:
        X, y = checked_fit(self, X, y)
        self.classes_, self._encoded = np.unique(y, return_inverse=True)
        self.index_ = NearestImages(metric=self.metric, n_neighbors=self.n_neighbors).fit(X)
        return self

    def _neighbour_labels(self, X) -> np.ndarray:
        X = checked_predict(self, X, "index_")
        return self._encoded[self.index_.kneighbors(X, self.n_neighbors, return_distance=False)]

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

    Parameters
    ----------
    dataset : Dataset
        A dataset with a test split: its test images are classified by their training neighbours.
    ks : tuple of int, default (1, 3, 5)
        The numbers of neighbours that vote.
    metric : {"euclidean", "cosine", "pearson"}, default "euclidean"
        The distance of the neighbour search.

    Returns
    -------
    DataFrame
        ``k, metric, accuracy, errors``, one row per k.

    Raises
    ------
    ValueError
        If the dataset has no test split, or a k is not a positive whole number.

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
