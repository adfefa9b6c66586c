"""How similar are images? One module per question.

- :mod:`~mnistlab.similarity.metrics`: two images compared under every usual metric
  (:func:`compare`);
- :mod:`~mnistlab.similarity.neighbours`: the exact nearest images of a query
  (:class:`NearestImages`);
- :mod:`~mnistlab.similarity.knn`: k-nearest-neighbour classification on top of it;
- :mod:`~mnistlab.similarity.duplicates`: exact and near duplicates, train/test leakage;
- :mod:`~mnistlab.similarity.context`: what a typical value of each metric is in a dataset.
"""

from mnistlab.similarity.context import DISTANCES, InContext, in_context, metric_context, percentiles
from mnistlab.similarity.duplicates import (
    DUPLICATE_COLUMNS,
    NEAR_FRACTION,
    Duplicates,
    find_duplicates,
)
from mnistlab.similarity.knn import KNearestImagesClassifier, knn_accuracy, vote
from mnistlab.similarity.metrics import MEANINGS, METRICS, Comparison, compare
from mnistlab.similarity.neighbours import NEIGHBOUR_METRICS, NearestImages

__all__ = [
    "DISTANCES",
    "DUPLICATE_COLUMNS",
    "MEANINGS",
    "METRICS",
    "NEAR_FRACTION",
    "NEIGHBOUR_METRICS",
    "Comparison",
    "Duplicates",
    "InContext",
    "KNearestImagesClassifier",
    "NearestImages",
    "compare",
    "find_duplicates",
    "in_context",
    "knn_accuracy",
    "metric_context",
    "percentiles",
    "vote",
]
