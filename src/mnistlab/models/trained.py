"""A trained model that knows its dataset, classes and input, saved without pickle.

A ``.mnistlab`` file is a zip archive holding ``mnistlab-model.json`` (what the model is: dataset,
classes, image shape, preprocessing, parameters, library versions, test accuracy) and the model
itself: ``model.safetensors`` (torch weights; the network is rebuilt from the JSON) or
``model.skops`` (a scikit-learn pipeline in skops' format, loaded only when every type it names is
a scikit-learn type). Neither format runs code from the file when loaded.
"""

from __future__ import annotations

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

from mnistlab.data.dataset import Dataset
from mnistlab.data.formats import as_uint8_images, atomic_write_bytes
from mnistlab.errors import FormatError, ModelError
from mnistlab.models.catalogue import MODELS, build_estimator, resolve_models

FORMAT = "mnistlab-model"
FORMAT_VERSION = 1
META = "mnistlab-model.json"
#: Limits on what a model file may unpack to: the description, the model, and the expansion
#: ratio of either (deflate cannot shrink real data 200-fold; a zip bomb does).
MAX_META_BYTES = 1 << 20
MAX_MODEL_BYTES = 4 << 30
MAX_RATIO = 200
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
            estimator.fit(np.asarray(images).reshape(len(images), -1).astype(np.float32), labels)
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
            payload = _read_member(path, archive, member, MAX_MODEL_BYTES)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile) and exc.errno:
            raise
        raise ModelError(f"{path}: not a mnistlab model file, or a damaged one ({exc}).") from None
    if meta["kind"] == "torch":
        estimator = _load_network(path, meta, payload)
    else:
        estimator = _load_pipeline(path, meta, payload, check_versions)
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
    )


def _read_member(path: Path, archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ModelError(f"{path}: the model file has no {name}; it is incomplete.") from None
    if info.file_size > limit or info.file_size > MAX_RATIO * max(info.compress_size, 1 << 16):
        raise ModelError(
            f"{path}: {name} claims {info.file_size:,} bytes from {info.compress_size:,} compressed; "
            "refusing to unpack it."
        )
    data = archive.read(name)  # checks the CRC: a damaged member raises BadZipFile
    if len(data) != info.file_size:
        raise ModelError(f"{path}: {name} is truncated.")
    return data


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
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated for what the JSON claims
            expected = build_network(architecture, shape, n_classes).state_dict()
    except ValueError as exc:
        raise ModelError(f"{path}: the model file describes no network: {exc}") from None
    found = {k: tuple(v.shape) for k, v in state.items()}
    if found != {k: tuple(v.shape) for k, v in expected.items()}:
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


def _load_pipeline(path: Path, meta: dict, payload: bytes, check_versions: bool):
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
    problem = _tree_problem(steps[1][1], h * w, len(meta["trained_labels"]))
    if problem:
        raise ModelError(f"{path}: {problem}; the file is damaged or forged.")


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
