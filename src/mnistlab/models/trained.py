"""A trained model that knows its dataset, classes and input, saved without pickle.

A ``.mnistlab`` file is a zip archive holding ``mnistlab-model.json`` (what the model is: dataset,
classes, image shape, preprocessing, parameters, library versions, test accuracy) and the model
itself: ``model.safetensors`` (torch weights; the network is rebuilt from the JSON) or
``model.skops`` (a scikit-learn pipeline in skops' format, loaded only when every type it names is
a scikit-learn type). Neither format runs code from the file when loaded.
"""

from __future__ import annotations

import io
import json
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
#: The largest member read from a model file: far above any model here, far below a zip bomb.
MAX_MEMBER_BYTES = 2 << 30
#: Modules whose types a saved scikit-learn model may contain.
TRUSTED_MODULES = ("sklearn.",)


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
        if 0 < images.max() <= 1:
            raise ModelError(
                f"{source}: every pixel is 0 or 1, but the model expects 0..255 (as {self.dataset}); "
                "multiply 0..1 images by 255."
            )
        return images

    def predict_proba(self, images) -> np.ndarray:
        """Class scores (n, n_classes) summing to 1, for uint8 images 0..255 of the model's shape.

        Probabilities where the estimator has them; otherwise (SVMs) a softmax of its decision
        values, which ranks classes the same way but is not calibrated.
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
        # A class without training images gets a column of zeros, so columns are labels.
        full = np.zeros((len(images), len(self.classes)))
        full[:, np.asarray(self.estimator.classes_, dtype=np.int64)] = scores
        return full

    def predict(self, images) -> np.ndarray:
        """The predicted label (index into ``classes``) of each image."""
        return self.predict_proba(images).argmax(axis=1)

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
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:  # two classes: one decision value per sample
        scores = np.column_stack([-scores, scores])
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


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
    0.951
    """
    name = _model_name(model)
    test = _test_split(dataset)
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
    trained.test_accuracy = float(np.mean(trained.predict(test.images) == test.labels))
    return trained


def _model_name(model: str) -> str:
    if model not in MODELS:
        resolve_models([model])  # an unknown name raises, naming the choices
        raise ValueError(f"{model!r} is a set of models; train one model at a time.")
    return model


def _describe(name: str, params: dict) -> str:
    spec = MODELS[name]
    merged = type(spec)(**{**spec.__dict__, "params": {**spec.params, **params}})
    return merged.describe_params()


def _test_split(dataset: Dataset):
    if "test" not in dataset.splits or "train" not in dataset.splits:
        raise ValueError(
            f"{dataset.name} has the splits {', '.join(dataset.splits)}; training needs a train and a "
            "test split (the test split measures the model)."
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
            payload = _read_member(path, archive, member)
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
    )


def _read_member(path: Path, archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ModelError(f"{path}: the model file has no {name}; it is incomplete.") from None
    if info.file_size > MAX_MEMBER_BYTES:
        raise ModelError(f"{path}: {name} claims {info.file_size} bytes; refusing to read it.")
    data = archive.read(name)  # checks the CRC: a damaged member raises BadZipFile
    if len(data) != info.file_size:
        raise ModelError(f"{path}: {name} is truncated.")
    return data


def _read_meta(path: Path, archive: zipfile.ZipFile) -> dict:
    try:
        meta = json.loads(_read_member(path, archive, META))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: {META} is not valid JSON ({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not a mnistlab model file.")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise ModelError(
            f"{path}: model file format version {version!r}; this mnistlab reads version "
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
        "versions": dict,
    }
    for key, kind in expected.items():
        if not isinstance(meta.get(key), kind):
            raise ModelError(f"{path}: {META} lacks a valid {key!r}; the file is damaged.")
    shape, classes, labels = meta["image_shape"], meta["classes"], meta["trained_labels"]
    if (
        meta["model"] not in MODELS
        or meta["kind"] != ("torch" if MODELS[meta["model"]].neural else "sklearn")
        or len(shape) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and 0 < s <= 4096 for s in shape)
        or len(classes) < 2
        or not all(isinstance(c, str) for c in classes)
        or len(labels) < 2
        or not all(isinstance(c, int) and 0 <= c < len(classes) for c in labels)
        or labels != sorted(set(labels))
    ):
        raise ModelError(f"{path}: {META} describes no model this mnistlab knows; the file is damaged.")
    accuracy = meta.get("test_accuracy")
    if accuracy is not None and not (isinstance(accuracy, (int, float)) and 0 <= accuracy <= 1):
        raise ModelError(f"{path}: {META} has an impossible test_accuracy {accuracy!r}.")
    meta.setdefault("fit_seconds", None)
    return meta


def _load_network(path: Path, meta: dict, payload: bytes):
    from mnistlab.models.neural import NeuralNetClassifier, build_network

    try:
        from safetensors import SafetensorError
        from safetensors.torch import load as load_tensors

        state = load_tensors(payload)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: the weights are damaged ({exc}).") from None
    architecture = meta.get("architecture")
    shape, n_classes = tuple(meta["image_shape"]), len(meta["trained_labels"])
    try:
        network = build_network(architecture, shape, n_classes)
        network.load_state_dict(state, strict=True)
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelError(
            f"{path}: the weights do not fit a {architecture} for {shape[0]}x{shape[1]} images and "
            f"{n_classes} classes ({first})."
        ) from None
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
        raise ModelError(
            f"{path}: saved with scikit-learn {saved}, this is scikit-learn {sklearn.__version__}; its "
            "predictions could differ. Retrain it, or load with check_versions=False "
            "(--ignore-versions) at your own risk."
        )
    try:
        untrusted = skops.io.get_untrusted_types(data=payload)
        foreign = [t for t in untrusted if not t.startswith(TRUSTED_MODULES)]
        if foreign:
            raise ModelError(f"{path}: the model names types outside scikit-learn: {foreign}; refused.")
        estimator = skops.io.loads(payload, trusted=untrusted)
    except ModelError:
        raise
    except Exception as exc:  # skops raises many kinds on damaged input; all mean the same here
        raise ModelError(
            f"{path}: the scikit-learn model is damaged ({type(exc).__name__}: {exc})."
        ) from None
    h, w = meta["image_shape"]
    classes = getattr(estimator, "classes_", None)
    if (
        getattr(estimator, "n_features_in_", None) != h * w
        or classes is None
        or [int(c) for c in classes] != meta["trained_labels"]
    ):
        raise ModelError(
            f"{path}: the model inside does not match its description ({h}x{w} images, "
            f"labels {meta['trained_labels']}); the file is damaged."
        )
    return estimator
