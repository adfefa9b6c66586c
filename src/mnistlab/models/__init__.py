"""Classifiers (scikit-learn compatible) and their evaluation."""

from mnistlab.models.centroid import NearestCentroidClassifier
from mnistlab.models.evaluation import Evaluation, evaluate

__all__ = ["Evaluation", "NearestCentroidClassifier", "evaluate"]
