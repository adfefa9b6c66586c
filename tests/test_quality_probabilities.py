"""Out-of-sample class probabilities: no leaks, stratified folds, saving, hostile files, refusals."""

from __future__ import annotations

import json
import pathlib
import pickle
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mnistlab
from conftest import make_arrays
from mnistlab import Dataset
from mnistlab.errors import FormatError
from mnistlab.models import trained as trained_module
from mnistlab.models.trained import TrainedModel, train
from mnistlab.quality.probabilities import (
    DEFAULT,
    Probabilities,
    load_probabilities,
    out_of_sample_probabilities,
    probability_models,
)


@dataclass
class Fit:
    """One model trained by out_of_sample_probabilities: on which images, to predict which."""

    trained_on: np.ndarray
    held_out: np.ndarray
    model: TrainedModel


@pytest.fixture
def fits(monkeypatch) -> list[Fit]:
    """Every model trained, with the split positions of its training and held-out images."""
    calls: list[Fit] = []
    real = trained_module.fit_model

    def recording(dataset, model, **kwargs):
        trained = real(dataset, model, **kwargs)
        calls.append(Fit(dataset.train.indices.copy(), dataset.test.indices.copy(), trained))
        return trained

    monkeypatch.setattr(trained_module, "fit_model", recording)
    return calls


def test_every_image_gets_one_row_from_a_model_that_did_not_see_it(five_class, fits):
    # Positions 10..59 of the split: the rows carry the split's own indices, not 0..49.
    part = Dataset("five", five_class.train[10:], five_class.test, five_class.classes)
    found = out_of_sample_probabilities(part, model="knn", folds=4, progress=False)
    assert len(fits) == 4
    held = np.concatenate([f.held_out for f in fits])
    assert sorted(held.tolist()) == list(range(10, 60))  # each image held out exactly once
    np.testing.assert_array_equal(found.indices, np.arange(10, 60))
    np.testing.assert_array_equal(found.labels, five_class.train.labels[10:])
    for fit in fits:
        assert np.intersect1d(fit.trained_on, fit.held_out).size == 0
        assert fit.model.train_images == len(fit.trained_on) == 50 - len(fit.held_out)
        rows = np.searchsorted(found.indices, fit.held_out)
        expected = fit.model.predict_proba(five_class.train.images[fit.held_out])
        np.testing.assert_allclose(found.probabilities[rows], expected, rtol=1e-12, atol=1e-15)


def test_folds_are_stratified(fits):
    images, labels = make_arrays(103, 4, shape=(6, 6), seed=3)
    labels[:30] = 0  # unequal classes
    dataset = Dataset.from_arrays("uneven", (images, labels))
    out_of_sample_probabilities(dataset, model="centroid", folds=5, progress=False)
    counts = np.array([np.bincount(labels[f.held_out], minlength=4) for f in fits])
    assert (counts.max(axis=0) - counts.min(axis=0) <= 1).all(), counts
    assert sorted(len(f.held_out) for f in fits) == [20, 20, 21, 21, 21]


def test_the_same_seed_gives_the_same_probabilities(fits):
    # Ten classes 22 levels of brightness apart, with noise of 56: no image is certain.
    overlapping = Dataset.from_arrays("overlapping", make_arrays(100, 10, shape=(3, 3)))
    first = out_of_sample_probabilities(overlapping, model="centroid", seed=3, progress=False)
    again = out_of_sample_probabilities(overlapping, model="centroid", seed=3, progress=False)
    other = out_of_sample_probabilities(overlapping, model="centroid", seed=4, progress=False)
    np.testing.assert_array_equal(first.probabilities, again.probabilities)
    assert (first.seed, first.folds, first.model, first.split) == (3, 5, "centroid", "train")
    held = [sorted(f.held_out.tolist()) for f in fits]
    assert held[:5] == held[5:10] and held[:5] != held[10:]
    assert not np.array_equal(first.probabilities, other.probabilities)


def test_rows_are_float64_probabilities_of_every_class_in_label_order(five_class):
    # Class "four" has no training image: its column is there, and 0.
    keep = five_class.train.labels != 4
    part = Dataset("five", five_class.train[keep], five_class.test, five_class.classes)
    for split in ("train", "test"):
        found = out_of_sample_probabilities(part, split, model="knn", folds=3, progress=True)
        assert found.classes == five_class.classes
        assert found.probabilities.shape == (len(part.split(split)), 5)
        assert found.probabilities.dtype == np.float64
        np.testing.assert_allclose(found.probabilities.sum(axis=1), 1, rtol=0, atol=1e-12)
        assert (found.probabilities[:, 4] == 0).all()
        assert found.accuracy > 0.5  # the classes differ in brightness


def test_the_test_split_comes_from_a_model_trained_on_all_training_images(five_class, fits):
    found = out_of_sample_probabilities(five_class, "test", model="knn", progress=False)
    assert [len(f.trained_on) for f in fits] == [60] and found.folds is None
    np.testing.assert_array_equal(fits[0].trained_on, np.arange(60))
    np.testing.assert_array_equal(found.indices, np.arange(25))
    np.testing.assert_array_equal(found.labels, five_class.test.labels)
    alone = train(five_class, "knn")
    expected = alone.predict_proba(five_class.test.images)
    np.testing.assert_allclose(found.probabilities, expected, rtol=1e-12, atol=1e-15)


