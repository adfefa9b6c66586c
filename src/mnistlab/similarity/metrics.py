"""How similar are two images? Every usual metric, computed the right way, with its meaning.

The usual first attempt, ``np.corrcoef(a, b)`` on two 28x28 arrays, returns a 56x56 matrix: numpy
treats every *row* of each image as a variable and correlates rows with rows. The correlation of
two images is the correlation of their flattened pixels, one number:
``np.corrcoef(a.ravel(), b.ravel())[0, 1]``, which :func:`compare` reports as ``pearson`` next to
the other metrics.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

#: What each metric means, in one line, and which way is "more similar".
MEANINGS = {
    "pearson": "correlation of the flattened pixels, -1..1; 1 = same pattern up to brightness "
    "and contrast (undefined for a constant image)",
    "cosine": "cosine of the angle between the pixel vectors, -1..1 (0..1 for non-negative "
    "pixels); 1 = same pattern up to contrast (undefined for an all-zero image)",
    "euclidean": "square root of the summed squared pixel differences, on the images' scale; "
    "0 = identical",
    "rms": "root mean square pixel difference (euclidean / sqrt(pixels)); 0 = identical",
    "ssim": "structural similarity (scikit-image, uniform 7x7 windows), -1..1; 1 = "
    "identical, compares local means, contrasts and structure",
    "normalized_mutual_information": "mutual information of the two images' pixel values "
    "divided by the mean of their entropies (scikit-learn), 0..1; 1 = each image's values "
    "determine the other's",
    "mutual_information_bits": "how many bits knowing a pixel's value in one image tells about "
    "the same pixel in the other; 0 = independent",
}
METRICS = tuple(MEANINGS)
#: Grey levels used for mutual information of float images (uint8 images use their 256 values).
LEVELS = 256


@dataclass(frozen=True)
class Comparison:
    """Every metric for one pair of images; NaN where a metric is undefined (see ``notes``)."""

    pearson: float
    cosine: float
    euclidean: float
    rms: float
    ssim: float
    normalized_mutual_information: float
    mutual_information_bits: float
    data_range: float
    shape: tuple[int, int]
    notes: tuple[str, ...] = field(default=())

    def values(self) -> dict[str, float]:
        """The metrics, name -> value."""
        return {name: getattr(self, name) for name in METRICS}

    def table(self) -> pd.DataFrame:
        """``metric, value, meaning``: one row per metric."""
        return pd.DataFrame(
            {
                "metric": list(METRICS),
                "value": [getattr(self, m) for m in METRICS],
                "meaning": [MEANINGS[m] for m in METRICS],
            }
        )

    def to_dict(self) -> dict:
        out = asdict(self)
        out["shape"] = list(self.shape)
        out["notes"] = list(self.notes)
        return out


def _as_image(values, name: str, shape: tuple[int, int] | None) -> np.ndarray:
    if isinstance(values, tuple) and len(values) == 2 and isinstance(values[1], (int, np.integer)):
        values = values[0]  # an (image, label) pair, as split[i] gives it
    elif hasattr(values, "images") and hasattr(values, "labels"):  # a Split
        if len(values) != 1:
            raise ValueError(
                f"image {name} is a Split of {len(values)} images; compare takes one image."
            )
        values = values.images[0]
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"image {name} must hold numbers, got an array of type {array.dtype}.")
    if shape is not None and array.ndim != 1:
        raise ValueError(f"shape= is for flattened images; image {name} is already {array.shape}.")
    if array.ndim == 1:
        if shape is None:
            side = math.isqrt(array.size)
            if side * side != array.size:
                raise ValueError(
                    f"image {name} is flat with {array.size} pixels, not a square: pass shape=(h, w)."
                )
            shape = (side, side)
        if math.prod(shape) != array.size:
            raise ValueError(
                f"image {name} has {array.size} pixels, shape {shape} needs {math.prod(shape)}."
            )
        array = array.reshape(shape)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"image {name} must be 2-D (height, width) or flat, got shape {array.shape}.")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"image {name} contains NaN or infinite values.")
    return array


def _data_range(a: np.ndarray, b: np.ndarray, data_range: float | None) -> float:
    """The span of possible values: given, or 255 for integer images (1 for boolean ones).

    Values must fit the span: ``min(0, lowest) .. min(0, lowest) + data_range``; a wrong span
    would silently distort SSIM and mutual information.
    """
    low = min(0.0, float(a.min()), float(b.min()))
    high = max(float(a.max()), float(b.max()))
    if data_range is None:
        if a.dtype.kind == "b" and b.dtype.kind == "b":
            data_range = 1.0
        elif a.dtype.kind in "biu" and b.dtype.kind in "biu":
            data_range = 255.0
        else:
            raise ValueError(
                "float images: pass data_range, the span of possible values (1.0 for 0..1 "
                "images, 255.0 for 0..255), so that SSIM and mutual information are on a known scale."
            )
    elif isinstance(data_range, bool) or not (
        isinstance(data_range, (int, float, np.number)) and data_range > 0 and math.isfinite(data_range)
    ):
        raise ValueError(f"data_range must be a positive number, got {data_range!r}.")
    if high - low > data_range * (1 + 1e-9):
        raise ValueError(
            f"pixel values span {low:g}..{high:g}, more than data_range={data_range:g}: give the "
            "images' true scale (255 for 0..255, 1.0 for 0..1)."
        )
    return float(data_range)


def _levels(image: np.ndarray, data_range: float, low: float) -> np.ndarray:
    """Integer grey levels for mutual information: 0..255 integers as they are, others binned
    into LEVELS levels over ``low .. low + data_range``."""
    if image.dtype.kind in "iu" and data_range == 255 and low == 0:
        return image.ravel().astype(np.int64)
    scaled = (image.ravel().astype(np.float64) - low) / data_range * (LEVELS - 1)
    return np.clip(np.rint(scaled), 0, LEVELS - 1).astype(np.int64)


def _mutual_information(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Normalised mutual information (arithmetic mean of the entropies, scikit-learn's default)
    and mutual information in bits, of two arrays of grey levels 0..LEVELS-1.

    From one joint histogram: scikit-learn's functions give the same numbers (the tests check)
    but spend milliseconds validating arguments, which dominates when comparing many pairs.
    """
    joint = np.bincount(a * LEVELS + b, minlength=LEVELS * LEVELS).reshape(LEVELS, LEVELS)
    p = joint[joint > 0] / a.size
    pa, pb = joint.sum(axis=1) / a.size, joint.sum(axis=0) / a.size
    ha = -np.sum(pa[pa > 0] * np.log(pa[pa > 0]))
    hb = -np.sum(pb[pb > 0] * np.log(pb[pb > 0]))
    hab = -np.sum(p * np.log(p))
    mi = max(ha + hb - hab, 0.0)
    if ha == 0 and hb == 0:
        nmi = 1.0  # two constant images: each determines the other (scikit-learn's convention)
    elif ha == 0 or hb == 0:
        nmi = 0.0
    else:
        nmi = min(mi / ((ha + hb) / 2), 1.0)
    return float(nmi), float(mi / math.log(2))


