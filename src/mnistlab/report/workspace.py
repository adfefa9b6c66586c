"""The report as a place to work: a class-by-class view and each section's data as tables.

Pure functions over :class:`~mnistlab.report.analyses.Analyses`: they gather what the sections
already computed (centroids, typicality, closest pairs, label issues, the map) into small
dataclasses; nothing is drawn or written here (the builder turns the results into images, HTML
and CSV links).

>>> import mnistlab
>>> from mnistlab.report.analyses import Analyses
>>> a = Analyses(mnistlab.load("digits"), models=("centroid",))
>>> view = class_views(a, with_map=False).views[3]
>>> view.name, view.images, [c.name for c in view.closest][:1]
('3', 136, ['9'])
>>> view.least_typical[0].caption
'train #1202, class 3, distance 82.6'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mnistlab import stats
from mnistlab.data.lazy import LazyDataset
from mnistlab.quality.issues import KINDS
from mnistlab.report.analyses import Analyses

if TYPE_CHECKING:
    from mnistlab.maps import Map

__all__ = [
    "ClassIssues",
    "ClassView",
    "CloseClass",
    "DataTable",
    "ImageRef",
    "Workspace",
    "class_views",
    "section_data",
]

#: Least and most typical training images shown per class.
TYPICAL_PER_CLASS = 4
#: Closest other classes (by the RMS difference of the centroids) listed per class.
CLOSEST_CLASSES = 3
#: Label issues of a class shown with their images (label errors first).
ISSUES_PER_CLASS = 6
#: Rows beyond which a section's richer data is cut (the page carries it, base64-encoded).
DATA_ROWS = 5_000
#: Least typical training images per class in the atypical section's data.
ATYPICAL_ROWS_PER_CLASS = 20


@dataclass(frozen=True, eq=False)
class ImageRef:
    """One image of the dataset, named: its split, index, class, file (if read from one).

    Attributes
    ----------
    split : str
        "train" or "test".
    index : int
        The image's index in its split (``Split.indices``).
    label : int
        Its class, an index into the dataset's classes.
    class_name : str
        That class's name.
    image : ndarray of uint8, shape (h, w)
        Its pixels, 0..255.
    file : str or None
        The file it was read from, for datasets read from image files.
    detail : str
        What it is shown for ("distance 71.1", "label error, suggested 8").
    short : str
        The same in a few characters, to print under a thumbnail ("71", "-> 8").
    """

    split: str
    index: int
    label: int
    class_name: str
    image: np.ndarray = field(repr=False)
    file: str | None = None
    detail: str = ""
    short: str = ""

    @property
    def caption(self) -> str:
        """``train #12, class 3, file a/b.png, distance 71.1``: which image this is."""
        parts = [f"{self.split} #{self.index}", f"class {self.class_name}"]
        if self.file:
            parts.append(f"file {self.file}")
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)


@dataclass(frozen=True)
class CloseClass:
    """Another class and the RMS difference (0..255 scale) of its centroid to this class's."""

    label: int
    name: str
    rms: float


@dataclass(frozen=True, eq=False)
class ClassIssues:
    """A class's label issues: test images given this class, by kind, and the first of them."""

    counts: dict[str, int]
    shown: list[ImageRef]

    @property
    def total(self) -> int:
        """Issues of every kind (an image may count under several kinds)."""
        return sum(self.counts.values())


@dataclass(frozen=True, eq=False)
class ClassView:
    """What the report knows about one class.

    Attributes
    ----------
    label : int
        The class's index.
    name : str
        Its name.
    images : int
        Its training images.
    centroid : ndarray of float64, shape (h, w), or None
        Its mean training image (0..255); None when it has no training image.
    least_typical, most_typical : list of ImageRef
        Its training images farthest from and nearest to its centroid, in that order.
    closest : list of CloseClass
        The other classes whose centroids are nearest to its own, nearest first.
    issues : ClassIssues or None
        Its label issues; None when the report found none for the dataset (see
        :attr:`Workspace.issues_note`).
    on_map : int
        Its points on the dataset's map (0 without a map).
    """

    label: int
    name: str
    images: int
    centroid: np.ndarray | None = field(repr=False)
    least_typical: list[ImageRef]
    most_typical: list[ImageRef]
    closest: list[CloseClass]
    issues: ClassIssues | None
    on_map: int = 0


@dataclass(frozen=True, eq=False)
class Workspace:
    """Every class of one dataset (:class:`ClassView`), its map, and what is missing and why.

    Attributes
    ----------
    dataset : str
        The dataset's name.
    views : list of ClassView
        One per class, in label order.
    map : mnistlab.maps.Map or None
        The report's map of the dataset, where each class is shown.
    map_note : str
        What the map is, or why there is none.
    issues_note : str
        Where the label issues come from, or why there are none.
    """

    dataset: str
    views: list[ClassView]
    map: Map | None = field(repr=False)
    map_note: str
    issues_note: str

    def table(self) -> pd.DataFrame:
        """One row per class: images, typical images, closest classes, issues, map points."""
        rows = []
        for v in self.views:
            rows.append(
                {
                    "label": v.label,
                    "class": v.name,
                    "training images": v.images,
                    "least typical (train index)": " ".join(str(r.index) for r in v.least_typical),
                    "most typical (train index)": " ".join(str(r.index) for r in v.most_typical),
                    "closest classes (RMS)": "; ".join(f"{c.name} ({c.rms:.1f})" for c in v.closest),
                    **{
                        f"{kind} (test)": (v.issues.counts[kind] if v.issues else None) for kind in KINDS
                    },
                    "points on the map": v.on_map if self.map is not None else None,
                }
            )
        return pd.DataFrame(rows)


