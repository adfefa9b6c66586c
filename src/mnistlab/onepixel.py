"""One-pixel separability: which pairs of classes a single pixel tells apart.

For each pair of classes (a < b) and each pixel, a logistic regression on that pixel alone is
fitted to the training images of a and b (target 1 for b), with the objective of scikit-learn's
``LogisticRegression(C=C)``: ``C * sum(log-loss) + coef**2 / 2``, the intercept unpenalised. The
best pixel of a pair is the one whose fit has the highest training accuracy (ties: the lowest
row-major pixel index); the table reports its position, training and test accuracy, coefficient
and intercept, and the best decision-stump accuracy of the pair.

How it is fast and exact
------------------------
Every fit is a problem in two unknowns, solved by Newton's method with a backtracking line
search, for all (pair, pixel) problems at once. A problem is a run of weighted points
``(x, weight of class a, weight of class b)``:

* with the ``unit`` and ``raw`` scales a pixel takes at most 256 values, so the per-class
  256-bin histogram of each pixel is a sufficient statistic: each fit is a weighted fit on at most
  256 points, and the histograms are a sum over chunks of images
  (:func:`mnistlab.stats.pixel_histograms`);
* with the ``l2`` scale values are continuous: the points are the images themselves, the zeros of
  a pixel collapsed into one weighted point.

Within a problem the points are sorted by value, so the best threshold rule (decision stump) is a
cumulative sum. A fitted logistic regression predicts with one threshold, so its training
accuracy never exceeds the stump's.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mnistlab import stats
from mnistlab._utils.blocks import map_blocks
from mnistlab.data.dataset import Dataset, Split

SCALES = ("unit", "raw", "l2")

#: Newton stops when a full step changes every parameter by less than this, relative to its size:
#: convergence is quadratic, so the solution is then accurate to far below 1e-12.
TOLERANCE = 1e-10
MAX_ITER = 1000
#: Relative changes of the objective below this are rounding: a step that "increases" it by less
#: is accepted, and a predicted decrease below it means the optimum is reached.
SLACK = 1e-13
#: Halvings of a Newton step before giving up on the line search of a problem.
MAX_HALVINGS = 60


@dataclass
class Problems:
    """Many one-feature weighted binary problems, laid out as contiguous runs of points.

    Problem ``p`` owns the points ``starts[p]:starts[p + 1]``, sorted by ``x``; ``n0`` and
    ``n1`` are the weights of the points in class 0 and class 1 (counts of images). Every
    problem has at least one point.
    """

    x: np.ndarray
    n0: np.ndarray
    n1: np.ndarray
    starts: np.ndarray

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64)
        self.n0 = np.asarray(self.n0, dtype=np.float64)
        self.n1 = np.asarray(self.n1, dtype=np.float64)
        self.starts = np.asarray(self.starts, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.starts, append=len(self.x))

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        """Total weight of class 0 and of class 1 per problem."""
        return np.add.reduceat(self.n0, self.starts), np.add.reduceat(self.n1, self.starts)

    def select(self, chosen: np.ndarray) -> Problems:
        """The problems at positions ``chosen`` (in that order), as a new layout."""
        sizes = self.sizes[chosen]
        new_starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        offsets = np.repeat(self.starts[chosen] - new_starts, sizes)
        points = np.arange(int(sizes.sum()), dtype=np.int64) + offsets
        return Problems(self.x[points], self.n0[points], self.n1[points], new_starts)

    def merge_ties(self) -> Problems:
        """The same problems with equal values within a problem merged into one weighted point.

        Exact, and much smaller for pixel-like features (a pixel takes at most 256 values).
        """
        first = np.ones(len(self.x), dtype=bool)
        first[1:] = self.x[1:] != self.x[:-1]
        first[self.starts] = True
        heads = np.flatnonzero(first)
        return Problems(
            self.x[heads],
            np.add.reduceat(self.n0, heads),
            np.add.reduceat(self.n1, heads),
            np.searchsorted(heads, self.starts),
        )

    def decisions(self, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """``coef * x + intercept`` of each point, with its own problem's parameters."""
        sizes = self.sizes
        return np.repeat(coef, sizes) * self.x + np.repeat(intercept, sizes)

    def correct(self, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """Weight of the points classified correctly (class 1 when the decision is > 0)."""
        positive = self.decisions(coef, intercept) > 0
        return np.add.reduceat(np.where(positive, self.n1, self.n0), self.starts)

    def stump_correct(self) -> np.ndarray:
        """Weight classified correctly by the best threshold rule of each problem.

        The rules are "class 1 above t" and "class 1 at or below t" for every t between two
        distinct values, and the two constant rules.
        """
        n0_total, n1_total = self.totals()
        sizes = self.sizes
        gain = self.n0 - self.n1
        running = np.cumsum(gain)
        # Per problem: class-0 weight at or below each point minus class-1 weight at or below.
        below = running - np.repeat(running[self.starts] - gain[self.starts], sizes)
        last = np.ones(len(self.x), dtype=bool)
        last[:-1] = self.x[1:] != self.x[:-1]
        last[self.starts[1:] - 1] = True
        high = np.maximum.reduceat(np.where(last, below, -np.inf), self.starts)
        low = np.minimum.reduceat(np.where(last, below, np.inf), self.starts)
        # Threshold t: class 0 at or below, class 1 above = n1_total + below; reversed rule
        # = n0_total - below. The constant rules are t below every value (below = 0).
        return np.maximum(n1_total + np.maximum(high, 0), n0_total - np.minimum(low, 0))

    def _objective(self, coef, intercept, C):
        """Per problem: the sum of log-losses + coef**2 / (2C), its gradient and its Hessian.

        Each point's loss is written as ``n0 * softplus(z) + n1 * softplus(-z)`` and its
        residual as ``n0 * p - n1 * (1 - p)``, sums of non-negative terms: the usual
        ``n * log(1 + exp(z)) - n1 * z`` loses every digit to cancellation when a large class
        sits on one side (thousands of images at z = 7.5 leave a loss of about 25).
        """
        z = self.decisions(coef, intercept)
        small = np.exp(-np.abs(z))
        shared = np.log1p(small)
        above = np.maximum(z, 0.0)  # softplus(z) = max(z, 0) + log1p(exp(-|z|))
        loss = self.n0 * (above + shared) + self.n1 * ((above - z) + shared)
        with np.errstate(divide="ignore"):
            value = np.add.reduceat(loss, self.starts) + coef**2 / (2 * C)
        inverse = 1 / (1 + small)
        positive = z >= 0
        p = np.where(positive, inverse, small * inverse)  # 1 / (1 + exp(-z)), both ways exact
        q = np.where(positive, small * inverse, inverse)  # 1 - p without cancellation
        residual = self.n0 * p - self.n1 * q
        curvature = (self.n0 + self.n1) * p * q
        g_b = np.add.reduceat(residual, self.starts)
        g_w = np.add.reduceat(residual * self.x, self.starts) + coef / C
        curvature_x = curvature * self.x
        h_bb = np.add.reduceat(curvature, self.starts)
        h_wb = np.add.reduceat(curvature_x, self.starts)
        h_ww = np.add.reduceat(curvature_x * self.x, self.starts) + 1 / C
        return value, (g_w, g_b), (h_ww, h_wb, h_bb)


@dataclass(frozen=True)
class LogisticFits:
    """Fitted one-feature logistic regressions, one per problem."""

    coef: np.ndarray
    intercept: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray


def fit_logistic(problems: Problems, C: float = 1.0, *, max_iter: int = MAX_ITER) -> LogisticFits:
    """Fit every problem's L2-penalised logistic regression (intercept unpenalised) to convergence.

    The minimiser of ``C * sum(weight * log-loss) + coef**2 / 2``: the same model as
    scikit-learn's ``LogisticRegression(C=C)`` fitted with ``sample_weight``. Every problem must
    have some weight in both classes (otherwise the intercept runs off to infinity).

    Each problem is solved in normalised form, which is exact: ``x`` centred on its weighted mean
    and divided by its largest distance from it, weights divided by their total, and ``C``
    multiplied by both factors (the intercept is unpenalised, so shifting ``x`` only moves it).
    Features far from zero (1e8 + noise) or huge weights then cost no accuracy.
    """
    C = _check_C(C)
    n0_total, n1_total = problems.totals()
    if np.any(n0_total <= 0) or np.any(n1_total <= 0):
        raise ValueError("every problem needs some weight in both classes.")
    sizes = problems.sizes
    total = n0_total + n1_total
    with np.errstate(over="ignore", invalid="ignore"):
        share0 = problems.n0 / np.repeat(total, sizes)
        share1 = problems.n1 / np.repeat(total, sizes)
        mean = np.add.reduceat((share0 + share1) * problems.x, problems.starts)
        centred = problems.x - np.repeat(mean, sizes)
        spread = np.maximum.reduceat(np.abs(centred), problems.starts)
    if not (np.isfinite(total).all() and np.isfinite(mean).all() and np.isfinite(spread).all()):
        raise ValueError("feature values or weights are too large to fit in floating point.")
    spread[spread == 0] = 1.0
    normalised = Problems(centred / np.repeat(spread, sizes), share0, share1, problems.starts)
    with np.errstate(over="ignore"):
        scaled_C = C * total * spread**2  # may overflow to inf: no penalty, to double precision
    # A penalty weight 1/C that overflows pins the coefficient at exactly 0; the intercept is
    # then the log of the class ratio, the start point of every fit.
    pinned = scaled_C < 1 / np.finfo(np.float64).max
    fits = _newton(normalised, np.where(pinned, 1.0, scaled_C), max_iter)
    coef = np.where(pinned, 0.0, fits.coef / spread)
    intercept = np.where(pinned, np.log(n1_total / n0_total), fits.intercept - coef * mean)
    return LogisticFits(coef, intercept, np.where(pinned, 0, fits.n_iter), fits.converged | pinned)


def _newton(problems: Problems, C: np.ndarray, max_iter: int) -> LogisticFits:
    """Newton's method with backtracking for every problem at once; ``C`` is per problem."""
    n0_total, n1_total = problems.totals()
    k = len(problems)
    coef = np.zeros(k)
    # The exact optimum when the coefficient is zero: a good start and a valid one.
    intercept = np.log(n1_total / n0_total)
    n_iter = np.zeros(k, dtype=np.int64)
    converged = np.zeros(k, dtype=bool)

    # State of the problems still in ``current`` (positions ``members`` of the full list).
    current, members, current_C = problems, np.arange(k), C
    w, b = coef.copy(), intercept.copy()
    value, gradient, hessian = current._objective(w, b, current_C)
    live = np.ones(k, dtype=bool)
    for _ in range(max_iter):
        if not live.any():
            break
        (g_w, g_b), (h_ww, h_wb, h_bb) = gradient, hessian
        det = h_ww * h_bb - h_wb**2
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step_w = -(h_bb * g_w - h_wb * g_b) / det
            step_b = -(h_ww * g_b - h_wb * g_w) / det
        # Where every point's probability has saturated the Hessian is singular in floating
        # point: fall back to a scaled gradient step (h_ww >= 1/C > 0), which the line search
        # then shortens as needed.
        singular = ~(np.isfinite(step_w) & np.isfinite(step_b))
        step_w = np.where(singular, -g_w / (h_ww + h_bb), step_w)
        step_b = np.where(singular, -g_b / (h_ww + h_bb), step_b)
        step_w[~live], step_b[~live] = 0.0, 0.0
        small = (np.abs(step_w) <= TOLERANCE * np.maximum(1, np.abs(w))) & (
            np.abs(step_b) <= TOLERANCE * np.maximum(1, np.abs(b))
        )
        # Or the decrease Newton predicts is below what rounding lets the objective show (badly
        # conditioned, nearly separable problems end here, with a gradient of ~1e-13).
        decrement = -(g_w * step_w + g_b * step_b)
        small |= decrement <= SLACK * np.abs(value)
        t = np.ones(len(w))
        new_w, new_b = w + step_w, b + step_b
        new_value, new_gradient, new_hessian = current._objective(new_w, new_b, current_C)
        new_state = (new_value, *new_gradient, *new_hessian)
        old_state = (value, *gradient, *hessian)
        # Backtracking: halve the step of each problem whose objective would not decrease.
        # Rounding makes tiny increases possible at the optimum: allow SLACK.
        retry = np.flatnonzero(~(new_value <= value + SLACK * np.abs(value)))
        for _halving in range(MAX_HALVINGS):
            if len(retry) == 0:
                break
            t[retry] /= 2
            new_w[retry] = w[retry] + t[retry] * step_w[retry]
            new_b[retry] = b[retry] + t[retry] * step_b[retry]
            v, g, h = current.select(retry)._objective(new_w[retry], new_b[retry], current_C[retry])
            ok = v <= value[retry] + SLACK * np.abs(value[retry])
            for dst, src in zip(new_state, (v, *g, *h), strict=True):
                dst[retry[ok]] = src[ok]
            retry = retry[~ok]
        if len(retry):
            # No decrease even for a tiny step: the current point is optimal to rounding.
            t[retry] = 0
            new_w[retry], new_b[retry] = w[retry], b[retry]
            for dst, src in zip(new_state, old_state, strict=True):
                dst[retry] = src[retry]
        n_iter[members[live]] += 1
        # A Newton step this small means the optimum is reached, whatever the line search made
        # of it (at the optimum rounding decides whether a step "decreases" the objective).
        finished = live & ((small & ~singular) | (t == 0))
        converged[members[finished]] = True
        live &= ~finished
        w, b = new_w, new_b
        value, gradient, hessian = new_state[0], new_state[1:3], new_state[3:]
        coef[members], intercept[members] = w, b
        if live.sum() < len(live) // 2:
            keep = np.flatnonzero(live)
            current, members, live = current.select(keep), members[keep], live[keep]
            current_C = current_C[keep]
            w, b, value = w[keep], b[keep], value[keep]
            gradient = tuple(a[keep] for a in gradient)
            hessian = tuple(a[keep] for a in hessian)
    return LogisticFits(coef, intercept, n_iter, converged)


# --------------------------------------------------------------------------------------------
# Building the problems of a dataset


def _scaled_values(scale: str) -> np.ndarray:
    """The x of each uint8 value 0..255 under a discrete scale."""
    values = np.arange(256, dtype=np.float64)
    return values / 255 if scale == "unit" else values


def _histogram_problems(
    hist: np.ndarray, nonzero: np.ndarray, a: np.ndarray, b: np.ndarray, values: np.ndarray
) -> Problems:
    """Problems from per-class, per-pixel histograms ``hist`` (k, m, 256) for the pairs
    ``(a[i], b[i])``: one problem per pair and pixel, pair-major, the empty bins dropped.

    ``nonzero`` is ``hist > 0``: only the bins some image of a or b takes are gathered, so a
    batch costs its points, not ``256 * m`` counts per pair (few images, many classes).
    """
    keep = nonzero[a] | nonzero[b]
    per_pair = hist.shape[1] * 256
    row, rest = np.divmod(np.flatnonzero(keep), per_pair)
    sizes = keep.sum(axis=2).ravel()
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    flat = hist.reshape(-1)
    return Problems(
        values[rest % 256], flat[a[row] * per_pair + rest], flat[b[row] * per_pair + rest], starts
    )


def l2_normalise(images: np.ndarray) -> np.ndarray:
    """Each image divided by its L2 norm over all its pixels, flattened: float64 (n, h*w).

    A blank image (all zeros) has no direction and stays all zeros.

    Examples
    --------
    >>> import numpy as np
    >>> l2_normalise(np.array([[[3, 4]], [[0, 0]]], np.uint8)).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    flat = np.asarray(images).reshape(len(images), -1).astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", flat, flat))
    norms[norms == 0] = 1
    return flat / norms[:, None]


def _divisors(flat: np.ndarray, scale: str) -> np.ndarray:
    """What each image's uint8 values are divided by under ``scale`` (flat: (n, h*w) uint8)."""
    if scale == "l2":
        norms = np.sqrt(np.einsum("ij,ij->i", flat, flat, dtype=np.float64))
        norms[norms == 0] = 1  # a blank image stays blank
        return norms
    return np.full(len(flat), 255.0 if scale == "unit" else 1.0)


@dataclass
class _SortedColumns:
    """The non-zero values of every pixel of a split, grouped by class, each class's sorted by
    (pixel, value): a pair's problems cost its own two classes' values, not the whole split's."""

    pixel: np.ndarray
    value: np.ndarray
    starts: np.ndarray  # (n_classes + 1,): class c's values are starts[c]:starts[c + 1]
    zeros: np.ndarray  # (n_classes, n_pixels): images of each class where the pixel is 0

    @classmethod
    def from_split(cls, split: Split, pixels: np.ndarray, scale: str) -> _SortedColumns:
        k = len(split.classes)
        flat = split.images.reshape(len(split), -1)
        norms = _divisors(flat, scale)
        by_pixel = np.ascontiguousarray(flat[:, pixels].T)
        n_pixels = len(pixels)

        # One pixel at a time: its non-zero values sorted, so pixels come out in order and each
        # sort is small; the blocks of pixels run on all cores.
        def sort_pixels(start: int, stop: int) -> list[tuple[np.ndarray, np.ndarray]]:
            out = []
            for column in by_pixel[start:stop]:
                image = np.flatnonzero(column)
                value = column[image] / norms[image]
                order = np.argsort(value)
                out.append((value[order], split.labels[image[order]]))
            return out

        blocks = map_blocks(sort_pixels, n_pixels, max(1, n_pixels // 8))
        parts = [part for block in blocks for part in block]
        sizes = np.array([len(v) for v, _ in parts], dtype=np.int64)
        value = np.concatenate([v for v, _ in parts]) if parts else np.zeros(0)
        label = np.concatenate([lab for _, lab in parts]) if parts else np.zeros(0, np.int64)
        column = np.repeat(np.arange(n_pixels, dtype=np.int64), sizes)
        nonzero = np.bincount(label * n_pixels + column, minlength=k * n_pixels)
        counts = np.bincount(split.labels, minlength=k)
        zeros = counts[:, None] - nonzero.reshape(k, n_pixels)
        by_class = np.argsort(label, kind="stable")  # keeps (pixel, value) order within a class
        starts = np.searchsorted(label[by_class], np.arange(k + 1))
        return cls(column[by_class], value[by_class], starts, zeros)

    def problems(self, a: int, b: int) -> Problems:
        """One problem per pixel for classes a (0) and b (1); each pixel's zeros are one point."""
        mine = np.r_[self.starts[a] : self.starts[a + 1], self.starts[b] : self.starts[b + 1]]
        is_b = (np.arange(len(mine)) >= self.starts[a + 1] - self.starts[a]).astype(np.float64)
        order = np.lexsort((self.value[mine], self.pixel[mine]))
        column, value, is_b = self.pixel[mine][order], self.value[mine][order], is_b[order]
        n_pixels = self.zeros.shape[1]
        nonzero = np.bincount(column, minlength=n_pixels)
        first = np.concatenate(([0], np.cumsum(nonzero)[:-1]))
        x = np.insert(value, first, 0.0)
        n0 = np.insert(1 - is_b, first, self.zeros[a])
        n1 = np.insert(is_b, first, self.zeros[b])
        return Problems(x, n0, n1, first + np.arange(n_pixels))


# --------------------------------------------------------------------------------------------
# The sweep over pairs and pixels

PAIR_COLUMNS = [
    "class_a",
    "class_b",
    "pixel",
    "x",
    "y",
    "train_accuracy",
    "test_accuracy",
    "coef",
    "intercept",
    "stump_train_accuracy",
    "name_a",
    "name_b",
    "n_train_a",
    "n_train_b",
    "n_test_a",
    "n_test_b",
]
PAIR_DTYPES = {
    "class_a": np.int64,
    "class_b": np.int64,
    "pixel": np.int64,
    "x": np.int64,
    "y": np.int64,
    "train_accuracy": np.float64,
    "test_accuracy": np.float64,
    "coef": np.float64,
    "intercept": np.float64,
    "stump_train_accuracy": np.float64,
    "name_a": object,
    "name_b": object,
    "n_train_a": np.int64,
    "n_train_b": np.int64,
    "n_test_a": np.int64,
    "n_test_b": np.int64,
}
#: Summary thresholds: how many pairs one pixel separates at least this well.
LEVELS = (0.9, 0.95)


@dataclass(frozen=True)
class OnePixelSeparability:
    """The best single pixel of every pair of classes, and how well it separates them.

    Attributes
    ----------
    pairs : DataFrame
        One row per pair (``PAIR_COLUMNS``): labels ``class_a < class_b``, the best pixel (row-major
        index, column ``x``, row ``y``), its training and test accuracy, the fitted ``coef`` and
        ``intercept`` (on the chosen scale; positive coef: more ink means class b), the best
        decision-stump training accuracy over all candidate pixels, class names and image counts.
        ``test_accuracy`` is measured on the test images of a and b; if the test split has no
        image of either class it is NaN (and with no test split at all, every one is).
    pixel_accuracy : ndarray (n_pairs, h, w)
        Training accuracy of every pixel's fit, pair by pair; NaN for pixels not examined.
    bounded : bool
        True when the dataset has too many class pairs to fit them all (``MAX_FITS``) and only
        those with the closest class centroids were fitted.
    """

    dataset: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int]
    scale: str
    C: float
    pairs: pd.DataFrame
    pixel_accuracy: np.ndarray = field(repr=False)
    skipped: tuple[tuple[int, int], ...] = ()
    bounded: bool = False

    @property
    def class_pairs(self) -> int:
        """How many pairs of classes the dataset has, fitted or not: k (k - 1) / 2."""
        return len(self.classes) * (len(self.classes) - 1) // 2

    @property
    def measure(self) -> str:
        """The accuracy the summary and matrix use: test accuracy if there is any, else training."""
        return "test_accuracy" if self.pairs["test_accuracy"].notna().any() else "train_accuracy"

    def matrix(self, column: str | None = None) -> pd.DataFrame:
        """Symmetric class-by-class table of one column (default: :attr:`measure`); NaN diagonal."""
        column = column or self.measure
        if column not in self.pairs.columns:
            raise ValueError(f"unknown column {column!r}; choose one of {list(self.pairs.columns)}.")
        k = len(self.classes)
        table = np.full((k, k), np.nan)
        a, b = self.pairs["class_a"].to_numpy(), self.pairs["class_b"].to_numpy()
        values = self.pairs[column].to_numpy(dtype=np.float64)
        table[a, b] = values
        table[b, a] = values
        return pd.DataFrame(table, index=list(self.classes), columns=list(self.classes))

    def summary(self) -> dict:
        """Minimum, maximum and mean accuracy over pairs, the pairs reaching the extremes, and how
        many pairs reach each of ``LEVELS``; on :attr:`measure`."""
        measure = self.measure
        values = self.pairs[measure].to_numpy(dtype=np.float64)
        named = list(zip(self.pairs["name_a"], self.pairs["name_b"], strict=True))
        out: dict = {
            "measure": measure,
            "scale": self.scale,
            "C": self.C,
            "pairs": len(self.pairs),
            "pairs_measured": int(np.isfinite(values).sum()),
            "class_pairs": self.class_pairs,
            "bounded": self.bounded,
        }
        if not np.isfinite(values).any():
            return out | {"min": None, "max": None, "mean": None, "min_pairs": [], "max_pairs": []}
        low, high = np.nanmin(values), np.nanmax(values)
        out |= {
            "min": float(low),
            "max": float(high),
            "mean": float(np.nanmean(values)),
            "min_pairs": [list(p) for p, v in zip(named, values, strict=True) if v == low],
            "max_pairs": [list(p) for p, v in zip(named, values, strict=True) if v == high],
        }
        for level in LEVELS:
            out[f"pairs_at_least_{level:g}"] = int(np.sum(values >= level))
        return out

    def hardest(self, n: int | None = None) -> pd.DataFrame:
        """The pairs, hardest first: lowest :attr:`measure` (unmeasured last), then by labels;
        the first ``n`` (default all)."""
        order = self.pairs.sort_values(
            [self.measure, "class_a", "class_b"], na_position="last", kind="stable"
        )
        return order.head(n) if n is not None else order

    def hardest_classes(self, n: int) -> list[int]:
        """The first ``n`` distinct classes met going down :meth:`hardest` (labels, in that order)."""
        found: dict[int, None] = {}
        for a, b in zip(self.hardest()["class_a"], self.hardest()["class_b"], strict=True):
            found.update(dict.fromkeys((int(a), int(b))))
            if len(found) >= n:
                break
        return list(found)[:n]

    def per_class(self) -> pd.DataFrame:
        """One row per class: ``label, class, pairs`` (fitted pairs it is in), the ``mean`` and
        ``min`` of :attr:`measure` over them, and ``hardest``, the other class of its hardest
        pair (ties: the lowest label; None when it has no measured pair)."""
        p = self.pairs
        v = p[self.measure].to_numpy(dtype=np.float64)
        label = np.concatenate((p["class_a"], p["class_b"]))
        both = pd.DataFrame(
            {"label": label, "other": np.concatenate((p["class_b"], p["class_a"])), "v": np.tile(v, 2)}
        )
        grouped = both.groupby("label")["v"]
        k = len(self.classes)
        worst = both.dropna().sort_values(["label", "v", "other"]).drop_duplicates("label")
        hardest = np.full(k, None, dtype=object)
        hardest[worst["label"].to_numpy()] = [self.classes[o] for o in worst["other"]]
        return pd.DataFrame(
            {
                "label": np.arange(k),
                "class": list(self.classes),
                "pairs": grouped.size().reindex(range(k), fill_value=0).to_numpy(),
                "mean": grouped.mean().reindex(range(k)).to_numpy(dtype=np.float64),
                "min": grouped.min().reindex(range(k)).to_numpy(dtype=np.float64),
                "hardest": hardest,
            }
        )

    def to_dict(self) -> dict:
        """``{"pairs": [...], "summary": {...}}`` with plain Python values (NaN kept as float)."""
        records = self.pairs.astype(object).where(self.pairs.notna(), None).to_dict(orient="records")
        return {"pairs": records, "summary": self.summary()}


def closest_class_pairs(centroids: stats.Centroids, n: int | None = None) -> pd.DataFrame:
    """Pairs of classes by the RMS difference of their centroids (0..255 scale), closest first.

    Columns ``class_a, class_b`` (labels, a < b), ``name_a, name_b, rms``; only classes with
    images; the ``n`` closest (default all k (k - 1) / 2, ties in label order).

    Examples
    --------
    >>> import numpy as np
    >>> means = np.array([0, 10, 250], np.float64).reshape(3, 1, 1)
    >>> c = stats.Centroids(means, np.array([1, 1, 1]), ("a", "b", "c"))
    >>> closest_class_pairs(c, 2)[["name_a", "name_b", "rms"]].values.tolist()
    [['a', 'b', 10.0], ['b', 'c', 240.0]]
    """
    from scipy.spatial.distance import pdist

    present = np.flatnonzero(np.asarray(centroids.counts) > 0)
    flat = centroids.means[present].reshape(len(present), -1)
    rms = np.sqrt(pdist(flat, "sqeuclidean") / max(flat.shape[1], 1))
    order = np.argsort(rms, kind="stable")[:n]
    i, j = np.triu_indices(len(present), 1)
    a, b = present[i[order]], present[j[order]]
    names = np.array(centroids.classes, dtype=object)
    return pd.DataFrame(
        {"class_a": a, "class_b": b, "name_a": names[a], "name_b": names[b], "rms": rms[order]}
    )


def _check_pairs(pairs, split: Split) -> list[tuple[int, int]]:
    """Pairs of class labels (a < b) from labels or names, in the order given; every pair once."""
    k = len(split.classes)
    if pairs is None:
        return list(combinations(range(k), 2))
    if isinstance(pairs, (str, bytes)):
        raise ValueError(f"pairs must be a list of (a, b) class pairs, got {pairs!r}.")
    pairs = list(pairs)
    if not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
        raise ValueError(f"pairs must be a list of (a, b) class pairs, got {pairs!r}.")
    out: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for first, second in pairs:
        for given in (first, second):
            if isinstance(given, bool) or not isinstance(given, (str, Integral)):
                raise ValueError(f"classes are given by integer label or name, got {given!r}.")
        a, b = sorted((split.class_index(first), split.class_index(second)))
        if a == b:
            raise ValueError(f"pair ({first!r}, {second!r}) names one class twice.")
        if (a, b) in seen:
            raise ValueError(f"pair ({first!r}, {second!r}) is given twice.")
        seen.add((a, b))
        out.append((a, b))
    return out


def _check_pixels(pixels, d: int) -> np.ndarray:
    """Sorted unique row-major pixel indices from a 1-D sequence of integers."""
    if pixels is None:
        return np.arange(d)
    given = np.asarray(pixels)
    if given.ndim != 1 or given.size == 0 or given.dtype.kind not in "iu":
        raise ValueError(
            f"pixels must be a non-empty 1-D sequence of row-major pixel indices (y * width + x), "
            f"got an array of shape {given.shape} and type {given.dtype}."
        )
    chosen = np.unique(given)
    if chosen[0] < 0 or chosen[-1] >= d:
        raise ValueError(f"pixels must be row-major pixel indices in 0..{d - 1}.")
    return chosen.astype(np.int64)


def _check_C(C) -> float:
    if isinstance(C, bool) or not isinstance(C, Real) or not (C > 0 and math.isfinite(C)):
        raise ValueError(f"C must be a positive finite number, got {C!r}.")
    return float(C)


#: Without ``pairs``, at most this many (pair, pixel) fits are made: every pair of up to 200
#: classes of 12x12 images, of 101 classes of 28x28 (about a minute on two cores). The cost grows
#: with the square of the class count (3,832 classes make 7.3 million pairs): beyond, only the
#: pairs whose class centroids are closest, the likeliest to be hard, are fitted, with a warning,
#: and the result says so (``bounded``).
MAX_FITS = 4_000_000
#: Pairs fitted together with the histogram scales: bounds memory to about 100 MB per batch.
HISTOGRAM_POINTS = 4_000_000
#: Largest per-pixel histograms (bytes) worth building; beyond, the values are sorted instead.
HISTOGRAM_BYTES = 256 << 20


def one_pixel_separability(
    dataset: Dataset | Split,
    scale: str = "unit",
    C: float = 1.0,
    *,
    pairs: Sequence[tuple[int, int]] | None = None,
    pixels: Sequence[int] | np.ndarray | None = None,
    progress: bool | None = None,
) -> OnePixelSeparability:
    """For every pair of classes, the single pixel whose logistic regression separates them best.

    Parameters
    ----------
    dataset : Dataset or Split
        Models are fitted on the training split (a Split alone: no test accuracy).
    scale : {"unit", "raw", "l2"}
        The feature: ``unit`` value / 255, ``raw`` 0..255, ``l2`` each image divided by its L2
        norm over all its pixels first (the published analysis did this).
    C : float
        Inverse strength of the L2 penalty on the coefficient (scikit-learn's ``C``).
    pairs : sequence of (a, b), optional
        Only these pairs of classes, each given by label or name (``(3, 5)``,
        ``("Coat", "Shirt")``); each pair is reported with ``class_a < class_b``. Default: every
        pair while pairs x pixels stays within ``MAX_FITS``; beyond, only the pairs whose class
        centroids are closest, as many as fit, with a warning (``bounded`` in the result).
    pixels : sequence of int, optional
        Only these row-major pixel indices (``y * width + x``) are candidates, for the logistic
        fits and for the decision stump alike; default every pixel.
    progress : bool, optional
        Show a progress bar on stderr (default: when stderr is a terminal).

    Returns
    -------
    OnePixelSeparability
        Pairs where a class has no training image cannot be fitted: they are left out of the
        table (listed in ``skipped``) with a warning.

    Examples
    --------
    >>> import mnistlab
    >>> result = one_pixel_separability(mnistlab.load("digits"), pairs=[(0, 1), (3, 8)])
    >>> columns = ["name_a", "name_b", "x", "y", "train_accuracy", "test_accuracy"]
    >>> print(result.pairs[columns].round(3).to_string(index=False))
    name_a name_b  x  y  train_accuracy  test_accuracy
         0      1  4  4           0.982          0.955
         3      8  3  5           0.885          0.761
    """
    from mnistlab.progress import steps

    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}.")
    C = _check_C(C)
    train = dataset.train if isinstance(dataset, Dataset) else dataset
    test = dataset.test if isinstance(dataset, Dataset) else None
    name = dataset.name if isinstance(dataset, Dataset) else train.name
    k = len(train.classes)
    h, w = train.image_shape
    chosen = _check_pixels(pixels, h * w)
    train_counts = np.bincount(train.labels, minlength=k)
    test_counts = np.bincount(test.labels, minlength=k) if test is not None else np.zeros(k, int)
    limit = max(1, MAX_FITS // len(chosen))
    bounded = pairs is None and k * (k - 1) // 2 > limit
    if bounded:
        # Every pair would cost k**2 / 2 fits of every pixel: fit the likeliest hard ones.
        means = stats.centroids(train.images, train.labels, train.classes)
        closest = closest_class_pairs(means, limit)
        wanted = sorted(zip(closest.class_a.tolist(), closest.class_b.tolist(), strict=True))
        empty = np.flatnonzero(train_counts == 0).tolist()
        wanted += sorted({(min(e, c), max(e, c)) for e in empty for c in range(k) if c != e})
        warnings.warn(
            f"{k} classes make {k * (k - 1) // 2:,} pairs: only the {limit:,} with the closest "
            f"class centroids are fitted ({len(chosen):,} pixels each, at most "
            f"onepixel.MAX_FITS = {MAX_FITS:,} fits; pass pairs= to choose others).",
            stacklevel=2,
        )
    else:
        wanted = _check_pairs(pairs, train)
    fitted = [(a, b) for a, b in wanted if train_counts[a] and train_counts[b]]
    skipped = tuple((a, b) for a, b in wanted if not (train_counts[a] and train_counts[b]))
    if skipped:
        empty = sorted({train.classes[c] for p in skipped for c in p if not train_counts[c]})
        warnings.warn(
            f"{len(skipped)} pair(s) left out: no training images of {', '.join(empty)}.",
            stacklevel=2,
        )

    n_pixels = len(chosen)
    # Training accuracy of every fit (the pixel_accuracy table); the fit itself is kept for the
    # best pixel of each pair only: memory of one (pairs, pixels) array, not three.
    correct = np.zeros((len(fitted), n_pixels))
    best = np.zeros(len(fitted), dtype=np.int64)
    coef = np.zeros(len(fitted))
    intercept = np.zeros(len(fitted))
    stump = np.zeros(len(fitted))
    not_converged = 0

    def record(rows: slice, problems: Problems) -> None:
        nonlocal not_converged
        fits = fit_logistic(problems, C)
        not_converged += int((~fits.converged).sum())
        shape = (-1, n_pixels)
        right = problems.correct(fits.coef, fits.intercept).reshape(shape)
        correct[rows] = right
        winner = np.argmax(right, axis=1)
        best[rows] = winner
        coef[rows] = np.take_along_axis(fits.coef.reshape(shape), winner[:, None], 1)[:, 0]
        intercept[rows] = np.take_along_axis(fits.intercept.reshape(shape), winner[:, None], 1)[:, 0]
        stump[rows] = problems.stump_correct().reshape(shape).max(axis=1)

    # Histograms cost k * pixels * 256 counts whatever the number of images: for large images
    # or few images, sorted values are the smaller sufficient statistic.
    use_histograms = scale != "l2" and k * n_pixels * 256 * 8 <= HISTOGRAM_BYTES
    with steps(f"{name}: one-pixel fits", len(fitted), progress) as advance:
        if not use_histograms:
            columns = _SortedColumns.from_split(train, chosen, scale)

            def fit_pairs(start: int, stop: int) -> None:
                for i in range(start, stop):
                    record(slice(i, i + 1), columns.problems(*fitted[i]))
                    advance()

            map_blocks(fit_pairs, len(fitted), 1)
        else:
            values = _scaled_values(scale)
            # Contiguous, so that the per-batch gathers read it as one flat array (a fancy index
            # on the middle axis leaves it strided, and each batch would copy it whole).
            hist = np.ascontiguousarray(stats.pixel_histograms(train.images, train.labels, k)[:, chosen])
            nonzero = hist > 0

            def fit_pairs(start: int, stop: int) -> None:
                a, b = (np.array(side) for side in zip(*fitted[start:stop], strict=True))
                record(slice(start, stop), _histogram_problems(hist, nonzero, a, b, values))
                for _ in range(start, stop):
                    advance()

            batch = max(1, min(HISTOGRAM_POINTS // (n_pixels * 256), -(-len(fitted) // 2)))
            map_blocks(fit_pairs, len(fitted), batch)
    if not_converged:
        warnings.warn(f"{not_converged} one-pixel fits did not converge.", stacklevel=2)

    totals = np.array([train_counts[a] + train_counts[b] for a, b in fitted], dtype=np.float64)
    correct /= totals.reshape(-1, 1)  # now training accuracies
    if test is not None:
        test_flat = test.images.reshape(len(test), -1)
        test_divisors = _divisors(test_flat, scale)
        members = [np.flatnonzero(test.labels == c) for c in range(k)]
    rows = []
    for i, (a, b) in enumerate(fitted):
        j = best[i]
        pixel = int(chosen[j])
        w_ab, b_ab = coef[i], intercept[i]
        test_accuracy = np.nan
        if test is not None and test_counts[a] + test_counts[b]:
            mine = np.concatenate((members[a], members[b]))
            x = test_flat[mine, pixel] / test_divisors[mine]
            right = np.sum((w_ab * x + b_ab > 0) == (test.labels[mine] == b))
            test_accuracy = right / len(mine)
        rows.append(
            (
                a,
                b,
                pixel,
                pixel % w,
                pixel // w,
                correct[i, j],
                test_accuracy,
                w_ab,
                b_ab,
                stump[i] / totals[i],
                train.classes[a],
                train.classes[b],
                int(train_counts[a]),
                int(train_counts[b]),
                int(test_counts[a]),
                int(test_counts[b]),
            )
        )
    table = pd.DataFrame(rows, columns=PAIR_COLUMNS).astype(PAIR_DTYPES)
    if n_pixels == h * w:
        accuracy = correct  # every pixel examined: no copy
    else:
        accuracy = np.full((len(fitted), h * w), np.nan)
        accuracy[:, chosen] = correct
    return OnePixelSeparability(
        dataset=name,
        classes=tuple(train.classes),
        image_shape=(h, w),
        scale=scale,
        C=float(C),
        pairs=table,
        pixel_accuracy=accuracy.reshape(len(fitted), h, w),
        skipped=skipped,
        bounded=bounded,
    )


# --------------------------------------------------------------------------------------------
# The estimator


class OnePixelClassifier(ClassifierMixin, BaseEstimator):
    """Binary classifier that uses the single best feature of any feature matrix.

    Every feature gets its own L2-penalised logistic regression (scikit-learn's
    ``LogisticRegression(C=C)`` objective, intercept unpenalised); the feature whose fit has the
    highest weighted training accuracy is kept (ties: the lowest index). With pixels as features
    it answers "how far does one pixel go?".

    Parameters
    ----------
    C : float, default 1.0
        Inverse strength of the penalty on the coefficient.
    max_iter : int, default 1000
        Newton iterations per feature.

    Attributes
    ----------
    best_feature_ : int
    coef_ : float
        Coefficient of the best feature (positive: larger values mean ``classes_[1]``).
    intercept_ : float
    feature_accuracies_ : ndarray (n_features,)
        Weighted training accuracy of each feature's fit.
    train_accuracy_ : float
    classes_ : ndarray of the two classes
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> X = np.array([[5, 0.1], [4, 0.2], [6, 0.9], [5, 0.8], [4, 0.7], [6, 0.3]])
    >>> y = np.array([0, 0, 1, 1, 1, 0])
    >>> model = OnePixelClassifier().fit(X, y)
    >>> model.best_feature_, model.predict([[5, 0.95], [5, 0.05]]).tolist()
    (1, [1, 0])
    """

    def __init__(self, C: float = 1.0, max_iter: int = MAX_ITER) -> None:
        self.C = C
        self.max_iter = max_iter

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X, y, sample_weight=None) -> OnePixelClassifier:
        """Fit one logistic regression per feature and keep the best."""
        from sklearn.utils.validation import _check_sample_weight

        C = _check_C(self.C)
        if isinstance(self.max_iter, bool) or not (
            isinstance(self.max_iter, Integral) and self.max_iter >= 1
        ):
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}.")
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(
                f"Only binary classification is supported: y must hold 2 classes, got "
                f"{len(self.classes_)}."
            )
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        is_one = encoded.astype(np.float64)
        if not (np.sum(weights * is_one) > 0 and np.sum(weights * (1 - is_one)) > 0):
            raise ValueError("sample_weight leaves one of the two classes with no weight.")
        n, d = X.shape
        # One problem per feature, its samples sorted by value (feature-major layout).
        order = np.argsort(X, axis=0, kind="stable")
        x = np.take_along_axis(X, order, axis=0).T.ravel()
        w = weights[order].T.ravel()
        one = is_one[order].T.ravel()
        problems = Problems(x, w * (1 - one), w * one, np.arange(d, dtype=np.int64) * n).merge_ties()
        fits = fit_logistic(problems, C, max_iter=self.max_iter)
        if not fits.converged.all():
            warnings.warn(
                f"{int((~fits.converged).sum())} of {d} one-feature fits did not converge in "
                f"{self.max_iter} iterations.",
                stacklevel=2,
            )
        self.feature_accuracies_ = problems.correct(fits.coef, fits.intercept) / weights.sum()
        self.best_feature_ = int(np.argmax(self.feature_accuracies_))
        self.coef_ = float(fits.coef[self.best_feature_])
        self.intercept_ = float(fits.intercept[self.best_feature_])
        self.train_accuracy_ = float(self.feature_accuracies_[self.best_feature_])
        self.n_iter_ = int(fits.n_iter[self.best_feature_])
        return self

    def decision_function(self, X) -> np.ndarray:
        """``coef_ * X[:, best_feature_] + intercept_``: positive means ``classes_[1]``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.coef_ * X[:, self.best_feature_] + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of ``classes_[0]`` and ``classes_[1]``, shape (n, 2)."""
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        """``classes_[1]`` where the decision is positive, ``classes_[0]`` elsewhere."""
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(int)]
