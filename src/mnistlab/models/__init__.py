"""Classifiers (scikit-learn compatible, plus torch networks), their evaluation, saving and benchmark."""

from mnistlab.models.benchmark import (
    BenchmarkResults,
    ModelResult,
    benchmark,
    results_table,
    run_model,
)
from mnistlab.models.catalogue import MODEL_SETS, MODELS, ModelSpec, resolve_models
from mnistlab.models.centroid import NearestCentroidClassifier
from mnistlab.models.evaluation import Evaluation, evaluate
from mnistlab.models.predictions import Prediction, predict_top
from mnistlab.models.trained import TrainedModel, load_model, train

__all__ = [
    "MODELS",
    "MODEL_SETS",
    "BenchmarkResults",
    "Evaluation",
    "ModelResult",
    "ModelSpec",
    "NearestCentroidClassifier",
    "Prediction",
    "TrainedModel",
    "benchmark",
    "evaluate",
    "load_model",
    "predict_top",
    "resolve_models",
    "results_table",
    "run_model",
    "train",
]
