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

__all__ = ["ConfidentLearning", "confident_learning", "label_quality_scores"]
