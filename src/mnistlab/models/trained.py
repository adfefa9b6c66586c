"""A trained model that knows its dataset, classes and input, and how it is trained.

:class:`TrainedModel` is a fitted classifier with what is needed to use it safely on new images;
:func:`train` makes one from a dataset. Saving and loading it (the ``.mnistlab`` file format)
is :mod:`mnistlab.models.modelfile`'s; its names stay importable from here.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from mnistlab.data.dataset import Dataset, Split
from mnistlab.data.formats import as_uint8_images
from mnistlab.errors import FormatError, ModelError
from mnistlab.models.catalogue import MODELS, build_estimator, resolve_models
from mnistlab.models.modelfile import (
    FORMAT,
    FORMAT_VERSION,
    MAX_SEED,
    META,
    library_versions,
    load_model,
    write_model,
)
from mnistlab.models.size_bounds import is_int, payload_bound

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from mnistlab.models.neural import NeuralNetClassifier

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_SEED",
    "META",
    "OWN_DECISION",
    "TrainedModel",
    "fit_model",
    "library_versions",
    "load_model",
    "payload_bound",
    "require_train_and_test",
    "train",
]

#: Models whose decision is not the largest of their scores (NearestCentroid's probabilities come
#: from a Gaussian model; its decision is the closest mean).
OWN_DECISION = frozenset({"centroid"})


@dataclass
class TrainedModel:
    """A fitted classifier with what is needed to use it safely on new images.

    Attributes
    ----------
    model : str
        The model's name in :data:`mnistlab.models.MODELS` (``cnn``, ``logreg``, ...).
    estimator : Pipeline or NeuralNetClassifier
        The fitted scikit-learn pipeline (scaler and classifier) or, for the neural models, the
        :class:`~mnistlab.models.neural.NeuralNetClassifier`.
    dataset : str
    classes : tuple of str
        Class names, indexed by label.
    image_shape : (int, int)
    params : str
        The configuration, as one line.
    test_accuracy : float or None
        Accuracy on the dataset's test split when it was trained.
    """

    model: str
    estimator: Pipeline | NeuralNetClassifier
    dataset: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int]
    params: str
    seed: int = 0
    test_accuracy: float | None = None
    fit_seconds: float | None = None
    versions: dict = field(default_factory=dict)
    #: The brightest pixel of the training images: 1 for a 0/1 dataset, else usually 255.
    max_pixel: int = 255
    #: How many images it was trained on (None: not recorded, in files saved before it was).
    train_images: int | None = None

    @property
    def neural(self) -> bool:
        return MODELS[self.model].neural

    @property
    def preprocessing(self) -> str:
        if self.neural:
            return "uint8 pixels / 255"
        return "uint8 pixels flattened, StandardScaler fitted on the training split"

    @property
    def has_probabilities(self) -> bool:
        """False when scores are a softmax of decision values (the SVMs), not probabilities."""
        return self.neural or hasattr(self.estimator, "predict_proba")

    def check_images(self, images, *, source: str = "images") -> np.ndarray:
        """``images`` as uint8 (n, h, w) of this model's shape and scale, or a clear error."""
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3 or len(images) == 0:
            raise ModelError(f"{source}: expected images of shape (n, h, w), got shape {images.shape}.")
        if images.shape[1:] != tuple(self.image_shape):
            h, w = self.image_shape
            raise ModelError(
                f"{source}: the images are {images.shape[1]}x{images.shape[2]}, but this {self.model} "
                f"model was trained on {h}x{w} images of {self.dataset}; resize them (--resize) "
                "or use a model trained on images of this size."
            )
        try:
            images = as_uint8_images(images, source=source)
        except FormatError as exc:
            raise ModelError(str(exc)) from None
        if self.max_pixel > 1 and 0 < images.max() <= 1:
            raise ModelError(
                f"{source}: every pixel is 0 or 1, but the model expects 0..255 (as {self.dataset}); "
                "multiply 0..1 images by 255."
            )
        return images

    def predict_scores(self, images) -> tuple[np.ndarray, np.ndarray]:
        """The predicted label of each image and the class scores (n, n_classes), summing to 1.

        Scores are probabilities where the estimator has them; otherwise (the SVMs) a softmax of
        its decision values, which ranks classes the same way but is not calibrated. The label is
        the estimator's own decision: for nearest centroid the closest class mean, which its
        probabilities (a Gaussian model) do not always favour.
        """
        images = self.check_images(images)
        if self.neural:
            scores = self.estimator.predict_proba(images)
        else:
            features = images.reshape(len(images), -1).astype(np.float32)
            if hasattr(self.estimator, "predict_proba"):
                scores = self.estimator.predict_proba(features)
            else:
                scores = _softmax(self.estimator.decision_function(features))
        # float64 and normalised here, whatever dtype the estimator computed in: scikit-learn
        # returns float32 probabilities for float32 features, summing to 1 only within 1e-7.
        scores = np.asarray(scores, dtype=np.float64)
        totals = scores.sum(axis=1, keepdims=True)
        if not np.isfinite(scores).all() or (scores < 0).any() or not (totals > 0).all():
            raise ModelError(f"the {self.model} model gave NaN, negative or no scores; it is damaged.")
        scores /= totals
        trained_labels = np.asarray(self.estimator.classes_, dtype=np.int64)
        if self.model in OWN_DECISION:
            labels = np.asarray(self.estimator.predict(features), dtype=np.int64)
        else:
            labels = trained_labels[scores.argmax(axis=1)]
        # A class without training images gets a column of zeros, so columns are labels.
        full = np.zeros((len(images), len(self.classes)))
        full[:, trained_labels] = scores
        return labels, full

    def predict_proba(self, images) -> np.ndarray:
        """Class scores (n, n_classes) of uint8 images 0..255 (see :meth:`predict_scores`)."""
        return self.predict_scores(images)[1]

    def predict(self, images) -> np.ndarray:
        """The predicted label (index into ``classes``) of each image."""
        return self.predict_scores(images)[0]

    def to_dict(self) -> dict:
        """What the model is, as saved next to it (JSON-ready)."""
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "kind": "torch" if self.neural else "sklearn",
            "dataset": self.dataset,
            "classes": list(self.classes),
            "trained_labels": [int(c) for c in self.estimator.classes_],
            "image_shape": list(self.image_shape),
            "preprocessing": self.preprocessing,
            "params": self.params,
            "seed": self.seed,
            "max_pixel": self.max_pixel,
            "train_images": self.train_images,
            "test_accuracy": self.test_accuracy,
            "fit_seconds": self.fit_seconds,
            "versions": self.versions,
        }
        if self.neural:
            meta["architecture"] = self.estimator.architecture
            meta["best_epoch"] = int(self.estimator.best_epoch_)
            meta["history"] = self.estimator.history_
        return meta

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path`` (a ``.mnistlab`` zip), atomically: all of it or nothing."""
        return write_model(self, path)


def _softmax(scores: np.ndarray) -> np.ndarray:
    from scipy.special import softmax

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:  # two classes: one decision value per sample
        scores = np.column_stack([-scores, scores])
    return softmax(scores, axis=1)


def train(
    dataset: Dataset,
    model: str = "cnn",
    *,
    seed: int = 0,
    progress: bool | None = None,
    **params,
) -> TrainedModel:
    """Train a named model on ``dataset.train`` and measure it on ``dataset.test``.

    Parameters
    ----------
    dataset : Dataset
        Needs a train and a test split.
    model : str
        A name in :data:`mnistlab.models.MODELS`: centroid, knn, logreg, linear-svm, tree, forest,
        boosting, rbf-svm, mlp, cnn.
    seed : int
        Seeds every random choice (the same seed, data and machine give the same model).
    progress : bool or None
        Show progress on stderr; None shows it only when stderr is a terminal.
    **params
        Parameters that replace the named configuration's (``epochs=3``, ``C=0.1``).

    Returns
    -------
    TrainedModel
        The fitted model, its ``test_accuracy`` measured on the test split.

    Raises
    ------
    ValueError
        If ``model`` is unknown or a set, ``seed`` is not a whole number in 0..2**32 - 1, the
        dataset has no test split, or its training split cannot train the model (a single class;
        fewer images than k-NN's neighbours).

    Examples
    --------
    >>> import mnistlab
    >>> from mnistlab.models import train
    >>> trained = train(mnistlab.load("digits"), "logreg")
    >>> round(trained.test_accuracy, 3)
    0.907
    """
    trained = fit_model(dataset, model, seed=seed, progress=progress, **params)
    test = require_train_and_test(dataset)
    trained.test_accuracy = float(np.mean(trained.predict(test.images) == test.labels))
    return trained


def fit_model(
    dataset: Dataset, model: str, *, seed: int = 0, progress: bool | None = None, **params
) -> TrainedModel:
    """Train a named model on ``dataset.train``; ``test_accuracy`` stays None (see :func:`train`,
    which also measures it). The dataset must have a test split: it is refused before training,
    not after, since a model of it will be measured there."""
    name = _model_name(model)
    if not is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be a whole number in 0..{MAX_SEED}, got {seed!r}.")
    require_train_and_test(dataset)  # the model will be measured on it: refuse before training
    present = np.unique(dataset.train.labels)
    if len(present) < 2:
        raise ValueError(
            f"{dataset.name}: the training images cover {len(present)} class; a classifier "
            "needs 2 or more."
        )
    _check_enough_images(name, dataset, params)
    estimator = build_estimator(name, seed=seed, progress=progress, **params)
    trained = TrainedModel(
        model=name,
        estimator=estimator,
        dataset=dataset.name,
        classes=tuple(dataset.classes),
        image_shape=dataset.image_shape,
        params=MODELS[name].describe_params() if not params else _describe(name, params),
        seed=seed,
        versions=library_versions(MODELS[name].neural),
        max_pixel=max(int(dataset.train.images.max()), 1),
        train_images=len(dataset.train.labels),
    )
    started = time.perf_counter()
    images, labels = dataset.train.images, dataset.train.labels
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        # NearestCentroid notes pixels constant within a class (MNIST's borders): not a problem.
        warnings.filterwarnings("ignore", message=".*within_class_std_dev_", category=UserWarning)
        if trained.neural:
            estimator.fit(np.asarray(images), labels)
        else:
            with np.errstate(invalid="ignore"):  # see _unit_spread_for_single_images
                estimator.fit(np.asarray(images).reshape(len(images), -1).astype(np.float32), labels)
            if name == "centroid":
                _unit_spread_for_single_images(estimator[-1])
    for warning in caught:
        if not issubclass(warning.category, ConvergenceWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        # One line instead of one per one-vs-rest fit; the configuration is the published one.
        warnings.warn(
            f"{name} on {dataset.name}: the solver stopped at its iteration limit before converging "
            f"({trained.params}); accuracy may differ a little from a converged fit.",
            ConvergenceWarning,
            stacklevel=2,
        )
    trained.fit_seconds = time.perf_counter() - started
    return trained


def _check_enough_images(name: str, dataset: Dataset, params: dict) -> None:
    """Refuse, before training, a training split too small for the model: k-NN votes among
    ``n_neighbors`` training images, so it needs at least that many."""
    if name != "knn":
        return
    k = params.get("n_neighbors", MODELS[name].params.get("n_neighbors", 5))
    if len(dataset.train) < k:
        raise ValueError(
            f"{dataset.name}: knn votes among the {k} nearest training images, and the training "
            f"split has {len(dataset.train)}; give it at least {k} images."
        )


def _unit_spread_for_single_images(centroid) -> None:
    """Give a nearest-centroid model fitted on one image per class a defined spread.

    scikit-learn's ``NearestCentroid`` pools the within-class variance over
    ``n_samples - n_classes`` degrees of freedom; with a single training image in every class
    there are none and its spread is 0/0 = NaN, which made its probabilities NaN ("Input contains
    NaN") and its model file unloadable. The features are standardised first, so a unit spread
    is the scale they have overall: the scores become a Gaussian of unit variance around each
    class mean, the decisions (closest mean) are unchanged, and ``deviations_`` is what
    scikit-learn computes with that spread.
    """
    spread = centroid.within_class_std_dev_
    if np.isfinite(spread).all():
        return
    centroid.within_class_std_dev_ = np.ones_like(spread)
    n = len(centroid.classes_)  # one image per class: the centroids are the images
    centres = centroid.centroids_
    m = np.sqrt(1.0 - 1.0 / n)
    s = centroid.within_class_std_dev_ + np.median(centroid.within_class_std_dev_)
    centroid.deviations_ = (centres - centres.mean(axis=0)) / (m * s)


def _model_name(model: str) -> str:
    if model not in MODELS:
        resolve_models([model])  # an unknown name raises, naming the choices
        raise ValueError(f"{model!r} is a set of models; train one model at a time.")
    return model


def _describe(name: str, params: dict) -> str:
    spec = MODELS[name]
    return dataclasses.replace(spec, params={**spec.params, **params}).describe_params()


def require_train_and_test(dataset: Dataset) -> Split:
    """``dataset``'s test split, which measures a model; ValueError if it has none."""
    if dataset.test is None:  # the train split is always there
        raise ValueError(
            f"{dataset.name} has the splits {', '.join(dataset.splits)}; a model needs a train and a "
            "test split (the test split measures it)."
        )
    return dataset.test
