"""Confident learning (Northcutt, Jiang and Chuang 2021, JAIR 70): which given labels are probably
wrong, estimated from out-of-sample class probabilities.

mnistlab's own implementation of the published algorithm (MIT), with the defaults of its reference
implementation, cleanlab 2.x (AGPL-3.0, so not a dependency: the tests compare the two on the same
probabilities, with cleanlab from the ``dev`` extra only):

1. per-class thresholds ``t_j``: the mean probability of class j over the images labelled j;
2. the confident joint ``C[i, j]``: images labelled i whose probability of class j reaches
   ``t_j`` (the most probable such class when several do); at least 1 on the diagonal;
3. calibrated so that each row sums to the number of images labelled i, and the whole to n
   (rounded keeping the row totals): the estimated joint ``Q = C / n`` of given and true labels,
   and the noise matrix ``P(given = i | true = j)``;
4. ``prune_by_noise_rate``: for each given class i and each other class j, the ``C[i, j]`` images
   labelled i with the largest margin ``p_j - p_i`` are issues (a class keeps at least one image),
   except those whose given label is also the most probable one;
5. ranked by a label-quality score: ``self_confidence`` (the given label's probability) or
   ``normalized_margin`` (``(p_given - max other p + 1) / 2``), lowest first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Slack of the comparisons of probabilities (cleanlab's): a probability within this of a
#: threshold reaches it, and a given label within this of the most probable one is kept.
SLACK = 1e-6
#: Rows of a probability matrix must sum to 1 to within this.
SUM_TOLERANCE = 1e-4
#: The label-quality scores that rank issues.
SCORES = ("self_confidence", "normalized_margin")


def check_probabilities(labels, probabilities) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` as int64 (n,) and ``probabilities`` as float64 (n, k), after checking them.

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        The given labels, 0..k-1.
    probabilities : array-like of float, shape (n, k)
        Each image's probability of each class (a row sums to 1), from a model that did not see
        the image.

    Returns
    -------
    tuple of ndarray
        The labels and the probabilities.

    Raises
    ------
    ValueError
        If the shapes do not match, there are fewer than two classes, a probability is missing,
        negative or above 1, a row does not sum to 1, or a label is outside 0..k-1.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or probabilities.shape[1] < 2:
        raise ValueError(
            f"probabilities must be an (images, classes) matrix of at least 2 classes, got shape "
            f"{probabilities.shape}."
        )
    if labels.ndim != 1 or len(labels) != len(probabilities):
        raise ValueError(
            f"{len(probabilities)} rows of probabilities but labels of shape {labels.shape}."
        )
    if not len(labels):
        raise ValueError("no images: nothing to look for label issues in.")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers 0..k-1, got {labels.dtype}.")
    k = probabilities.shape[1]
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"labels must be in 0..{k - 1} ({k} columns of probabilities).")
    if not np.isfinite(probabilities).all():
        raise ValueError("probabilities must be finite numbers; some are NaN or infinite.")
    if probabilities.min() < 0 or probabilities.max() > 1 + SUM_TOLERANCE:
        raise ValueError("probabilities must lie in 0..1.")
    sums = probabilities.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1)))
    if abs(sums[worst] - 1) > SUM_TOLERANCE:
        raise ValueError(
            f"each row of probabilities must sum to 1; row {worst} sums to {sums[worst]:.6g}."
        )
    return labels.astype(np.int64), probabilities


def per_class_thresholds(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """``t_j``: the mean probability of class j over the images labelled j (k,); 2 (never
    reached) for a class without images; at least ``2 * SLACK``."""
    k = probabilities.shape[1]
    counts = np.bincount(labels, minlength=k)
    own = np.bincount(labels, weights=probabilities[np.arange(len(labels)), labels], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        thresholds = np.where(counts > 0, own / np.maximum(counts, 1), 2.0)
    return np.maximum(thresholds, 2 * SLACK)


def _true_label_guesses(probabilities: np.ndarray, thresholds: np.ndarray):
    """Per image, whether some class reaches its threshold, and the guessed true class: the one
    that does, or the most probable class when several do."""
    reached = probabilities >= thresholds - SLACK
    how_many = reached.sum(axis=1)
    guess = np.where(how_many > 1, probabilities.argmax(axis=1), reached.argmax(axis=1))
    return how_many > 0, guess


def _round_keeping_totals(row: np.ndarray) -> np.ndarray:
    """Whole numbers near ``row`` that sum to its rounded sum: rounded, then the entries rounded
    furthest the wrong way moved by one until the sum is right."""
    whole = np.round(row)
    missing = int(np.round(row.sum()) - whole.sum())
    if missing:
        step = 1 if missing > 0 else -1
        order = np.argsort(row - whole, kind="stable")
        order = order[::-1] if step > 0 else order
        whole[order[: min(abs(missing), len(row))]] += step
    return whole


def round_keeping_row_totals(matrix: np.ndarray) -> np.ndarray:
    """Each row of ``matrix`` in whole numbers summing to the row's rounded total (int64)."""
    return np.array([_round_keeping_totals(row) for row in np.asarray(matrix, float)]).astype(np.int64)


