"""The InfiMNIST-like generator: numbering, determinism, deformations, the store it writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage
from typer.testing import CliRunner

import mnistlab
from mnistlab.cli import app
from mnistlab.data.infimnist import InfiMNIST, _bilinear


def _digits_like(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Bright strokes in the middle of a dark 28x28 frame, as in MNIST."""
    rng = np.random.default_rng(0)
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 8:20, 8:20] = rng.integers(0, 256, (n, 12, 12)) * (rng.random((n, 12, 12)) < 0.4)
    return images, np.arange(n) % 4


def test_numbering_follows_infimnist():
    images, labels = _digits_like()
    k = len(images)
    data = InfiMNIST(images, labels, 3 * k + 5, seed=1)
    np.testing.assert_array_equal(data[0:k], images)  # the sources first, unchanged
    positions = np.arange(k, 3 * k + 5)
    np.testing.assert_array_equal(data.labels[k : 3 * k + 5], labels[positions % k])
    deformed = data[k : 2 * k]
    assert deformed.dtype == np.uint8 and deformed.shape == images.shape
    assert (deformed != images).any(axis=(1, 2)).all()  # every one changed
    # Ink is moved, not made or lost off the frame: the mean brightness stays close.
    assert abs(float(deformed.mean()) - float(images.mean())) < 0.1 * float(images.mean())


def test_an_image_depends_only_on_the_seed_and_its_position(five_class):
    train = five_class.train
    data = InfiMNIST(train.images, train.labels, 500, seed=7)
    whole = data[0:500]
    np.testing.assert_array_equal(data[123:131], whole[123:131])  # any range, any order
    np.testing.assert_array_equal(
        InfiMNIST(train.images, train.labels, 500, seed=7)[300:302], whole[300:302]
    )
    assert not np.array_equal(
        InfiMNIST(train.images, train.labels, 500, seed=8)[300:302], whole[300:302]
    )
    with pytest.raises(ValueError, match="positive whole number"):
        InfiMNIST(train.images, train.labels, 0)


def test_bilinear_sampling_equals_scipy():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 9, 7)).astype(np.float64)
    y, x = rng.uniform(-3, 12, (16, 9, 7)), rng.uniform(-3, 10, (16, 9, 7))
    batch = np.broadcast_to(np.arange(16)[:, None, None], y.shape)
    expected = ndimage.map_coordinates(images, np.stack([batch, y, x]), order=1, mode="grid-constant")
    np.testing.assert_allclose(_bilinear(images, y, x), expected, atol=1e-9)


@pytest.mark.slow
def test_generate_writes_a_store_of_mnist_and_its_deformations(tmp_path, real_cache):
    out = tmp_path / "infi.zarr"
    result = CliRunner().invoke(app, ["generate", "infimnist", "--n", "61000", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["splits"] == {"train": 61000, "test": 10000}
    store = mnistlab.load(out)
    mnist = mnistlab.load("mnist")
    np.testing.assert_array_equal(store.train[59_990:60_000].images, mnist.train.images[59_990:60_000])
    np.testing.assert_array_equal(store.train[60_000:61_000].labels, mnist.train.labels[:1000])
    np.testing.assert_array_equal(store.test.read().images, mnist.test.images)
    again = CliRunner().invoke(app, ["generate", "infimnist", "--n", "61000", "-o", str(out)])
    assert again.exit_code == 1 and "already exists" in again.stderr