def test_the_default_model_is_the_neural_mlp(five_class):
    pytest.importorskip("torch")
    found = out_of_sample_probabilities(five_class, folds=2, progress=False)
    assert found.model == DEFAULT == "mlp"
    np.testing.assert_allclose(found.probabilities.sum(axis=1), 1, rtol=0, atol=1e-12)


def test_only_models_with_probabilities(five_class):
    assert probability_models() == (
        "centroid", "knn", "logreg", "tree", "forest", "boosting", "mlp", "cnn",
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"linear-svm gives scores.*centroid, knn, logreg"):
        out_of_sample_probabilities(five_class, model="linear-svm")
    with pytest.raises(ValueError, match=r"unknown model 'svm'; choose from centroid"):
        out_of_sample_probabilities(five_class, model="svm")
    with pytest.raises(ValueError, match="'quick' is a set of models"):
        out_of_sample_probabilities(five_class, model="quick")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"split": "validation"}, "split must be one of train, test, got 'validation'"),
        ({"folds": 1}, "folds must be a whole number >= 2, got 1"),
        ({"folds": 2.0}, "folds must be a whole number >= 2, got 2.0"),
        ({"folds": True}, "folds must be a whole number >= 2, got True"),
        ({"seed": -1}, "seed must be a whole number in 0..4294967295, got -1"),
        ({"folds": 13}, r"13-fold .* at least 13 images of each class.*'zero' has 12"),
    ],
)
def test_bad_arguments_are_named(five_class, change, message):
    with pytest.raises(ValueError, match=message):
        out_of_sample_probabilities(five_class, **{"model": "centroid", **change})


def test_datasets_that_cannot_give_probabilities(five_class):
    images, labels = make_arrays(20, 2, shape=(4, 4))
    labels[:3] = 0
    labels[3:] = 1
    few = Dataset.from_arrays("few", (images, labels), classes=["rare", "common"])
    with pytest.raises(ValueError, match=r"5-fold.*'rare' has 3\. Use fewer folds"):
        out_of_sample_probabilities(few, model="centroid")
    assert len(out_of_sample_probabilities(few, model="centroid", folds=3, progress=False)) == 20
    with pytest.raises(ValueError, match=r"few has no test split \(it has train\)"):
        out_of_sample_probabilities(few, "test", model="centroid")
    one = Dataset.from_arrays("one", (images, np.zeros(20, int)), classes=["a", "b"])
    with pytest.raises(ValueError, match=r"all of one class \('a'\); a model needs 2"):
        out_of_sample_probabilities(one, model="centroid")


def _toy(**change) -> Probabilities:
    fields = {
        "dataset": "toy",
        "split": "train",
        "model": "logreg",
        "folds": 2,
        "seed": 7,
        "classes": ("a", "label", "c d"),
        "indices": np.array([4, 9, 2]),
        "labels": np.array([0, 1, 2]),
        "probabilities": np.array([[0.7, 0.2, 0.1], [0, 1, 0], [0.25, 0.25, 0.5]]),
    }
    return Probabilities(**{**fields, **change})


def test_save_and_load_restore_everything(tmp_path):
    found = _toy()
    path = found.save(tmp_path / "found")
    assert path == tmp_path / "found.parquet"
    assert [p.name for p in tmp_path.iterdir()] == ["found.parquet"]  # no temporaries left
    for name in (path, tmp_path / "found", str(path)):
        again = load_probabilities(name)
        for key in ("dataset", "split", "model", "folds", "seed", "classes"):
            assert getattr(again, key) == getattr(found, key)
        for key in ("indices", "labels", "probabilities"):
            np.testing.assert_array_equal(getattr(again, key), getattr(found, key))
            assert getattr(again, key).dtype == getattr(found, key).dtype
    table = pq.read_table(path)  # readable by anyone: a column per class, named by it
    assert table.column_names == ["index", "label", "p:a", "p:label", "p:c d"]
    test_split = _toy(split="test", folds=None)
    assert load_probabilities(test_split.save(tmp_path / "test.parquet")).folds is None


