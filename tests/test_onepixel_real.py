"""One-pixel separability on the real MNIST and Fashion-MNIST (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import mnistlab
from mnistlab import OnePixelClassifier, one_pixel_separability
from mnistlab.cli import app
from mnistlab.onepixel import l2_normalise

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("onepixel-real")]


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNISTLAB_HOME", str(tmp_path_factory.mktemp("onepixel-cache")))
        yield mnistlab.load("mnist", download=False, progress=False)


def features(images: np.ndarray, scale: str) -> np.ndarray:
    if scale == "l2":
        return l2_normalise(images)
    flat = images.reshape(len(images), -1).astype(np.float64)
    return flat / 255 if scale == "unit" else flat


@pytest.mark.parametrize("scale", ["unit", "raw", "l2"])
def test_random_pairs_and_pixels_equal_sklearn(mnist, scale):
    rng = np.random.default_rng(11)
    train = mnist.train
    for _ in range(6):
        a, b = sorted(int(c) for c in rng.choice(10, size=2, replace=False))
        pixel = int(rng.integers(100, 684))  # the middle rows, where there is ink
        row = one_pixel_separability(mnist, scale, pairs=[(a, b)], pixels=[pixel], progress=False).pairs
        mine = np.isin(train.labels, [a, b])
        X = features(train.images[mine], scale)[:, [pixel]]
        y = (train.labels[mine] == b).astype(int)
        model = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(X, y)
        assert row.coef.iloc[0] == pytest.approx(model.coef_[0, 0], rel=1e-4)
        assert row.intercept.iloc[0] == pytest.approx(model.intercept_[0], rel=1e-4, abs=1e-8)
        assert row.train_accuracy.iloc[0] == model.score(X, y)
        mine_test = np.isin(mnist.test.labels, [a, b])
        X_test = features(mnist.test.images[mine_test], scale)[:, [pixel]]
        y_test = (mnist.test.labels[mine_test] == b).astype(int)
        assert row.test_accuracy.iloc[0] == model.score(X_test, y_test)


def test_l2_sweep_agrees_with_the_estimator_on_other_code(mnist):
    """The l2 sweep (sorted sparse columns) against OnePixelClassifier (dense sort per feature),
    on the first 20,000 training images (the sweep of all 60,000 is timed in the benchmarks)."""
    mnist = mnist.subset(20_000)
    result = one_pixel_separability(mnist, "l2", progress=False)
    pairs = result.pairs
    assert len(pairs) == 45
    assert (pairs.train_accuracy <= pairs.stump_train_accuracy).all()
    assert pairs.test_accuracy.between(0.5, 1).all()
    for a, b in [(3, 5), (4, 9)]:
        mine = np.isin(mnist.train.labels, [a, b])
        model = OnePixelClassifier().fit(
            l2_normalise(mnist.train.images[mine]), mnist.train.labels[mine]
        )
        row = pairs[(pairs.class_a == a) & (pairs.class_b == b)].iloc[0]
        assert row.pixel == model.best_feature_
        assert row.train_accuracy == model.train_accuracy_
        assert row.coef == pytest.approx(model.coef_, rel=1e-9)


def test_cli_mnist_and_fashion_side_by_side(mnist, tmp_path):
    result = CliRunner().invoke(
        app, ["onepixel", "mnist", "fashion-mnist", "-o", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)["datasets"]
    for name in ("mnist", "fashion-mnist"):
        assert len(payload[name]["pairs"]) == 45
        summary = payload[name]["summary"]
        tests = [p["test_accuracy"] for p in payload[name]["pairs"]]
        assert summary["min"] == min(tests) and summary["max"] == max(tests)
        assert (tmp_path / f"heatmap-{name}.png").exists()
    # The best pixel of the hardest MNIST pair is the best of all 784 scikit-learn fits. A fit's
    # accuracy never beats the best threshold on its pixel, so pixels are fitted in decreasing
    # order of that bound (counted here with numpy) until no remaining pixel can win.
    hardest = min(payload["mnist"]["pairs"], key=lambda p: p["test_accuracy"])
    a, b = hardest["class_a"], hardest["class_b"]
    mine = np.isin(mnist.train.labels, [a, b])
    images = mnist.train.images[mine].reshape(-1, 784)
    y = (mnist.train.labels[mine] == b).astype(int)
    bounds = np.empty(784)
    for k in range(784):
        below_a = np.cumsum(np.bincount(images[y == 0, k], minlength=256))
        below_b = np.cumsum(np.bincount(images[y == 1, k], minlength=256))
        right = np.concatenate([[y.sum()], y.sum() + below_a - below_b])  # class b above t
        bounds[k] = max(right.max(), len(y) - right.min()) / len(y)
    best_score, best_pixel = -1.0, -1
    for k in sorted(range(784), key=lambda k: (-bounds[k], k)):
        if bounds[k] < best_score:
            break
        X = images[:, [k]] / 255
        model = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(X, y)
        score = model.score(X, y)
        if score > best_score or (score == best_score and k < best_pixel):
            best_score, best_pixel = score, k
    assert hardest["pixel"] == best_pixel
    assert hardest["train_accuracy"] == best_score
