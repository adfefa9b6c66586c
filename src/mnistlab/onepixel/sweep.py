"""The sweep over pairs of classes and pixels: :func:`one_pixel_separability` and its table."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from numbers import Integral

import numpy as np
import pandas as pd

from mnistlab import stats
from mnistlab._utils.blocks import map_blocks
from mnistlab.data.dataset import Dataset, Split
from mnistlab.data.lazy import LazyDataset, LazySplit
from mnistlab.onepixel.problems import SCALES, SortedColumns, divisors, histogram_problems, scaled_values
from mnistlab.onepixel.solver import Problems, check_C, fit_logistic
from mnistlab.scale import pixel_histograms as scale_histograms

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


def check_parameters(scale: str, C: float) -> float:
    """Check ``scale`` and ``C`` as :func:`one_pixel_separability` takes them (before any data
    is loaded); return ``C`` as a float, or raise a ValueError that says what is allowed."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}.")
    return check_C(C)


def one_pixel_separability(
    dataset: Dataset | Split | LazyDataset | LazySplit,
    scale: str = "unit",
    C: float = 1.0,
    *,
    pairs: Sequence[tuple[int, int]] | None = None,
    pixels: Sequence[int] | np.ndarray | None = None,
    progress: bool | None = None,
    client=None,
) -> OnePixelSeparability:
    """For every pair of classes, the single pixel whose logistic regression separates them best.

    Parameters
    ----------
    dataset : Dataset, Split, or a Zarr store's LazyDataset or LazySplit
        Models are fitted on the training split (a Split alone: no test accuracy). A store's
        splits are reduced chunk by chunk to their per-class pixel histograms (one pass each,
        memory fixed by the classes and pixels, not the images), with the ``unit`` and ``raw``
        scales: the same fits, so the same result as in memory.
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
    client : dask.distributed.Client, optional
        For a Zarr store: reduce its chunks on this Dask cluster.

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
    C = check_parameters(scale, C)
    if isinstance(dataset, (Dataset, LazyDataset)):
        train, test, name = dataset.train, dataset.test, dataset.name
    else:
        train, test, name = dataset, None, dataset.name
    h, w = train.image_shape
    chosen = _check_pixels(pixels, h * w)
    k = len(train.classes)
    if isinstance(train, LazySplit):
        check_store_scale(scale, k, h * w)  # the histograms cover every pixel
        hist = scale_histograms(train, client=client, progress=progress)
        counts = hist[:, 0].sum(axis=1)
    elif client is not None:
        raise ValueError("client= runs a Zarr store's chunks on Dask; this dataset is in memory.")
    else:
        hist, counts = None, np.bincount(train.labels, minlength=k)
    fitted, skipped, bounded = _pairs_to_fit(pairs, train, len(chosen), counts, client)
    title = f"{name}: one-pixel fits"
    fits = _fit_pairs(train, fitted, chosen, scale, C, title, progress, hist=hist, counts=counts)
    if test is None:
        tested = np.full(len(fitted), np.nan), np.zeros(k, np.int64)
    elif isinstance(test, LazySplit):
        test_hist = scale_histograms(test, client=client, progress=progress)
        tested = _tested_by_histograms(test_hist, fitted, fits, chosen, scale)
    else:
        tested = _tested_by_images(test, fitted, fits, chosen, scale)
    table = _pair_table(train.classes, w, counts, tested, fitted, fits, chosen)
    if len(chosen) == h * w:
        accuracy = fits.correct  # every pixel examined: no copy
    else:
        accuracy = np.full((len(fitted), h * w), np.nan)
        accuracy[:, chosen] = fits.correct
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


def check_store_scale(scale: str, n_classes: int, n_pixels: int) -> None:
    """Whether the one-pixel sweep can run on a Zarr store with this scale, classes and pixels
    per image (from per-class histograms of bounded size); a ValueError saying why not."""
    if scale == "l2":
        raise ValueError(
            "the l2 scale divides every image by its own norm, so a pixel's values are no longer "
            "256 levels that a histogram sums: its fits need every image's value in memory. On a "
            "Zarr store use scale='unit' or 'raw' (the same fits from per-class histograms), or "
            "the first N images (--first N)."
        )
    size = n_classes * n_pixels * 256 * 8
    if size > HISTOGRAM_BYTES:
        raise ValueError(
            f"the per-class pixel histograms of {n_classes} classes x {n_pixels:,} pixels take "
            f"{size / 2**20:,.1f} MiB per partial sum (more than onepixel.sweep.HISTOGRAM_BYTES = "
            f"{HISTOGRAM_BYTES / 2**20:,.1f} MiB), too many to sum over a Zarr store's chunks; "
            "take the first N images into memory (--first N)."
        )


def _tested_by_images(test: Split, fitted, fits: _Fits, chosen, scale: str):
    """Each pair's test accuracy with its best pixel's fit, from the test images; test counts."""
    k = len(test.classes)
    test_counts = np.bincount(test.labels, minlength=k)
    test_flat = test.images.reshape(len(test), -1)
    test_divisors = divisors(test_flat, scale)
    members = [np.flatnonzero(test.labels == c) for c in range(k)]
    accuracy = np.full(len(fitted), np.nan)
    for i, (a, b) in enumerate(fitted):
        if test_counts[a] + test_counts[b]:
            pixel = int(chosen[fits.best[i]])
            mine = np.concatenate((members[a], members[b]))
            x = test_flat[mine, pixel] / test_divisors[mine]
            right = np.sum((fits.coef[i] * x + fits.intercept[i] > 0) == (test.labels[mine] == b))
            accuracy[i] = right / len(mine)
    return accuracy, test_counts


def _tested_by_histograms(hist: np.ndarray, fitted, fits: _Fits, chosen, scale: str):
    """As :func:`_tested_by_images` from the test split's per-class pixel histograms (k, h*w,
    256): a fit on one pixel decides by its value alone, so the counts per value suffice."""
    values = scaled_values(scale)
    test_counts = hist[:, 0].sum(axis=1)
    accuracy = np.full(len(fitted), np.nan)
    for i, (a, b) in enumerate(fitted):
        if test_counts[a] + test_counts[b]:
            pixel = int(chosen[fits.best[i]])
            says_b = fits.coef[i] * values + fits.intercept[i] > 0
            right = hist[a, pixel, ~says_b].sum() + hist[b, pixel, says_b].sum()
            accuracy[i] = right / (test_counts[a] + test_counts[b])
    return accuracy, test_counts


def _pairs_to_fit(pairs, train, n_pixels: int, counts: np.ndarray, client):
    """(pairs to fit, pairs skipped for want of training images, whether the pairs were bounded
    by ``MAX_FITS``), with a warning for each of the last two."""
    k = len(train.classes)
    limit = max(1, MAX_FITS // n_pixels)
    bounded = pairs is None and k * (k - 1) // 2 > limit
    if bounded:
        # Every pair would cost k**2 / 2 fits of every pixel: fit the likeliest hard ones.
        closest = stats.centroids(train, client=client).closest_pairs(limit)
        wanted = sorted(zip(closest.class_a.tolist(), closest.class_b.tolist(), strict=True))
        empty = np.flatnonzero(counts == 0).tolist()
        wanted += sorted({(min(e, c), max(e, c)) for e in empty for c in range(k) if c != e})
        warnings.warn(
            f"{k} classes make {k * (k - 1) // 2:,} pairs: only the {limit:,} with the closest "
            f"class centroids are fitted ({n_pixels:,} pixels each, at most "
            f"onepixel.sweep.MAX_FITS = {MAX_FITS:,} fits; pass pairs= to choose others).",
            stacklevel=3,
        )
    else:
        wanted = _check_pairs(pairs, train)
    fitted = [(a, b) for a, b in wanted if counts[a] and counts[b]]
    skipped = tuple((a, b) for a, b in wanted if not (counts[a] and counts[b]))
    if skipped:
        empty_classes = sorted({train.classes[c] for p in skipped for c in p if not counts[c]})
        warnings.warn(
            f"{len(skipped)} pair(s) left out: no training images of {', '.join(empty_classes)}.",
            stacklevel=3,
        )
    return fitted, skipped, bounded


@dataclass
class _Fits:
    """Per fitted pair: the training-set count of correct predictions of every pixel's fit, and
    the best pixel's position, coefficient, intercept and decision-stump count. Only the best
    fit of a pair is kept: memory of one (pairs, pixels) array, not three."""

    correct: np.ndarray
    best: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    stump: np.ndarray
    not_converged: list[int] = field(default_factory=list)

    @classmethod
    def empty(cls, n_pairs: int, n_pixels: int) -> _Fits:
        zeros = np.zeros(n_pairs)
        return cls(
            np.zeros((n_pairs, n_pixels)), np.zeros(n_pairs, np.int64), zeros, zeros.copy(), zeros.copy()
        )

    def record(self, rows: slice, problems: Problems, C: float) -> None:
        """Fit the problems of the pairs ``rows`` (all their pixels) and keep what is needed."""
        fits = fit_logistic(problems, C)
        self.not_converged.append(int((~fits.converged).sum()))  # append: safe across threads
        shape = (-1, self.correct.shape[1])
        right = problems.correct(fits.coef, fits.intercept).reshape(shape)
        self.correct[rows] = right
        winner = np.argmax(right, axis=1)
        self.best[rows] = winner
        self.coef[rows] = np.take_along_axis(fits.coef.reshape(shape), winner[:, None], 1)[:, 0]
        self.intercept[rows] = np.take_along_axis(fits.intercept.reshape(shape), winner[:, None], 1)[
            :, 0
        ]
        self.stump[rows] = problems.stump_correct().reshape(shape).max(axis=1)


def _fit_pairs(
    train, fitted, chosen: np.ndarray, scale: str, C: float, title: str, progress, *, hist, counts
) -> _Fits:
    """Every pixel's logistic fit for every pair, on all cores; counts of correct predictions.
    ``hist``: the training split's per-class pixel histograms if already made (a store's)."""
    from mnistlab.progress import steps

    k, n_pixels = len(train.classes), len(chosen)
    fits = _Fits.empty(len(fitted), n_pixels)
    # Histograms cost k * pixels * 256 counts whatever the number of images: for large images
    # or few images, sorted values are the smaller sufficient statistic.
    use_histograms = scale != "l2" and k * n_pixels * 256 * 8 <= HISTOGRAM_BYTES
    with steps(title, len(fitted), progress) as advance:
        if not use_histograms:
            assert hist is None  # a store's sweep is refused first (check_store_scale)
            columns = SortedColumns.from_split(train, chosen, scale)

            def one_by_one(start: int, stop: int) -> None:
                for i in range(start, stop):
                    fits.record(slice(i, i + 1), columns.problems(*fitted[i]), C)
                    advance()

            map_blocks(one_by_one, len(fitted), 1)
        else:
            values = scaled_values(scale)
            # Contiguous, so that the per-batch gathers read it as one flat array (a fancy index
            # on the middle axis leaves it strided, and each batch would copy it whole).
            if hist is None:
                hist = stats.pixel_histograms(train.images, train.labels, k)
            hist = np.ascontiguousarray(hist[:, chosen])
            nonzero = hist > 0

            def in_batches(start: int, stop: int) -> None:
                a, b = (np.array(side) for side in zip(*fitted[start:stop], strict=True))
                fits.record(slice(start, stop), histogram_problems(hist, nonzero, a, b, values), C)
                for _ in range(start, stop):
                    advance()

            batch = max(1, min(HISTOGRAM_POINTS // (n_pixels * 256), -(-len(fitted) // 2)))
            map_blocks(in_batches, len(fitted), batch)
    if sum(fits.not_converged):
        warnings.warn(f"{sum(fits.not_converged)} one-pixel fits did not converge.", stacklevel=3)
    fits.correct /= np.array([counts[a] + counts[b] for a, b in fitted], np.float64).reshape(-1, 1)
    return fits  # correct: now training accuracies


def _pair_table(classes, w: int, train_counts, tested, fitted, fits: _Fits, chosen) -> pd.DataFrame:
    """One row per fitted pair: its best pixel, training and test accuracy, the fit, the stump."""
    test_accuracy, test_counts = tested
    rows = []
    for i, (a, b) in enumerate(fitted):
        pixel = int(chosen[fits.best[i]])
        pair_total = train_counts[a] + train_counts[b]
        rows.append(
            (
                a,
                b,
                pixel,
                pixel % w,
                pixel // w,
                fits.correct[i, fits.best[i]],
                test_accuracy[i],
                fits.coef[i],
                fits.intercept[i],
                fits.stump[i] / pair_total,
                classes[a],
                classes[b],
                int(train_counts[a]),
                int(train_counts[b]),
                int(test_counts[a]),
                int(test_counts[b]),
            )
        )
    return pd.DataFrame(rows, columns=PAIR_COLUMNS).astype(PAIR_DTYPES)
