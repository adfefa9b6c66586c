"""One-pixel separability against scikit-learn and brute force, on small generated data."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import estimator_checks_generator
from typer.testing import CliRunner

from mnistlab import Dataset, OnePixelClassifier, one_pixel_separability, save
from mnistlab.cli import app
from mnistlab.onepixel import Problems, fit_logistic, l2_normalise
from mnistlab.stats import pixel_histograms

SCALES = ("unit", "raw", "l2")


def sparse_arrays(n: int, n_classes: int, shape=(6, 5), seed: int = 0):
    """MNIST-like images: mostly zeros, class-dependent ink at a few pixels, classes overlapping.

    A few images are repeated so that equal l2 values (ties) occur.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    d = int(np.prod(shape))
    ink_probability = rng.uniform(0.1, 0.9, size=(n_classes, d))
    has_ink = rng.random((n, d)) < ink_probability[labels]
    values = rng.integers(1, 256, size=(n, d))
    images = np.where(has_ink, values, 0).astype(np.uint8)
    images[: n // 10] = images[n // 10 : 2 * (n // 10)]
    labels[: n // 10] = labels[n // 10 : 2 * (n // 10)]
    return images.reshape(n, *shape), labels


@pytest.fixture
def sparse() -> Dataset:
    train = sparse_arrays(160, 4, seed=3)
    test = sparse_arrays(60, 4, seed=4)
    return Dataset.from_arrays("sparse", train, test, classes=["a", "b", "c", "d"])


def features(images: np.ndarray, scale: str) -> np.ndarray:
    flat = images.reshape(len(images), -1).astype(np.float64)
    if scale == "unit":
        return flat / 255
    if scale == "raw":
        return flat
    return l2_normalise(images)


def sklearn_fit(x: np.ndarray, y: np.ndarray, C: float) -> LogisticRegression:
    return LogisticRegression(C=C, tol=1e-10, max_iter=100_000).fit(x[:, None], y)


def brute_stump(x: np.ndarray, y: np.ndarray) -> int:
    """Most images right by any threshold rule on one feature, by trying every threshold."""
    best = max(y.sum(), len(y) - y.sum())
    for t in np.unique(x):
        right = np.sum((x > t) == (y == 1))
        best = max(best, right, len(y) - right)
    return int(best)


def close(ours: float, theirs: float, rel: float = 1e-4) -> bool:
    return abs(ours - theirs) <= rel * max(abs(theirs), 1e-6)


# --------------------------------------------------------------------------------------------
# The solver


@pytest.mark.parametrize("C", [1e-3, 1.0, 1e3])
def test_weighted_fits_equal_sklearn_with_sample_weight(C):
    rng = np.random.default_rng(0)
    xs, n0s, n1s, starts, expected = [], [], [], [], []
    position = 0
    for _ in range(25):
        m = int(rng.integers(2, 40))
        x = np.sort(rng.normal(size=m) * rng.uniform(0.01, 100))
        n0 = rng.integers(0, 5, size=m).astype(float)
        n1 = rng.integers(0, 5, size=m).astype(float)
        n0[0], n1[-1] = n0[0] + 1, n1[-1] + 1  # both classes present
        # The same data as individual samples with weights, for scikit-learn.
        X = np.concatenate([x, x])[:, None]
        y = np.repeat([0, 1], m)
        weights = np.concatenate([n0, n1])
        keep = weights > 0
        model = LogisticRegression(C=C, tol=1e-10, max_iter=100_000)
        model.fit(X[keep], y[keep], sample_weight=weights[keep])
        expected.append((model.coef_[0, 0], model.intercept_[0]))
        xs.append(x), n0s.append(n0), n1s.append(n1), starts.append(position)
        position += m
    fits = fit_logistic(
        Problems(np.concatenate(xs), np.concatenate(n0s), np.concatenate(n1s), starts), C
    )
    assert fits.converged.all()
    for (coef, intercept), w, b in zip(expected, fits.coef, fits.intercept, strict=True):
        assert close(w, coef, 1e-5) and close(b, intercept, 1e-5), (w, coef, b, intercept)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 255), st.integers(0, 30), st.integers(0, 30)), min_size=1, max_size=40
    ),
    st.sampled_from([1e-2, 1.0, 1e2]),
)
def test_fit_is_a_stationary_point(points, C):
    """At the solution the gradient of the penalised objective vanishes (no reference needed)."""
    x = np.array(sorted({p[0] for p in points}), dtype=float) / 255
    n0 = np.zeros(len(x))
    n1 = np.zeros(len(x))
    for value, a, b in points:
        i = np.searchsorted(x, value / 255)
        n0[i] += a
        n1[i] += b
    if n0.sum() == 0 or n1.sum() == 0:
        with pytest.raises(ValueError, match="both classes"):
            fit_logistic(Problems(x, n0, n1, [0]), C)
        return
    fits = fit_logistic(Problems(x, n0, n1, [0]), C)
    assert fits.converged.all()
    p = 1 / (1 + np.exp(-(fits.coef[0] * x + fits.intercept[0])))
    residual = (n0 + n1) * p - n1
    scale = (n0 + n1).sum()
    assert abs(residual.sum()) < 1e-7 * scale
    assert abs((residual * x).sum() + fits.coef[0] / C) < 1e-7 * scale


