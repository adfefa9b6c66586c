"""The label issues of a dataset, of every kind, in one table: probable label errors (confident
learning), ambiguous images, outliers, and near duplicates whose labels differ."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mnistlab.quality.confident import ConfidentLearning, confident_learning

#: The kinds of issue, in the order tables show them.
KINDS = ("label error", "ambiguous", "outlier", "duplicate, labels differ")
#: An image is ambiguous when its two most probable classes are within this of each other
#: (out-of-sample probabilities): the model cannot choose between them, and nor, often, can a
#: reader. Its score is that difference, the smaller the more ambiguous.
AMBIGUOUS_MARGIN = 0.1
#: Outliers lie beyond Tukey's far fence of the distances to the nearest class centroid: the
#: third quartile plus this many interquartile ranges, derived from each split's own distances.
OUTLIER_FENCE = 3.0
#: Splits ``label_issues`` takes.
SPLITS = ("train", "test", "both")

TABLE_COLUMNS = [
    "split",
    "index",
    "position",
    "label",
    "class",
    "suggested_label",
    "suggested_class",
    "kind",
    "score",
    "rank",
]


@dataclass(frozen=True, repr=False)
class LabelIssues:
    """Label issues of one dataset (see :func:`label_issues`).

    ``table`` has ``TABLE_COLUMNS``, one row per image and kind (an image can be, say, both a
    label error and ambiguous): ``index`` names the image in its split (``Split.indices``),
    ``position`` its row; ``score`` is the kind's own (label errors: the label-quality score, low
    first; ambiguous: the margin between the two most probable classes, low first; outliers: the
    RMS distance to the nearest class centroid, high first; duplicates: their RMS distance, low
    first) and ``rank`` counts from 1 within the split and kind.
    """

    dataset: str
    classes: tuple[str, ...]
    model: str
    method: str
    table: pd.DataFrame
    found: dict[str, ConfidentLearning]
    probabilities: dict
    outlier_thresholds: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        counts = ", ".join(f"{kind}: {n}" for kind, n in self.counts().items())
        return f"LabelIssues({self.dataset!r}, {'+'.join(self.found)}, {counts})"

    def counts(self) -> dict[str, int]:
        """Issues of each kind (all splits)."""
        kinds = self.table["kind"].value_counts()
        return {kind: int(kinds.get(kind, 0)) for kind in KINDS}

    def label_errors(self, split: str | None = None) -> pd.DataFrame:
        """The probable label errors, most likely first (of ``split``, or of every split)."""
        mine = self.table[self.table["kind"] == "label error"]
        return mine if split is None else mine[mine["split"] == split]

    def noise_matrix(self, split: str | None = None) -> pd.DataFrame:
        """``P(given = row | true = column)`` estimated by confident learning, class names."""
        found = self.found[split or next(iter(self.found))]
        return pd.DataFrame(found.noise_matrix, index=self.classes, columns=self.classes)

    def estimated_counts(self, split: str | None = None) -> pd.DataFrame:
        """The calibrated confident joint: estimated images of each given (row) and true (column)
        class; off the diagonal, the estimated label errors."""
        found = self.found[split or next(iter(self.found))]
        return pd.DataFrame(found.confident_joint, index=self.classes, columns=self.classes)

    def per_class(self) -> pd.DataFrame:
        """Per split and given class: images, estimated label errors (calibrated), and the label
        errors found."""
        rows = []
        for split, found in self.found.items():
            images = found.confident_joint.sum(axis=1)
            estimated = found.estimated_errors_per_class()
            issues = self.label_errors(split)["label"].value_counts()
            for k, name in enumerate(self.classes):
                rows.append((split, k, name, int(images[k]), int(estimated[k]), int(issues.get(k, 0))))
        columns = ["split", "label", "class", "images", "estimated_errors", "issues_found"]
        return pd.DataFrame(rows, columns=columns)

    def summary(self) -> dict:
        """Per split: images, estimated label errors and rate, issues of each kind."""
        out = {}
        for split, found in self.found.items():
            n = int(found.confident_joint.sum())
            mine = self.table[self.table["split"] == split]["kind"].value_counts()
            out[split] = {
                "images": n,
                "estimated_label_errors": int(found.estimated_errors),
                "estimated_error_rate": found.estimated_errors / n if n else math.nan,
                "noise_rate": float(1 - np.trace(found.joint)),
                **{kind: int(mine.get(kind, 0)) for kind in KINDS},
                "outlier_threshold": self.outlier_thresholds.get(split),
            }
        return {
            "dataset": self.dataset,
            "model": self.model,
            "method": self.method,
            "splits": out,
        }


def _rows(split: str, positions, indices, labels, suggested, kind: str, scores, classes) -> pd.DataFrame:
    positions = np.asarray(positions, dtype=np.int64)
    return pd.DataFrame(
        {
            "split": split,
            "index": np.asarray(indices)[positions].astype(np.int64),
            "position": positions,
            "label": labels[positions].astype(np.int64),
            "class": [classes[k] for k in labels[positions]],
            "suggested_label": np.asarray(suggested, dtype=np.int64),
            "suggested_class": [classes[k] for k in np.asarray(suggested, dtype=np.int64)],
            "kind": kind,
            "score": np.asarray(scores, dtype=np.float64),
            "rank": np.arange(1, len(positions) + 1, dtype=np.int64),
        },
        columns=TABLE_COLUMNS,
    )


def ambiguous(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the ambiguous images (two most probable classes within
    ``AMBIGUOUS_MARGIN``), most ambiguous first, and their margins.

    Parameters
    ----------
    probabilities : ndarray of shape (n, k)
        Out-of-sample class probabilities.

    Returns
    -------
    tuple of ndarray
        Positions and the margins between their two most probable classes.
    """
    top = np.sort(probabilities, axis=1)[:, -2:]
    margin = top[:, 1] - top[:, 0]
    found = np.flatnonzero(margin < AMBIGUOUS_MARGIN)
    found = found[np.argsort(margin[found], kind="stable")]
    return found, margin[found]


