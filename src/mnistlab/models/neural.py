"""Neural-network classifiers (torch): the classic MLP and a small CNN, as scikit-learn estimators.

torch is an optional extra (``pip install 'mnistlab[torch]'``); importing this module without it
raises a :class:`~mnistlab.errors.MissingExtraError` that says how to install it.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from mnistlab._utils.validation import checked_fit, checked_predict
from mnistlab.errors import MissingExtraError

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(
        "the neural models need torch: pip install 'mnistlab[torch]' (on a CPU-only machine, "
        "pip install torch --index-url https://download.pytorch.org/whl/cpu first)."
    ) from exc

ARCHITECTURES = ("mlp", "cnn")


def build_network(architecture: str, image_shape: tuple[int, int], n_classes: int) -> nn.Module:
    """The untrained network for images of ``image_shape`` and ``n_classes`` outputs.

    ``mlp`` is the classic tutorial model: Flatten -> Dense(128, ReLU) -> Dense(n_classes).
    ``cnn`` has two 3x3 convolution blocks (32 and 64 channels, batch norm, ReLU, 2x2 max
    pooling), dropout, Dense(128, ReLU), dropout and Dense(n_classes); images smaller than 4x4
    are refused, as two poolings would leave nothing.
    """
    h, w = image_shape
    if check_architecture(architecture) == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(h * w, 128), nn.ReLU(), nn.Linear(128, n_classes))
    if h < 4 or w < 4:
        raise ValueError(f"the cnn needs images of at least 4x4 pixels, got {h}x{w}.")
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(64 * (h // 4) * (w // 4), 128),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(128, n_classes),
    )


def check_architecture(architecture: object) -> str:
    """``architecture`` when it names a network :func:`build_network` builds (``mlp``, ``cnn``),
    such as a model file's description gives; ValueError naming the choices otherwise."""
    if not isinstance(architecture, str) or architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {architecture!r}; choose one of: {', '.join(ARCHITECTURES)}."
        )
    return architecture


def default_device() -> str:
    """``cuda`` when a GPU is present, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def _deterministic(seed: int) -> Iterator[torch.Generator]:
    """Seed torch and use deterministic kernels inside the block; restore the global setting after."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield torch.Generator().manual_seed(seed)
    finally:
        torch.use_deterministic_algorithms(previous)


