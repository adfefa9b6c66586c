"""Context for a comparison: what is a typical value of each metric between images of a dataset?"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mnistlab.similarity.metrics import Comparison, compare
from mnistlab.similarity.neighbours import NearestImages

#: Neighbours looked at per image for its nearest of the same class (see metric_context).
CONTEXT_DEPTH = 30
#: Metrics where a smaller value means more similar.
DISTANCES = ("euclidean", "rms")


def metric_context(split, n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Each metric over typical pairs of a split, to put a single comparison in context.

    Two kinds of pairs, ``n`` of each (fewer if the split is small): an image and its nearest
    neighbour of the same class ("same-class nearest neighbour"), and two images drawn at random
    ("random pair").

    Parameters
    ----------
    split : Split
        The images the pairs are drawn from (at least two, else the table is empty).
    n : int, default 200
        Pairs of each kind (fewer if the split is smaller).
    seed : int, default 0
        Seed of the random choice of images and pairs.

    Returns
    -------
    DataFrame
        A long table ``kind, metric, value``, one row per pair and metric.

    Raises
    ------
    ValueError
        If ``n`` is not a positive whole number.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive whole number, got {n!r}.")
    if len(split) < 2:
        return pd.DataFrame(columns=["kind", "metric", "value"])  # no pair to compare
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(split), size=min(n, len(split)), replace=False)
    labels = split.labels
    pairs: list[tuple[str, int, int]] = []
    # The nearest image of the same class is the first of that class in the overall ranking:
    # one search of the whole split, and a search within the class for the rare image whose
    # CONTEXT_DEPTH nearest are all of other classes.
    depth = min(CONTEXT_DEPTH, len(split) - 1)
    found = (
        NearestImages().fit(split.images).kneighbors(split.images[chosen], depth + 1)[1]
        if depth
        else None
    )
    missing = []
    for row, query in enumerate(chosen):
        same = (
            [] if found is None else [j for j in found[row] if j != query and labels[j] == labels[query]]
        )
        if same:
            pairs.append(("same-class nearest neighbour", int(query), int(same[0])))
        elif np.sum(labels == labels[query]) > 1:
            missing.append(int(query))
    for query in missing:
        members = np.flatnonzero(labels == labels[query])
        others = members[members != query]
        _, nearest = NearestImages().fit(split.images[others]).kneighbors(split.images[[query]], 1)
        pairs.append(("same-class nearest neighbour", query, int(others[nearest[0, 0]])))
    for _ in range(len(chosen)):
        i, j = rng.choice(len(split), size=2, replace=False)
        pairs.append(("random pair", int(i), int(j)))
    rows = []
    for kind, i, j in pairs:
        for metric, value in compare(split.images[i], split.images[j]).values().items():
            rows.append((kind, metric, value))
    return pd.DataFrame(rows, columns=["kind", "metric", "value"])


def percentiles(comparison: Comparison, context: pd.DataFrame) -> pd.DataFrame:
    """For each metric and kind of pair: the share of such pairs *less similar* than this one.

    Parameters
    ----------
    comparison : Comparison
        Two images compared by :func:`compare`.
    context : DataFrame
        Typical pairs, as :func:`metric_context` returns them.

    Returns
    -------
    DataFrame
        ``metric, kind, more_similar_than`` (0..1); NaN values are left out.
    """
    rows = []
    for (kind, metric), values in context.groupby(["kind", "metric"])["value"]:
        value = getattr(comparison, metric)
        values = values.dropna().to_numpy()
        if not len(values) or not math.isfinite(value):
            continue
        less_similar = values > value if metric in DISTANCES else values < value
        rows.append((metric, kind, float(np.mean(less_similar))))
    return pd.DataFrame(rows, columns=["metric", "kind", "more_similar_than"])


@dataclass(frozen=True)
class InContext:
    """A comparison placed among a dataset's typical pairs (see :func:`in_context`).

    ``table`` has the columns ``metric, kind, more_similar_than`` of :func:`percentiles`;
    ``pairs`` is how many pairs of each kind were compared.
    """

    dataset: str
    table: pd.DataFrame
    pairs: dict[str, int]

    def __repr__(self) -> str:
        said = ", ".join(f"{n} {kind}s" for kind, n in self.pairs.items())
        return f"InContext(dataset={self.dataset!r}, pairs: {said or 'none'})"

    @property
    def kinds(self) -> list[str]:
        """The kinds of pairs, sorted."""
        return sorted(self.table["kind"].unique())

    def more_similar_than(self, metric: str, kind: str) -> float | None:
        """The share of ``kind`` pairs less similar than the compared images under ``metric``
        (``None`` where the metric is undefined for them)."""
        hit = self.table[(self.table["metric"] == metric) & (self.table["kind"] == kind)]
        return float(hit["more_similar_than"].iloc[0]) if len(hit) else None

    def to_dict(self) -> dict:
        """``{"dataset": ..., "more_similar_than": {metric: {kind: share}}}``."""
        return {
            "dataset": self.dataset,
            "more_similar_than": {
                m: dict(zip(g["kind"], g["more_similar_than"], strict=True))
                for m, g in self.table.groupby("metric")
            },
        }


def in_context(comparison: Comparison, dataset, n: int = 200, seed: int = 0) -> InContext | None:
    """Place ``comparison`` among the typical pairs of ``dataset``'s training images.

    Parameters
    ----------
    comparison : Comparison
        Two images compared by :func:`compare`.
    dataset : Dataset
        A dataset with images of the compared images' shape.
    n, seed : int
        Pairs of each kind, and the seed that draws them (see :func:`metric_context`).

    Returns
    -------
    InContext or None
        ``None`` when the training split has fewer than two images (no pair to compare).

    Raises
    ------
    ValueError
        If the dataset's images do not have the compared images' shape.
    """
    from mnistlab.data.lazy import LazyDataset

    if isinstance(dataset, LazyDataset):
        raise ValueError(
            f"{dataset.name} is a Zarr store; typical pairs search its whole training split in "
            "memory: give an in-memory part of it (dataset.subset(first)) or another dataset."
        )
    if tuple(dataset.image_shape) != tuple(comparison.shape):
        raise ValueError(
            f"{dataset.name}: its images are {tuple(dataset.image_shape)}, the compared images "
            f"{tuple(comparison.shape)}; typical pairs come from images of the same size."
        )
    typical = metric_context(dataset.train, n=n, seed=seed)
    if not len(typical):
        return None
    metrics = typical["metric"].nunique()
    sizes = {kind: int(count) // metrics for kind, count in typical.groupby("kind").size().items()}
    return InContext(dataset.name, percentiles(comparison, typical), sizes)