def outliers(distances: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Positions of the images whose distance to the nearest class centroid lies beyond Tukey's
    far fence (``Q3 + OUTLIER_FENCE * IQR`` of these distances), farthest first.

    Parameters
    ----------
    distances : ndarray of shape (n,)
        Each image's RMS distance to the nearest class centroid (0..255 scale).

    Returns
    -------
    tuple
        Positions, their distances, and the fence.
    """
    q1, q3 = np.percentile(distances, [25, 75])
    fence = float(q3 + OUTLIER_FENCE * (q3 - q1))
    found = np.flatnonzero(distances > fence)
    found = found[np.argsort(-distances[found], kind="stable")]
    return found, distances[found], fence


def _nearest_centroid_distances(
    images: np.ndarray, centroids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each image's RMS distance (0..255) to its nearest class centroid, and that class."""
    from mnistlab.models.centroid import squared_distances

    present = np.flatnonzero(~np.isnan(centroids).any(axis=1))
    flat = images.reshape(len(images), -1)
    squared = squared_distances(flat, centroids[present])
    nearest = np.argmin(squared, axis=1)
    rms = np.sqrt(squared[np.arange(len(flat)), nearest] / flat.shape[1])
    return rms, present[nearest]


def label_issues(
    dataset,
    split: str = "train",
    model: str | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    method: str = "self_confidence",
    probabilities=None,
    duplicates=None,
    progress: bool | None = None,
) -> LabelIssues:
    """Which images are probably mislabelled, ambiguous or out of place.

    Out-of-sample class probabilities (:func:`out_of_sample_probabilities`: K-fold
    cross-validation for the training split, a model fitted on the training split for the test
    split) feed confident learning (:func:`confident_learning`): probable label errors with the
    estimated noise matrix. Beside them: ambiguous images (the two most probable classes within
    ``AMBIGUOUS_MARGIN``), outliers (far from every class centroid, beyond Tukey's far fence) and,
    when ``duplicates`` are given, the near duplicates whose labels differ (joined, not found
    again).

    Parameters
    ----------
    dataset : Dataset
        In memory, with a test split for ``split="test"`` or ``"both"``.
    split : {"train", "test", "both"}
        Which images to examine.
    model : str, optional
        A named model of :mod:`mnistlab.models` that gives probabilities (default: the fast one
        of :func:`out_of_sample_probabilities`).
    folds : int, default 5
        Cross-validation folds for the training split.
    seed : int, default 0
        Seeds the folds and the model.
    method : {"self_confidence", "normalized_margin"}
        The label-quality score that ranks the label errors.
    probabilities : Probabilities or dict of them, optional
        Probabilities already made (saved and reloaded, say) for the split(s): none are fitted.
    duplicates : Duplicates, optional
        :func:`mnistlab.similarity.find_duplicates` of the dataset, whose pairs with differing
        labels become issues.
    progress : bool, optional
        Bars over the folds.

    Returns
    -------
    LabelIssues
        The table of issues, the confident-learning quantities and the probabilities per split.

    Raises
    ------
    ValueError
        On an unknown split, a dataset without the test split asked for, or probabilities that
        do not belong to this dataset.
    """
    from mnistlab import stats
    from mnistlab.quality.probabilities import DEFAULT, out_of_sample_probabilities

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}.")
    wanted = ["train", "test"] if split == "both" else [split]
    if "test" in wanted and dataset.test is None:
        raise ValueError(f"{dataset.name} has no test split to look for label issues in.")
    model = model or DEFAULT
    given = probabilities if isinstance(probabilities, dict) else {}
    if probabilities is not None and not isinstance(probabilities, dict):
        given = {probabilities.split: probabilities}
    classes = tuple(dataset.classes)
    centroids = stats.centroids(dataset.train).means.reshape(len(classes), -1)
    parts, found, made, fences = [], {}, {}, {}
    for name in wanted:
        chosen = dataset.split(name)
        p = given.get(name)
        if p is None:
            p = out_of_sample_probabilities(
                dataset, name, model, folds=folds, seed=seed, progress=progress
            )
        _check_belongs(p, chosen, classes, name)
        made[name] = p
        labels = np.asarray(chosen.labels, dtype=np.int64)
        result = confident_learning(labels, p.probabilities, method=method)
        found[name] = result
        indices = chosen.indices
        issues = result.issues
        parts.append(
            _rows(
                name,
                issues,
                indices,
                labels,
                result.suggested[issues],
                KINDS[0],
                result.scores[issues],
                classes,
            )
        )
        unsure, margins = ambiguous(p.probabilities)
        parts.append(
            _rows(name, unsure, indices, labels, result.suggested[unsure], KINDS[1], margins, classes)
        )
        distances, nearest = _nearest_centroid_distances(chosen.images, centroids)
        far, far_distances, fences[name] = outliers(distances)
        parts.append(_rows(name, far, indices, labels, nearest[far], KINDS[2], far_distances, classes))
        if duplicates is not None:
            parts.append(_duplicate_rows(duplicates, name, chosen, classes))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=TABLE_COLUMNS)
    model_name = next(iter(made.values())).model if made else model
    return LabelIssues(dataset.name, classes, model_name, method, table, found, made, fences)