def class_views(
    a: Analyses,
    *,
    typical: int = TYPICAL_PER_CLASS,
    closest: int = CLOSEST_CLASSES,
    issues: int = ISSUES_PER_CLASS,
    with_map: bool = True,
) -> Workspace:
    """Gather, for every class of ``a``'s dataset, what the report's analyses say about it.

    Reuses ``a.centroids``, ``a.typicality``, ``a.closest_pairs``, ``a.label_issues`` and
    ``a.map``: nothing is fitted or searched again once the sections have run.

    Parameters
    ----------
    a : Analyses
        The dataset's shared analyses.
    typical : int, default TYPICAL_PER_CLASS
        Least and most typical training images per class (a Zarr store's typicality keeps
        ``GALLERY_PER_CLASS``: at most that many).
    closest : int, default CLOSEST_CLASSES
        Closest other classes per class.
    issues : int, default ISSUES_PER_CLASS
        Label issues per class shown with their images (every one is counted).
    with_map : bool, default True
        Whether to place the classes on ``a.map`` (computed if no section needed it before).

    Returns
    -------
    Workspace
    """
    ds = a.ds
    centroids = a.centroids
    least, most = _typical_images(a, typical)
    near = _closest_classes(a.closest_pairs, len(ds.classes), closest)
    found, issues_note = _issues_by_class(a, issues)
    the_map, map_note = (a.map, _map_note(a)) if with_map else (None, "")
    mapped = (
        np.bincount(the_map.labels, minlength=len(ds.classes))
        if the_map is not None and the_map.labels is not None
        else np.zeros(len(ds.classes), np.int64)
    )
    views = [
        ClassView(
            label=k,
            name=name,
            images=int(centroids.counts[k]),
            centroid=centroids.means[k] if centroids.counts[k] else None,
            least_typical=least[k],
            most_typical=most[k],
            closest=near[k],
            issues=None if found is None else found[k],
            on_map=int(mapped[k]),
        )
        for k, name in enumerate(ds.classes)
    ]
    return Workspace(ds.name, views, the_map, map_note, issues_note)


def _typical_images(a: Analyses, n: int) -> tuple[list[list[ImageRef]], list[list[ImageRef]]]:
    """Per class, its ``n`` least and ``n`` most typical training images."""
    t = a.typicality
    if isinstance(t, stats.Typicality):
        least, most = t.least_typical(n), t.most_typical(n)
    else:  # a store's extremes: as many per class as were kept
        least, most = t.least_typical(), t.most_typical()
    least, most = (table.groupby("label", sort=False).head(n) for table in (least, most))
    table = pd.concat([least, most], ignore_index=True)
    positions = table["position"].to_numpy(np.int64)
    # A store's images are read where they lie in its chunks.
    ds = a.ds
    taken = ds.train.take(positions) if isinstance(ds, LazyDataset) else ds.train[positions]
    files = [None] * len(table) if taken.files is None else [str(f) for f in taken.files]
    classes = a.ds.classes
    out: tuple[list[list[ImageRef]], ...] = tuple([[] for _ in classes] for _ in range(2))
    for i, (index, label, distance) in enumerate(
        table[["index", "label", "distance"]].itertuples(index=False)
    ):
        ref = ImageRef(
            "train",
            int(index),
            int(label),
            classes[label],
            taken.images[i],
            files[i],
            f"distance {distance:.1f}",
            f"{distance:.0f}",
        )
        out[int(i >= len(least))][ref.label].append(ref)
    return out[0], out[1]


def _closest_classes(pairs: pd.DataFrame, k: int, n: int) -> list[list[CloseClass]]:
    """Per class, the ``n`` classes whose centroids are nearest, from every pair (closest first)."""
    near: list[list[CloseClass]] = [[] for _ in range(k)]
    for a, b, name_a, name_b, rms in pairs[["class_a", "class_b", "name_a", "name_b", "rms"]].itertuples(
        index=False
    ):
        if len(near[a]) < n:
            near[a].append(CloseClass(int(b), str(name_b), float(rms)))
        if len(near[b]) < n:
            near[b].append(CloseClass(int(a), str(name_a), float(rms)))
    return near


