"""Exact and near duplicates within a split and across splits (train/test leakage)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mnistlab.similarity.neighbours import NearestImages

DUPLICATE_COLUMNS = [
    "kind",
    "split_a",
    "index_a",
    "label_a",
    "split_b",
    "index_b",
    "label_b",
    "rms_distance",
    "exact",
    "labels_differ",
    "name_a",
    "name_b",
]
_DUPLICATE_DTYPES = {
    "kind": object,
    "split_a": object,
    "index_a": np.int64,
    "label_a": np.int64,
    "split_b": object,
    "index_b": np.int64,
    "label_b": np.int64,
    "rms_distance": np.float64,
    "exact": bool,
    "labels_differ": bool,
    "name_a": object,
    "name_b": object,
}
#: The kinds of pairs, in the order tables show them.
KINDS = ("within train", "within test", "train-test")
#: Groups of identical images up to this size are reported pair by pair.
EXACT_GROUP = 20
#: Default near-duplicate threshold: this fraction of the median nearest-neighbour RMS distance
#: (test to train, or within train without a test split). On MNIST that is 9.9 on the 0..255
#: scale, on Fashion-MNIST 7.9: images a reader would call the same picture.
NEAR_FRACTION = 0.25


@dataclass(frozen=True)
class Duplicates:
    """Exact and near-duplicate pairs within and between the splits of a dataset.

    ``pairs`` has ``DUPLICATE_COLUMNS``: ``kind`` is "within train", "within test" or
    "train-test" (leakage); ``rms_distance`` is on the 0..255 scale; ``labels_differ`` flags pairs
    whose two images carry different classes. ``threshold`` is the RMS distance below which a
    nearest neighbour counts as a near duplicate.
    """

    dataset: str
    classes: tuple[str, ...]
    threshold: float
    pairs: pd.DataFrame
    median_nearest: float
    #: False for a dataset without a test split: nothing "within test" or "train-test" was
    #: looked for, so those kinds have no count at all (not a count of 0).
    has_test: bool = True

    @property
    def missing(self) -> str | None:
        """Why kinds are missing from :meth:`counts` (``None`` when none is)."""
        if self.has_test:
            return None
        return "no test split: within test and train-test (leakage) cannot be looked for"

    def counts(self, *, every_kind: bool = False) -> pd.DataFrame:
        """Per kind searched: exact and near pairs, and how many of them have differing labels.

        Without a test split only "within train" is counted (see :attr:`missing`); with
        ``every_kind`` the kinds that could not be looked for are rows of missing values
        (``<NA>``: not a count of 0), for tables that show every kind.
        """
        rows = []
        for kind in KINDS:
            mine = self.pairs[self.pairs["kind"] == kind]
            if self.has_test or kind == "within train":
                counted = (mine["exact"].sum(), (~mine["exact"]).sum(), mine["labels_differ"].sum())
                rows.append((kind, *map(int, counted)))
            elif every_kind:
                rows.append((kind, pd.NA, pd.NA, pd.NA))
        table = pd.DataFrame(rows, columns=["kind", "exact", "near", "labels_differ"])
        return table.astype({c: "Int64" for c in ("exact", "near", "labels_differ")})


def closest_of_other_classes(
    neighbours: tuple[np.ndarray, np.ndarray], labels: np.ndarray, query_labels: np.ndarray, n: int = 6
) -> pd.DataFrame:
    """The ``n`` closest pairs (query, indexed image) whose classes differ, one per query.

    Parameters
    ----------
    neighbours : tuple of (distances, indices), each of shape (n_queries, k)
        A :meth:`NearestImages.kneighbors` result: the k nearest indexed images of each query.
    labels : ndarray of shape (n_indexed,)
        The classes of the indexed images.
    query_labels : ndarray of shape (n_queries,)
        The classes of the queries.
    n : int, default 6
        How many pairs at most.

    Returns
    -------
    DataFrame
        ``query, image, distance`` (positions, and the search's distance), closest first: for
        each query its nearest indexed image of another class among its k neighbours, if any.
    """
    distances, found = neighbours
    other = np.asarray(labels)[found] != np.asarray(query_labels)[:, None]
    flat = np.flatnonzero(other.ravel())
    order = flat[np.argsort(distances.ravel()[flat], kind="stable")]
    # One pair per query: its closest indexed image of another class.
    order = order[np.unique(order // distances.shape[1], return_index=True)[1]]
    order = order[np.argsort(distances.ravel()[order], kind="stable")][:n]
    query, column = np.divmod(order, distances.shape[1])
    return pd.DataFrame(
        {"query": query, "image": found[query, column], "distance": distances[query, column]}
    )


def _rows(split) -> np.ndarray:
    return np.ascontiguousarray(split.images.reshape(len(split), -1))


def _exact_pairs(splits: dict) -> list[tuple]:
    """Pairs of byte-identical images: every pair of a group of up to ``EXACT_GROUP`` copies;
    in a larger group (blank images, say) each copy is paired with the group's first."""
    names = [name for name in splits for _ in range(len(splits[name]))]
    positions = np.concatenate([np.arange(len(s)) for s in splits.values()])
    rows = np.concatenate([_rows(s) for s in splits.values()])
    keys = rows.view(np.dtype((np.void, rows.shape[1]))).ravel()
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    members = np.flatnonzero(counts[inverse] > 1)
    groups = members[np.argsort(inverse[members], kind="stable")]
    starts = np.flatnonzero(np.diff(inverse[groups], prepend=-1))
    out = []
    for group in np.split(groups, starts[1:]):
        if len(group) <= EXACT_GROUP:
            chosen = [(a, b) for i, a in enumerate(group) for b in group[i + 1 :]]
        else:
            chosen = [(group[0], b) for b in group[1:]]
        for a, b in chosen:
            out.append((names[a], int(positions[a]), names[b], int(positions[b]), 0.0))
    return out


def check_threshold(threshold) -> float:
    """``threshold`` as :func:`find_duplicates` takes it (a non-negative RMS distance), as a
    float; a ValueError otherwise."""
    if isinstance(threshold, bool) or not (
        isinstance(threshold, (int, float, np.number)) and threshold >= 0 and math.isfinite(threshold)
    ):
        raise ValueError(f"threshold must be a non-negative RMS distance, got {threshold!r}.")
    return float(threshold)


def find_duplicates(
    dataset,
    threshold: float | None = None,
    *,
    index: NearestImages | None = None,
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
) -> Duplicates:
    """Exact duplicates (identical bytes) and near duplicates within train, within test and
    between them (train/test leakage).

    Near duplicates are all pairs closer than ``threshold`` in RMS difference per pixel (0..255
    scale), found by an exact radius search (:meth:`NearestImages.pairs_within`); the default
    threshold is ``NEAR_FRACTION`` of the median nearest-neighbour RMS distance of the dataset
    (test to train, or within train). Exact duplicates are every pair of identical images (a group
    of more than ``EXACT_GROUP`` copies: each copy with the first). Each pair appears once; exact
    pairs are reported as exact, not again as near.

    ``index`` (a Euclidean :class:`NearestImages` fitted on the training images) and
    ``neighbours`` (its ``kneighbors(test images, k)`` for any k) are computed here unless a caller
    that already has them passes them in: the report shares one neighbour search between its
    sections. With them, a test image whose k-th nearest training image is beyond the threshold
    needs no radius search: its train-test pairs are among its k neighbours.

    Parameters
    ----------
    dataset : Dataset
        The dataset to search (its train split, and its test split if it has one).
    threshold : float, optional
        Near-duplicate RMS distance per pixel, 0..255 scale (default: see above).
    index : NearestImages, optional
        A Euclidean index fitted on the training images, to reuse.
    neighbours : tuple of (distances, indices), optional
        ``index.kneighbors(test images, k)``, to reuse.

    Returns
    -------
    Duplicates
        The pairs (``pairs``, one row per pair, closest first), their ``counts()``, the threshold
        used and the median nearest-neighbour distance.

    Raises
    ------
    ValueError
        If ``threshold`` is not a non-negative number.

    Examples
    --------
    >>> import mnistlab
    >>> found = find_duplicates(mnistlab.load("digits"))
    >>> found.counts()["exact"].tolist()
    [0, 0, 0]
    """
    if not hasattr(dataset, "splits"):
        raise TypeError(
            f"find_duplicates searches a Dataset (its splits and the leakage between them), not "
            f"{type(dataset).__name__}; for one split, make one: Dataset.from_arrays(...)."
        )
    d = int(np.prod(dataset.image_shape))
    train_index = _training_index(dataset, index)
    median = _median_nearest(dataset, train_index, neighbours) / math.sqrt(d)
    if threshold is None:
        threshold = NEAR_FRACTION * median if math.isfinite(median) else 0.0
    else:
        check_threshold(threshold)
    radius = float(threshold) * math.sqrt(d)
    nearest = {"within train": ("train", "train", *train_index.pairs_within(radius))}
    if dataset.test is not None:
        pairs = _train_test_pairs(train_index, dataset, radius, neighbours)
        nearest["train-test"] = ("test", "train", *pairs)
        test_index = NearestImages().fit(dataset.test.images)
        nearest["within test"] = ("test", "test", *test_index.pairs_within(radius))
    found = _merged_pairs(_exact_pairs(dataset.splits), nearest, d)
    return Duplicates(
        dataset.name,
        tuple(dataset.classes),
        float(threshold),
        _duplicate_table(dataset, found),
        median,
        dataset.test is not None,
    )


def _training_index(dataset, index: NearestImages | None) -> NearestImages:
    """The Euclidean index of the training images: ``index`` if it is one, else a new one."""
    if index is None:
        return NearestImages().fit(dataset.train.images)
    if index.metric != "euclidean" or index.n_samples_fit_ != len(dataset.train):
        raise ValueError("index must be a Euclidean NearestImages fitted on the training images.")
    return index


def _median_nearest(dataset, index: NearestImages, neighbours) -> float:
    """The median distance of each test image to its nearest training image (without a test
    split: of each training image to its nearest other one); NaN for a single image."""
    if neighbours is not None:
        if (
            dataset.test is None
            or np.shape(neighbours[0]) != np.shape(neighbours[1])
            or (len(neighbours[0]) != len(dataset.test))
        ):
            raise ValueError("neighbours must be index.kneighbors(test images): one row per test image.")
        reference = neighbours[0][:, 0]
    elif dataset.test is not None:
        reference = index.kneighbors(dataset.test.images, 1)[0][:, 0]
    elif len(dataset.train) > 1:
        reference = index.kneighbors(None, 1)[0][:, 0]
    else:
        return math.nan
    return float(np.median(reference))


def _merged_pairs(exact: list[tuple], nearest: dict, d: int) -> dict[tuple, float]:
    """``{(split_a, index_a, split_b, index_b): rms}``, each pair once: the exact pairs, then the
    near ones (train first across splits, lower index first within one)."""
    found: dict[tuple, float] = {}
    for split_a, index_a, split_b, index_b, rms in exact:
        found[(split_a, index_a, split_b, index_b)] = rms
    for query_split, target_split, queries, targets, distances in nearest.values():
        for query, target, distance in zip(queries, targets, distances, strict=True):
            if distance == 0:
                continue  # an exact duplicate, reported as such
            a, b = (query_split, int(query)), (target_split, int(target))
            if query_split == target_split:
                a, b = sorted((a, b))
            elif query_split == "test":
                a, b = b, a  # train first
            found.setdefault((*a, *b), float(distance / math.sqrt(d)))
    return found


def _duplicate_table(dataset, found: dict[tuple, float]) -> pd.DataFrame:
    """The pairs as ``DUPLICATE_COLUMNS`` rows, closest first."""
    splits = dataset.splits
    rows = []
    for (split_a, index_a, split_b, index_b), rms in found.items():
        label_a = int(splits[split_a].labels[index_a])
        label_b = int(splits[split_b].labels[index_b])
        kind = f"within {split_a}" if split_a == split_b else "train-test"
        rows.append(
            (
                kind,
                split_a,
                index_a,
                label_a,
                split_b,
                index_b,
                label_b,
                rms,
                rms == 0,
                label_a != label_b,
                dataset.classes[label_a],
                dataset.classes[label_b],
            )
        )
    return (
        pd.DataFrame(rows, columns=DUPLICATE_COLUMNS)
        .astype(_DUPLICATE_DTYPES)
        .sort_values(["rms_distance", "kind", "index_a", "index_b"], ignore_index=True)
    )


def _train_test_pairs(index: NearestImages, dataset, radius: float, neighbours):
    """Every (test, train) pair closer than ``radius``: from the known neighbours where they
    reach beyond it, by a radius search for the other test images."""
    if neighbours is None:
        return index.pairs_within(radius, dataset.test.images)
    distances, found = neighbours
    complete = distances[:, -1] >= radius  # every train image within radius is among the k
    rows, cols = np.nonzero(complete[:, None] & (distances < radius))
    parts = [(rows, found[rows, cols], distances[rows, cols])]
    rest = np.flatnonzero(~complete)
    if len(rest):
        queries, targets, within = index.pairs_within(radius, dataset.test.images[rest])
        parts.append((rest[queries], targets, within))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))
