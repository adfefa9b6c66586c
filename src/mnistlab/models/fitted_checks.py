"""Checks that a loaded scikit-learn model is the pipeline its description names, with fitted
arrays that prediction can use as they are.

Prediction trusts its fitted arrays: a wrong shape or a tree link out of range reads outside
them in compiled code (garbage or a crash), a loop in a tree never ends, a NaN gives NaN scores.
A model read from a file is checked here before it is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnistlab.errors import ModelError
from mnistlab.models.catalogue import build_estimator
from mnistlab.models.size_bounds import UNRECORDED_TRAIN_IMAGES, is_number


def check_pipeline(path: Path, meta: dict, estimator) -> None:
    """The loaded object must be the pipeline ``train`` builds for the named model, as described."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    expected = type(build_estimator(meta["model"]).steps[1][1])
    h, w = meta["image_shape"]
    steps = estimator.steps if isinstance(estimator, Pipeline) else []
    if (
        [name for name, _ in steps] != ["scale", "model"]
        or type(steps[0][1]) is not StandardScaler
        or type(steps[1][1]) is not expected
        or getattr(estimator, "n_features_in_", None) != h * w
        or [int(c) for c in getattr(estimator, "classes_", [])] != meta["trained_labels"]
    ):
        raise ModelError(
            f"{path}: the model inside is not the {meta['model']} pipeline its description names "
            f"({h}x{w} images, labels {meta['trained_labels']}); the file is damaged or forged."
        )
    n_classes = len(meta["trained_labels"])
    try:
        problem = _tree_problem(steps[1][1], h * w, n_classes) or _fitted_problem(
            steps[0][1], steps[1][1], h * w, n_classes, meta["train_images"]
        )
    except (AttributeError, TypeError, ValueError):  # a fitted attribute missing or of a wrong type
        problem = f"the {meta['model']} model lacks what a fitted one holds"
    if problem:
        raise ModelError(f"{path}: {problem}; the file is damaged or forged.")


