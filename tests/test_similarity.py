"""Image comparison metrics against independent references (numpy, scikit-image, scikit-learn)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.metrics import structural_similarity
from sklearn.metrics import normalized_mutual_info_score
from sklearn.metrics.pairwise import cosine_similarity

from mnistlab.similarity import METRICS, NearestImages, compare


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


# --------------------------------------------------------------------------------------------
# Nearest neighbours


def images_with_duplicates(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = np.where(rng.random((n, 12, 10)) < 0.4, rng.integers(0, 256, (n, 12, 10)), 0).astype(np.uint8)
    X[10:20] = X[:10]  # exact duplicates: ties at distance 0
    return X


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_neighbours_equal_sklearn(metric):
    from sklearn.neighbors import NearestNeighbors

    X = images_with_duplicates()
    Q = images_with_duplicates(50, seed=1)
    ours = NearestImages(metric=metric).fit(X).kneighbors(Q, n_neighbors=4)
    theirs = NearestNeighbors(n_neighbors=4, algorithm="brute", metric=metric).fit(
        X.reshape(300, -1).astype(float)
    )
    distances, indices = theirs.kneighbors(Q.reshape(50, -1).astype(float))
    np.testing.assert_allclose(ours[0], distances, rtol=1e-9, atol=1e-9)
    # Ties aside (duplicates are equally near): ours break them by index, scikit-learn does not.
    assert (np.diff(ours[0], axis=1) >= 0).all()
    for mine, theirs_row, d in zip(ours[1], indices, ours[0], strict=True):
        assert sorted(zip(d.round(9), mine, strict=True)) == sorted(
            zip(d.round(9), theirs_row, strict=True)
        )
    tied = ours[0][:, 1:] == ours[0][:, :-1]
    assert (ours[1][:, 1:][tied] > ours[1][:, :-1][tied]).all()


def test_pearson_neighbours_equal_a_direct_search():
    X = images_with_duplicates().reshape(300, -1).astype(float)
    Q = images_with_duplicates(40, seed=2).reshape(40, -1).astype(float)
    correlation = np.corrcoef(np.vstack([Q, X]))[:40, 40:]
    expected = np.argsort(1 - correlation, axis=1, kind="stable")[:, :3]
    distances, indices = NearestImages(metric="pearson").fit(X).kneighbors(Q, 3)
    np.testing.assert_allclose(
        distances, np.take_along_axis(1 - correlation, expected, axis=1), atol=1e-12
    )
    # Duplicated rows tie; which of a tied pair comes first may differ by one rounding step.
    same = (indices == expected) | np.isclose(
        distances, np.take_along_axis(1 - correlation, indices, axis=1), rtol=0, atol=1e-12
    )
    assert same.all()


def test_querying_the_index_itself_excludes_each_image():
    X = images_with_duplicates()
    distances, indices = NearestImages().fit(X).kneighbors(None, 1)
    assert not np.any(indices[:, 0] == np.arange(300))
    # An image with an exact duplicate finds it at distance 0.
    assert (distances[:20, 0] == 0).all()
    np.testing.assert_array_equal(indices[:10, 0], np.arange(10, 20))
    full = np.linalg.norm(X.reshape(300, 1, -1).astype(float) - X.reshape(1, 300, -1), axis=2)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(distances[:, 0], full.min(axis=1))


def test_blocks_do_not_change_results(monkeypatch):
    from mnistlab import similarity

    X, Q = images_with_duplicates(), images_with_duplicates(64, seed=3)
    whole = NearestImages().fit(X).kneighbors(Q, 5)
    monkeypatch.setattr(similarity.neighbours, "SCORE_BLOCK_ELEMENTS", 300 * 7)  # 7 queries per block
    blocked = NearestImages().fit(X).kneighbors(Q, 5)
    np.testing.assert_array_equal(whole[1], blocked[1])


def test_neighbour_refusals():
    X = images_with_duplicates(20)
    with pytest.raises(ValueError, match="unknown metric"):
        NearestImages(metric="manhattan").fit(X)
    with pytest.raises(ValueError, match="not fitted"):
        NearestImages().kneighbors(X)
    with pytest.raises(ValueError, match=r"n_neighbors must be 1\.\.19"):
        NearestImages().fit(X).kneighbors(None, 20)
    with pytest.raises(ValueError, match="features"):
        NearestImages().fit(X).kneighbors(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="undefined"):
        NearestImages(metric="cosine").fit(np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        NearestImages().fit(np.full((3, 4), np.nan))


# --------------------------------------------------------------------------------------------
# k-NN classification and duplicates


def test_knn_accuracy_equals_sklearn(five_class):
    from sklearn.neighbors import KNeighborsClassifier

    from mnistlab.similarity import knn_accuracy

    result = knn_accuracy(five_class, ks=(1, 3, 5))
    train, test = five_class.train, five_class.test
    for row in result.itertuples():
        model = KNeighborsClassifier(row.k, algorithm="brute").fit(
            train.images.reshape(len(train), -1), train.labels
        )
        assert row.accuracy == model.score(test.images.reshape(len(test), -1), test.labels)
    with pytest.raises(ValueError, match="positive whole"):
        knn_accuracy(five_class, ks=(0,))


def test_vote_breaks_ties_towards_the_smallest_label():
    from mnistlab.similarity import vote

    assert vote(np.array([[2, 1, 1, 2], [3, 3, 0, 0], [4, 4, 4, 1]]), 5).tolist() == [1, 0, 4]


def test_duplicates_within_and_between_splits():
    from mnistlab import Dataset
    from mnistlab.similarity import find_duplicates

    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (40, 6, 6)).astype(np.uint8)
    test = rng.integers(0, 256, (20, 6, 6)).astype(np.uint8)
    train_labels, test_labels = np.arange(40) % 3, np.arange(20) % 3
    train[5] = train[2]  # exact, within train, same label (2 and 5 are both class 2)
    test[7] = train[11]  # exact leakage, labels 2 (train) and 1 (test): differ
    test[3] = np.clip(train[20].astype(int) + rng.integers(-2, 3, (6, 6)), 0, 255)  # near leakage
    test[9] = test[4]  # exact, within test
    ds = Dataset.from_arrays("dups", (train, train_labels), (test, test_labels))
    found = find_duplicates(ds, threshold=5.0)
    pairs = {(r.kind, r.index_a, r.index_b): r for r in found.pairs.itertuples()}
    assert pairs[("within train", 2, 5)].exact and not pairs[("within train", 2, 5)].labels_differ
    assert pairs[("train-test", 11, 7)].exact and pairs[("train-test", 11, 7)].labels_differ
    assert pairs[("within test", 4, 9)].exact
    near = pairs[("train-test", 20, 3)]
    assert not near.exact and 0 < near.rms_distance < 5
    diff = train[20].astype(float) - test[3]
    assert near.rms_distance == pytest.approx(np.sqrt(np.mean(diff**2)))
    assert len(found.pairs) == 4  # random images are far apart
    assert found.counts().set_index("kind").loc["train-test"].tolist() == [1, 1, 2]  # 2 vs 0 differ too
    with pytest.raises(ValueError, match="threshold"):
        find_duplicates(ds, threshold=-1)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.uint8, (6, 6), elements=st.integers(0, 3) | st.integers(250, 255)),
    arrays(np.uint8, (6, 6), elements=st.integers(0, 255)),
    st.booleans(),
)
def test_mutual_information_equals_sklearn_including_constant_images(a, b, constant):
    from sklearn.metrics import mutual_info_score

    if constant:
        a = np.full_like(a, a[0, 0])
    c = compare(a, b)
    assert c.normalized_mutual_information == pytest.approx(
        normalized_mutual_info_score(a.ravel(), b.ravel()), abs=1e-9
    )
    assert c.mutual_information_bits == pytest.approx(
        mutual_info_score(a.ravel(), b.ravel()) / math.log(2), abs=1e-9
    )


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "pearson"])
def test_neighbours_exact_on_float_data_with_offsets_and_ties(metric):
    rng = np.random.default_rng(9)
    X = 1e6 + rng.normal(size=(400, 30))
    X[200:220] = X[:20]  # ties
    Q = np.vstack([1e6 + rng.normal(size=(30, 30)), X[:5]])
    if metric == "pearson":
        a = X - X.mean(1, keepdims=True)
        b = Q - Q.mean(1, keepdims=True)
    else:
        a, b = X, Q
    if metric == "euclidean":
        full = np.sqrt(((b[:, None, :] - a[None]) ** 2).sum(2))
    else:
        unit_a = a / np.linalg.norm(a, axis=1, keepdims=True)
        unit_b = b / np.linalg.norm(b, axis=1, keepdims=True)
        full = ((unit_b[:, None, :] - unit_a[None]) ** 2).sum(2) / 2
    expected = np.argsort(full, axis=1, kind="stable")[:, :3]
    distances, indices = NearestImages(metric=metric).fit(X).kneighbors(Q, 3)
    np.testing.assert_allclose(distances, np.take_along_axis(full, expected, 1), rtol=1e-7, atol=1e-12)
    same = (indices == expected) | np.isclose(
        distances, np.take_along_axis(full, indices, 1), rtol=1e-12
    )
    assert same.all()


def test_knn_classifier_equals_sklearn_and_works_in_cross_validation(five_class):
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    from mnistlab.similarity import KNearestImagesClassifier

    train, test = five_class.train, five_class.test
    names = np.array(five_class.classes)[train.labels]  # string labels
    ours = KNearestImagesClassifier(n_neighbors=3).fit(train.images, names)
    theirs = KNeighborsClassifier(3, algorithm="brute").fit(train.images.reshape(len(train), -1), names)
    flat_test = test.images.reshape(len(test), -1)
    np.testing.assert_array_equal(ours.predict(test.images), theirs.predict(flat_test))
    np.testing.assert_allclose(ours.predict_proba(test.images), theirs.predict_proba(flat_test))
    flat = train.images.reshape(len(train), -1)
    scores = cross_val_score(KNearestImagesClassifier(n_neighbors=1), flat, train.labels, cv=3)
    assert len(scores) == 3 and scores.min() > 0.5
    with pytest.raises(ValueError, match="not fitted"):
        KNearestImagesClassifier().predict(test.images)


def test_every_pair_of_a_duplicate_group_is_reported():
    from mnistlab import Dataset
    from mnistlab.similarity import find_duplicates

    rng = np.random.default_rng(4)
    train = rng.integers(0, 256, (40, 6, 6)).astype(np.uint8)
    test = rng.integers(0, 256, (20, 6, 6)).astype(np.uint8)
    test[9] = test[11] = train[30]  # one group across both splits: 3 pairs
    for i in (1, 2, 3):  # four mutually near images: 6 pairs
        train[i] = np.clip(train[0].astype(int) + rng.integers(-1, 2, (6, 6)), 0, 255)
    ds = Dataset.from_arrays("groups", (train, np.zeros(40, int)), (test, np.zeros(20, int)))
    pairs = find_duplicates(ds, threshold=5.0).pairs
    exact = {(r.split_a, r.index_a, r.split_b, r.index_b) for r in pairs[pairs.exact].itertuples()}
    assert exact == {("train", 30, "test", 9), ("train", 30, "test", 11), ("test", 9, "test", 11)}
    near = {(r.index_a, r.index_b) for r in pairs[~pairs.exact].itertuples()}
    assert near == {(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)}


def test_a_wrong_data_range_is_refused_not_silently_used():
    a, b = pair(8)
    with pytest.raises(ValueError, match="span"):
        compare(a, b, data_range=1.0)
    with pytest.raises(ValueError, match="span"):
        compare(a.astype(float), a.astype(float) + 1, data_range=1.0)
    with pytest.raises(ValueError, match="shape= is for flattened"):
        compare(a, b, shape=(14, 56))
    masks = compare(a > 100, a > 50)
    assert masks.data_range == 1.0
    assert masks.ssim == pytest.approx(structural_similarity(a > 100, a > 50, data_range=1.0))
    shifted = compare(a.astype(float) - 128, b.astype(float) - 128, data_range=255)
    reference = compare(a, b)
    assert shifted.mutual_information_bits == pytest.approx(reference.mutual_information_bits)


def test_neighbours_at_extreme_scales_and_when_pruning_fails():
    rng = np.random.default_rng(0)

    def brute(X, Q, k):
        D = ((Q[:, None, :] - X[None]) ** 2).sum(2)
        return np.argsort(D, axis=1, kind="stable")[:, :k]

    for scale in (3e19, 1e-20):
        X, Q = rng.random((300, 10)) * scale, rng.random((20, 10)) * scale
        np.testing.assert_array_equal(NearestImages().fit(X).kneighbors(Q, 5)[1], brute(X, Q, 5))
    # Identical images: every distance ties; noise: the bound prunes nothing. Both stay exact.
    same = np.repeat(rng.integers(0, 256, (1, 8, 8)).astype(np.uint8), 300, axis=0)
    distances, indices = NearestImages().fit(same).kneighbors(None, 2)
    assert (distances == 0).all() and indices[0].tolist() == [1, 2] and indices[5].tolist() == [0, 1]
    noise = rng.integers(0, 256, (300, 8, 8)).astype(np.uint8)
    flat = noise.reshape(300, -1).astype(float)
    full = ((flat[:, None] - flat[None]) ** 2).sum(2)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_array_equal(
        NearestImages().fit(noise).kneighbors(None, 1)[1][:, 0], np.argmin(full, axis=1)
    )
    with pytest.raises(ValueError, match="too large"):
        NearestImages().fit(np.array([[1e200, 0.0], [0.0, 0.0]]))


def test_pairs_within_a_radius_equal_brute_force():
    X = images_with_duplicates(200)
    Q = images_with_duplicates(30, seed=5)
    flat, queries = X.reshape(200, -1).astype(float), Q.reshape(30, -1).astype(float)
    index = NearestImages().fit(X)
    full = np.sqrt(((queries[:, None] - flat[None]) ** 2).sum(2))
    radius = float(np.quantile(full, 0.02))
    q, i, d = index.pairs_within(radius, Q)
    expected = set(zip(*np.nonzero(full < radius), strict=True))
    assert set(zip(q.tolist(), i.tolist(), strict=True)) == {(int(a), int(b)) for a, b in expected}
    np.testing.assert_allclose(d, full[q, i])
    own = np.sqrt(((flat[:, None] - flat[None]) ** 2).sum(2))
    np.fill_diagonal(own, np.inf)
    q, i, _ = index.pairs_within(1.0)  # the planted exact duplicates, both ways round
    assert set(zip(q.tolist(), i.tolist(), strict=True)) == {
        (int(a), int(b)) for a, b in zip(*np.nonzero(own < 1.0), strict=True)
    }
    with pytest.raises(ValueError, match="radius"):
        index.pairs_within(-1)


@pytest.mark.parametrize("data", ["images", "line"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine", "pearson"])
@pytest.mark.parametrize("quantile", [0.0, 0.001, 0.01, 0.2, 1.0])
def test_pairs_among_the_indexed_images_equal_brute_force(data, metric, quantile, monkeypatch):
    """The self-join compares each image only with those near it along the leading principal
    direction: it must still find every pair within the radius, at any radius, including pairs
    that differ almost only along that direction ("line": points spread along one direction)."""
    from mnistlab import similarity

    monkeypatch.setattr(similarity.neighbours, "SCORE_BLOCK_ELEMENTS", 240 * 8)  # blocks of 8 images
    rng = np.random.default_rng(7)
    if data == "images":
        X = images_with_duplicates(240, seed=3).reshape(240, -1).astype(float)
        X[100:130] = np.clip(X[:30] + rng.integers(-3, 4, (30, X.shape[1])), 0, 255)  # near copies
    else:
        direction = rng.normal(size=30)
        X = 50 + np.outer(rng.uniform(0, 100, 240), direction) + rng.normal(0, 0.01, (240, 30))
    index = NearestImages(metric=metric).fit(X)
    unit = index._features(X, index._offsets, index._scales, slice(None))
    full = ((unit[:, None] - unit[None]) ** 2).sum(2)
    if metric != "euclidean":
        full /= 2  # 1 - cosine (or correlation) of the two images
    else:
        full = np.sqrt(full)
    np.fill_diagonal(full, np.inf)
    finite = full[np.isfinite(full)]
    radius = float(np.quantile(finite, quantile)) * (1 + 1e-9) if quantile else 1e-6
    q, i, d = index.pairs_within(radius)
    expected = set(zip(*np.nonzero(full < radius), strict=True))
    assert set(zip(q.tolist(), i.tolist(), strict=True)) == {(int(a), int(b)) for a, b in expected}
    assert (np.diff(q) >= 0).all()  # in query order
    np.testing.assert_allclose(d, full[q, i], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("scale", [1e-170, 1e200])
def test_metrics_do_not_underflow_or_overflow(scale):
    r = np.random.default_rng(0).random((8, 8))
    small = compare(r * scale, r[::-1] * scale, data_range=scale)
    unit = compare(r, r[::-1], data_range=1.0)
    for name in ("pearson", "cosine", "ssim", "normalized_mutual_information"):
        assert getattr(small, name) == pytest.approx(getattr(unit, name), rel=1e-9), name
    assert small.euclidean == pytest.approx(unit.euclidean * scale, rel=1e-9)
    assert small.notes == ()


@pytest.mark.parametrize("k", [1, 2, 6])
def test_duplicates_from_shared_neighbours_equal_a_search_of_their_own(k):
    """The report passes its index and test neighbours in: the pairs must not change, whether the
    k neighbours cover every pair within the threshold or a radius search has to complete them."""
    from mnistlab import Dataset
    from mnistlab.similarity import NearestImages, find_duplicates

    rng = np.random.default_rng(3)
    train = rng.integers(0, 256, (60, 5, 5)).astype(np.uint8)
    train[30:36] = train[2]  # six copies: a test copy of them has more than k pairs within
    test = rng.integers(0, 256, (25, 5, 5)).astype(np.uint8)
    test[4] = train[2]
    test[8] = np.clip(train[40].astype(int) + rng.integers(-2, 3, (5, 5)), 0, 255)
    ds = Dataset.from_arrays("shared", (train, np.arange(60) % 3), (test, np.arange(25) % 3))
    index = NearestImages().fit(ds.train.images)
    neighbours = index.kneighbors(ds.test.images, k)
    alone = find_duplicates(ds, threshold=6.0).pairs
    shared = find_duplicates(ds, threshold=6.0, index=index, neighbours=neighbours).pairs
    pd.testing.assert_frame_equal(shared, alone)
    assert (alone.kind == "train-test").sum() == 8  # seven copies of train 2, one near pair
    with pytest.raises(ValueError, match="one row per test image"):
        find_duplicates(ds, index=index, neighbours=(neighbours[0][:3], neighbours[1][:3]))
    with pytest.raises(ValueError, match="fitted on the training images"):
        find_duplicates(ds, index=NearestImages().fit(ds.test.images))


def test_in_context_places_a_comparison_among_the_datasets_typical_pairs(five_class):
    from mnistlab.similarity import in_context, metric_context, percentiles

    train = five_class.train
    result = compare(train.images[0], train.images[1])
    placed = in_context(result, five_class, n=20)
    typical = metric_context(train, n=20)
    pd.testing.assert_frame_equal(placed.table, percentiles(result, typical))
    assert placed.pairs == {"random pair": 20, "same-class nearest neighbour": 20}
    assert placed.kinds == sorted(placed.pairs)
    row = placed.table[(placed.table.metric == "rms") & (placed.table.kind == "random pair")]
    assert placed.more_similar_than("rms", "random pair") == row.more_similar_than.iloc[0]
    assert placed.to_dict()["more_similar_than"]["rms"]["random pair"] == row.more_similar_than.iloc[0]
    assert "20 random pairs" in repr(placed) and "five" in repr(placed)
    small = compare(np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8))
    with pytest.raises(
        ValueError, match=r"five: its images are \(12, 10\), the compared images \(4, 4\)"
    ):
        in_context(small, five_class)


def test_parameter_checks_are_the_library_functions_own(five_class):
    from mnistlab.onepixel.sweep import check_parameters
    from mnistlab.similarity import find_duplicates
    from mnistlab.similarity.duplicates import check_threshold
    from mnistlab.similarity.neighbours import check_metric

    assert check_threshold(2) == 2.0 and check_metric("cosine") == "cosine"
    assert check_parameters("raw", 3) == 3.0
    for bad in (-1, float("nan"), True, "1"):
        with pytest.raises(ValueError, match="non-negative RMS distance"):
            check_threshold(bad)
        with pytest.raises(ValueError, match="non-negative RMS distance"):
            find_duplicates(five_class, bad)
    with pytest.raises(ValueError, match="unknown metric 'l1'"):
        check_metric("l1")
    with pytest.raises(ValueError, match="unknown scale 'log'"):
        check_parameters("log", 1.0)
    with pytest.raises(ValueError, match="C must be a positive finite number"):
        check_parameters("unit", 0)


def test_counts_of_every_kind_mark_what_could_not_be_looked_for(five_class):
    from mnistlab import Dataset
    from mnistlab.similarity import find_duplicates

    train_only = Dataset.from_arrays("solo", (five_class.train.images, five_class.train.labels))
    found = find_duplicates(train_only)
    assert found.counts()["kind"].tolist() == ["within train"]
    every = found.counts(every_kind=True)
    assert every["kind"].tolist() == ["within train", "within test", "train-test"]
    assert every.iloc[1:, 1:].isna().all().all() and not every.iloc[0, 1:].isna().any()
    with_test = find_duplicates(five_class)
    pd.testing.assert_frame_equal(with_test.counts(every_kind=True), with_test.counts())


def test_closest_of_other_classes_pairs_each_query_with_its_nearest_other_class_image():
    from mnistlab.similarity.duplicates import closest_of_other_classes

    labels = np.array([0, 1, 1, 2])
    distances = np.array([[1.0, 2.0, 5.0], [0.5, 3.0, 4.0], [0.1, 0.2, 0.3]])
    found = np.array([[0, 1, 3], [1, 2, 0], [3, 0, 1]])
    query_labels = np.array([0, 1, 2])
    # query 0: nearest other-class image is 1 (2.0); query 1: image 0 (4.0); query 2: image 0 (0.2)
    table = closest_of_other_classes((distances, found), labels, query_labels, n=6)
    assert table.values.tolist() == [[2, 0, 0.2], [0, 1, 2.0], [1, 0, 4.0]]
    assert len(closest_of_other_classes((distances, found), labels, query_labels, n=2)) == 2
    same = closest_of_other_classes((distances, found), np.zeros(4, int), np.zeros(3, int))
    assert same.empty and list(same.columns) == ["query", "image", "distance"]