def test_stump_equals_brute_force_and_bounds_logistic_accuracy(sparse):
    images, labels = sparse.train.images, sparse.train.labels
    mine = (labels == 1) | (labels == 3)
    y = (labels[mine] == 3).astype(int)
    for scale in SCALES:
        X = features(images[mine], scale)
        result = one_pixel_separability(sparse, scale, pairs=[(1, 3)], progress=False)
        expected = max(brute_stump(X[:, k], y) for k in range(X.shape[1]))
        assert result.pairs["stump_train_accuracy"].iloc[0] == expected / len(y)
        assert np.nanmax(result.pixel_accuracy) <= expected / len(y)


def test_c_must_be_positive():
    problems = Problems([0.0, 1.0], [1, 0], [0, 1], [0])
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="C must be"):
            fit_logistic(problems, bad)


# --------------------------------------------------------------------------------------------
# The sweep, against scikit-learn


@pytest.mark.parametrize("scale", SCALES)
def test_pairs_equal_sklearn(sparse, scale):
    train, test = sparse.train, sparse.test
    result = one_pixel_separability(sparse, scale, C=0.5, progress=False)
    assert len(result.pairs) == 6
    X, X_test = features(train.images, scale), features(test.images, scale)
    checked_best = 0
    for row, accuracies in zip(result.pairs.itertuples(), result.pixel_accuracy, strict=True):
        a, b = row.class_a, row.class_b
        mine, mine_test = np.isin(train.labels, [a, b]), np.isin(test.labels, [a, b])
        y, y_test = (train.labels[mine] == b).astype(int), (test.labels[mine_test] == b).astype(int)
        models = [sklearn_fit(X[mine, k], y, 0.5) for k in range(X.shape[1])]
        scores = np.array([m.score(X[mine][:, [k]], y) for k, m in enumerate(models)])
        np.testing.assert_allclose(accuracies.ravel(), scores, rtol=0, atol=1e-12)
        best = models[row.pixel]
        assert close(row.coef, best.coef_[0, 0]) and close(row.intercept, best.intercept_[0])
        assert row.train_accuracy == scores.max()
        assert row.test_accuracy == best.score(X_test[mine_test][:, [row.pixel]], y_test)
        assert (row.x, row.y) == (row.pixel % 5, row.pixel // 5)
        if np.sum(scores == scores.max()) == 1:
            assert row.pixel == int(np.argmax(scores))
            checked_best += 1
        else:  # ties go to the lowest pixel index
            assert row.pixel == int(np.flatnonzero(scores == scores.max())[0])
    assert checked_best >= 3


@pytest.mark.parametrize("scale", SCALES)
def test_predictions_equal_sklearn_on_random_pairs_and_pixels(sparse, scale):
    """Coefficients to 1e-4 relative and identical predictions, pixel by pixel."""
    rng = np.random.default_rng(5)
    train = sparse.train
    X = features(train.images, scale)
    for _ in range(8):
        a, b = sorted(rng.choice(4, size=2, replace=False))
        pixel = int(rng.integers(0, 30))
        result = one_pixel_separability(sparse, scale, pairs=[(a, b)], pixels=[pixel], progress=False)
        row = result.pairs.iloc[0]
        mine = np.isin(train.labels, [a, b])
        model = sklearn_fit(X[mine, pixel], (train.labels[mine] == b).astype(int), 1.0)
        assert row.pixel == pixel
        assert close(row.coef, model.coef_[0, 0]) and close(row.intercept, model.intercept_[0])
        ours = row.coef * X[mine, pixel] + row.intercept
        theirs = model.decision_function(X[mine][:, [pixel]])
        decided = np.abs(theirs) > 1e-8  # exactly on the boundary either answer is right
        np.testing.assert_array_equal((ours > 0)[decided], (theirs > 0)[decided])


def test_pixel_histograms_count_each_pixel_value_per_class(sparse):
    images, labels = sparse.train.images, sparse.train.labels
    counts = pixel_histograms(images, labels, 4)
    flat = images.reshape(len(images), -1)
    for c in range(4):
        for k in (0, 7, 29):
            np.testing.assert_array_equal(counts[c, k], np.bincount(flat[labels == c, k], minlength=256))
    with pytest.raises(TypeError, match="uint8"):
        pixel_histograms(images.astype(float), labels, 4)


def test_unit_and_raw_pick_the_same_pixels_and_differ_in_coefficient_scale(sparse):
    unit = one_pixel_separability(sparse, "unit", C=1e6, progress=False).pairs
    raw = one_pixel_separability(sparse, "raw", C=1e6, progress=False).pairs
    # With almost no penalty the two scales are the same model: coef_raw = coef_unit / 255.
    np.testing.assert_array_equal(unit["pixel"], raw["pixel"])
    np.testing.assert_allclose(raw["coef"] * 255, unit["coef"], rtol=1e-4)
    np.testing.assert_allclose(raw["intercept"], unit["intercept"], rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Result object


def test_matrix_summary_and_dict(sparse):
    result = one_pixel_separability(sparse, progress=False)
    matrix = result.matrix()
    assert list(matrix.index) == ["a", "b", "c", "d"]
    values = matrix.to_numpy()
    assert np.isnan(np.diag(values)).all()
    np.testing.assert_array_equal(values, values.T)
    s = result.summary()
    acc = result.pairs["test_accuracy"]
    assert s["measure"] == "test_accuracy"
    assert s["min"] == acc.min() and s["max"] == acc.max() and s["mean"] == pytest.approx(acc.mean())
    assert s["pairs_at_least_0.9"] == int((acc >= 0.9).sum())
    assert s["pairs_at_least_0.95"] == int((acc >= 0.95).sum())
    low = result.pairs[acc == acc.min()]
    assert s["min_pairs"] == [[r.name_a, r.name_b] for r in low.itertuples()]
    payload = json.loads(json.dumps(result.to_dict()))
    assert len(payload["pairs"]) == 6 and set(payload["pairs"][0]) >= {"class_a", "coef", "x", "y"}
    with pytest.raises(ValueError, match="unknown column"):
        result.matrix("nope")


def test_bad_arguments(sparse):
    with pytest.raises(ValueError, match="unknown scale"):
        one_pixel_separability(sparse, "log")
    with pytest.raises(ValueError, match="C must be"):
        one_pixel_separability(sparse, C=0)
    with pytest.raises(ValueError, match="out of range"):
        one_pixel_separability(sparse, pairs=[(0, 4)])
    with pytest.raises(ValueError, match="pixel indices"):
        one_pixel_separability(sparse, pixels=[30])
    with pytest.raises(ValueError, match="pixel indices"):
        one_pixel_separability(sparse, pixels=[])


# --------------------------------------------------------------------------------------------
# Awkward data: every case has a defined result


def small(train, test=None, classes=("a", "b", "c")) -> Dataset:
    return Dataset.from_arrays("small", train, test, classes=list(classes))


@pytest.mark.parametrize("scale", SCALES)
def test_class_with_a_single_image(scale):
    images, labels = sparse_arrays(41, 2, seed=7)
    images, labels = np.concatenate([images, images[:1] + 9]), np.concatenate([labels, [2]])
    result = one_pixel_separability(small((images, labels)), scale, progress=False)
    assert len(result.pairs) == 3
    assert np.isfinite(result.pairs[["coef", "intercept", "train_accuracy"]].to_numpy()).all()
    single = result.pairs[result.pairs["class_b"] == 2]
    assert (single["n_train_b"] == 1).all()


def test_class_missing_from_train_is_left_out_with_a_warning():
    images, labels = sparse_arrays(40, 2, seed=8)
    with pytest.warns(UserWarning, match="no training images of c"):
        result = one_pixel_separability(small((images, labels)), progress=False)
    assert result.pairs[["class_a", "class_b"]].values.tolist() == [[0, 1]]
    assert result.skipped == ((0, 2), (1, 2))
    assert np.isnan(result.matrix().loc["a", "c"])


def test_class_missing_from_test_split():
    train = sparse_arrays(60, 3, seed=9)
    images, labels = sparse_arrays(30, 3, seed=10)
    test = images[labels != 2], labels[labels != 2]
    result = one_pixel_separability(small(train, test), progress=False)
    pairs = result.pairs.set_index(["class_a", "class_b"])
    # Measured on the test images of the class that is there.
    assert pairs.loc[(0, 2), "n_test_b"] == 0 and np.isfinite(pairs.loc[(0, 2), "test_accuracy"])
    assert pairs.loc[(0, 2), "n_test_a"] == np.sum(test[1] == 0) > 0


def test_no_test_split_uses_training_accuracy():
    result = one_pixel_separability(small(sparse_arrays(60, 3, seed=9)), progress=False)
    assert result.pairs["test_accuracy"].isna().all()
    assert result.measure == "train_accuracy"
    assert result.summary()["min"] == result.pairs["train_accuracy"].min()


@pytest.mark.parametrize("scale", SCALES)
def test_constant_images_give_the_majority_class(scale):
    images = np.zeros((30, 4, 4), np.uint8)
    labels = np.array([0] * 20 + [1] * 10)
    result = one_pixel_separability(small((images, labels), classes=("a", "b")), scale, progress=False)
    row = result.pairs.iloc[0]
    assert row.coef == 0 and row.intercept == pytest.approx(np.log(10 / 20))
    assert row.pixel == 0 and row.train_accuracy == pytest.approx(2 / 3)
    assert row.stump_train_accuracy == pytest.approx(2 / 3)


def test_one_class_means_no_pairs():
    images, _ = sparse_arrays(10, 1, seed=1)
    result = one_pixel_separability(
        small((images, np.zeros(10, int)), classes=("only",)), progress=False
    )
    assert len(result.pairs) == 0 and result.summary()["min"] is None


# --------------------------------------------------------------------------------------------
# OnePixelClassifier


def _check_name(check) -> str:
    return getattr(check, "func", check).__name__


# scikit-learn's own estimator checks, except the array-API one: mnistlab works on numpy arrays.
SKLEARN_CHECKS = [
    (estimator, check)
    for estimator, check in estimator_checks_generator(OnePixelClassifier())
    if _check_name(check) != "check_array_api_input"
]


@pytest.mark.parametrize(
    ("estimator", "check"), SKLEARN_CHECKS, ids=[_check_name(c) for _, c in SKLEARN_CHECKS]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_classifier_finds_the_informative_feature_and_matches_logistic_regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    y = np.where(X[:, 4] + 0.3 * rng.normal(size=300) > 0.2, "yes", "no")
    model = OnePixelClassifier(C=2.0).fit(X, y)
    assert model.best_feature_ == 4 and list(model.classes_) == ["no", "yes"]
    reference = LogisticRegression(C=2.0, tol=1e-10).fit(X[:, [4]], y)
    assert close(model.coef_, reference.coef_[0, 0]) and close(model.intercept_, reference.intercept_[0])
    np.testing.assert_array_equal(model.predict(X), reference.predict(X[:, [4]]))
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X[:, [4]]), atol=1e-6)
    assert model.score(X, y) == model.train_accuracy_ == model.feature_accuracies_.max()


def test_classifier_in_a_pipeline_with_cross_validation():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 5))
    y = (X[:, 2] > 0).astype(int)
    scores = cross_val_score(make_pipeline(StandardScaler(), OnePixelClassifier()), X, y, cv=4)
    assert scores.min() > 0.9


