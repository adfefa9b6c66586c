"""Image checks a dataset author runs before training: blank, low-information, other-polarity and
cut-off images, each scored per image and flagged beyond a threshold derived from the data.

Every check gives every image a score; an image is flagged when its score lies beyond Tukey's
*far-out* fence of its own class (and, for ``blank``, of all the images): ``Q1 - 3 IQR`` below or
``Q3 + 3 IQR`` above, from the quartiles of the score over the class's images in all splits. For
normal scores that fence lies 4.7 standard deviations from the median, about one image in a million
per side, so a clean class of 7,000 images has no false alarm; quartiles are robust, so the outliers
themselves do not move the fence. ``whisker`` (3) is Tukey's (1977) "far out"; 1.5 would be his
"outside", about 7 images in a thousand per side. Fences are per class because classes differ by
nature (a "1" has half the ink of a "0"; trousers always reach the top and bottom border). Count
scores (visible pixels, border ink) are fenced on a log scale (``log1p``): they are skewed, and a
half or a double is the same step whatever the class. Where a class never has a score (no border ink
in three quarters of its images: ``Q3 = IQR = 0``), the fence is that value and any image with some
is flagged: ink where the class normally has none.

The checks (images oriented as light ink on a dark background, the dataset's polarity):

- ``blank``: visible pixels, brighter than the background (the median of all border pixels, 0 in
  MNIST-like data); flagged below the fence of the class *and* that of all the images (per class
  alone, the smallest sandals and bags of Fashion-MNIST were flagged; over all the images alone, the
  thinnest "1"s of MNIST);
- ``low_information``: entropy (bits) of the visible pixels' grey levels; flagged below the fence (a
  blank image has 0 bits, a binarised one at most 1, one drawn with 5 grey levels at most 2);
- ``polarity``: mean of the central half minus mean of the outermost rows and columns; flagged below
  the fence *and* below 0 (an image whose border is brighter than its centre, the other polarity; a
  faint image of the right polarity is merely below the fence);
- ``cut_off``: ink pixels (above Otsu's threshold of all the pixels) on the outermost rows and
  columns; flagged above the fence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mnistlab._utils.blocks import CHUNK, map_blocks
from mnistlab.data.dataset import Dataset, Split

#: Tukey's "far out" whisker: fences at ``Q1 - 3 IQR`` and ``Q3 + 3 IQR``.
WHISKER = 3.0
#: The checks, and what each score is.
CHECKS = {
    "blank": "visible pixels (brighter than the background)",
    "low_information": "entropy (bits) of the visible pixels' grey levels",
    "polarity": "mean of the centre minus mean of the border (0..255 scale)",
    "cut_off": "ink pixels on the outermost rows and columns",
}
#: Which side of the fence is flagged: "below" or "above".
DIRECTION = {"blank": "below", "low_information": "below", "polarity": "below", "cut_off": "above"}
#: Checks whose count scores are fenced on a log1p scale.
LOG_SCALE = {"blank", "cut_off"}


@dataclass
class ImageIssues:
    """What :func:`image_issues` found: every image's score for every check, and the fences.

    Attributes
    ----------
    table : DataFrame
        One row per image and check: ``split``, ``index`` (the image's index in its split's
        file), ``class``, ``check``, ``score``, ``threshold`` (of the image's class) and
        ``flagged``; a ``file`` column for images read from image files.
    thresholds : DataFrame
        One row per check and class: ``direction`` (flagged below or above), ``q1``, ``q3``
        (quartiles, on the score's own scale), ``threshold`` (the fence, same scale),
        ``images`` (of the class, all splits).
    background : int
        Pixels brighter than this (0..255, light ink on dark) are visible.
    ink_level : int
        Pixels brighter than this (0..255, light ink on dark) are ink: Otsu's threshold.
    polarity : str
        The dataset's polarity, which the images were oriented to before scoring.
    whisker : float
        The fences lie this many interquartile ranges beyond the quartiles.
    derivation : dict
        Per check, how its thresholds were derived, in words.
    """

    table: pd.DataFrame
    thresholds: pd.DataFrame
    background: int
    ink_level: int
    polarity: str
    whisker: float
    derivation: dict[str, str] = field(default_factory=dict)

    @property
    def flagged(self) -> pd.DataFrame:
        """The flagged rows of :attr:`table`, by check, furthest beyond the fence first."""
        rows = self.table[self.table["flagged"]].copy()
        rows["_beyond"] = _beyond(rows)
        order = {c: k for k, c in enumerate(CHECKS)}
        rows["_check"] = rows["check"].map(order)
        rows = rows.sort_values(["_check", "_beyond"], ascending=[True, False], kind="stable")
        return rows.drop(columns=["_beyond", "_check"]).reset_index(drop=True)

    def counts(self) -> pd.DataFrame:
        """Flagged images per check and split, with the number of images checked.

        Returns
        -------
        DataFrame
            Columns ``check``, ``split``, ``flagged``, ``images``, ``share``; checks in
            :data:`CHECKS` order.
        """
        grouped = self.table.groupby(["check", "split"], sort=False)["flagged"].agg(["sum", "size"])
        counts = grouped.reset_index().rename(columns={"sum": "flagged", "size": "images"})
        counts["flagged"] = counts["flagged"].astype(int)
        counts["share"] = counts["flagged"] / counts["images"]
        order = {c: k for k, c in enumerate(CHECKS)}
        counts = counts.sort_values("check", key=lambda c: c.map(order), kind="stable")
        return counts.reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: counts, thresholds and how they were derived (no per-image rows).

        Returns
        -------
        dict
            ``background``, ``ink_level``, ``polarity``, ``whisker`` and ``checks``: per check
            its score, flagged images per split, derivation and thresholds per class.
        """
        counts = self.counts()
        checks = {}
        for check, meaning in CHECKS.items():
            mine = counts[counts["check"] == check]
            fences = self.thresholds[self.thresholds["check"] == check]
            checks[check] = {
                "score": meaning,
                "flagged": {r.split: int(r.flagged) for r in mine.itertuples()},
                "derivation": self.derivation[check],
                "thresholds": fences.drop(columns="check").to_dict(orient="records"),
            }
        return {
            "background": self.background,
            "ink_level": self.ink_level,
            "polarity": self.polarity,
            "whisker": self.whisker,
            "checks": checks,
        }


def image_issues(data: Dataset | Split, *, whisker: float = WHISKER) -> ImageIssues:
    """Score every image for blank, low-information, other-polarity and cut-off issues.

    Thresholds are derived from the images themselves, per class, from all the splits together
    (see the module docstring and ``docs/explanation/dataset-health.md``). Images are scored in
    chunks on all cores; the 70,000 of MNIST take about a second.

    Parameters
    ----------
    data : Dataset or Split
        uint8 images (0..255) with their labels; every split of a Dataset is checked.
    whisker : float, default 3
        The fences lie this many interquartile ranges beyond the class quartiles (larger: fewer
        images flagged; 1.5 is Tukey's "outside", 3 his "far out").

    Returns
    -------
    ImageIssues
        Per-image scores and flags (``table``), the fences (``thresholds``), ``counts()``.

    Examples
    --------
    >>> import mnistlab
    >>> issues = image_issues(mnistlab.load("digits"))
    >>> issues.counts()["check"].unique().tolist()
    ['blank', 'low_information', 'polarity', 'cut_off']
    """
    splits = _splits(data)
    if isinstance(whisker, bool) or not isinstance(whisker, (int, float)) or not whisker > 0:
        raise ValueError(f"whisker must be a positive number of interquartile ranges, got {whisker!r}.")
    polarity = data.polarity().kind
    light_on_dark = polarity != "dark-on-light"
    values = np.sum([_value_counts(s.images, light_on_dark) for s in splits], axis=0)
    border = np.sum([_value_counts(_border_pixels(s.images), light_on_dark) for s in splits], axis=0)
    background = int(np.searchsorted(np.cumsum(border), border.sum() / 2))
    ink_level = max(_otsu(values), background)
    scores = {s.name: _image_scores(s.images, light_on_dark, background, ink_level) for s in splits}
    labels = np.concatenate([s.labels for s in splits])
    classes = splits[0].classes
    rows, fences = [], []
    for check in CHECKS:
        pooled = np.concatenate([scores[s.name][check] for s in splits])
        fence = _fences(check, pooled, labels, len(classes), whisker)
        fences.append(fence.assign(check=check, **{"class": [classes[k] for k in fence["label"]]}))
        limits = fence.set_index("label")["threshold"]
        for s in splits:
            score = scores[s.name][check]
            threshold = limits.reindex(s.labels).to_numpy()
            flagged = score < threshold if DIRECTION[check] == "below" else score > threshold
            columns: dict[str, Any] = {
                "split": s.name,
                "index": s.indices,
                "class": np.asarray(classes, dtype=object)[s.labels],
                "check": check,
                "score": score,
                "threshold": threshold,
                "flagged": flagged,
            }
            if s.files is not None:
                columns["file"] = s.files
            rows.append(pd.DataFrame(columns))
    table = pd.concat(rows, ignore_index=True)
    thresholds = pd.concat(fences, ignore_index=True)[
        ["check", "class", "direction", "q1", "q3", "threshold", "images"]
    ]
    derivation = _derivations(background, ink_level, whisker)
    return ImageIssues(table, thresholds, background, ink_level, polarity, float(whisker), derivation)


def _splits(data) -> list[Split]:
    if isinstance(data, Dataset):
        return list(data.splits.values())
    if isinstance(data, Split):
        return [data]
    raise TypeError(f"image_issues takes a Dataset or a Split, got {type(data).__name__}.")


def _oriented(block: np.ndarray, light_on_dark: bool) -> np.ndarray:
    """``block`` as light ink on a dark background (uint8)."""
    return block if light_on_dark else 255 - block


def _border_mask(h: int, w: int) -> np.ndarray:
    border = np.zeros((h, w), bool)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    return border


def _border_pixels(images: np.ndarray) -> np.ndarray:
    """The pixels of the outermost rows and columns, one row per image."""
    return images[:, _border_mask(*images.shape[1:])]


def _value_counts(images: np.ndarray, light_on_dark: bool) -> np.ndarray:
    """How many pixels take each value 0..255 (oriented), summed over chunks on all cores."""
    parts = map_blocks(
        lambda a, b: np.bincount(_oriented(images[a:b], light_on_dark).ravel(), minlength=256),
        len(images),
        CHUNK,
    )
    return np.sum(parts, axis=0)


def _otsu(counts: np.ndarray) -> int:
    """Otsu's threshold of a 256-bin histogram: the value t that maximises the variance between
    the pixels <= t (background) and > t (ink). One value only: that value (nothing is ink)."""
    p = counts / max(counts.sum(), 1)
    below = np.cumsum(p)[:-1]
    mean_below = np.cumsum(p * np.arange(256))[:-1]
    total = float(np.sum(p * np.arange(256)))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * below - mean_below) ** 2 / (below * (1 - below))
    between = np.nan_to_num(between, nan=-1.0, posinf=-1.0)
    if between.max() <= 0:
        return int(np.flatnonzero(counts)[-1]) if counts.any() else 0
    return int(np.argmax(between))


def _image_scores(
    images: np.ndarray, light_on_dark: bool, background: int, ink_level: int
) -> dict[str, np.ndarray]:
    """Every check's score for each image, computed block by block on all cores."""
    h, w = images.shape[1:]
    centre = np.zeros((h, w), bool)
    centre[h // 4 : h - h // 4, w // 4 : w - w // 4] = True
    border_at, centre_at = np.flatnonzero(_border_mask(h, w)), np.flatnonzero(centre)

    def scores(start: int, stop: int) -> np.ndarray:
        n = stop - start
        x = _oriented(images[start:stop], light_on_dark).reshape(n, h * w)
        counts = np.bincount((np.arange(n)[:, None] * 256 + x).ravel(), minlength=n * 256)
        visible = counts.reshape(n, 256)[:, background + 1 :]
        total = visible.sum(1)
        share = visible / np.maximum(total, 1)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            bits = 0.0 - np.where(share > 0, share * np.log2(share), 0.0).sum(1)
        return np.stack(
            [
                total,
                bits,
                x[:, centre_at].mean(1) - x[:, border_at].mean(1),
                (x[:, border_at] > ink_level).sum(1),
            ],
            axis=1,
        )

    found = map_blocks(scores, len(images), CHUNK // 4)
    return {check: np.concatenate(found)[:, k].astype(np.float64) for k, check in enumerate(CHECKS)}


def _fences(check: str, scores: np.ndarray, labels: np.ndarray, n_classes: int, whisker: float):
    """Per class: quartiles and Tukey's fence of ``scores`` (see the module docstring)."""
    on_log = check in LOG_SCALE
    values = np.log1p(scores) if on_log else scores
    q1, q3 = np.percentile(values, [25, 75])
    # Blank is blank for the class and for the dataset: a small sandal is small for a sandal but
    # not for Fashion-MNIST, a thin "1" is small for MNIST but not for a "1".
    everywhere = float(q1 - whisker * (q3 - q1))
    rows = []
    for label in range(n_classes):
        mine = values[labels == label]
        if not len(mine):
            continue
        q1, q3 = (float(q) for q in np.percentile(mine, [25, 75]))
        below = DIRECTION[check] == "below"
        fence = q1 - whisker * (q3 - q1) if below else q3 + whisker * (q3 - q1)
        if check == "polarity":
            fence = min(fence, 0.0)
        if check == "blank":
            fence = min(fence, everywhere)
        back = np.expm1 if on_log else float
        rows.append(
            {
                "label": label,
                "direction": DIRECTION[check],
                "q1": float(back(q1)),
                "q3": float(back(q3)),
                "threshold": float(back(fence)),
                "images": len(mine),
            }
        )
    return pd.DataFrame(rows)


def _beyond(rows: pd.DataFrame) -> np.ndarray:
    """How far each row's score lies beyond its threshold, on the fenced scale (larger: worse)."""
    score, threshold = rows["score"].to_numpy(), rows["threshold"].to_numpy()
    on_log = rows["check"].isin(list(LOG_SCALE)).to_numpy()
    score = np.where(on_log, np.log1p(np.where(on_log, score, 0)), score)
    threshold = np.where(on_log, np.log1p(np.where(on_log, threshold, 0)), threshold)
    below = rows["check"].map(DIRECTION).eq("below").to_numpy()
    return np.where(below, threshold - score, score - threshold)


def _derivations(background: int, ink_level: int, whisker: float) -> dict[str, str]:
    """Per check, how its thresholds were derived, in words."""
    below, above = (
        f"per class, Tukey's fence {q} {whisker:g} x IQR (quartiles of all splits)"
        for q in ("Q1 -", "Q3 +")
    )
    return {
        "blank": f"pixels > {background} (the median border pixel) on a log1p scale; {below}, "
        "and below the same fence over all classes",
        "low_information": f"entropy in bits of the values of the pixels > {background}; {below}",
        "polarity": f"centre mean - border mean (0..255); {below}, and at most 0 (a border "
        "brighter than the centre)",
        "cut_off": f"ink pixels (> {ink_level}, Otsu's threshold of all pixels) on the outermost "
        f"rows and columns, on a log1p scale; {above}",
    }
