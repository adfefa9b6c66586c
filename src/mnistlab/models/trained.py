"""A trained model that knows its dataset, classes and input, saved without pickle.

A ``.mnistlab`` file is a zip archive holding ``mnistlab-model.json`` (what the model is: dataset,
classes, image shape, preprocessing, parameters, library versions, test accuracy) and the model
itself: ``model.safetensors`` (torch weights; the network is rebuilt from the JSON) or
``model.skops`` (a scikit-learn pipeline in skops' format, loaded only when every type it names is
a scikit-learn type). Neither format runs code from the file when loaded, and neither may unpack
to more than the model its JSON describes can need (:func:`payload_bound`).
"""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import math
import platform
import time
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from mnistlab._utils.files import atomic_write_bytes
from mnistlab.data.dataset import Dataset
from mnistlab.data.formats import as_uint8_images
from mnistlab.errors import FormatError, ModelError
from mnistlab.models.catalogue import MODELS, build_estimator, resolve_models

FORMAT = "mnistlab-model"
FORMAT_VERSION = 1
META = "mnistlab-model.json"
#: Limits on what a model file may unpack to: the description, the model, and the expansion
#: ratio of either (deflate cannot shrink real data 200-fold; a zip bomb does). The model is held
#: to much less by :func:`payload_bound`: what the model its description names can need.
MAX_META_BYTES = 1 << 20
MAX_MODEL_BYTES = 4 << 30
MAX_RATIO = 200
#: The payload bound: 8 bytes for every number the described model can hold, plus room for
#: skops' schema and zip entries: a base, and for each tree or one-vs-rest classifier, each
#: boosting predictor and each feature of a boosting model (whose bins are stored per feature).
#: Measured (skops 0.16): 21 kB per forest tree, 15 kB per one-vs-rest classifier, 3.5 kB per
#: predictor, 0.7 kB per feature, under 60 kB for the rest.
BASE_BYTES = 256 << 10
PART_BYTES = 48 << 10
PREDICTOR_BYTES = 8 << 10
FEATURE_BYTES = 2 << 10
#: Files written before ``train_images`` was recorded are bounded as if trained on this many
#: images (more than any MNIST-like training split: EMNIST ByClass has 697,932).
UNRECORDED_TRAIN_IMAGES = 1_000_000
MAX_TRAIN_IMAGES = 1 << 40
CHUNK_BYTES = 1 << 20
MAX_SIDE, MAX_CLASSES = 4096, 100_000
MAX_SEED = 2**32 - 1
#: Models whose decision is not the largest of their scores (NearestCentroid's probabilities come
#: from a Gaussian model; its decision is the closest mean).
OWN_DECISION = frozenset({"centroid"})
#: The only types outside skops' default trust that mnistlab's own models contain. Anything else
#: (a function, say, which a FunctionTransformer would call) is refused before loading.
TRUSTED_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)


@dataclass
class TrainedModel:
    """A fitted classifier with what is needed to use it safely on new images.

    Attributes
    ----------
    model : str
        The model's name in :data:`mnistlab.models.MODELS` (``cnn``, ``logreg``, ...).
    estimator : object
        The fitted scikit-learn pipeline or :class:`NeuralNetClassifier`.
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
    estimator: object
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
        path = Path(path)
        if self.neural:
            from safetensors.torch import save as save_tensors

            state = {k: v.contiguous() for k, v in self.estimator.network_.state_dict().items()}
            payload, member = save_tensors(state), "model.safetensors"
        else:
            import skops.io

            payload, member = skops.io.dumps(self.estimator), "model.skops"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(META, json.dumps(self.to_dict(), indent=2, allow_nan=False))
            archive.writestr(member, payload)
        atomic_write_bytes(path, buffer.getvalue())
        return path


def _softmax(scores: np.ndarray) -> np.ndarray:
    from scipy.special import softmax

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:  # two classes: one decision value per sample
        scores = np.column_stack([-scores, scores])
    return softmax(scores, axis=1)


def library_versions(neural: bool) -> dict[str, str]:
    """Versions of the libraries a saved model depends on."""
    from importlib.metadata import version

    import mnistlab

    names = ["numpy", "scikit-learn"] + (["torch", "safetensors"] if neural else ["skops"])
    versions = {"mnistlab": mnistlab.__version__, "python": platform.python_version()}
    versions.update({name: version(name) for name in names})
    return versions


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
    **params
        Parameters that replace the named configuration's (``epochs=3``, ``C=0.1``).

    Examples
    --------
    >>> import mnistlab
    >>> from mnistlab.models import train
    >>> trained = train(mnistlab.load("digits"), "logreg")
    >>> round(trained.test_accuracy, 3)
    0.907
    """
    trained = fit_model(dataset, model, seed=seed, progress=progress, **params)
    test = dataset.test
    trained.test_accuracy = float(np.mean(trained.predict(test.images) == test.labels))
    return trained


