"""Dataset health: probable label errors (confident learning on out-of-sample probabilities),
ambiguous and outlying images, image-quality checks and train/test drift.

>>> import numpy as np
>>> from mnistlab.quality import confident_learning
>>> labels = np.array([0, 0, 0, 1, 1, 1])
>>> p = np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.1, .9], [.3, .7]])
>>> confident_learning(labels, p).issues.tolist()
[2]
"""

from __future__ import annotations

from mnistlab.quality.confident import ConfidentLearning, confident_learning, label_quality_scores
from mnistlab.quality.drift import Drift, split_drift
from mnistlab.quality.images import CHECKS, ImageIssues, image_issues
from mnistlab.quality.issues import KINDS, SPLITS, LabelIssues, label_issues
from mnistlab.quality.probabilities import (
    Probabilities,
    load_probabilities,
    out_of_sample_probabilities,
)

__all__ = [
    "CHECKS",
    "KINDS",
    "SPLITS",
    "ConfidentLearning",
    "Drift",
    "ImageIssues",
    "LabelIssues",
    "Probabilities",
    "confident_learning",
    "image_issues",
    "label_issues",
    "label_quality_scores",
    "load_probabilities",
    "out_of_sample_probabilities",
    "split_drift",
]