def _check_belongs(p, split, classes, name: str) -> None:
    """``p`` (Probabilities) are of the images of ``split``: same classes, count and labels."""
    if tuple(p.classes) != classes:
        raise ValueError(
            f"the probabilities given for {name} are of the classes {list(p.classes)}, not of this "
            f"dataset's {list(classes)}."
        )
    if len(p.labels) != len(split):
        raise ValueError(
            f"the probabilities given for {name} are of {len(p.labels):,} images; the split has "
            f"{len(split):,}."
        )
    if not np.array_equal(np.asarray(p.labels), np.asarray(split.labels)):
        raise ValueError(f"the probabilities given for {name} carry other labels than this split's.")


def _duplicate_rows(duplicates, name: str, split, classes) -> pd.DataFrame:
    """This split's images in near-duplicate pairs whose labels differ: each suggested the other
    image's label, scored by the pair's RMS distance (closest first)."""
    pairs = duplicates.pairs[duplicates.pairs["labels_differ"]]
    rows = []
    for side, other in (("a", "b"), ("b", "a")):
        mine = pairs[pairs[f"split_{side}"] == name]
        rows += list(
            zip(mine[f"index_{side}"], mine[f"label_{other}"], mine["rms_distance"], strict=True)
        )
    rows.sort(key=lambda r: (r[2], r[0]))
    positions = np.array([r[0] for r in rows], dtype=np.int64)
    labels = np.asarray(split.labels, dtype=np.int64)
    suggested = [r[1] for r in rows]
    scores = [r[2] for r in rows]
    return _rows(name, positions, split.indices, labels, suggested, KINDS[3], scores, classes)