def fit_model(
    dataset: Dataset, model: str, *, seed: int = 0, progress: bool | None = None, **params
) -> TrainedModel:
    """Train a named model on ``dataset.train``; ``test_accuracy`` stays None (see :func:`train`,
    which also measures it). The dataset must have a test split: it is refused before training,
    not after, since a model of it will be measured there."""
    name = _model_name(model)
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
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
        image_shape=tuple(dataset.image_shape),
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


def require_train_and_test(dataset: Dataset):
    if "test" not in dataset.splits or "train" not in dataset.splits:
        raise ValueError(
            f"{dataset.name} has the splits {', '.join(dataset.splits)}; a model needs a train and a "
            "test split (the test split measures it)."
        )
    return dataset.test


def load_model(path: str | Path, *, check_versions: bool = True) -> TrainedModel:
    """Read a ``.mnistlab`` model file, checking what it holds before using it.

    Parameters
    ----------
    check_versions : bool
        Refuse a scikit-learn model saved by another scikit-learn version (its predictions could
        differ); False loads it anyway.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file.")
    try:
        with zipfile.ZipFile(path) as archive:
            meta = _read_meta(path, archive)
            member = "model.safetensors" if meta["kind"] == "torch" else "model.skops"
            try:
                bound, format_bound = _bounds(meta)
            except ValueError as exc:  # build_network's: no such network
                raise ModelError(f"{path}: the model file describes no network: {exc}") from None
            payload = _read_member(path, archive, member, bound, _described(meta))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile) and exc.errno:
            raise
        raise ModelError(f"{path}: not a mnistlab model file, or a damaged one ({exc}).") from None
    if meta["kind"] == "torch":
        estimator = _load_network(path, meta, payload)
    else:
        estimator = _load_pipeline(path, meta, payload, (bound, format_bound), check_versions)
    return TrainedModel(
        model=meta["model"],
        estimator=estimator,
        dataset=meta["dataset"],
        classes=tuple(meta["classes"]),
        image_shape=tuple(meta["image_shape"]),
        params=meta["params"],
        seed=meta["seed"],
        test_accuracy=meta["test_accuracy"],
        fit_seconds=meta["fit_seconds"],
        versions=meta["versions"],
        max_pixel=meta["max_pixel"],
        train_images=meta["train_images"],
    )


def _read_member(
    path: Path, archive: zipfile.ZipFile, name: str, limit: int, what: str = "a model description"
) -> bytes:
    """The member ``name``, refused from the zip directory alone when it declares more than
    ``limit`` bytes (what ``what`` can need) or an expansion no real data has, and read in chunks
    that stop one byte past what it declares."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ModelError(f"{path}: the model file has no {name}; it is incomplete.") from None
    if info.file_size > limit:
        raise ModelError(
            f"{path}: {name} declares {info.file_size:,} bytes, more than the {limit:,} that {what} "
            "can need; refusing to unpack it."
        )
    if info.file_size > MAX_RATIO * max(info.compress_size, 1 << 16):
        raise ModelError(
            f"{path}: {name} claims {info.file_size:,} bytes from {info.compress_size:,} compressed; "
            "refusing to unpack it."
        )
    chunks, size = [], 0
    with archive.open(info) as member:  # checks the CRC at the end: damage raises BadZipFile
        while chunk := member.read(min(CHUNK_BYTES, info.file_size + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    if size > info.file_size:
        raise ModelError(
            f"{path}: {name} unpacks to more than the {info.file_size:,} bytes it declares."
        )
    if size != info.file_size:
        raise ModelError(f"{path}: {name} is truncated.")
    return b"".join(chunks)


def payload_bound(meta: dict) -> int:
    """The most bytes the model file of ``meta`` (its validated description) may unpack its model
    to: 8 bytes for every number the described model can hold (a float64 each, though most are
    stored as float32 or smaller) plus room for its format, at most ``MAX_MODEL_BYTES``.

    The numbers follow from the model, its parameters (``params``), the image size ``F`` (pixels),
    the number of trained classes ``C`` and of training images ``N`` (``train_images``, or
    ``UNRECORDED_TRAIN_IMAGES`` in older files). ``k`` is 1 for two classes, else ``C`` (one
    vs rest); a tree has at most ``L = min(N // min_samples_leaf, 2**max_depth, max_leaf_nodes)``
    leaves, so ``2L - 1`` nodes of 8 numbers and, in scikit-learn's trees, ``C`` class values:

    * networks: their weights (the network is rebuilt from the description);
    * centroid ``4CF``; knn (it keeps its training set) ``N(F + 1)``; logreg ``k(F + 4)``;
      linear-svm ``k(F + 1)``; rbf-svm (at most ``N`` support vectors) ``N(F + C + 1) + 3C²``;
    * tree ``(2L - 1)(8 + C)``; forest ``n_estimators`` such trees; boosting
      ``max_iter·k`` trees of ``8(2L - 1)`` numbers and ``256`` bin thresholds per pixel;
    * each scikit-learn model also holds its scaler's ``4F``.

    Raises ValueError when the description names no network this mnistlab can build.
    """
    return _bounds(meta)[0]


def _bounds(meta: dict) -> tuple[int, int]:
    """:func:`payload_bound`, and the share of it that is format, not numbers: the most that
    skops' ``schema.json`` and zip directory may take (JSON and the zip directory take several
    times their size once parsed, so they may not have all the room the numbers have)."""
    h, w = meta["image_shape"]
    pixels, n_classes = h * w, len(meta["trained_labels"])
    if MODELS[meta["model"]].neural:
        numbers = sum(math.prod(shape) for shape in _network_shapes(meta).values())
        return min(MAX_MODEL_BYTES, BASE_BYTES + 8 * numbers), BASE_BYTES
    params = _described_params(meta)
    if params is None:  # parameters this mnistlab cannot read: no tighter bound
        return MAX_MODEL_BYTES, MAX_MODEL_BYTES
    n_train = meta["train_images"] or UNRECORDED_TRAIN_IMAGES
    numbers, room = _sklearn_size(meta["model"], params, pixels, n_classes, n_train)
    room = min(MAX_MODEL_BYTES, BASE_BYTES + room)
    return int(min(MAX_MODEL_BYTES, room + 8 * (numbers + 4 * pixels))), int(room)


def _sklearn_size(name: str, params: dict, pixels: int, n_classes: int, n_train: int):
    """The numbers a scikit-learn model of these parameters can hold, and the room its parts
    (trees, predictors, one-vs-rest classifiers) take in skops' format (see payload_bound)."""
    k = 1 if n_classes == 2 else n_classes

    def count(key: str, default: float = math.inf) -> float:
        value = params.get(key)
        return value if _is_int(value) and value > 0 else default

    def nodes() -> int:
        depth = min(count("max_depth"), 62)  # 2**depth stays a small number to compute
        leaves = min(max(n_train // count("min_samples_leaf", 1), 1), 2**depth)
        return 2 * min(leaves, count("max_leaf_nodes")) - 1

    if name == "centroid":
        return 4 * n_classes * pixels + 2 * n_classes, 0
    if name == "knn":
        return n_train * (pixels + 1) + n_classes, 0
    if name == "logreg":
        return k * (pixels + 4), k * PART_BYTES
    if name == "linear-svm":
        return k * (pixels + 1) + n_classes, 0
    if name == "rbf-svm":
        return n_train * (pixels + n_classes + 1) + 3 * n_classes**2, 0
    if name == "tree":
        return nodes() * (8 + n_classes), PART_BYTES
    if name == "forest":
        trees = count("n_estimators")
        return trees * nodes() * (8 + n_classes), trees * PART_BYTES
    if name == "boosting":
        predictors = count("max_iter") * k
        numbers = predictors * nodes() * 8 + 256 * pixels + 2 * count("max_iter")
        return numbers, predictors * PREDICTOR_BYTES + pixels * FEATURE_BYTES
    return math.inf, 0


def _described_params(meta: dict) -> dict | None:
    """The model's parameters as its description records them (``params``, the catalogue's
    ``StandardScaler + Estimator(key=value, ...)``) over the estimator's defaults; None when they
    cannot be read back."""
    name = meta["model"]
    head = f"StandardScaler + {MODELS[name].estimator}("
    text = meta["params"]
    if not text.startswith(head):
        return None
    try:
        call = ast.parse(f"f({text[len(head) :]}", mode="eval").body
        if not isinstance(call, ast.Call) or call.args or any(k.arg is None for k in call.keywords):
            return None
        given = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return None
    return {**build_estimator(name).steps[1][1].get_params(), **given}


def _described(meta: dict) -> str:
    """``a knn model of 28x28 images, 10 classes and 60,000 training images``, for messages."""
    h, w = meta["image_shape"]
    n_train = meta["train_images"]
    images = f"{n_train:,}" if n_train else f"up to {UNRECORDED_TRAIN_IMAGES:,} (not recorded)"
    return (
        f"a {meta['model']} model of {h}x{w} images, {len(meta['trained_labels'])} classes and "
        f"{images} training images"
    )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read_meta(path: Path, archive: zipfile.ZipFile) -> dict:
    damaged = f"{path}: {META} is damaged"
    text = _read_member(path, archive, META, MAX_META_BYTES)
    try:
        meta = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ModelError(f"{path}: {META} is not valid JSON ({str(exc)[:100]}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not a mnistlab model file.")
    version = meta.get("format_version")
    if not _is_int(version) or version != FORMAT_VERSION:
        newer = _is_int(version) and version > FORMAT_VERSION
        raise ModelError(
            f"{path}: model file format version {repr(version)[:20]}; this mnistlab reads version "
            f"{FORMAT_VERSION}" + ("; upgrade mnistlab to use it." if newer else ".")
        )
    expected = {
        "model": str,
        "kind": str,
        "dataset": str,
        "classes": list,
        "trained_labels": list,
        "image_shape": list,
        "params": str,
        "seed": int,
        "max_pixel": int,
        "versions": dict,
    }
    for key, kind in expected.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise ModelError(f"{damaged}: no valid {key!r}.")
    shape, classes, labels = meta["image_shape"], meta["classes"], meta["trained_labels"]
    spec = MODELS.get(meta["model"])
    checks = {
        "model": spec is not None,
        "kind": spec is not None and meta["kind"] == ("torch" if spec.neural else "sklearn"),
        "image_shape": len(shape) == 2 and all(_is_int(s) and 0 < s <= MAX_SIDE for s in shape),
        "classes": 2 <= len(classes) <= MAX_CLASSES
        and all(isinstance(c, str) and c.isprintable() and 0 < len(c) <= 200 for c in classes)
        and len(set(classes)) == len(classes),
        "trained_labels": len(labels) >= 2
        and all(_is_int(c) and 0 <= c < len(classes) for c in labels)
        and labels == sorted(set(labels)),
        "seed": 0 <= meta["seed"] <= MAX_SEED,
        "max_pixel": 0 < meta["max_pixel"] <= 255,
        "dataset": meta["dataset"].isprintable(),
    }
    for key, ok in checks.items():
        if not ok:
            raise ModelError(f"{damaged}: its {key!r} describes no model this mnistlab knows.")
    accuracy = meta.get("test_accuracy")
    if accuracy is not None and not (_is_number(accuracy) and 0 <= accuracy <= 1):
        raise ModelError(f"{damaged}: an impossible test_accuracy {repr(accuracy)[:20]}.")
    seconds = meta.setdefault("fit_seconds", None)
    if seconds is not None and not (_is_number(seconds) and seconds >= 0):
        raise ModelError(f"{damaged}: an impossible fit_seconds {repr(seconds)[:20]}.")
    n_train = meta.setdefault("train_images", None)  # not recorded before mnistlab 0.1.1
    if n_train is not None and not (_is_int(n_train) and len(labels) <= n_train <= MAX_TRAIN_IMAGES):
        raise ModelError(f"{damaged}: an impossible train_images {repr(n_train)[:20]}.")
    return meta


def _load_network(path: Path, meta: dict, payload: bytes):
    import torch

    from mnistlab.models.neural import NeuralNetClassifier, build_network

    try:
        from safetensors import SafetensorError
        from safetensors.torch import load as load_tensors

        state = load_tensors(payload)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: the weights are damaged ({exc}).") from None
    architecture = meta.get("architecture")
    shape, n_classes = tuple(meta["image_shape"]), len(meta["trained_labels"])
    where = f"a {architecture} for {shape[0]}x{shape[1]} images and {n_classes} classes"
    if {k: tuple(v.shape) for k, v in state.items()} != _network_shapes(meta):
        raise ModelError(f"{path}: the weights do not fit {where}.")
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise ModelError(f"{path}: the weights contain NaN or infinite values; the file is damaged.")
    network = build_network(architecture, shape, n_classes)
    network.load_state_dict(state, strict=True)
    estimator = NeuralNetClassifier(architecture, seed=meta["seed"], progress=False)
    estimator.classes_ = np.array(meta["trained_labels"])
    estimator.image_shape_ = shape
    estimator.n_features_in_ = shape[0] * shape[1]
    estimator.network_ = network.eval()
    estimator.history_ = meta.get("history", [])
    estimator.best_epoch_ = meta.get("best_epoch")
    return estimator


def _network_shapes(meta: dict) -> dict[str, tuple[int, ...]]:
    """The shape of each weight of the network ``meta`` describes (ValueError if none)."""
    import torch

    from mnistlab.models.neural import build_network

    shape, n_classes = tuple(meta["image_shape"]), len(meta["trained_labels"])
    with torch.device("meta"):  # shapes only: nothing is allocated for what the JSON claims
        network = build_network(meta.get("architecture"), shape, n_classes)
    return {k: tuple(v.shape) for k, v in network.state_dict().items()}


def _load_pipeline(
    path: Path, meta: dict, payload: bytes, bounds: tuple[int, int], check_versions: bool
):
    import sklearn
    import skops.io

    saved = meta["versions"].get("scikit-learn")
    if check_versions and saved != sklearn.__version__:
        said = (
            f"saved with scikit-learn {saved}"
            if isinstance(saved, str)
            else "records no scikit-learn version"
        )
        raise ModelError(
            f"{path}: {said[:80]}, this is scikit-learn {sklearn.__version__}; its predictions could "
            "differ. Retrain it, or load with check_versions=False (--ignore-versions) at your own risk."
        )
    problem = _skops_problem(payload, *bounds)
    if problem:
        raise ModelError(f"{path}: the scikit-learn model {problem}; refusing to load it.")
    try:
        untrusted = skops.io.get_untrusted_types(data=payload)
        foreign = [t for t in untrusted if t not in TRUSTED_TYPES]
        if foreign:
            raise ModelError(
                f"{path}: the model names types mnistlab never saves: {foreign[:5]}; refused."
            )
        estimator = skops.io.loads(payload, trusted=untrusted)
    except ModelError:
        raise
    except Exception as exc:  # skops raises many kinds on damaged input; all mean the same here
        raise ModelError(f"{path}: the scikit-learn model is damaged ({type(exc).__name__}).") from None
    _check_pipeline(path, meta, estimator)
    return estimator


def _skops_problem(payload: bytes, limit: int, format_limit: int) -> str | None:
    """What makes a skops payload unpack to more than ``limit`` bytes, or its zip directory or
    ``schema.json`` exceed ``format_limit``, checked from the zip directory and array headers
    before skops reads any of it.

    skops reads one copy of a member for every node (array) that names it in ``schema.json``,
    and numpy allocates what an array's header declares before reading its data: so the members
    must declare at most ``limit`` bytes, also when counted once per node reading them, and each
    must be a ``.npy`` array whose header describes exactly its data (mnistlab saves nothing
    else in members). zipfile never unpacks more of a member than it declares.
    """
    end = payload.rfind(b"PK\x05\x06", max(0, len(payload) - (1 << 16) - 22))
    directory = int.from_bytes(payload[end + 12 : end + 16], "little") if end >= 0 else 0
    if directory > format_limit:
        return f"has a zip directory of {directory:,} bytes, more than the {format_limit:,} it can need"
    try:
        inner = zipfile.ZipFile(io.BytesIO(payload))
        members = {info.filename: info for info in inner.infolist()}
        declared = sum(info.file_size for info in members.values())
        if declared > limit or any(
            info.file_size > MAX_RATIO * max(info.compress_size, 1 << 16) for info in members.values()
        ):
            return f"declares {declared:,} bytes unpacked, more than the {limit:,} it can need"
        if "schema.json" not in members:
            return "has no schema.json"
        if members["schema.json"].file_size > format_limit:
            size = members["schema.json"].file_size
            return f"has a schema.json of {size:,} bytes, more than the {format_limit:,} it can need"
        read = _array_files(json.loads(inner.read("schema.json")))
        if isinstance(read, str):
            return read
        if not set(read) <= set(members):
            return "names arrays it does not hold"
        reading = sum(members[name].file_size * times for name, times in read.items())
        if reading > limit:
            return f"reads {reading:,} bytes of arrays, more than the {limit:,} it can need"
        for name in read:
            with inner.open(members[name]) as member:
                version = np.lib.format.read_magic(member)
                if version not in ((1, 0), (2, 0)):
                    return f"has an array of .npy version {version}"
                read_header = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
                shape, _, dtype = read_header(member, max_header_size=10_000)
                if member.tell() + math.prod(shape) * dtype.itemsize != members[name].file_size:
                    return "has an array whose header does not describe its data"
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, TypeError, RecursionError):
        return "is damaged"
    return None


def _array_files(schema) -> dict[str, int] | str:
    """How many times skops will read each member ``schema`` names, or what is wrong."""
    files: dict[str, int] = {}
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if "__loader__" in item and "file" in item:
                if not isinstance(item["file"], str):
                    return "is damaged"
                files[item["file"]] = files.get(item["file"], 0) + 1
            stack.extend(item.values())
    return files


def _check_pipeline(path: Path, meta: dict, estimator) -> None:
    """The loaded object must be the pipeline ``train`` builds for the named model, as described."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    expected = type(build_estimator(meta["model"]).steps[1][1])
    h, w = meta["image_shape"]
    steps = estimator.steps if isinstance(estimator, Pipeline) else []
    if (
        [name for name, _ in steps] != ["scale", "model"]
        or type(steps[0][1]) is not StandardScaler
        or type(steps[1][1]) is not expected
        or getattr(estimator, "n_features_in_", None) != h * w
        or [int(c) for c in getattr(estimator, "classes_", [])] != meta["trained_labels"]
    ):
        raise ModelError(
            f"{path}: the model inside is not the {meta['model']} pipeline its description names "
            f"({h}x{w} images, labels {meta['trained_labels']}); the file is damaged or forged."
        )
    n_classes = len(meta["trained_labels"])
    try:
        problem = _tree_problem(steps[1][1], h * w, n_classes) or _fitted_problem(
            steps[0][1], steps[1][1], h * w, n_classes, meta["train_images"]
        )
    except (AttributeError, TypeError, ValueError):  # a fitted attribute missing or of a wrong type
        problem = f"the {meta['model']} model lacks what a fitted one holds"
    if problem:
        raise ModelError(f"{path}: {problem}; the file is damaged or forged.")


def _fitted_problem(scaler, model, n_features: int, n_classes: int, n_train: int | None) -> str | None:
    """What is wrong with the fitted arrays of the scaler and of a model not made of trees, if any.

    Prediction uses them as they are: arrays of the wrong shape fail there, or in libsvm's
    compiled code read outside themselves (garbage scores or a crash); a k-NN label out of range
    silently votes for another class; NaN or infinite values give NaN scores. So every array must
    have the shape and type fitting gives it for the described images, classes and training set.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
    from sklearn.svm import SVC, LinearSVC

    rows = 1 if n_classes == 2 else n_classes  # one vs rest: one classifier for two classes
    recorded, n_train = n_train, n_train or UNRECORDED_TRAIN_IMAGES
    vector = ((n_features,), "f")
    problem = _arrays_problem(scaler, "scaler", {"mean_": vector, "var_": vector, "scale_": vector})
    if problem or not (scaler.scale_ > 0).all():
        return problem or "the scaler divides by zero or less"
    if isinstance(model, NearestCentroid):
        means = ((n_classes, n_features), "f")
        return _arrays_problem(
            model,
            "centroid model",
            {"centroids_": means, "deviations_": means, "within_class_std_dev_": vector},
        ) or _arrays_problem(model, "centroid model", {"class_prior_": ((n_classes,), "f")}, 0, 1)
    if isinstance(model, LinearSVC):
        linear = {"coef_": ((rows, n_features), "f"), "intercept_": ((rows,), "f")}
        return _arrays_problem(model, "linear SVM", linear)
    if isinstance(model, OneVsRestClassifier):
        binarizer = getattr(model, "label_binarizer_", None)
        estimators = getattr(model, "estimators_", None)
        if (
            getattr(binarizer, "y_type_", None) != ("binary" if n_classes == 2 else "multiclass")
            or not isinstance(estimators, list)
            or len(estimators) != rows
            or not all(type(e) is LogisticRegression for e in estimators)
        ):
            return "the one-vs-rest model does not hold the classifiers it describes"
        linear = {"coef_": ((1, n_features), "f"), "intercept_": ((1,), "f")}
        return next((p for e in estimators if (p := _arrays_problem(e, "logistic model", linear))), None)
    if isinstance(model, KNeighborsClassifier):
        seen = getattr(model, "_fit_X", None)
        n = len(seen) if isinstance(seen, np.ndarray) and seen.ndim == 2 else -1
        problem = _arrays_problem(model, "k-NN model", {"_fit_X": ((n, n_features), "f")})
        problem = problem or _arrays_problem(model, "k-NN model", {"_y": ((n,), "i")}, 0, n_classes - 1)
        metric = getattr(model, "effective_metric_params_", None)
        if problem or not (
            (n == recorded if recorded else 0 < n <= n_train)
            and model.n_samples_fit_ == n
            and isinstance(model.n_neighbors, (int, np.integer))
            and 0 < model.n_neighbors <= n
            and model._fit_method == "brute"
            and model._tree is None
            and model.outputs_2d_ is False
            and isinstance(model.effective_metric_, str)
            and isinstance(metric, dict)
            and set(metric) <= {"p"}
            and all(_is_number(v) for v in metric.values())
        ):
            return problem or "the k-NN model does not hold the training images it describes"
    if isinstance(model, SVC):
        vectors = getattr(model, "support_vectors_", None)
        n = len(vectors) if isinstance(vectors, np.ndarray) and vectors.ndim == 2 else -1
        pairs = n_classes * (n_classes - 1) // 2
        # Platt scaling's pairwise parameters, fitted only for probabilities (sklearn >= 1.9 keeps
        # whether it did in _effective_probability).
        fitted = getattr(model, "_effective_probability", getattr(model, "probability", False))
        probabilities = ((pairs if fitted is True else 0,), "float64")
        arrays = {
            "support_vectors_": ((n, n_features), "float64"),
            "_dual_coef_": ((n_classes - 1, n), "float64"),
            "_intercept_": ((pairs,), "float64"),
            "_probA": probabilities,
            "_probB": probabilities,
        }
        problem = _arrays_problem(model, "SVM", arrays)
        problem = problem or _arrays_problem(model, "SVM", {"support_": ((n,), "int32")}, 0, n_train - 1)
        problem = problem or _arrays_problem(model, "SVM", {"_n_support": ((n_classes,), "int32")}, 0, n)
        if problem or not (
            0 < n <= n_train
            and model._n_support.sum() == n
            and model._sparse is False
            and model._impl == "c_svc"
            and model.kernel in ("linear", "poly", "rbf", "sigmoid")
            and _is_number(float(model._gamma))
            and model._gamma > 0
            and _is_number(model.coef0)
        ):
            return problem or "the SVM's support vectors do not fit its kernel and classes"
    return None


def _arrays_problem(model, what: str, arrays: dict, low=None, high=None) -> str | None:
    """Which of ``arrays`` (name: (shape, dtype or dtype kind)) ``model`` lacks, or holds with
    another shape or type, non-finite, or (when given) outside ``low..high``."""
    for name, (shape, dtype) in arrays.items():
        value = getattr(model, name, None)
        if not (
            isinstance(value, np.ndarray)
            and value.shape == shape
            and (value.dtype.kind == dtype if len(dtype) == 1 else value.dtype == dtype)
            and (value.dtype.kind != "f" or np.isfinite(value).all())
            and (low is None or value.size == 0 or (low <= value.min() and value.max() <= high))
        ):
            return f"the {what}'s {name} is not the {dtype} array of shape {shape} it must be"
    return None


def _tree_problem(model, n_features: int, n_classes: int) -> str | None:
    """What is wrong with the trees inside ``model`` (a tree, forest or boosting model), if any.

    Prediction walks the node arrays in compiled code without checking them: a child index out
    of range reads outside the arrays (a crash), one pointing back loops forever. So every tree
    must be a proper tree stored parent first (children after their parent, each node but the
    root the child of exactly one node), split on existing features at finite thresholds, with
    leaf values of the right shape.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    if isinstance(model, DecisionTreeClassifier):
        return _sklearn_tree_problem(model.tree_, n_features, n_classes)
    if isinstance(model, RandomForestClassifier):
        trees = getattr(model, "estimators_", [])
        if len(trees) != model.n_estimators or not all(type(t) is DecisionTreeClassifier for t in trees):
            return "the forest does not hold the trees it describes"
        return next(
            (p for t in trees if (p := _sklearn_tree_problem(t.tree_, n_features, n_classes))), None
        )
    if isinstance(model, HistGradientBoostingClassifier):
        per_iteration = 1 if n_classes <= 2 else n_classes
        iterations = getattr(model, "_predictors", [])
        if len(iterations) != model.n_iter_ or any(len(i) != per_iteration for i in iterations):
            return "the boosting model does not hold the trees it describes"
        for predictor in (p for i in iterations for p in i):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            problem = _node_problem(
                np.where(leaf, -1, nodes["left"].astype(np.int64)),
                np.where(leaf, -1, nodes["right"].astype(np.int64)),
                np.where(leaf, -2, nodes["feature_idx"].astype(np.int64)),
                nodes["num_threshold"],
                n_features,
            )
            if problem:
                return problem
            if nodes["is_categorical"].any() or not np.isfinite(nodes["value"][leaf]).all():
                return "a boosting tree has categorical splits or non-finite leaf values"
    return None


def _sklearn_tree_problem(tree, n_features: int, n_classes: int) -> str | None:
    if tree.n_features != n_features or tree.n_outputs != 1:
        return "a tree does not take the described images"
    value = tree.value
    if value.shape != (tree.node_count, 1, n_classes) or not np.isfinite(value).all():
        return "a tree's leaf values do not match its classes"
    return _node_problem(
        tree.children_left, tree.children_right, tree.feature, tree.threshold, n_features
    )


def _node_problem(left, right, feature, threshold, n_features: int) -> str | None:
    """Leaves have -1 for both children; split nodes children after themselves, features in
    range, finite thresholds; every node but the root is the child of exactly one node."""
    n = len(left)
    nodes = np.arange(n)
    leaf = (left == -1) & (right == -1)
    split = ~leaf
    if n == 0 or len(right) != n or len(feature) != n or len(threshold) != n:
        return "a tree has inconsistent node arrays"
    if not (
        ((left[split] > nodes[split]) & (left[split] < n)).all()
        and ((right[split] > nodes[split]) & (right[split] < n)).all()
    ):
        return "a tree has child links that point outside it or back up"
    if not ((feature[split] >= 0) & (feature[split] < n_features)).all():
        return "a tree splits on a feature the images do not have"
    if not np.isfinite(threshold[split]).all():
        return "a tree has non-finite thresholds"
    children = np.concatenate([left[split], right[split]])
    if len(children) != n - 1 or not np.array_equal(np.sort(children), nodes[1:]):
        return "a tree's nodes do not form one tree"
    return None
