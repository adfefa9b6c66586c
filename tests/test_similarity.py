"""Image comparison metrics against independent references (numpy, scikit-image, scikit-learn)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.metrics import structural_similarity
from sklearn.metrics import normalized_mutual_info_score
from sklearn.metrics.pairwise import cosine_similarity

from mnistlab.similarity import METRICS, compare


def pair(seed: int = 0, shape=(28, 28)):
    rng = np.random.default_rng(seed)
    a = np.where(rng.random(shape) < 0.3, rng.integers(0, 256, shape), 0).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, shape), 0, 255).astype(np.uint8)
    return a, b


def mutual_information_bits(a: np.ndarray, b: np.ndarray) -> float:
    """From the joint histogram, by the definition: sum p(x, y) log2 p(x, y) / (p(x) p(y))."""
    joint = np.histogram2d(a.ravel(), b.ravel(), bins=[np.arange(257), np.arange(257)])[0]
    p = joint / joint.sum()
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nonzero = p > 0
    return float(np.sum(p[nonzero] * np.log2(p[nonzero] / (px @ py)[nonzero])))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_independent_references(seed):
    a, b = pair(seed)
    c = compare(a, b)
    x, y = a.ravel().astype(float), b.ravel().astype(float)
    assert c.pearson == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    assert c.cosine == pytest.approx(cosine_similarity(x[None], y[None])[0, 0], abs=1e-12)
    assert c.euclidean == pytest.approx(np.linalg.norm(x - y), rel=1e-12)
    assert c.rms == pytest.approx(np.sqrt(np.mean((x - y) ** 2)), rel=1e-12)
    assert c.ssim == pytest.approx(structural_similarity(a, b, data_range=255), abs=1e-12)
    assert c.normalized_mutual_information == pytest.approx(
        normalized_mutual_info_score(a.ravel(), b.ravel())
    )
    assert c.mutual_information_bits == pytest.approx(mutual_information_bits(a, b), abs=1e-9)
    assert c.notes == () and c.data_range == 255 and c.shape == (28, 28)


def test_the_corrcoef_pitfall_and_the_right_number():
    a, b = pair(4)
    assert np.corrcoef(a, b).shape == (56, 56)  # rows correlated with rows
    assert compare(a, b).pearson == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    assert compare(a, b).pearson != pytest.approx(np.corrcoef(a, b).mean())


def test_identities():
    a, _ = pair(5)
    c = compare(a, a)
    assert (c.pearson, c.cosine, c.euclidean, c.rms, c.ssim) == (1.0, 1.0, 0.0, 0.0, 1.0)
    assert c.normalized_mutual_information == pytest.approx(1.0)
    counts = np.unique(a, return_counts=True)[1]
    entropy = -np.sum(counts / a.size * np.log2(counts / a.size))
    assert c.mutual_information_bits == pytest.approx(entropy)  # I(A; A) = H(A)


def test_flat_and_float_images():
    a, b = pair(6)
    assert compare(a.ravel(), b.ravel()).values() == compare(a, b).values()
    scaled = compare(a / 255, b / 255, data_range=1.0)
    for name in METRICS:
        if name not in ("euclidean", "rms"):
            assert getattr(scaled, name) == pytest.approx(getattr(compare(a, b), name), abs=1e-9), name
    assert scaled.rms == pytest.approx(compare(a, b).rms / 255)
    rectangle = compare(a[:, :20].ravel(), b[:, :20].ravel(), shape=(28, 20))
    assert rectangle.shape == (28, 20)


def test_constant_and_blank_images_are_defined_or_explained():
    blank = np.zeros((10, 10), np.uint8)
    grey = np.full((10, 10), 128, np.uint8)
    c = compare(blank, grey)
    assert math.isnan(c.pearson) and math.isnan(c.cosine)
    assert any("pearson" in n for n in c.notes) and any("cosine" in n for n in c.notes)
    assert c.rms == 128 and 0 <= c.ssim < 0.01
    assert compare(grey, grey).ssim == 1.0 and compare(grey, grey).euclidean == 0


def test_small_images_use_a_smaller_ssim_window():
    a, b = pair(7, shape=(5, 8))
    c = compare(a, b)
    assert c.ssim == pytest.approx(structural_similarity(a, b, data_range=255, win_size=5))
    assert any("5x5" in n for n in c.notes)
    assert math.isnan(compare(a[:2], b[:2]).ssim)


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "message"),
    [
        (np.zeros((4, 4)), np.zeros((4, 5)), {}, "differ in shape"),
        (np.zeros((4, 4)), np.full((4, 4), np.nan), {"data_range": 1}, "NaN"),
        (np.zeros((4, 4)), np.zeros((4, 4)), {}, "data_range"),
        (np.zeros(10, np.uint8), np.zeros(10, np.uint8), {}, "not a square"),
        (np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2, 2), np.uint8), {}, "2-D"),
        (np.array([["a"]]), np.array([["b"]]), {}, "numbers"),
        (np.full((4, 4), 300), np.zeros((4, 4), int), {}, "0..255"),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), {"data_range": -1}, "positive"),
    ],
)
def test_clear_errors(a, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare(a, b, **kwargs)


images = arrays(np.uint8, (9, 9), elements=st.integers(0, 255))


@settings(max_examples=50, deadline=None)
@given(images, images)
def test_symmetric_and_bounded(a, b):
    ab, ba = compare(a, b), compare(b, a)
    for name in METRICS:
        first, second = getattr(ab, name), getattr(ba, name)
        assert (math.isnan(first) and math.isnan(second)) or first == pytest.approx(second, abs=1e-9), (
            name
        )
    assert ab.euclidean >= 0 and ab.mutual_information_bits >= 0
    assert -1 <= ab.ssim <= 1 and 0 <= ab.normalized_mutual_information <= 1 + 1e-12
    for name in ("pearson", "cosine"):
        value = getattr(ab, name)
        assert math.isnan(value) or -1 <= value <= 1