class NeuralNetClassifier(ClassifierMixin, BaseEstimator):
    """An MLP or small CNN trained with Adam and a one-cycle learning-rate schedule.

    Takes uint8 images ``(n, h, w)`` (0..255; divided by 255 inside), or rows ``(n, h * w)`` of
    them (the MLP also takes rows of any other features, as images of one row). Values of
    another dtype are divided by the largest absolute value fitting saw, so that they too reach
    the network within -1..1; 0..1 images given to a network fitted on pixels 0..255 are refused.
    A share of the training images is held out, stratified, for early stopping: training stops
    when the validation loss has not improved for ``patience`` epochs, and the best epoch's
    weights are kept.

    Parameters
    ----------
    architecture : {"mlp", "cnn"}
    epochs : int
        The most epochs to train.
    batch_size : int
        Images per step; on fewer than 100 * batch_size training images, smaller (at least 8)
        so that an epoch still takes about 100 steps.
    learning_rate : float
        The peak learning rate of the one-cycle schedule.
    validation_fraction : float
        Share of the training images held out for early stopping; 0 trains on all of them for
        ``epochs`` epochs.
    patience : int
        Epochs without a lower validation loss before stopping.
    seed : int
        The same seed, data and machine give the same weights.
    device : str or None
        ``cpu``, ``cuda``...; None uses a GPU when one is present.
    progress : bool or None
        A progress bar per epoch on stderr with loss and accuracy (None: when stderr is a terminal).
    on_epoch : callable or None
        Called after each epoch as ``on_epoch(estimator, record)`` (``record`` is the epoch's row of
        ``history_``); ``estimator.predict`` then uses that epoch's weights, e.g. to measure test
        accuracy over time.

    Attributes
    ----------
    classes_ : ndarray
    image_shape_ : (int, int)
        The size of the training images; rows are images of this size (``(1, n_features)`` when
        fitted on rows).
    input_scale_ : float
        What inputs are divided by: 255 for uint8, else the largest absolute training value.
    network_ : torch.nn.Module
        The trained network, on the CPU, in evaluation mode.
    history_ : list of dict
        Per epoch: epoch, seconds (cumulative), loss, train_accuracy, validation_loss,
        validation_accuracy.
    best_epoch_ : int
        The epoch whose weights were kept (1-based).

    Examples
    --------
    >>> import mnistlab
    >>> ds = mnistlab.load("digits")
    >>> clf = NeuralNetClassifier("mlp", epochs=20, batch_size=32, progress=False)
    >>> clf = clf.fit(ds.train.images, ds.train.labels)
    >>> clf.score(ds.test.images, ds.test.labels) > 0.85
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "architecture": [StrOptions(set(ARCHITECTURES))],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, math.inf, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "seed": [Interval(Integral, 0, 2**32 - 1, closed="both")],
        "device": [str, None],
        "progress": ["boolean", None],
        "on_epoch": [callable, None],
    }

    def __init__(
        self,
        architecture: str = "cnn",
        *,
        epochs: int = 6,
        batch_size: int = 128,
        learning_rate: float = 3e-3,
        validation_fraction: float = 0.1,
        patience: int = 2,
        seed: int = 0,
        device: str | None = None,
        progress: bool | None = None,
        on_epoch: Callable | None = None,
    ) -> None:
        self.architecture = architecture
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.device = device
        self.progress = progress
        self.on_epoch = on_epoch

    def _batch_size(self, n: int) -> int:
        """``batch_size``, smaller on small training sets so an epoch has about 100 steps."""
        return max(8, min(self.batch_size, n // 100))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> NeuralNetClassifier:
        """Train on uint8 images ``X`` (n, h, w), or rows of them, with labels ``y``."""
        shape = _shape(X)
        X, y = checked_fit(self, X, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"need at least 2 classes, got {len(self.classes_)} class.")
        self.image_shape_ = tuple(shape[1:]) if len(shape) == 3 else (1, X.shape[1])
        self.input_scale_ = _input_scale(X)
        X = X.reshape(len(X), *self.image_shape_)
        device = torch.device(self.device or default_device())
        fit_idx, val_idx = _holdout(codes, self.validation_fraction, self.seed)
        with _deterministic(self.seed) as generator:
            network = build_network(self.architecture, self.image_shape_, len(self.classes_))
            network.to(device)
            self.network_ = network  # so that on_epoch can predict with the current weights
            self.history_, best = self._train(network, X, codes, fit_idx, val_idx, device, generator)
        network.load_state_dict(best)
        self.network_ = network.cpu().eval()
        return self

    def _train(self, network, X, codes, fit_idx, val_idx, device, generator):
        from mnistlab.progress import training_bar

        optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate / 10)
        batch_size = self._batch_size(len(fit_idx))
        batches = math.ceil(len(fit_idx) / batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=self.learning_rate, total_steps=self.epochs * batches
        )
        labels = torch.from_numpy(codes.astype(np.int64))
        history, best, best_loss, waited = [], None, math.inf, 0
        started = time.perf_counter()
        with training_bar(self.epochs, batches, self.progress) as bar:
            for epoch in range(1, self.epochs + 1):
                network.train()
                order = fit_idx[torch.randperm(len(fit_idx), generator=generator).numpy()]
                loss_sum, correct = 0.0, 0
                for start in range(0, len(order), batch_size):
                    rows = np.sort(order[start : start + batch_size])
                    inputs = _tensor(X[rows], self.input_scale_).to(device)
                    target = labels[rows].to(device)
                    optimizer.zero_grad(set_to_none=True)
                    logits = network(inputs)
                    loss = nn.functional.cross_entropy(logits, target)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    loss_sum += float(loss.detach()) * len(rows)
                    correct += int((logits.argmax(1) == target).sum())
                    bar.advance(epoch, loss_sum / (start + len(rows)), correct / (start + len(rows)))
                record = {
                    "epoch": epoch,
                    "seconds": time.perf_counter() - started,
                    "loss": loss_sum / len(order),
                    "train_accuracy": correct / len(order),
                    "validation_loss": None,
                    "validation_accuracy": None,
                }
                if len(val_idx):
                    proba = _predict_proba(
                        network, X[val_idx], self.input_scale_, device, batch_size * 8
                    )
                    truth = codes[val_idx]
                    picked = np.clip(proba[np.arange(len(truth)), truth], 1e-300, None)
                    record["validation_loss"] = float(-np.mean(np.log(picked)))
                    record["validation_accuracy"] = float(np.mean(proba.argmax(1) == truth))
                history.append(record)
                bar.end_epoch(record)
                # The validation loss, not its accuracy, decides: on few images accuracy ties often.
                loss = record["validation_loss"] if len(val_idx) else -epoch
                if loss < best_loss:
                    best_loss, waited, self.best_epoch_ = loss, 0, epoch
                    best = {k: v.detach().clone() for k, v in network.state_dict().items()}
                else:
                    waited += 1
                if self.on_epoch is not None:
                    self.on_epoch(self, record)
                if len(val_idx) and waited >= self.patience:
                    break
        return history, best

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, n_classes) of uint8 images (n, h, w), or rows of them."""
        check_is_fitted(self, "network_")
        shape = _shape(X)
        if len(shape) == 3 and tuple(shape[1:]) != tuple(self.image_shape_):
            raise ValueError(
                f"the network was trained on {self.image_shape_[0]}x{self.image_shape_[1]} images, "
                f"got {shape[1]}x{shape[2]}."
            )
        X = checked_predict(self, X, "network_")
        if self.input_scale_ == 255 and X.dtype != np.uint8 and 0 < X.max() <= 1:
            raise ValueError(
                "X: every value is within 0..1, but the network was trained on pixels 0..255; "
                "multiply 0..1 images by 255."
            )
        device = next(self.network_.parameters()).device
        images = X.reshape(len(X), *self.image_shape_)
        return _predict_proba(self.network_, images, self.input_scale_, device, 1024)

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # checks that it is fitted, before classes_ is read
        return self.classes_[proba.argmax(axis=1)]


