"""Confident learning: mnistlab's implementation equals cleanlab's (the AGPL reference, a dev
dependency only) on the same probabilities, and finds injected label noise."""

from __future__ import annotations

import numpy as np
import pytest

from mnistlab.quality.confident import (
    check_probabilities,
    confident_learning,
    label_quality_scores,
    per_class_thresholds,
    round_keeping_row_totals,
)

cleanlab = pytest.importorskip("cleanlab")


def noisy(n=3000, k=6, flip=0.1, sharpness=3.0, seed=0):
    """True labels, given labels with ``flip`` of them moved to another class, and probabilities
    a model of the true classes might give (not knowing the given labels)."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += sharpness
    # confusable pairs: class c is often mistaken for c + 1
    logits[np.arange(n), (true + 1) % k] += 0.8
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = true.copy()
    flipped = rng.random(n) < flip
    given[flipped] = (true[flipped] + rng.integers(1, k, flipped.sum())) % k
    return true, given, probabilities, np.flatnonzero(flipped)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_quantities_equal_cleanlabs(seed):
    from cleanlab.count import (
        compute_confident_joint,
        estimate_joint,
        get_confident_thresholds,
        num_label_issues,
    )

    _, given, p, _ = noisy(seed=seed)
    found = confident_learning(given, p)
    np.testing.assert_allclose(found.thresholds, get_confident_thresholds(given, p), rtol=0, atol=1e-15)
    reference = compute_confident_joint(given, p, calibrate=True)
    np.testing.assert_array_equal(found.confident_joint, reference)
    np.testing.assert_allclose(found.joint, estimate_joint(given, p), atol=1e-15)
    noise = reference / reference.sum(axis=0)  # cleanlab's estimate_latent, before clipping
    np.testing.assert_allclose(found.noise_matrix, noise, atol=1e-15)
    np.testing.assert_allclose(found.noise_matrix.sum(axis=0), 1)
    assert found.estimated_errors == num_label_issues(given, p)


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("method", ["self_confidence", "normalized_margin"])
def test_the_issues_and_their_ranking_equal_cleanlabs(seed, method):
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    _, given, p, _ = noisy(seed=seed)
    found = confident_learning(given, p, method=method)
    ranked = find_label_issues(
        given, p, filter_by="prune_by_noise_rate", return_indices_ranked_by=method, n_jobs=1
    )
    assert len(found.issues) > 100
    assert found.issues.tolist() == ranked.tolist()
    np.testing.assert_allclose(found.scores, get_label_quality_scores(given, p, method=method))
    np.testing.assert_allclose(label_quality_scores(given, p, method), found.scores)


def test_injected_label_noise_is_found():
    true, given, p, flipped = noisy(n=5000, flip=0.08, sharpness=4.0)
    found = confident_learning(given, p)
    hits = np.intersect1d(found.issues, flipped)
    precision, recall = len(hits) / len(found.issues), len(hits) / len(flipped)
    # floors for these well-separated probabilities (measured: about 0.9 and 0.85)
    assert precision >= 0.8 and recall >= 0.75, (precision, recall)
    # the estimated number of errors is near the number injected
    assert abs(found.estimated_errors - len(flipped)) <= 0.25 * len(flipped)
    # the suggested class of a found flip is mostly its true class
    assert np.mean(found.suggested[hits] == true[hits]) > 0.9
    # the noise matrix's off-diagonal mass is about the injected rate
    k = p.shape[1]
    off = 1 - np.trace(found.joint)
    assert abs(off - len(flipped) / len(given)) < 0.03, off
    assert found.estimated_errors_per_class().shape == (k,)


def test_a_hand_computed_case():
    labels = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7]])
    found = confident_learning(labels, p)
    # thresholds: mean of p[:,0] over label 0 = (0.9+0.8+0.1)/3 = 0.6; label 1: (0.8+0.9+0.7)/3
    np.testing.assert_allclose(found.thresholds, [0.6, 0.8])
    # image 2 (label 0) reaches class 1's threshold only: off the diagonal; image 5 reaches none
    np.testing.assert_array_equal(found.confident_joint, [[2, 1], [0, 3]])
    assert found.issues.tolist() == [2] and found.estimated_errors == 1
    np.testing.assert_allclose(found.noise_matrix, [[1, 0.25], [0, 0.75]])


def test_rounding_keeps_row_totals():
    matrix = np.array([[0.4, 0.4, 0.2, 2.0], [1.5, 1.5, 0.0, 0.0]])
    whole = round_keeping_row_totals(matrix)
    assert whole.sum(axis=1).tolist() == [3, 3]
    assert (np.abs(whole - matrix) < 1).all()


def test_bad_probabilities_get_clear_errors():
    labels = np.array([0, 1, 1])
    good = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    check_probabilities(labels, good)
    with pytest.raises(ValueError, match=r"row 1 sums to 0\.9"):
        check_probabilities(labels, good - np.array([[0, 0], [0, 0.1], [0, 0]]))
    with pytest.raises(ValueError, match="NaN"):
        check_probabilities(labels, np.where(good == 0.9, np.nan, good))
    with pytest.raises(ValueError, match="at least 2 classes"):
        check_probabilities(labels, np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"in 0\.\.1"):
        check_probabilities(labels, np.array([[1.5, -0.5], [0.2, 0.8], [0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.1"):
        check_probabilities(np.array([0, 2, 1]), good)
    with pytest.raises(ValueError, match="3 rows of probabilities"):
        check_probabilities(labels[:2], good)
    with pytest.raises(ValueError, match="unknown label-quality score"):
        confident_learning(labels, good, method="entropy")
    assert per_class_thresholds(np.array([0, 0]), np.array([[1.0, 0], [0.5, 0.5]]))[1] == 2.0
