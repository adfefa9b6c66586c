"""Input validation of the estimators, one way for all: scikit-learn's ``validate_data``, after
images (n, h, w) are seen as rows (n, h * w)."""

from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data


def image_rows(X):
    """``X`` with images (n, h, w) flattened to rows (n, h * w); anything else as it is."""
    if isinstance(X, (list, tuple)):
        X = np.asarray(X)
    if isinstance(X, np.ndarray) and X.ndim == 3:
        return X.reshape(len(X), X.shape[1] * X.shape[2])
    return X


def checked_fit(estimator, X, y, **kwargs):
    """``(X, y)`` for ``fit``: rows of numbers in their own dtype (uint8 images stay uint8),
    finite, at least one sample and feature, one class label per sample (scikit-learn's
    messages, which its common checks expect); ``n_features_in_`` is set."""
    X, y = validate_data(estimator, image_rows(X), y, dtype="numeric", **kwargs)
    check_classification_targets(y)
    return X, y


def checked_predict(estimator, X, fitted: str | None = None):
    """``X`` for ``predict``: the estimator is fitted, and ``X`` has the fitted feature count."""
    check_is_fitted(estimator, fitted)
    return validate_data(estimator, image_rows(X), dtype="numeric", reset=False)
