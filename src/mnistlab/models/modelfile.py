"""The ``.mnistlab`` model file: a trained model saved without pickle, and read back checked.

A ``.mnistlab`` file is a zip archive holding ``mnistlab-model.json`` (what the model is: dataset,
classes, image shape, preprocessing, parameters, library versions, test accuracy) and the model
itself: ``model.safetensors`` (torch weights; the network is rebuilt from the JSON) or
``model.skops`` (a scikit-learn pipeline in skops' format, loaded only when every type it names is
a scikit-learn type). Neither format runs code from the file when loaded, and neither may unpack
to more than the model its JSON describes can need (:func:`payload_bound`).
"""

from __future__ import annotations

import io
import json
import platform
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnistlab._utils.files import atomic_write_bytes
from mnistlab.errors import ModelError
from mnistlab.models.catalogue import MODELS
from mnistlab.models.fitted_checks import check_pipeline
from mnistlab.models.size_bounds import (
    MAX_META_BYTES,
    MAX_RATIO,
    described,
    is_int,
    is_number,
    model_and_format_bounds,
    network_shapes,
    skops_problem,
)

if TYPE_CHECKING:
    from mnistlab.models.trained import TrainedModel

FORMAT = "mnistlab-model"
FORMAT_VERSION = 1
META = "mnistlab-model.json"
CHUNK_BYTES = 1 << 20
#: The largest image side, number of classes and of training images a description may give.
MAX_SIDE, MAX_CLASSES, MAX_TRAIN_IMAGES = 4096, 100_000, 1 << 40
MAX_SEED = 2**32 - 1
#: The only types outside skops' default trust that mnistlab's own models contain. Anything else
#: (a function, say, which a FunctionTransformer would call) is refused before loading.
TRUSTED_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)


def write_model(trained: TrainedModel, path: str | Path) -> Path:
    """Write ``trained`` to ``path`` (a ``.mnistlab`` zip), atomically: all of it or nothing."""
    path = Path(path)
    if trained.neural:
        from safetensors.torch import save as save_tensors

        state = {k: v.contiguous() for k, v in trained.estimator.network_.state_dict().items()}
        payload, member = save_tensors(state), "model.safetensors"
    else:
        import skops.io

        payload, member = skops.io.dumps(trained.estimator), "model.skops"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(META, json.dumps(trained.to_dict(), indent=2, allow_nan=False))
        archive.writestr(member, payload)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def library_versions(neural: bool) -> dict[str, str]:
    """Versions of the libraries a saved model depends on."""
    from importlib.metadata import version

    import mnistlab

    names = ["numpy", "scikit-learn"] + (["torch", "safetensors"] if neural else ["skops"])
    versions = {"mnistlab": mnistlab.__version__, "python": platform.python_version()}
    versions.update({name: version(name) for name in names})
    return versions


def load_model(path: str | Path, *, check_versions: bool = True) -> TrainedModel:
    """Read a ``.mnistlab`` model file, checking what it holds before using it.

    Parameters
    ----------
    path : str or Path
        A ``.mnistlab`` file, as :meth:`TrainedModel.save` writes it.
    check_versions : bool
        Refuse a scikit-learn model saved by another scikit-learn version (its predictions could
        differ); False loads it anyway.

    Returns
    -------
    TrainedModel
        The model, ready to predict, with what its file describes (dataset, classes, image
        shape, parameters, test accuracy, library versions).

    Raises
    ------
    ModelError
        If the file is missing, is not a model file, is damaged, describes a model this mnistlab
        does not know, holds more than that model can need or types mnistlab never saves, or (with
        ``check_versions``) was saved by another scikit-learn version.
    """
    from mnistlab.models.trained import TrainedModel

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file.")
    try:
        with zipfile.ZipFile(path) as archive:
            meta = _read_meta(path, archive)
            member = "model.safetensors" if meta["kind"] == "torch" else "model.skops"
            try:
                bound, format_bound = model_and_format_bounds(meta)
            except ValueError as exc:  # build_network's: no such network
                raise ModelError(f"{path}: the model file describes no network: {exc}") from None
            payload = _read_member(path, archive, member, bound, described(meta))
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
    if not is_int(version) or version != FORMAT_VERSION:
        newer = is_int(version) and version > FORMAT_VERSION
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
        "image_shape": len(shape) == 2 and all(is_int(s) and 0 < s <= MAX_SIDE for s in shape),
        "classes": 2 <= len(classes) <= MAX_CLASSES
        and all(isinstance(c, str) and c.isprintable() and 0 < len(c) <= 200 for c in classes)
        and len(set(classes)) == len(classes),
        "trained_labels": len(labels) >= 2
        and all(is_int(c) and 0 <= c < len(classes) for c in labels)
        and labels == sorted(set(labels)),
        "seed": 0 <= meta["seed"] <= MAX_SEED,
        "max_pixel": 0 < meta["max_pixel"] <= 255,
        "dataset": meta["dataset"].isprintable(),
    }
    for key, ok in checks.items():
        if not ok:
            raise ModelError(f"{damaged}: its {key!r} describes no model this mnistlab knows.")
    accuracy = meta.get("test_accuracy")
    if accuracy is not None and not (is_number(accuracy) and 0 <= accuracy <= 1):
        raise ModelError(f"{damaged}: an impossible test_accuracy {repr(accuracy)[:20]}.")
    seconds = meta.setdefault("fit_seconds", None)
    if seconds is not None and not (is_number(seconds) and seconds >= 0):
        raise ModelError(f"{damaged}: an impossible fit_seconds {repr(seconds)[:20]}.")
    n_train = meta.setdefault("train_images", None)  # not recorded before mnistlab 0.1.1
    if n_train is not None and not (is_int(n_train) and len(labels) <= n_train <= MAX_TRAIN_IMAGES):
        raise ModelError(f"{damaged}: an impossible train_images {repr(n_train)[:20]}.")
    return meta


def _load_network(path: Path, meta: dict, payload: bytes):
    import torch

    from mnistlab.models.neural import NeuralNetClassifier, build_network, check_architecture

    try:
        from safetensors import SafetensorError
        from safetensors.torch import load as load_tensors

        state = load_tensors(payload)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: the weights are damaged ({exc}).") from None
    architecture = check_architecture(meta.get("architecture"))  # as load_model's bounds checked
    shape, n_classes = tuple(meta["image_shape"]), len(meta["trained_labels"])
    where = f"a {architecture} for {shape[0]}x{shape[1]} images and {n_classes} classes"
    if {k: tuple(v.shape) for k, v in state.items()} != network_shapes(meta):
        raise ModelError(f"{path}: the weights do not fit {where}.")
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise ModelError(f"{path}: the weights contain NaN or infinite values; the file is damaged.")
    network = build_network(architecture, shape, n_classes)
    network.load_state_dict(state, strict=True)
    estimator = NeuralNetClassifier(architecture, seed=meta["seed"], progress=False)
    estimator.classes_ = np.array(meta["trained_labels"])
    estimator.image_shape_ = shape
    estimator.input_scale_ = 255.0  # trained on uint8 pixels (TrainedModel.preprocessing)
    estimator.n_features_in_ = shape[0] * shape[1]
    estimator.network_ = network.eval()
    estimator.history_ = meta.get("history", [])
    estimator.best_epoch_ = meta.get("best_epoch")
    return estimator


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
    problem = skops_problem(payload, *bounds)
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
    check_pipeline(path, meta, estimator)
    return estimator
