"""Train named models on a dataset's train split and measure them on its test split."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mnistlab.data.dataset import Dataset
from mnistlab.models.catalogue import MODELS, resolve_models
from mnistlab.models.evaluation import Evaluation, evaluate
from mnistlab.models.trained import TrainedModel, fit_model, require_train_and_test

#: Columns of ``results.csv`` and of each ``--json`` result, in order.
RESULT_COLUMNS = (
    "dataset",
    "model",
    "params",
    "test_accuracy",
    "fit_seconds",
    "predict_seconds",
)


@dataclass
class ModelResult:
    """One model trained on one dataset: its scores on the test split and where it went wrong.

    Attributes
    ----------
    predictions : ndarray (n_test,)
        Predicted label of each test image.
    confidence : ndarray (n_test,)
        The score of the predicted class (a probability, or for SVMs a softmax of decision values).
    """

    trained: TrainedModel
    evaluation: Evaluation
    predictions: np.ndarray = field(repr=False)
    confidence: np.ndarray = field(repr=False)
    predict_seconds: float

    @property
    def dataset(self) -> str:
        return self.trained.dataset

    @property
    def model(self) -> str:
        return self.trained.model

    def row(self) -> dict:
        """The result as one row of ``results.csv``."""
        return {
            "dataset": self.dataset,
            "model": self.model,
            "params": self.trained.params,
            "test_accuracy": self.evaluation.accuracy,
            "fit_seconds": self.trained.fit_seconds,
            "predict_seconds": self.predict_seconds,
        }

    def confident_mistakes(self, labels: np.ndarray, top: int = 12) -> np.ndarray:
        """Indices of the wrongly predicted test images, the most confident first.

        Equal scores (a decision tree's pure leaves all score 1) keep test-set order.
        """
        wrong = np.flatnonzero(self.predictions != labels)
        order = np.argsort(-self.confidence[wrong], kind="stable")
        return wrong[order[:top]]


def run_model(
    dataset: Dataset, model: str, *, seed: int = 0, progress: bool | None = None
) -> ModelResult:
    """Train ``model`` on the train split and predict the whole test split, timing both.

    Parameters
    ----------
    dataset : Dataset
        Needs a train and a test split.
    model : str
        One name in :data:`mnistlab.models.MODELS` (not a set).
    seed : int
        Seeds every random choice (the same seed, data and machine give the same model).
    progress : bool or None
        Show progress on stderr; None shows it only when stderr is a terminal.

    Returns
    -------
    ModelResult
        The trained model (its ``test_accuracy`` set), its evaluation on the test split, and each
        test image's predicted label and confidence.

    Raises
    ------
    ValueError
        If ``seed`` is not a whole number in 0..2**32 - 1, the dataset has no test split, or its
        training split cannot train the model (a single class; fewer images than k-NN's
        neighbours).
    """
    from mnistlab.progress import status

    if MODELS[model].neural:  # draws its own progress bar per epoch
        trained = fit_model(dataset, model, seed=seed, progress=progress)
    else:
        with status(f"{dataset.name}: training {model}", progress):
            trained = fit_model(dataset, model, seed=seed, progress=progress)
    test = require_train_and_test(dataset)  # fit_model refused a dataset without one
    started = time.perf_counter()
    predictions, scores = trained.predict_scores(test.images)
    seconds = time.perf_counter() - started
    confidence = scores[np.arange(len(scores)), predictions]
    evaluation = evaluate(test.labels, predictions, tuple(dataset.classes))
    trained.test_accuracy = evaluation.accuracy
    return ModelResult(trained, evaluation, predictions, confidence, seconds)


class BenchmarkResults(list):
    """The :class:`ModelResult` of every model that could be trained and tested, in the order
    asked; ``failed`` maps each model that could not (its data refused it) to the reason."""

    def __init__(self, results=(), failed: dict[str, str] | None = None) -> None:
        super().__init__(results)
        self.failed: dict[str, str] = dict(failed or {})


def benchmark(
    dataset: Dataset,
    models: str | list[str] | tuple[str, ...] = "default",
    *,
    seed: int = 0,
    progress: bool | None = None,
) -> BenchmarkResults:
    """Train and test each model in ``models`` (names or sets: quick, default, classic, all).

    A model the data refuses (a ``ValueError`` or ``MnistlabError``: k-NN with fewer training
    images than neighbours, all-black images a scaler cannot scale) is listed in ``failed`` with
    the reason, and the other models are trained all the same.

    Parameters
    ----------
    dataset : Dataset
        Needs a train and a test split.
    models : str, list of str or tuple of str, default "default"
        Model and set names, as :func:`resolve_models` takes them.
    seed : int
        Seeds every model's random choices.
    progress : bool or None
        Show progress on stderr; None shows it only when stderr is a terminal.

    Returns
    -------
    BenchmarkResults
        A list of one :class:`ModelResult` per model trained and tested, in the order asked;
        its ``failed`` maps each model the data refused to the reason.

    Raises
    ------
    ValueError
        If a name in ``models`` is unknown, or the dataset has no test split.
    MissingExtraError
        If a neural model is asked for and torch is not installed (before any training).

    Examples
    --------
    >>> import mnistlab
    >>> results = benchmark(mnistlab.load("digits"), "centroid,logreg", progress=False)
    >>> [(r.model, round(r.evaluation.accuracy, 3)) for r in results], results.failed
    ([('centroid', 0.827), ('logreg', 0.907)], {})
    """
    from mnistlab.errors import MnistlabError

    names = resolve_models(models)
    require_train_and_test(dataset)
    if any(MODELS[n].neural for n in names):
        from mnistlab.models import neural  # noqa: F401  (a missing torch fails before any training)
    results = BenchmarkResults()
    for name in names:
        try:
            results.append(run_model(dataset, name, seed=seed, progress=progress))
        except (ValueError, MnistlabError) as exc:
            results.failed[name] = str(exc)
    return results


def results_table(results: list[ModelResult]) -> pd.DataFrame:
    """One row per (dataset, model) with the ``results.csv`` columns.

    Parameters
    ----------
    results : list of ModelResult
        As :func:`benchmark` returns them.

    Returns
    -------
    pandas.DataFrame
        One row per result, with the columns of ``RESULT_COLUMNS`` in order: dataset, model,
        params, test_accuracy, fit_seconds, predict_seconds.
    """
    return pd.DataFrame([r.row() for r in results], columns=list(RESULT_COLUMNS))
