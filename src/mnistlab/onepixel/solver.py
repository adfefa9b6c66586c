"""A batched Newton solver for many small logistic regressions in one unknown weight and an
intercept: every (pair, pixel) problem of the sweep at once, to 1e-10 relative accuracy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np

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

    Parameters
    ----------
    problems : Problems
        One-feature weighted binary problems (points ``x`` with class weights ``n0``, ``n1``).
    C : float, default 1.0
        Inverse strength of the L2 penalty on the coefficient (scikit-learn's ``C``).
    max_iter : int
        Newton steps at most per problem.

    Returns
    -------
    LogisticFits
        Each problem's ``coef`` and ``intercept`` (on the original ``x``), its Newton steps
        ``n_iter`` and whether it ``converged``.

    Raises
    ------
    ValueError
        If ``C`` is not a positive finite number.
    """
    C = check_C(C)
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


def check_C(C) -> float:
    """``C`` as a float, or a ValueError unless it is a positive finite number."""
    if isinstance(C, bool) or not isinstance(C, Real) or C <= 0 or not math.isfinite(C):
        raise ValueError(f"C must be a positive finite number, got {C!r}.")
    return float(C)