def _shape(X) -> tuple:
    """The shape of ``X`` as given (images: 3 numbers), before it is validated as rows."""
    return getattr(np.asarray(X) if isinstance(X, (list, tuple)) else X, "shape", ())


def _input_scale(X: np.ndarray) -> float:
    """255 for uint8 pixels; else the largest absolute value of ``X`` (1 when all are 0)."""
    if X.dtype == np.uint8:
        return 255.0
    largest = float(max(X.max(), -X.min()))
    return largest if largest > 0 else 1.0


def _tensor(images: np.ndarray, scale: float) -> torch.Tensor:
    """(n, h, w) -> float32 (n, 1, h, w) divided by ``scale`` (uint8 pixels: 0..1).

    The float copy is made by numpy, so torch never wraps the caller's (perhaps read-only,
    memory-mapped) array: torch warns about non-writable arrays it would share.
    """
    return torch.from_numpy(images.astype(np.float32)).unsqueeze(1).div_(scale)


def _holdout(codes: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices to train on and to validate on: a stratified share when every class has 2+ images."""
    everything = np.arange(len(codes))
    n_val = round(fraction * len(codes))
    if n_val == 0:
        return everything, everything[:0]
    from sklearn.model_selection import train_test_split

    counts = np.bincount(codes)
    stratify = codes if counts.min() >= 2 and n_val >= len(counts) else None
    fit_idx, val_idx = train_test_split(
        everything, test_size=n_val, random_state=seed, stratify=stratify
    )
    return np.sort(fit_idx), np.sort(val_idx)


def _predict_proba(network: nn.Module, X: np.ndarray, scale: float, device, batch: int) -> np.ndarray:
    was_training = network.training
    network.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch):
            logits = network(_tensor(X[start : start + batch], scale).to(device))
            out.append(torch.softmax(logits.double(), dim=1).cpu().numpy())
    network.train(was_training)
    return np.concatenate(out)
