"""Drift between a dataset's training and test images: class proportions, pixel statistics, and a
classifier two-sample test (can a classifier tell a training image from a test image?).

The classifier two-sample test (Lopez-Paz and Oquab, 2017) asks the most general question: if the
two splits come from one distribution, no classifier does better than chance (0.5 on a balanced
sample) on images it was not trained on. A seeded, balanced sample of each split is labelled by its
split, a linear discriminant (Ledoit-Wolf shrinkage: closed form, no iterations, a second per fold
on MNIST) on the images averaged over 2x2 blocks (14x14 for MNIST) is cross-validated, and the held-
out predictions give an accuracy with a binomial (Wilson) confidence interval. An interval above 0.5
means the splits differ in a way a linear model sees; one that includes 0.5 means no such difference
was found (not that none exists).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mnistlab._utils.blocks import CHUNK, map_blocks
from mnistlab.data.dataset import Dataset, Split

#: Images of each split in the classifier test, at most: a standard error of about 0.005 on the
#: accuracy, in seconds on MNIST.
MAX_IMAGES = 5_000
#: Significance level of the class-proportion test and 1 - confidence of the accuracy interval.
ALPHA = 0.05


@dataclass
class Drift:
    """What :func:`split_drift` found: train vs test class proportions, pixels and a classifier.

    Attributes
    ----------
    dataset : str
        The dataset's name.
    classes : DataFrame
        Per class: images in ``train`` and ``test``, their shares, and ``difference`` (test
        share - train share).
    class_test : dict
        Chi-square test of homogeneity of the class proportions: ``chi2``, ``dof``, ``p_value``.
    pixels : DataFrame
        Per split: ``images``, ``mean_value`` (0..255) and ``mean_ink`` (the mean value as a
        share of 255).
    mean_difference : ndarray (h, w)
        Test mean image - train mean image (0..255 scale).
    classifier : dict
        The classifier two-sample test: ``model``, ``features``, ``images_per_split``, ``folds``,
        ``correct``, ``total``, ``accuracy``, ``ci_low``, ``ci_high``, ``confidence``, ``chance``,
        ``p_value`` (one-sided binomial test of accuracy > chance), ``detected``.
    verdict : str
        The finding in one or two sentences.
    """

    dataset: str
    classes: pd.DataFrame
    class_test: dict[str, float]
    pixels: pd.DataFrame
    mean_difference: np.ndarray = field(repr=False)
    classifier: dict[str, Any] = field(default_factory=dict)
    verdict: str = ""

    def pixel_difference(self) -> dict[str, Any]:
        """A summary of :attr:`mean_difference`: where and how much the mean images differ.

        Returns
        -------
        dict
            ``mean_abs`` and ``max_abs`` (0..255 scale) and ``max_at`` (row, column).
        """
        d = self.mean_difference
        at = np.unravel_index(int(np.argmax(np.abs(d))), d.shape)
        return {
            "mean_abs": float(np.abs(d).mean()),
            "max_abs": float(np.abs(d).max()),
            "max_at": [int(at[0]), int(at[1])],
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary of every table and test.

        Returns
        -------
        dict
            ``dataset``, ``classes`` (records), ``class_test``, ``pixels`` (records),
            ``pixel_difference``, ``classifier`` and ``verdict``.
        """
        return {
            "dataset": self.dataset,
            "classes": self.classes.to_dict(orient="records"),
            "class_test": dict(self.class_test),
            "pixels": self.pixels.to_dict(orient="records"),
            "pixel_difference": self.pixel_difference(),
            "classifier": dict(self.classifier),
            "verdict": self.verdict,
        }