def _cosine(u: np.ndarray, v: np.ndarray) -> float:
    """Cosine of the angle between two vectors, clipped to -1..1; NaN if either is zero."""
    norms = math.sqrt(float(u @ u) * float(v @ v))
    return float(np.clip(u @ v / norms, -1, 1)) if norms else math.nan


def compare(
    a, b, *, data_range: float | None = None, shape: tuple[int, int] | None = None
) -> Comparison:
    """Compare two images of the same shape with every metric, each with its meaning.

    Parameters
    ----------
    a, b : array-like
        Two images, 2-D (height, width) or flattened (square, or give ``shape``). uint8 images
        are on 0..255; float images need ``data_range``.
    data_range : float, optional
        The span of possible pixel values, passed explicitly to SSIM: 255 for uint8 (the
        default for integer images), 1.0 for images scaled to 0..1.
    shape : (h, w), optional
        The shape of flattened non-square images.

    Returns
    -------
    Comparison
        ``pearson`` and ``cosine`` are NaN when undefined (a constant image, an all-zero image),
        and ``notes`` says why.

    Examples
    --------
    The pitfall: ``np.corrcoef`` on two images correlates their rows.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    >>> b = (a // 2 + 20).astype(np.uint8)
    >>> np.corrcoef(a, b).shape                 # a 56x56 matrix, not one number
    (56, 56)
    >>> float(round(np.corrcoef(a.ravel(), b.ravel())[0, 1], 3))
    1.0
    >>> c = compare(a, b)
    >>> float(round(c.pearson, 3)), float(round(c.ssim, 3)), float(round(c.rms, 1))
    (1.0, 0.737, 56.8)
    >>> compare(a, a).values()["euclidean"]
    0.0
    """
    from skimage.metrics import structural_similarity

    first = _as_image(a, "a", shape)
    second = _as_image(b, "b", shape)
    if first.shape != second.shape:
        raise ValueError(
            f"the images differ in shape: {first.shape} and {second.shape}; resize one first "
            "(mnistlab compare --resize does)."
        )
    span = _data_range(first, second, data_range)
    # Correlations and norms on values divided by the largest magnitude: no overflow or
    # underflow whatever the scale; the distance is scaled back.
    x = first.ravel().astype(np.float64)
    y = second.ravel().astype(np.float64)
    magnitude = max(float(np.abs(x).max()), float(np.abs(y).max())) or 1.0
    x, y = x / magnitude, y / magnitude
    notes = []
    # Pearson's correlation is the cosine of the centred pixel vectors.
    pearson = _cosine(x - x.mean(), y - y.mean())
    if math.isnan(pearson):
        notes.append("pearson is undefined: an image is constant (zero variance).")
    cosine = _cosine(x, y)
    if math.isnan(cosine):
        notes.append("cosine is undefined: an image is all zeros.")
    with np.errstate(over="ignore"):
        euclidean = float(np.sqrt(np.sum((x - y) ** 2)) * magnitude)
    h, w = first.shape
    # SSIM's default 7x7 window needs 7 pixels a side: smaller images use the largest odd window.
    window = min(7, h, w) if min(h, w) >= 7 else (min(h, w) if min(h, w) % 2 else min(h, w) - 1)
    if window < 3:
        ssim = math.nan
        notes.append(f"ssim is undefined for images smaller than 3x3 (got {h}x{w}).")
    else:
        ssim = float(
            # On the 0..1 scale (SSIM does not change): its constants neither under- nor overflow.
            structural_similarity(
                first.astype(np.float64) / span,
                second.astype(np.float64) / span,
                data_range=1.0,
                win_size=window,
            )
        )
        if window != 7:
            notes.append(f"ssim used a {window}x{window} window: the image is smaller than 7x7.")
    low = min(0.0, float(first.min()), float(second.min()))
    nmi, mi_bits = _mutual_information(_levels(first, span, low), _levels(second, span, low))
    return Comparison(
        pearson=pearson,
        cosine=cosine,
        euclidean=euclidean,
        rms=euclidean / math.sqrt(x.size),
        ssim=ssim,
        normalized_mutual_information=nmi,
        mutual_information_bits=mi_bits,
        data_range=span,
        shape=(h, w),
        notes=tuple(notes),
    )
