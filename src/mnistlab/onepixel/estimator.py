"""A classifier that uses one pixel per pair of classes (:class:`OnePixelClassifier`)."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mnistlab.onepixel.solver import MAX_ITER, Problems, fit_logistic


class OnePixelClassifier(ClassifierMixin, BaseEstimator):
    """Binary classifier that uses the single best feature of any feature matrix.

    Every feature gets its own L2-penalised logistic regression (scikit-learn's
    ``LogisticRegression(C=C)`` objective, intercept unpenalised); the feature whose fit has the
    highest weighted training accuracy is kept (ties: the lowest index). With pixels as features
    it answers "how far does one pixel go?".

    Parameters
    ----------
    C : float, default 1.0
        Inverse strength of the penalty on the coefficient.
    max_iter : int, default 1000
        Newton iterations per feature.

    Attributes
    ----------
    best_feature_ : int
    coef_ : float
        Coefficient of the best feature (positive: larger values mean ``classes_[1]``).
    intercept_ : float
    feature_accuracies_ : ndarray (n_features,)
        Weighted training accuracy of each feature's fit.
    train_accuracy_ : float
    classes_ : ndarray of the two classes
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> X = np.array([[5, 0.1], [4, 0.2], [6, 0.9], [5, 0.8], [4, 0.7], [6, 0.3]])
    >>> y = np.array([0, 0, 1, 1, 1, 0])
    >>> model = OnePixelClassifier().fit(X, y)
    >>> model.best_feature_, model.predict([[5, 0.95], [5, 0.05]]).tolist()
    (1, [1, 0])
    """

    classes_: np.ndarray
    feature_accuracies_: np.ndarray
    best_feature_: int
    coef_: float
    intercept_: float
    train_accuracy_: float
    n_iter_: int

    _parameter_constraints: ClassVar[dict] = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, C: float = 1.0, max_iter: int = MAX_ITER) -> None:
        self.C = C
        self.max_iter = max_iter

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None) -> OnePixelClassifier:
        """Fit one logistic regression per feature and keep the best."""
        from sklearn.utils.validation import _check_sample_weight

        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(
                f"Only binary classification is supported: y must hold 2 classes, got "
                f"{len(self.classes_)}."
            )
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        is_one = encoded.astype(np.float64)
        if not (np.sum(weights * is_one) > 0 and np.sum(weights * (1 - is_one)) > 0):
            raise ValueError("sample_weight leaves one of the two classes with no weight.")
        n, d = X.shape
        # One problem per feature, its samples sorted by value (feature-major layout).
        order = np.argsort(X, axis=0, kind="stable")
        x = np.take_along_axis(X, order, axis=0).T.ravel()
        w = weights[order].T.ravel()
        one = is_one[order].T.ravel()
        problems = Problems(x, w * (1 - one), w * one, np.arange(d, dtype=np.int64) * n).merge_ties()
        # float(): fit_logistic's own check refuses True, which the constraint takes as 1.
        fits = fit_logistic(problems, float(self.C), max_iter=self.max_iter)
        if not fits.converged.all():
            warnings.warn(
                f"{int((~fits.converged).sum())} of {d} one-feature fits did not converge in "
                f"{self.max_iter} iterations.",
                stacklevel=2,
            )
        self.feature_accuracies_ = problems.correct(fits.coef, fits.intercept) / weights.sum()
        self.best_feature_ = int(np.argmax(self.feature_accuracies_))
        self.coef_ = float(fits.coef[self.best_feature_])
        self.intercept_ = float(fits.intercept[self.best_feature_])
        self.train_accuracy_ = float(self.feature_accuracies_[self.best_feature_])
        self.n_iter_ = int(fits.n_iter[self.best_feature_])
        return self

    def decision_function(self, X) -> np.ndarray:
        """``coef_ * X[:, best_feature_] + intercept_``: positive means ``classes_[1]``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.coef_ * X[:, self.best_feature_] + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of ``classes_[0]`` and ``classes_[1]``, shape (n, 2)."""
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        """``classes_[1]`` where the decision is positive, ``classes_[0]`` elsewhere."""
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(int)]
