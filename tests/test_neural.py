"""The torch MLP and CNN: determinism, early stopping, learning, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from conftest import make_arrays
from mnistlab.models.neural import NeuralNetClassifier, build_network


@pytest.fixture
def bright():
    """Classes told apart by brightness: any working network learns them."""
    return make_arrays(300, 3, shape=(12, 12), seed=4), make_arrays(90, 3, shape=(12, 12), seed=5)


def _weights(clf):
    return [p.detach().clone() for p in clf.network_.parameters()]


@pytest.mark.parametrize("architecture", ["mlp", "cnn"])
def test_the_same_seed_gives_the_same_network(bright, architecture):
    (X, y), _ = bright
    first = NeuralNetClassifier(architecture, epochs=2, seed=7, progress=False).fit(X, y)
    again = NeuralNetClassifier(architecture, epochs=2, seed=7, progress=False).fit(X, y)
    other = NeuralNetClassifier(architecture, epochs=2, seed=8, progress=False).fit(X, y)
    assert all(torch.equal(a, b) for a, b in zip(_weights(first), _weights(again), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(_weights(first), _weights(other), strict=True))
    assert first.history_ == [
        {**h, "seconds": a["seconds"]} for h, a in zip(again.history_, first.history_, strict=True)
    ]


@pytest.mark.parametrize("architecture", ["mlp", "cnn"])
def test_networks_learn_and_give_probabilities(bright, architecture):
    (X, y), (Xt, yt) = bright
    clf = NeuralNetClassifier(architecture, epochs=8, batch_size=16, progress=False).fit(X, y)
    proba = clf.predict_proba(Xt)
    assert proba.shape == (90, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert clf.score(Xt, yt) > 0.9
    np.testing.assert_array_equal(clf.predict(Xt), clf.classes_[proba.argmax(1)])


def test_early_stopping_keeps_the_best_epoch():
    X, _ = make_arrays(200, 4, shape=(8, 8), seed=1)
    y = np.random.default_rng(0).integers(0, 4, 200)  # nothing to learn: validation cannot improve long
    seen = []
    clf = NeuralNetClassifier(
        "mlp",
        epochs=40,
        patience=2,
        validation_fraction=0.25,
        seed=1,
        progress=False,
        on_epoch=lambda est, record: seen.append(record["epoch"]),
    ).fit(X, y)
    history = clf.history_
    assert seen == [h["epoch"] for h in history]
    assert len(history) < 40, "training should stop when validation accuracy stops improving"
    losses = [h["validation_loss"] for h in history]
    assert clf.best_epoch_ == 1 + int(np.argmin(losses))  # the first best epoch
    assert len(history) - clf.best_epoch_ == 2  # stopped after `patience` epochs without a gain
    assert all(0 <= h["validation_accuracy"] <= 1 for h in history)
    assert all(h["seconds"] > 0 and h["loss"] > 0 for h in history)


def test_without_validation_all_epochs_run():
    X, y = make_arrays(60, 3, shape=(8, 8))
    clf = NeuralNetClassifier("mlp", epochs=3, validation_fraction=0, progress=False).fit(X, y)
    assert [h["epoch"] for h in clf.history_] == [1, 2, 3] and clf.best_epoch_ == 3
    assert all(h["validation_accuracy"] is None is h["validation_loss"] for h in clf.history_)


def test_bad_parameters_and_inputs_are_refused():
    X, y = make_arrays(30, 3, shape=(8, 8))
    bad = [
        # scikit-learn's messages since the parameters are declared in _parameter_constraints.
        ({"architecture": "resnet"}, "'architecture' parameter .* must be a str among"),
        ({"epochs": 0}, r"'epochs' parameter .* must be an int in the range \[1, inf\)"),
        ({"batch_size": 2.5}, r"'batch_size' parameter .* must be an int in the range \[1, inf\)"),
        ({"learning_rate": -1}, r"'learning_rate' parameter .* must be a float in the range \(0"),
        ({"validation_fraction": 1.0}, r"'validation_fraction' parameter .* range \[0\.0, 1\.0\)"),
    ]
    for params, message in bad:
        with pytest.raises(ValueError, match=message):
            NeuralNetClassifier(**{"architecture": "mlp", **params}, progress=False).fit(X, y)
    with pytest.raises(ValueError, match="Found array with dim 4"):  # scikit-learn's message
        NeuralNetClassifier("mlp").fit(X[None], y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        NeuralNetClassifier("mlp").fit(X, np.zeros(30, int))
    with pytest.raises(ValueError, match="at least 4x4"):
        build_network("cnn", (3, 20), 2)
    clf = NeuralNetClassifier("mlp", epochs=1, progress=False).fit(X, y)
    with pytest.raises(ValueError, match="trained on 8x8 images, got 9x9"):
        clf.predict(np.zeros((1, 9, 9), np.uint8))


def test_rows_train_the_mlp_as_images_of_one_row():
    X, y = make_arrays(30, 3, shape=(8, 8))
    images = NeuralNetClassifier("mlp", epochs=2, progress=False).fit(X, y)
    rows = NeuralNetClassifier("mlp", epochs=2, progress=False).fit(X.reshape(30, -1), y)
    assert rows.image_shape_ == (1, 64) and images.image_shape_ == (8, 8)
    assert all(torch.equal(a, b) for a, b in zip(_weights(images), _weights(rows), strict=True))


def test_other_dtypes_are_divided_by_their_largest_training_value(bright):
    """uint8 pixels are divided by 255, 0..1 floats by 1: the same images train alike; 0..1 images
    given to a network trained on pixels 0..255 are refused, not silently misread."""
    (X, y), (Xt, _) = bright
    assert X.max() == 255
    pixels = NeuralNetClassifier("mlp", epochs=3, progress=False).fit(X, y)
    floats = NeuralNetClassifier("mlp", epochs=3, progress=False).fit(X / 255, y)
    assert pixels.input_scale_ == 255 and floats.input_scale_ == 1
    np.testing.assert_allclose(floats.predict_proba(Xt / 255), pixels.predict_proba(Xt), atol=1e-4)
    np.testing.assert_array_equal(pixels.predict(Xt.astype(float)), pixels.predict(Xt))
    with pytest.raises(ValueError, match=r"multiply 0\.\.1 images by 255"):
        pixels.predict(Xt / 255)


@pytest.fixture
def one_torch_thread():
    """Networks this small train faster on one thread than on threads competing for the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@parametrize_with_checks([NeuralNetClassifier("mlp", epochs=3, batch_size=8, progress=False)])
def test_the_networks_pass_scikit_learns_common_checks(estimator, check, one_torch_thread):
    """The same validation idiom as the other estimators (_parameter_constraints, validate_data
    on image rows, check_is_fitted), and every common check passes. The checks fit rows of 1 to 10
    features, which the cnn refuses (it convolves images of at least 4x4 pixels); it differs from
    the mlp only in build_network."""
    check(estimator)


def test_progress_bar_reports_each_epoch(capsys):
    X, y = make_arrays(60, 3, shape=(8, 8))
    NeuralNetClassifier("mlp", epochs=2, validation_fraction=0.2, progress=True).fit(X, y)
    text = capsys.readouterr().err  # the progress console writes to stderr
    assert "epoch 1/2" in text and "epoch 2/2" in text and "validation" in text and "loss" in text


def test_read_only_images_train_and_predict_without_torch_warnings(bright):
    """Memory-mapped datasets are read-only; torch must not be handed them (it warns)."""
    import warnings

    (X, y), (Xt, _) = bright
    X, Xt = X.copy(), Xt.copy()
    X.setflags(write=False)
    Xt.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = NeuralNetClassifier("mlp", epochs=1, progress=False).fit(X, y)
        assert clf.predict_proba(Xt).shape == (90, 3)