def calibrate(confident: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """The confident joint scaled so that row i sums to the images labelled i, and the whole to
    their number (rounded keeping the row totals)."""
    rows = np.maximum(confident.sum(axis=1), 1e-100)
    scaled = confident / rows[:, None] * label_counts[:, None]
    scaled = scaled / max(scaled.sum(), 1e-100) * label_counts.sum()
    return round_keeping_row_totals(scaled)


def label_quality_scores(labels, probabilities, method: str = "self_confidence") -> np.ndarray:
    """How likely each given label is right, 0..1 (lower: more likely wrong).

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        The given labels.
    probabilities : array-like of float, shape (n, k)
        Out-of-sample class probabilities.
    method : {"self_confidence", "normalized_margin"}
        ``self_confidence``: the given label's probability; ``normalized_margin``: ``(p_given -
        largest other p + 1) / 2``, which also looks at the strongest rival class.

    Returns
    -------
    ndarray of shape (n,), float64

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.5, 0.25, 0.25], [0.25, 0.75, 0.0]])
    >>> label_quality_scores([0, 0], p).tolist()
    [0.5, 0.25]
    >>> label_quality_scores([0, 0], p, "normalized_margin").tolist()
    [0.625, 0.25]
    """
    if method not in SCORES:
        raise ValueError(f"unknown label-quality score {method!r}; choose one of {', '.join(SCORES)}.")
    labels, probabilities = check_probabilities(labels, probabilities)
    rows = np.arange(len(labels))
    own = probabilities[rows, labels]
    if method == "self_confidence":
        return own
    others = probabilities.copy()
    others[rows, labels] = -np.inf
    return (own - others.max(axis=1) + 1) / 2


def _prune_counts(calibrated: np.ndarray, keep: int = 1) -> np.ndarray:
    """How many images of each given class (column) to prune for each true class (row): the
    calibrated confident joint, transposed, with at least ``keep`` images kept in every class
    (what is added to the diagonal is taken from the column's noise rates)."""
    counts = calibrated.T.astype(np.float64)
    diagonal = np.diagonal(counts).copy()
    kept = np.maximum(diagonal, keep)
    rates = np.maximum(np.count_nonzero(counts, axis=0) - 1.0, 1.0)
    counts = np.maximum(counts - (kept - diagonal) / rates, 0)
    np.fill_diagonal(counts, kept)
    return round_keeping_row_totals(counts)


def _given_is_most_probable(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Whether each image's given label is (within ``SLACK``) its most probable class."""
    nudged = probabilities.copy()
    nudged[np.arange(len(labels)), labels] += SLACK
    return nudged.argmax(axis=1) == labels


@dataclass(frozen=True)
class ConfidentLearning:
    """The quantities of confident learning for one set of labels and probabilities.

    Attributes
    ----------
    thresholds : ndarray (k,)
        Per-class thresholds: the mean self-confidence of each class.
    confident_joint : ndarray (k, k) int
        Calibrated: ``[i, j]`` the estimated number of images labelled i whose true class is j.
    joint : ndarray (k, k)
        ``confident_joint / n``: the estimated joint distribution of given and true labels.
    noise_matrix : ndarray (k, k)
        ``P(given = i | true = j)``: each column of the joint normalised (columns sum to 1).
    estimated_errors : int
        Images whose confident true class differs from their given one (cleanlab's
        ``num_label_issues``, "off_diagonal"), less those whose given label is the most probable.
    issues : ndarray of int
        Positions of the label issues (``prune_by_noise_rate``), ranked by ``scores``, lowest first.
    scores : ndarray (n,)
        Every image's label-quality score (``method``).
    suggested : ndarray (n,) int
        Every image's most probable class.
    method : str
        The label-quality score.
    """

    thresholds: np.ndarray
    confident_joint: np.ndarray
    joint: np.ndarray
    noise_matrix: np.ndarray
    estimated_errors: int
    issues: np.ndarray
    scores: np.ndarray
    suggested: np.ndarray
    method: str

    def estimated_errors_per_class(self) -> np.ndarray:
        """Per given class, the calibrated estimate of its wrong labels (off-diagonal row sums)."""
        off = self.confident_joint.copy()
        np.fill_diagonal(off, 0)
        return off.sum(axis=1)


def confident_learning(
    labels, probabilities, *, method: str = "self_confidence", min_per_class: int = 1
) -> ConfidentLearning:
    """Find probable label errors by confident learning (see the module's description).

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        The given labels, 0..k-1.
    probabilities : array-like of float, shape (n, k)
        Out-of-sample probabilities (:func:`mnistlab.quality.out_of_sample_probabilities`): from
        a model that never saw the image, or the estimates are biased towards the given labels.
    method : {"self_confidence", "normalized_margin"}
        The label-quality score that ranks the issues.
    min_per_class : int, default 1
        Images of each given class never pruned (cleanlab's ``min_examples_per_class``).

    Returns
    -------
    ConfidentLearning
        Thresholds, confident joint, joint, noise matrix, estimated number of errors, and the
        issues ranked.

    Raises
    ------
    ValueError
        On probabilities that are not probabilities (see :func:`check_probabilities`), or an
        unknown ``method``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([0, 0, 0, 1, 1, 1])
    >>> p = np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.1, .9], [.3, .7]])
    >>> found = confident_learning(labels, p)
    >>> found.issues.tolist(), found.suggested[found.issues].tolist()
    ([2], [1])
    """
    if method not in SCORES:
        raise ValueError(f"unknown label-quality score {method!r}; choose one of {', '.join(SCORES)}.")
    labels, probabilities = check_probabilities(labels, probabilities)
    n, k = probabilities.shape
    label_counts = np.bincount(labels, minlength=k)
    thresholds = per_class_thresholds(labels, probabilities)
    confident, guess = _true_label_guesses(probabilities, thresholds)
    raw = np.bincount(labels[confident] * k + guess[confident], minlength=k * k).reshape(k, k)
    np.fill_diagonal(raw, np.maximum(np.diagonal(raw), 1))
    calibrated = calibrate(raw, label_counts)
    joint = calibrated / max(calibrated.sum(), 1e-100)
    with np.errstate(invalid="ignore", divide="ignore"):
        noise = calibrated / np.maximum(calibrated.sum(axis=0), 1e-100)
    most_probable = _given_is_most_probable(labels, probabilities)
    estimated = int(np.sum(confident & (guess != labels) & ~most_probable))
    flagged = np.zeros(n, dtype=bool)
    prune = _prune_counts(calibrated, min_per_class)
    for given in range(k):
        mine = np.flatnonzero(labels == given)
        if len(mine) <= min_per_class:
            continue
        for true in range(k):
            count = int(prune[true, given])
            if true != given and count > 0:
                margin = probabilities[mine, true] - probabilities[mine, given]
                flagged[mine[np.argsort(-margin, kind="stable")[:count]]] = True
    flagged &= ~most_probable
    scores = label_quality_scores(labels, probabilities, method)
    issues = np.flatnonzero(flagged)
    issues = issues[np.argsort(scores[issues], kind="stable")]
    return ConfidentLearning(
        thresholds=thresholds,
        confident_joint=calibrated,
        joint=joint,
        noise_matrix=noise,
        estimated_errors=estimated,
        issues=issues,
        scores=scores,
        suggested=probabilities.argmax(axis=1),
        method=method,
    )
