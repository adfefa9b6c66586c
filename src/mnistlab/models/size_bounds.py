"""What a model file may unpack to: bounds that follow from the model its description names.

A model file is refused from its zip directory and array headers, before anything is unpacked,
when it declares more than its description can need (:func:`payload_bound`), an expansion no
real data has, or (for skops) arrays read more times than they can be (:func:`skops_problem`).
"""

from __future__ import annotations

import ast
import io
import json
import math
import zipfile
import zlib
from typing import TypeGuard

import numpy as np

from mnistlab.models.catalogue import MODELS, build_estimator

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
    return model_and_format_bounds(meta)[0]


def model_and_format_bounds(meta: dict) -> tuple[int, int]:
    """:func:`payload_bound`, and the share of it that is format, not numbers: the most that
    skops' ``schema.json`` and zip directory may take (JSON and the zip directory take several
    times their size once parsed, so they may not have all the room the numbers have)."""
    h, w = meta["image_shape"]
    pixels, n_classes = h * w, len(meta["trained_labels"])
    if MODELS[meta["model"]].neural:
        numbers = sum(math.prod(shape) for shape in network_shapes(meta).values())
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
        return value if is_int(value) and value > 0 else default

    def nodes() -> float:  # float: count() is math.inf where no parameter bounds it
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


def described(meta: dict) -> str:
    """``a knn model of 28x28 images, 10 classes and 60,000 training images``, for messages."""
    h, w = meta["image_shape"]
    n_train = meta["train_images"]
    images = f"{n_train:,}" if n_train else f"up to {UNRECORDED_TRAIN_IMAGES:,} (not recorded)"
    return (
        f"a {meta['model']} model of {h}x{w} images, {len(meta['trained_labels'])} classes and "
        f"{images} training images"
    )


def network_shapes(meta: dict) -> dict[str, tuple[int, ...]]:
    """The shape of each weight of the network ``meta`` describes (ValueError if none)."""
    import torch

    from mnistlab.models.neural import build_network, check_architecture

    shape, n_classes = tuple(meta["image_shape"]), len(meta["trained_labels"])
    with torch.device("meta"):  # shapes only: nothing is allocated for what the JSON claims
        network = build_network(check_architecture(meta.get("architecture")), shape, n_classes)
    return {k: tuple(v.shape) for k, v in network.state_dict().items()}


def skops_problem(payload: bytes, limit: int, format_limit: int) -> str | None:
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


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