def test_rows_off_by_float_error_are_renormalised_and_the_arrays_frozen():
    rows = np.array([[0.7, 0.2, 0.1 + 4e-7], [0, 1, 0], [0.25, 0.25, 0.5]], dtype=np.float32)
    found = _toy(probabilities=rows)
    assert found.probabilities.dtype == np.float64
    np.testing.assert_allclose(found.probabilities.sum(axis=1), 1, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="read-only"):
        found.probabilities[0, 0] = 1
    assert rows.flags.writeable  # the caller's array is not frozen


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"probabilities": [[0.7, 0.2, 0.1], [0, 1, 0], [0.2, 0.2, 0.5]]},
            r"1 of 3 rows .*\(row 2 sums to 0\.9",
        ),
        ({"probabilities": [[0.7, 0.2, 0.1], [0, 1, 0], [np.nan, 0.5, 0.5]]}, "NaN"),
        ({"probabilities": [[0.7, 0.2, 0.1], [0, 1, 0], [-0.5, 1, 0.5]]}, "negative"),
        ({"probabilities": [[0.5, 0.5], [0, 1], [1, 0]]}, r"shape \(n, 3\) for 3 classes"),
        ({"probabilities": [["a", "b", "c"]] * 3}, "must be numbers"),
        ({"labels": np.array([0, 1, 3])}, "label 3 has no class"),
        ({"labels": np.array([0, 1])}, "2 labels for 3 rows"),
        ({"labels": np.array([0.0, 1, 2])}, "labels must be whole numbers"),
        ({"indices": np.array([1, 1, 2])}, "indices repeat an image"),
        ({"indices": np.array([-1, 1, 2])}, "indices must be >= 0"),
        ({"classes": ("a", "a", "b")}, "duplicate class names"),
        ({"split": "validation"}, "split must be one of train, test"),
        ({"folds": None}, "folds must be a whole number >= 2"),
        ({"split": "test"}, "folds is None for the test split"),
        ({"seed": 2**40}, "seed must be a whole number"),
        ({"model": ""}, "model must be a printable name"),
    ],
)
def test_inconsistent_probabilities_are_refused(change, message):
    with pytest.raises(FormatError, match=message):
        _toy(**change)


def _rewritten(path: pathlib.Path, table: pa.Table) -> pathlib.Path:
    pq.write_table(table, path)
    return path


def _meta(table: pa.Table) -> dict:
    return json.loads(table.schema.metadata[b"mnistlab"])


def _with_meta(table: pa.Table, **change) -> pa.Table:
    return table.replace_schema_metadata({"mnistlab": json.dumps({**_meta(table), **change})})


@pytest.mark.parametrize(
    ("hostile", "message"),
    [
        (lambda t: t.set_column(3, "p:label", pa.array([0.2, 1.0, np.nan])), "NaN"),
        (lambda t: t.set_column(4, "p:c d", pa.array([0.1, 0.0, 0.9])), r"row 2 sums to 1\.4"),
        (lambda t: t.set_column(2, "p:a", pa.array([0.7, -0.1, 0.25])), "negative"),
        (lambda t: t.remove_column(4), "expected the columns"),
        (lambda t: t.set_column(1, "label", pa.array([0, 1, 5])), "label 5 has no class"),
        (lambda t: t.set_column(1, "label", pa.array([0, 1, None])), "'label' has missing values"),
        (lambda t: t.set_column(2, "p:a", pa.array(["x", "y", "z"])), "'p:a' has the type string"),
        (lambda t: t.replace_schema_metadata({}), "no 'mnistlab' metadata"),
        (lambda t: t.replace_schema_metadata({"mnistlab": "{"}), "not JSON"),
        (lambda t: _with_meta(t, format_version=2), "format version 2"),
        (lambda t: _with_meta(t, classes=["a", "b"]), "expected the columns"),
        (lambda t: _with_meta(t, seed="0"), "metadata 'seed' is missing or of the wrong type"),
        (lambda t: _with_meta(t, folds=True), "metadata 'folds'"),
        (lambda t: _with_meta(t, classes=[1, 2, 3]), "'classes' must be names"),
        (lambda t: _with_meta(t, split="../x"), "split must be one of train, test"),
    ],
)
def test_hostile_files_are_refused(tmp_path, hostile, message):
    path = _toy().save(tmp_path / "found.parquet")
    _rewritten(path, hostile(pq.read_table(path)))
    with pytest.raises(FormatError, match=message) as refused:
        load_probabilities(path)
    assert str(path) in str(refused.value)


def test_a_pickle_is_refused_without_being_unpickled(tmp_path):
    marker = tmp_path / "unpickled"

    class Touches:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    evil = tmp_path / "evil.npy"
    np.save(evil, np.array([Touches()], dtype=object), allow_pickle=True)
    (tmp_path / "evil.parquet").write_bytes(pickle.dumps(Touches()))
    for path in (evil, tmp_path / "evil", tmp_path / "noise.parquet"):
        if path.name == "noise.parquet":
            path.write_bytes(np.random.default_rng(0).bytes(3000))
        with pytest.raises(FormatError, match="not a Parquet file of probabilities"):
            load_probabilities(path)
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match=r"missing\.parquet: no such file"):
        load_probabilities(tmp_path / "missing")


@pytest.mark.slow
def test_out_of_fold_probabilities_of_mnist(real_cache):
    pytest.importorskip("torch")
    # The first 6,000 images of each split keep the suite short; the whole training split is
    # timed in benchmarks/bench_label_probabilities.py (0.975 out-of-fold accuracy).
    mnist = mnistlab.load("mnist", progress=False).subset(6_000)
    found = out_of_sample_probabilities(mnist, progress=False)
    assert found.probabilities.shape == (6_000, 10) and found.model == "mlp"
    assert 0.92 < found.accuracy < 0.995
    on_test = out_of_sample_probabilities(mnist, "test", progress=False)
    assert 0.92 < on_test.accuracy < 0.995
