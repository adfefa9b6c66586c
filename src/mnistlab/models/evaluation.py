"""Accuracy, per-class accuracy and confusion matrix of a classifier's predictions."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix


@dataclass(frozen=True)
class Evaluation:
    """How well predictions match the truth.

    Attributes
    ----------
    accuracy : float
    per_class : ndarray (n_classes,)
        Share of each class's images predicted correctly (recall); NaN for an absent class.
    confusion : ndarray (n_classes, n_classes)
        ``confusion[i, j]`` images of true class i predicted as class j.
    classes : tuple of str
    """

    accuracy: float
    per_class: np.ndarray
    confusion: np.ndarray
    classes: tuple[str, ...]

    @classmethod
    def from_confusion(cls, confusion: np.ndarray, classes: Sequence[str]) -> Evaluation:
        """The evaluation whose confusion matrix is ``confusion`` (true class i predicted as j:
        ``confusion[i, j]``), a sum over chunks of test images (see
        :func:`mnistlab.scale.nearest_centroid_evaluation`)."""
        confusion = np.asarray(confusion)
        n = confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = np.diag(confusion) / n
            accuracy = float(np.trace(confusion) / confusion.sum())
        return cls(accuracy, per_class, confusion, tuple(classes))

    def table(self) -> pd.DataFrame:
        """Per class: label, class, n, correct, accuracy."""
        n = self.confusion.sum(axis=1)
        return pd.DataFrame(
            {
                "label": np.arange(len(self.classes)),
                "class": self.classes,
                "n": n,
                "correct": np.diag(self.confusion),
                "accuracy": self.per_class,
            }
        )

    def most_confused(self, top: int = 5) -> list[tuple[str, str, int]]:
        """The ``top`` (true class, predicted class, count) pairs off the diagonal."""
        off = self.confusion.copy()
        np.fill_diagonal(off, 0)
        flat = np.argsort(off, axis=None, kind="stable")[::-1][:top]
        rows, cols = np.unravel_index(flat, off.shape)
        return [
            (self.classes[i], self.classes[j], int(off[i, j]))
            for i, j in zip(rows, cols, strict=True)
            if off[i, j] > 0
        ]

    def most_confused_classes(self, n: int) -> np.ndarray:
        """Labels of the ``n`` classes in the most confusions (images of the class predicted as
        another, plus images of others predicted as it), most first; ties in label order."""
        off = self.confusion.copy()
        np.fill_diagonal(off, 0)
        involved = off.sum(axis=0) + off.sum(axis=1)
        return np.argsort(-involved, kind="stable")[:n]


def evaluate(y_true, y_pred, classes: tuple[str, ...]) -> Evaluation:
    """Compare predicted labels (indices into ``classes``) with the true ones.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        The true and the predicted label of each image, as indices into ``classes``.
    classes : tuple of str
        Class names, indexed by label: each has a row and a column of the confusion matrix, also
        a class no image has.

    Returns
    -------
    Evaluation
        The accuracy, each class's accuracy (NaN for a class without images) and the confusion
        matrix.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    labels = np.arange(len(classes))
    with warnings.catch_warnings():
        # All labels are passed, so a one-class matrix has the right shape.
        warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)
        confusion = confusion_matrix(y_true, y_pred, labels=labels)
    return Evaluation.from_confusion(confusion, classes)
