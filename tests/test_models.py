"""Nearest centroid agrees with scikit-learn; evaluation; the binarisation check."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import accuracy_score
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import NearestCentroid
from sklearn.utils.estimator_checks import parametrize_with_checks

import mnistlab
from mnistlab.models import NearestCentroidClassifier, evaluate
from mnistlab.models.binarisation import binarisation_effect
from mnistlab.similarity import KNearestImagesClassifier


@pytest.mark.filterwarnings("ignore:self.within_class_std_dev_:UserWarning")
@pytest.mark.parametrize("name", ["digits", "five"])
def test_nearest_centroid_matches_scikit_learn(name, five_class):
    ds = mnistlab.load("digits") if name == "digits" else five_class
    X, y = ds.train.images.reshape(len(ds.train), -1), ds.train.labels
    T = ds.test.images.reshape(len(ds.test), -1)
    ours = NearestCentroidClassifier(chunk_size=50).fit(ds.train.images, y)
    theirs = NearestCentroid().fit(X.astype(float), y)
    np.testing.assert_allclose(ours.centroids_, theirs.centroids_, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(ours.predict(ds.test.images), theirs.predict(T.astype(float)))


def test_nearest_centroid_is_a_scikit_learn_estimator():
    ds = mnistlab.load("digits")
    X = ds.train.images.reshape(len(ds.train), -1)
    scores = cross_val_score(NearestCentroidClassifier(), X, ds.train.labels, cv=3)
    assert scores.min() > 0.8
    assert clone(NearestCentroidClassifier(chunk_size=3)).chunk_size == 3


def test_nearest_centroid_with_string_labels():
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    clf = NearestCentroidClassifier().fit(X, np.array(["low", "low", "high", "high"]))
    assert clf.predict(np.array([[2.0], [9.0]])).tolist() == ["low", "high"]


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.zeros(3), [0, 1, 0], "shape"),
        # scikit-learn's own messages since the estimators validate with validate_data.
        (np.zeros((3, 2)), [0, 1], r"inconsistent numbers of samples: \[3, 2\]"),
        (np.zeros((3, 2)), [0, 0, 0], "at least 2 classes"),
        (np.array([[np.nan, 0], [0, 0]]), [0, 1], "NaN"),
    ],
)
def test_nearest_centroid_bad_input(X, y, message):
    with pytest.raises(ValueError, match=message):
        NearestCentroidClassifier().fit(X, np.asarray(y))


def test_predict_checks_the_feature_count():
    clf = NearestCentroidClassifier().fit(np.zeros((2, 4)), [0, 1])
    with pytest.raises(ValueError, match="expecting 4 features"):
        clf.predict(np.zeros((1, 5)))


def test_evaluation_against_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    p = np.where(rng.random(200) < 0.7, y, rng.integers(0, 4, 200))
    result = evaluate(y, p, ("a", "b", "c", "d"))
    assert result.accuracy == pytest.approx(accuracy_score(y, p))
    for k in range(4):
        assert result.per_class[k] == pytest.approx(np.mean(p[y == k] == k))
    assert result.confusion.sum() == 200
    table = result.table()
    assert table["correct"].sum() == int(np.sum(y == p))
    (_true, _predicted, count), *_ = result.most_confused(1)
    off = result.confusion.copy()
    np.fill_diagonal(off, 0)
    assert count == off.max()


def test_binarisation_effect_on_digits():
    result = binarisation_effect(mnistlab.load("digits"))
    assert result["model"].tolist() == ["nearest centroid", "logistic regression"]
    assert result["raw"].between(0.8, 1).all() and result["binarised"].between(0.7, 1).all()
    np.testing.assert_allclose(result["difference"], result["binarised"] - result["raw"])
    # The nearest-centroid row must agree with a direct computation.
    ds = mnistlab.load("digits")
    direct = NearestCentroidClassifier().fit(ds.train.images, ds.train.labels)
    assert result["raw"][0] == pytest.approx(direct.score(ds.test.images, ds.test.labels))


def test_binarisation_needs_a_test_split():
    ds = mnistlab.Dataset.from_arrays("t", (np.zeros((4, 2, 2)), [0, 1, 0, 1]))
    with pytest.raises(ValueError, match="no test split"):
        binarisation_effect(ds)


@parametrize_with_checks([NearestCentroidClassifier(), KNearestImagesClassifier(n_neighbors=3)])
def test_the_image_estimators_pass_scikit_learns_common_checks(estimator, check):
    """One validation idiom (scikit-learn's validate_data, images seen as rows) for every
    estimator, and every common check passes."""
    check(estimator)