def _fitted_problem(scaler, model, n_features: int, n_classes: int, n_train: int | None) -> str | None:
    """What is wrong with the fitted arrays of the scaler and of a model not made of trees, if any.

    Prediction uses them as they are: arrays of the wrong shape fail there, or in libsvm's
    compiled code read outside themselves (garbage scores or a crash); a k-NN label out of range
    silently votes for another class; NaN or infinite values give NaN scores. So every array must
    have the shape and type fitting gives it for the described images, classes and training set.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
    from sklearn.svm import SVC, LinearSVC

    rows = 1 if n_classes == 2 else n_classes  # one vs rest: one classifier for two classes
    recorded, n_train = n_train, n_train or UNRECORDED_TRAIN_IMAGES
    vector = ((n_features,), "f")
    problem = _arrays_problem(scaler, "scaler", {"mean_": vector, "var_": vector, "scale_": vector})
    if problem or not (scaler.scale_ > 0).all():
        return problem or "the scaler divides by zero or less"
    if isinstance(model, NearestCentroid):
        means = ((n_classes, n_features), "f")
        return _arrays_problem(
            model,
            "centroid model",
            {"centroids_": means, "deviations_": means, "within_class_std_dev_": vector},
        ) or _arrays_problem(model, "centroid model", {"class_prior_": ((n_classes,), "f")}, 0, 1)
    if isinstance(model, LinearSVC):
        linear = {"coef_": ((rows, n_features), "f"), "intercept_": ((rows,), "f")}
        return _arrays_problem(model, "linear SVM", linear)
    if isinstance(model, OneVsRestClassifier):
        binarizer = getattr(model, "label_binarizer_", None)
        estimators = getattr(model, "estimators_", None)
        if (
            getattr(binarizer, "y_type_", None) != ("binary" if n_classes == 2 else "multiclass")
            or not isinstance(estimators, list)
            or len(estimators) != rows
            or not all(type(e) is LogisticRegression for e in estimators)
        ):
            return "the one-vs-rest model does not hold the classifiers it describes"
        linear = {"coef_": ((1, n_features), "f"), "intercept_": ((1,), "f")}
        return next((p for e in estimators if (p := _arrays_problem(e, "logistic model", linear))), None)
    if isinstance(model, KNeighborsClassifier):
        seen = getattr(model, "_fit_X", None)
        n = len(seen) if isinstance(seen, np.ndarray) and seen.ndim == 2 else -1
        problem = _arrays_problem(model, "k-NN model", {"_fit_X": ((n, n_features), "f")})
        problem = problem or _arrays_problem(model, "k-NN model", {"_y": ((n,), "i")}, 0, n_classes - 1)
        metric = getattr(model, "effective_metric_params_", None)
        if problem or not (
            (n == recorded if recorded else 0 < n <= n_train)
            and model.n_samples_fit_ == n
            and isinstance(model.n_neighbors, (int, np.integer))
            and 0 < model.n_neighbors <= n
            and model._fit_method == "brute"
            and model._tree is None
            and model.outputs_2d_ is False
            and isinstance(model.effective_metric_, str)
            and isinstance(metric, dict)
            and set(metric) <= {"p"}
            and all(is_number(v) for v in metric.values())
        ):
            return problem or "the k-NN model does not hold the training images it describes"
    if isinstance(model, SVC):
        vectors = getattr(model, "support_vectors_", None)
        n = len(vectors) if isinstance(vectors, np.ndarray) and vectors.ndim == 2 else -1
        pairs = n_classes * (n_classes - 1) // 2
        # Platt scaling's pairwise parameters, fitted only for probabilities (sklearn >= 1.9 keeps
        # whether it did in _effective_probability).
        fitted = getattr(model, "_effective_probability", getattr(model, "probability", False))
        probabilities = ((pairs if fitted is True else 0,), "float64")
        arrays = {
            "support_vectors_": ((n, n_features), "float64"),
            "_dual_coef_": ((n_classes - 1, n), "float64"),
            "_intercept_": ((pairs,), "float64"),
            "_probA": probabilities,
            "_probB": probabilities,
        }
        problem = _arrays_problem(model, "SVM", arrays)
        problem = problem or _arrays_problem(model, "SVM", {"support_": ((n,), "int32")}, 0, n_train - 1)
        problem = problem or _arrays_problem(model, "SVM", {"_n_support": ((n_classes,), "int32")}, 0, n)
        if problem or not (
            0 < n <= n_train
            and model._n_support.sum() == n
            and model._sparse is False
            and model._impl == "c_svc"
            and model.kernel in ("linear", "poly", "rbf", "sigmoid")
            and is_number(float(model._gamma))
            and model._gamma > 0
            and is_number(model.coef0)
        ):
            return problem or "the SVM's support vectors do not fit its kernel and classes"
    return None


def _arrays_problem(model, what: str, arrays: dict, low=None, high=None) -> str | None:
    """Which of ``arrays`` (name: (shape, dtype or dtype kind)) ``model`` lacks, or holds with
    another shape or type, non-finite, or (when given) outside ``low..high``."""
    for name, (shape, dtype) in arrays.items():
        value = getattr(model, name, None)
        if not (
            isinstance(value, np.ndarray)
            and value.shape == shape
            and (value.dtype.kind == dtype if len(dtype) == 1 else value.dtype == dtype)
            and (value.dtype.kind != "f" or np.isfinite(value).all())
            and (low is None or value.size == 0 or (low <= value.min() and value.max() <= high))
        ):
            return f"the {what}'s {name} is not the {dtype} array of shape {shape} it must be"
    return None


def _tree_problem(model, n_features: int, n_classes: int) -> str | None:
    """What is wrong with the trees inside ``model`` (a tree, forest or boosting model), if any.

    Prediction walks the node arrays in compiled code without checking them: a child index out
    of range reads outside the arrays (a crash), one pointing back loops forever. So every tree
    must be a proper tree stored parent first (children after their parent, each node but the
    root the child of exactly one node), split on existing features at finite thresholds, with
    leaf values of the right shape.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    if isinstance(model, DecisionTreeClassifier):
        return _sklearn_tree_problem(model.tree_, n_features, n_classes)
    if isinstance(model, RandomForestClassifier):
        trees = getattr(model, "estimators_", [])
        if len(trees) != model.n_estimators or not all(type(t) is DecisionTreeClassifier for t in trees):
            return "the forest does not hold the trees it describes"
        return next(
            (p for t in trees if (p := _sklearn_tree_problem(t.tree_, n_features, n_classes))), None
        )
    if isinstance(model, HistGradientBoostingClassifier):
        per_iteration = 1 if n_classes <= 2 else n_classes
        iterations = getattr(model, "_predictors", [])
        if len(iterations) != model.n_iter_ or any(len(i) != per_iteration for i in iterations):
            return "the boosting model does not hold the trees it describes"
        for predictor in (p for i in iterations for p in i):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            problem = _node_problem(
                np.where(leaf, -1, nodes["left"].astype(np.int64)),
                np.where(leaf, -1, nodes["right"].astype(np.int64)),
                np.where(leaf, -2, nodes["feature_idx"].astype(np.int64)),
                nodes["num_threshold"],
                n_features,
            )
            if problem:
                return problem
            if nodes["is_categorical"].any() or not np.isfinite(nodes["value"][leaf]).all():
                return "a boosting tree has categorical splits or non-finite leaf values"
    return None


def _sklearn_tree_problem(tree, n_features: int, n_classes: int) -> str | None:
    if tree.n_features != n_features or tree.n_outputs != 1:
        return "a tree does not take the described images"
    value = tree.value
    if value.shape != (tree.node_count, 1, n_classes) or not np.isfinite(value).all():
        return "a tree's leaf values do not match its classes"
    return _node_problem(
        tree.children_left, tree.children_right, tree.feature, tree.threshold, n_features
    )


def _node_problem(left, right, feature, threshold, n_features: int) -> str | None:
    """Leaves have -1 for both children; split nodes children after themselves, features in
    range, finite thresholds; every node but the root is the child of exactly one node."""
    n = len(left)
    nodes = np.arange(n)
    leaf = (left == -1) & (right == -1)
    split = ~leaf
    if n == 0 or len(right) != n or len(feature) != n or len(threshold) != n:
        return "a tree has inconsistent node arrays"
    if not (
        ((left[split] > nodes[split]) & (left[split] < n)).all()
        and ((right[split] > nodes[split]) & (right[split] < n)).all()
    ):
        return "a tree has child links that point outside it or back up"
    if not ((feature[split] >= 0) & (feature[split] < n_features)).all():
        return "a tree splits on a feature the images do not have"
    if not np.isfinite(threshold[split]).all():
        return "a tree has non-finite thresholds"
    children = np.concatenate([left[split], right[split]])
    if len(children) != n - 1 or not np.array_equal(np.sort(children), nodes[1:]):
        return "a tree's nodes do not form one tree"
    return None