def _issues_by_class(a: Analyses, n: int) -> tuple[list[ClassIssues] | None, str]:
    """Per class, the label issues of the test images given that class; or None and why."""
    if a.store:
        return None, "Label issues need the images in memory: none for a Zarr store."
    found = a.label_issues
    if found is None:
        return None, "No label issues: they need a test split and a model trained with probabilities."
    test = a.memory.test
    assert test is not None  # label issues are found on the test split
    table = found.table[found.table["split"] == "test"]
    kind_order = {kind: i for i, kind in enumerate(KINDS)}
    table = table.assign(_kind=table["kind"].map(kind_order)).sort_values(
        ["_kind", "rank"], kind="stable"
    )
    out = []
    for k in range(len(a.ds.classes)):
        mine = table[table["label"] == k]
        counts = {kind: int((mine["kind"] == kind).sum()) for kind in KINDS}
        shown = []
        for row in mine.drop_duplicates("position").head(n).itertuples(index=False):
            position = int(row.position)
            if row.kind == "outlier":  # far from every centroid: no other class suggested
                detail = short = "outlier"
            else:
                detail = f"{row.kind}, suggested {row.suggested_class}"
                short = f"\u2192 {row.suggested_class}"
            file = None if test.files is None else str(test.files[position])
            image = test.images[position]
            shown.append(
                ImageRef("test", int(row.index), k, a.ds.classes[k], image, file, detail, short)
            )
        out.append(ClassIssues(counts, shown))
    note = (
        f"Label issues of the test split, from the probabilities of {found.model} (the label-issues "
        "section); ambiguous images, outliers and near duplicates whose labels differ included."
    )
    return out, note


def _map_note(a: Analyses) -> str:
    """What the dataset's map is, or why it has none."""
    m = a.map
    if m is not None:
        return f"{m.title} map of {len(m):,} images of the {m.split} split."
    if a.store:
        return f"{a.ds.name} is a Zarr store: the report draws no map of it."
    return f"No map: {a.map_error}" if a.map_error else "No map of this dataset."


@dataclass(frozen=True, eq=False)
class DataTable:
    """Data behind a section, richer than the table it shows, ready to download as CSV.

    Attributes
    ----------
    name : str
        A short name for the file (``closest-pairs``).
    description : str
        What the rows are, for the link's text.
    frame : DataFrame
        The rows (at most ``DATA_ROWS``).
    """

    name: str
    description: str
    frame: pd.DataFrame = field(repr=False)


def section_data(a: Analyses) -> dict[str, list[DataTable]]:
    """The data behind the sections, by section id, from what the sections already computed.

    Only analyses that are already computed are used (never one is started for this), so it
    must run after the sections; a table longer than ``DATA_ROWS`` is cut to its first rows (the
    description says so).

    Parameters
    ----------
    a : Analyses
        The dataset's shared analyses, after the sections ran.

    Returns
    -------
    dict of str to list of DataTable
        Section id -> its data tables (sections with none are left out).
    """
    done = vars(a)  # cached_property keeps each computed result in the instance's __dict__
    out: dict[str, list[DataTable]] = {}

    def add(section: str, name: str, description: str, frame: pd.DataFrame) -> None:
        if len(frame) > DATA_ROWS:
            description += f" (the first {DATA_ROWS:,} of {len(frame):,})"
            frame = frame.head(DATA_ROWS)
        out.setdefault(section, []).append(DataTable(name, description, frame.reset_index(drop=True)))

    if done.get("closest_pairs") is not None:
        n = len(done["closest_pairs"])
        add(
            "pairs",
            "closest-pairs",
            f"all {n:,} pairs of classes by centroid difference",
            done["closest_pairs"],
        )
    typicality = done.get("typicality")
    if isinstance(typicality, stats.Typicality):
        frame = typicality.least_typical(ATYPICAL_ROWS_PER_CLASS).drop(columns="position")
        add(
            "atypical",
            "least-typical",
            f"the {ATYPICAL_ROWS_PER_CLASS} least typical training images of each class",
            frame,
        )
    if done.get("one_pixel") is not None and len(done["one_pixel"].pairs):
        pairs = done["one_pixel"].pairs
        add("one-pixel", "pairs", f"every fitted pair ({len(pairs):,}): pixel, accuracies, fit", pairs)
    duplicates = done.get("duplicates")
    if duplicates is not None and len(duplicates.pairs):
        add("similarity", "duplicate-pairs", "every duplicate pair found", duplicates.pairs)
    if done.get("nearest_centroid") is not None:
        add(
            "nearest-centroid",
            "confusion",
            "the confusion matrix (rows: true class, columns: predicted)",
            _confusion(done["nearest_centroid"]),
        )
    for result in done.get("models") or []:
        add(
            "models",
            f"confusion-{result.model}",
            f"{result.model}'s confusion matrix (rows: true class, columns: predicted)",
            _confusion(result.evaluation),
        )
    issues = done.get("label_issues")
    if issues is not None:
        add("label-issues", "issues", "every label issue of the test split, of every kind", issues.table)
        matrix = issues.noise_matrix("test").rename_axis("given \\ true").reset_index()
        add("label-issues", "noise-matrix", "the estimated noise matrix P(given | true)", matrix)
    return out


def _confusion(evaluation) -> pd.DataFrame:
    """A confusion matrix as a table: the true class, then a column per predicted class."""
    frame = pd.DataFrame(evaluation.confusion, columns=list(evaluation.classes))
    frame.insert(0, "true \\ predicted", list(evaluation.classes))
    return frame
