"""Does binarising pixels lose information? Test accuracy of simple models on raw vs binary images."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from mnistlab.data.dataset import Dataset
from mnistlab.models.centroid import NearestCentroidClassifier
from mnistlab.stats import binarise


def _logistic_regression() -> LogisticRegression:
    # tol=1e-3: lbfgs reaches its accuracy plateau in a few dozen iterations and then spends
    # most of its time on line searches that change the test accuracy by <0.2 points.
    return LogisticRegression(tol=1e-3, max_iter=300)


def binarisation_effect(
    dataset: Dataset, *, threshold: int = 128, max_train: int | None = 10_000
) -> pd.DataFrame:
    """Test accuracy of nearest centroid and logistic regression on raw vs binarised pixels.

    Binarised images have 255 where a pixel is >= ``threshold`` and 0 elsewhere. Both models see
    pixels scaled to 0..1; logistic regression is scikit-learn's (L2, C=1, lbfgs, tol=1e-3).

    Parameters
    ----------
    dataset : Dataset
        Must have a test split.
    threshold : int
        Binarisation threshold on the 0..255 scale.
    max_train : int or None
        Train on the first ``max_train`` training images (None: all of them).

    Returns
    -------
    DataFrame
        One row per model: ``model, raw, binarised, difference`` (binarised - raw), plus
        ``n_train`` and ``n_test``.
    """
    test = dataset.split("test")
    train = dataset.train.subset(first=max_train)
    rows = []
    for name, make in (
        ("nearest centroid", NearestCentroidClassifier),
        ("logistic regression", _logistic_regression),
    ):
        scores = {}
        for variant, transform in (("raw", lambda x: x), ("binarised", binarise)):
            X = transform(train.images).reshape(len(train), -1).astype(np.float32) / 255
            T = transform(test.images).reshape(len(test), -1).astype(np.float32) / 255
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = make().fit(X, train.labels)
            scores[variant] = float(model.score(T, test.labels))
        rows.append(
            {
                "model": name,
                "raw": scores["raw"],
                "binarised": scores["binarised"],
                "difference": scores["binarised"] - scores["raw"],
                "n_train": len(train),
                "n_test": len(test),
            }
        )
    return pd.DataFrame(rows)