def test_classifier_refusals():
    X = np.arange(12, dtype=float).reshape(6, 2)
    with pytest.raises(ValueError, match="Only binary"):
        OnePixelClassifier().fit(X, [0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match="NaN"):
        OnePixelClassifier().fit(np.where(X > 10, np.nan, X), [0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match="no weight"):
        OnePixelClassifier().fit(X, [0, 1, 0, 1, 0, 1], sample_weight=[1, 0, 1, 0, 1, 0])
    # scikit-learn's message since the parameters are declared in _parameter_constraints.
    with pytest.raises(ValueError, match=r"'C' parameter .* must be a float in the range \(0\.0, inf\)"):
        OnePixelClassifier(C=-1).fit(X, [0, 1, 0, 1, 0, 1])


def test_classifier_with_sample_weight_equals_repeated_samples():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + rng.normal(size=40) > 0).astype(int)
    counts = rng.integers(1, 4, size=40)
    weighted = OnePixelClassifier().fit(X, y, sample_weight=counts)
    repeated = OnePixelClassifier().fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    assert weighted.best_feature_ == repeated.best_feature_
    assert close(weighted.coef_, repeated.coef_, 1e-9) and close(
        weighted.intercept_, repeated.intercept_, 1e-9
    )


# --------------------------------------------------------------------------------------------
# Command line


def test_cli_writes_csv_figures_and_json(sparse, tmp_path):
    save(sparse, tmp_path / "sparse", "npz")
    source = str(tmp_path / "sparse" / "sparse.npz")
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(
        app, ["onepixel", source, "digits", "--scale", "l2", "--C", "2", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload["datasets"]) == {"sparse", "digits"}
    assert payload["datasets"]["sparse"]["summary"]["scale"] == "l2"
    assert payload["datasets"]["sparse"]["summary"]["C"] == 2
    table = pd.read_csv(out / "separability.csv")
    # The columns the issue promises, in its order (extra columns follow).
    promised = "dataset class_a class_b pixel x y train_accuracy test_accuracy coef intercept"
    assert list(table.columns[:11]) == [*promised.split(), "stump_train_accuracy"]
    assert table.groupby("dataset").size().to_dict() == {"digits": 45, "sparse": 6}
    direct = one_pixel_separability(sparse, "l2", C=2.0, progress=False).pairs
    np.testing.assert_allclose(table[table.dataset == "sparse"]["coef"], direct["coef"], rtol=1e-12)
    for name in ("heatmap-sparse.png", "best-pixels-sparse.png", "heatmap-digits.png", "summary.json"):
        assert (out / name).stat().st_size > 1000
    human = runner.invoke(app, ["onepixel", source, "digits"])
    assert human.exit_code == 0 and "One-pixel separability" in human.stdout and "digits" in human.stdout


def test_cli_refuses_bad_options_before_writing(tmp_path):
    runner = CliRunner()
    (tmp_path / "file").write_text("x")
    for args, message in [
        (["digits", "--scale", "log"], "unknown scale"),
        (["digits", "--C", "0"], "positive"),
        (["digits", "-o", str(tmp_path / "file")], "not a folder"),
        (["nonexistent-dataset"], "nonexistent"),
        (["digits", "digits"], "two datasets are named 'digits'; tell them apart with --name"),
    ]:
        output = [] if "-o" in args else ["-o", str(tmp_path / "out")]
        result = runner.invoke(app, ["onepixel", *args, *output])
        assert result.exit_code != 0, args
        assert message in result.stderr, (args, result.stderr)
    assert not (tmp_path / "out").exists()


def test_merging_equal_values_changes_nothing():
    rng = np.random.default_rng(3)
    x = np.sort(rng.integers(0, 6, size=(4, 50)), axis=1).ravel() / 5
    problems = Problems(
        x, rng.integers(0, 3, 200), rng.integers(0, 3, 200) + (x > 0.5), np.arange(4) * 50
    )
    merged = problems.merge_ties()
    assert len(merged.x) < 30 and len(merged) == 4
    np.testing.assert_array_equal(merged.totals(), problems.totals())
    np.testing.assert_array_equal(merged.stump_correct(), problems.stump_correct())
    full, small = fit_logistic(problems), fit_logistic(merged)
    np.testing.assert_allclose(small.coef, full.coef, rtol=1e-9)
    np.testing.assert_allclose(small.intercept, full.intercept, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(
        merged.correct(small.coef, small.intercept), problems.correct(full.coef, full.intercept)
    )


def test_pairs_by_name_and_numpy_numbers(sparse):
    by_name = one_pixel_separability(
        sparse, pairs=[("d", "b"), (0, "c")], C=np.float32(0.5), progress=False
    )
    assert by_name.pairs[["class_a", "class_b"]].values.tolist() == [[1, 3], [0, 2]]
    by_label = one_pixel_separability(sparse, pairs=[(1, 3), (0, 2)], C=0.5, progress=False)
    pd.testing.assert_frame_equal(by_name.pairs, by_label.pairs)
    for bad, message in [
        ((1, 3), "list of"),
        ([(1, 1)], "twice"),
        ([(1, 3), (3, 1)], "given twice"),
        ([("b", "x")], "neither"),
    ]:
        with pytest.raises(ValueError, match=message):
            one_pixel_separability(sparse, pairs=bad)
    for bad in ([(1, 2)], [[0, 1], [2, 3]], [True, False], [1.5]):
        with pytest.raises(ValueError, match="pixel"):
            one_pixel_separability(sparse, pixels=bad)
    with pytest.raises(ValueError, match="C must be"):
        one_pixel_separability(sparse, C=True)


@pytest.mark.parametrize("scale", ["unit", "raw"])
def test_sorted_values_path_equals_histograms(sparse, scale, monkeypatch):
    """Large images use sorted values instead of histograms: the same answer either way."""
    from mnistlab import onepixel

    with_histograms = one_pixel_separability(sparse, scale, progress=False)
    monkeypatch.setattr(onepixel.sweep, "HISTOGRAM_BYTES", 0)
    sorted_values = one_pixel_separability(sparse, scale, progress=False)
    pd.testing.assert_frame_equal(
        sorted_values.pairs, with_histograms.pairs, check_exact=False, rtol=1e-9
    )
    np.testing.assert_array_equal(sorted_values.pixel_accuracy, with_histograms.pixel_accuracy)


def test_empty_results_have_a_matrix_and_typed_columns(sparse):
    result = one_pixel_separability(sparse, pairs=[], progress=False)
    assert result.matrix().isna().all().all() and result.matrix().shape == (4, 4)
    assert result.pairs["class_a"].dtype == np.int64
    generated = one_pixel_separability(sparse, pairs=((0, b) for b in (1, 2)), progress=False)
    assert len(generated.pairs) == 2
    with pytest.raises(ValueError, match="integer label or name"):
        one_pixel_separability(sparse, pairs=[(0.9, 2)])


def test_features_far_from_zero_and_tiny_penalties():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = (x + rng.normal(size=200) > 0).astype(int)
    near = OnePixelClassifier().fit(x[:, None], y)
    far = OnePixelClassifier().fit((x + 1e8)[:, None], y)
    assert close(far.coef_, near.coef_, 1e-6)
    assert close(far.intercept_ + far.coef_ * 1e8, near.intercept_, 1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pinned = OnePixelClassifier(C=5e-324).fit(x[:, None], y)
    assert pinned.coef_ == 0 and pinned.intercept_ == pytest.approx(np.log(y.mean() / (1 - y.mean())))


def test_cli_many_classes_write_capped_figures_and_no_pairs_none(tmp_path):
    """31 classes used to write the table without figures; now the figures show a subset."""
    from PIL import Image

    from mnistlab import plots

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(31), 3)
    many = Dataset.from_arrays("many", (rng.integers(0, 256, (93, 3, 3)), labels), None)
    one = Dataset.from_arrays("one", (rng.integers(0, 256, (5, 3, 3)), np.zeros(5, int)), None)
    for ds, rows, figures in ((many, 31 * 30 // 2, 2), (one, 0, 0)):
        save(ds, tmp_path / ds.name, "npz")
        out = tmp_path / f"out-{ds.name}"
        result = CliRunner().invoke(
            app, ["onepixel", str(tmp_path / ds.name / f"{ds.name}.npz"), "-o", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert ("no heat map" in result.stderr) == (figures == 0)
        assert len(pd.read_csv(out / "separability.csv")) == rows
        pngs = list(out.glob("*.png"))
        assert len(pngs) == figures
        for png in pngs:
            assert max(Image.open(png).size) <= plots.MAX_FIGURE_INCHES * plots.DPI


# --------------------------------------------------------------------------------------------
# Many classes


def many_classes(k: int, per_class: int = 2, side: int = 4, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    n = k * per_class
    x = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
    y = np.arange(n) % k
    return Dataset.from_arrays(f"many{k}", (x, y), (x[: n // 2], y[: n // 2]))


def test_200_classes_fit_every_pair_in_seconds():
    """19,900 pairs: the left-out pairs were found by rebuilding a set of all pairs once per pair
    (quadratic in the pairs: half a minute here); every pair is fitted, with numbers per class."""
    import time

    ds = many_classes(200)
    started = time.perf_counter()
    result = one_pixel_separability(ds, progress=False)
    assert time.perf_counter() - started < 15
    assert len(result.pairs) == result.class_pairs == 19_900 and not result.bounded
    s = result.summary()
    assert s["class_pairs"] == 19_900 and s["bounded"] is False
    per_class = result.per_class()
    assert len(per_class) == 200 and (per_class["pairs"] == 199).all()
    assert per_class["mean"].notna().all() and per_class["hardest"].notna().all()
    # Each class's hardest partner and minimum come from its own pairs.
    matrix = result.matrix().to_numpy()
    np.testing.assert_allclose(per_class["min"], np.nanmin(matrix, axis=1))
    np.testing.assert_allclose(per_class["mean"], np.nanmean(matrix, axis=1))
    for r in per_class.head(5).itertuples():
        assert matrix[r.label, int(r.hardest)] == r.min
    hardest = result.hardest(10)
    assert hardest[result.measure].is_monotonic_increasing
    assert hardest[result.measure].iloc[0] == result.pairs[result.measure].min()


def test_too_many_pairs_fit_the_closest_centroids_and_say_so(monkeypatch):
    from mnistlab import onepixel, stats

    ds = many_classes(30, per_class=3)
    monkeypatch.setattr(onepixel.sweep, "MAX_FITS", 100 * 16)  # 100 pairs of 16 pixels
    with pytest.warns(UserWarning, match="30 classes make 435 pairs: only the 100 with the closest"):
        result = one_pixel_separability(ds, progress=False)
    assert result.bounded and len(result.pairs) == 100 and result.class_pairs == 435
    assert result.summary()["bounded"] is True
    centroids = stats.centroids(ds.train.images, ds.train.labels, ds.classes)
    closest = centroids.closest_pairs(100)
    fitted = set(zip(result.pairs.class_a, result.pairs.class_b, strict=True))
    assert fitted == set(zip(closest.class_a, closest.class_b, strict=True))
    # Given pairs are never bounded; the fits of the chosen pairs are those of a full run.
    chosen = sorted(fitted)[:5]
    direct = one_pixel_separability(ds, pairs=chosen, progress=False).pairs
    pd.testing.assert_frame_equal(direct, result.pairs.head(5).reset_index(drop=True))


def test_closest_centroid_pairs_match_a_direct_computation():
    from mnistlab import stats

    ds = many_classes(12, per_class=3)
    labels = ds.train.labels.copy()
    labels[labels == 5] = 4  # class 5 has no images: left out
    centroids = stats.centroids(ds.train.images, labels, ds.classes)
    found = centroids.closest_pairs()
    assert len(found) == 11 * 10 // 2 and 5 not in set(found.class_a) | set(found.class_b)
    flat = centroids.means.reshape(12, -1)
    for r in found.sample(10, random_state=0).itertuples():
        assert r.rms == pytest.approx(np.sqrt(np.mean((flat[r.class_a] - flat[r.class_b]) ** 2)))
    assert found.rms.is_monotonic_increasing
    i, j, rms = centroids.closest_pair()
    assert (found.class_a[0], found.class_b[0]) == (i, j) and found.rms[0] == pytest.approx(rms)