def split_drift(
    dataset: Dataset,
    *,
    seed: int = 0,
    max_images: int = MAX_IMAGES,
    folds: int = 5,
    confidence: float = 1 - ALPHA,
) -> Drift:
    """Compare the training and test splits of ``dataset``: classes, pixels and a classifier test.

    Parameters
    ----------
    dataset : Dataset
        uint8 images (0..255) with a test split.
    seed : int, default 0
        Seeds the balanced sample and the cross-validation folds.
    max_images : int, default 5000
        Images of each split in the classifier test, at most (both splits give the same number,
        the smaller split's size if it is smaller).
    folds : int, default 5
        Cross-validation folds of the classifier test.
    confidence : float, default 0.95
        Confidence of the accuracy's interval; the class test is judged at ``1 - confidence``.

    Returns
    -------
    Drift
        Tables, tests and a verdict (``to_dict()`` for JSON).

    Raises
    ------
    ValueError
        If the dataset has no test split, or an option is out of range.

    Examples
    --------
    >>> import mnistlab
    >>> drift = split_drift(mnistlab.load("digits"))
    >>> drift.classifier["chance"], drift.classifier["detected"], drift.class_test["p_value"] > 0.05
    (0.5, True, True)
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"split_drift takes a Dataset, got {type(dataset).__name__}.")
    if dataset.test is None:
        raise ValueError(
            f"{dataset.name} has no test split, and drift compares the training images with the "
            "test images; give a dataset with one (a file with a test split, or a held-out share: "
            "Dataset.hold_out, --test-size)."
        )
    _check_options(seed, max_images, folds, confidence)
    train, test = dataset.train, dataset.test
    classes, class_test = _class_proportions(train, test)
    means = {s.name: _mean_image(s.images) for s in (train, test)}
    pixels = pd.DataFrame(
        {
            "split": ["train", "test"],
            "images": [len(train), len(test)],
            "mean_value": [float(means[s].mean()) for s in ("train", "test")],
        }
    )
    pixels["mean_ink"] = pixels["mean_value"] / 255
    classifier = _classifier_test(train, test, seed, max_images, folds, confidence)
    drift = Drift(dataset.name, classes, class_test, pixels, means["test"] - means["train"], classifier)
    drift.verdict = _verdict(drift, 1 - confidence)
    return drift


def _check_options(seed, max_images, folds, confidence) -> None:
    def whole(value) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    if not whole(seed) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}.")
    if not whole(max_images) or max_images < 10:
        raise ValueError(f"max_images must be a whole number >= 10, got {max_images!r}.")
    if not whole(folds) or folds < 2:
        raise ValueError(f"folds must be a whole number >= 2, got {folds!r}.")
    if isinstance(confidence, bool) or not isinstance(confidence, float) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number between 0 and 1, got {confidence!r}.")


def _class_proportions(train: Split, test: Split) -> tuple[pd.DataFrame, dict[str, float]]:
    """Images and shares per class in each split, and the chi-square test of homogeneity."""
    from scipy.stats import chi2_contingency

    counts = np.stack([np.bincount(s.labels, minlength=len(train.classes)) for s in (train, test)])
    shares = counts / counts.sum(axis=1, keepdims=True)
    table = pd.DataFrame(
        {
            "class": list(train.classes),
            "train": counts[0],
            "test": counts[1],
            "train_share": shares[0],
            "test_share": shares[1],
        }
    )
    table["difference"] = table["test_share"] - table["train_share"]
    present = counts[:, counts.sum(axis=0) > 0]
    if present.shape[1] < 2:  # one class: nothing to compare
        return table, {"chi2": 0.0, "dof": 0, "p_value": 1.0}
    result = chi2_contingency(present, correction=False)
    return table, {
        "chi2": float(result.statistic),
        "dof": int(result.dof),
        "p_value": float(result.pvalue),
    }


def _mean_image(images: np.ndarray) -> np.ndarray:
    """The mean image (float64, 0..255), summed chunk by chunk on all cores."""
    sums = map_blocks(lambda a, b: images[a:b].sum(axis=0, dtype=np.float64), len(images), CHUNK)
    return np.sum(sums, axis=0) / len(images)


def _features(images: np.ndarray) -> tuple[np.ndarray, str]:
    """Images as rows of floats 0..1, averaged over 2x2 blocks when they are 16 pixels or more
    a side (fewer features, and a shift of a pixel or two still shows)."""
    n, h, w = images.shape
    if min(h, w) >= 16:
        cropped = images[:, : h - h % 2, : w - w % 2].astype(np.float32)
        pooled = cropped.reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
        return pooled.reshape(n, -1) / 255, f"pixels averaged over 2x2 blocks ({h // 2}x{w // 2})"
    return images.reshape(n, -1).astype(np.float32) / 255, f"pixels ({h}x{w})"


def _classifier_test(
    train: Split, test: Split, seed: int, max_images: int, folds: int, confidence: float
) -> dict[str, Any]:
    """Cross-validated accuracy of a linear discriminant telling a balanced, seeded sample of
    training images from test images, with its binomial (Wilson) interval."""
    from scipy.stats import binomtest
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rng = np.random.default_rng(seed)
    n = min(len(train), len(test), max_images)
    if n < folds:
        raise ValueError(
            f"the classifier test needs at least {folds} images in each split ({folds} folds); "
            f"the smaller split has {n}."
        )
    picked = [np.sort(rng.choice(len(s), n, replace=False)) for s in (train, test)]
    features, described = _features(np.concatenate([train.images[picked[0]], test.images[picked[1]]]))
    is_test = np.repeat([0, 1], n)
    model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    predicted = cross_val_predict(model, features, is_test, cv=splitter)
    correct = int((predicted == is_test).sum())
    total = len(is_test)
    interval = binomtest(correct, total).proportion_ci(confidence, method="wilson")
    p_value = binomtest(correct, total, 0.5, alternative="greater").pvalue
    return {
        "model": "linear discriminant analysis (Ledoit-Wolf shrinkage)",
        "features": described,
        "images_per_split": n,
        "folds": folds,
        "correct": correct,
        "total": total,
        "accuracy": correct / total,
        "ci_low": float(interval.low),
        "ci_high": float(interval.high),
        "confidence": confidence,
        "chance": 0.5,
        "p_value": float(p_value),
        "detected": bool(interval.low > 0.5),
    }


def _verdict(drift: Drift, alpha: float) -> str:
    c = drift.classifier
    accuracy = (
        f"accuracy {c['accuracy']:.3f}, {c['confidence']:.0%} interval "
        f"{c['ci_low']:.3f}..{c['ci_high']:.3f}, chance 0.5"
    )
    if c["detected"]:
        images = (
            f"Drift: a classifier tells test images from training images better than chance "
            f"({accuracy}); the splits' images differ."
        )
    else:
        images = (
            f"No drift detected: a classifier cannot tell test images from training images "
            f"better than chance ({accuracy})."
        )
    p = drift.class_test["p_value"]
    if p < alpha:
        moved = drift.classes.loc[drift.classes["difference"].abs().idxmax()]
        classes = (
            f" The class proportions differ (chi-square p = {p:.2g}; most: {moved['class']}, "
            f"{moved['train_share']:.1%} of train, {moved['test_share']:.1%} of test)."
        )
    else:
        classes = f" The class proportions agree (chi-square p = {p:.2g})."
    return images + classes
