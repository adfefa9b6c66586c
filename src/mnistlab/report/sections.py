"""Report sections: each one shows every dataset side by side.

Adding a section is one function: decorate it with ``@section(...)``; it receives the
:class:`~mnistlab.report.analyses.Analyses` of one dataset (``a.ds`` is the Dataset; shared
results such as ``a.centroids`` are computed once) and returns a :class:`Panel` (figures,
tables, a note). Sections appear in the order they are registered; ``SECTIONS`` holds them::

    @section("sizes", "Sizes", "What the reader should look at.")
    def sizes(a: Analyses) -> Panel:
        return Panel(tables=[Table(["train images"], [[len(a.ds.train)]])])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mnistlab import plots, stats
from mnistlab._utils.text import percent
from mnistlab.data import DATASETS
from mnistlab.data.dataset import Split
from mnistlab.data.lazy import LazyDataset
from mnistlab.report.analyses import GALLERY_PER_CLASS, NEIGHBOUR_QUERIES, PIXEL_KNN, Analyses
from mnistlab.similarity.duplicates import closest_of_other_classes
from mnistlab.tidy import tidy


@dataclass
class Table:
    """A small table: column names and rows of already formatted cells."""

    columns: list[str]
    rows: Sequence[Sequence[object]]


@dataclass
class Picture:
    """A figure rendered for embedding, with its alt text."""

    uri: str
    alt: str

    @classmethod
    def from_figure(cls, fig: Figure, alt: str) -> Picture:
        return cls(plots.to_data_uri(fig), alt)


@dataclass
class Panel:
    """What one section shows for one dataset."""

    pictures: list[Picture] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    note: str = ""
    #: Ready-made HTML (an interactive figure: markup and its inline scripts), inserted as is;
    #: the page's Content-Security-Policy allows exactly its scripts (their sha256 hashes).
    html: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    """A report section: an anchor id, a title, a sentence or two on what to look at."""

    id: str
    title: str
    intro: str
    panel: Callable[[Analyses], Panel]
    #: Optional: one panel across all datasets, shown above theirs (a comparison table).
    summary: Callable[[list[Analyses]], Panel] | None = None


SECTIONS: list[Section] = []


def section(
    id: str, title: str, intro: str, *, summary: Callable[[list[Analyses]], Panel] | None = None
) -> Callable[[Callable[[Analyses], Panel]], Callable]:
    """Register a function ``Analyses -> Panel`` as a report section.

    Parameters
    ----------
    id : str
        The section's anchor in the page and key in ``summary.json``; unique.
    title, intro : str
        Its heading and the paragraph under it.
    summary : callable, optional
        ``list[Analyses] -> Panel``: a panel across all datasets (see :class:`Section`).

    Returns
    -------
    callable
        A decorator that registers the function and returns it unchanged.

    Raises
    ------
    ValueError
        If a section with this ``id`` exists.
    """

    def register(func: Callable[[Analyses], Panel]) -> Callable[[Analyses], Panel]:
        if any(s.id == id for s in SECTIONS):
            raise ValueError(f"a report section with id {id!r} already exists.")
        SECTIONS.append(Section(id, title, intro, func, summary))
        return func

    return register


#: The largest image side whose values the first section writes out (a report panel's width).
FLATTENING_SIDE = 32
#: Images an alt text names one by one (beyond, it says how many more the figure shows).
ALT_IMAGES = 96


def _which(split, positions, limit: int = ALT_IMAGES) -> str:
    """Which images of ``split`` a gallery shows, in its order, for its alt text (the page's
    enlarged view shows it as the caption): ``train #3 (7, file a/3.png), #10 (2)``."""
    positions = np.asarray(positions, dtype=np.int64).ravel()
    assert split.indices is not None  # every Split has indices
    parts = []
    for p in positions[:limit]:
        file = "" if split.files is None else f", file {split.files[p]}"
        parts.append(f"#{split.indices[p]} ({split.classes[split.labels[p]]}{file})")
    more = f" and {len(positions) - limit:,} more" if len(positions) > limit else ""
    return f"{split.name} " + ", ".join(parts) + more


# --------------------------------------------------------------------------------------------


@section(
    "overview",
    "Sizes, classes, and one image as numbers",
    "How many images each split holds and how they spread over the classes. In a balanced "
    "dataset every class has the same count; an imbalance changes what 'accuracy' means later. "
    "Below, the first training image as a model sees it: a matrix of values 0..255 (the number "
    "in each cell, on that cell's grey), flattened row after row into one row of X, its label "
    "into y.",
)
def overview(a: Analyses) -> Panel:
    ds = a.ds
    facts = Table(
        ["", ""],
        [
            ["image shape", f"{ds.image_shape[0]} x {ds.image_shape[1]} pixels, uint8"],
            *[[f"{name} images", f"{len(split):,}"] for name, split in ds.splits.items()],
            ["classes", str(len(ds.classes))],
        ],
    )
    counts = {name: split.class_counts() for name, split in ds.splits.items()}
    per_class = Table(
        ["label", "class", *counts],
        [[k, name, *[f"{counts[s][name]:,}" for s in counts]] for k, name in enumerate(ds.classes)],
    )
    pictures, h, w = [], *ds.image_shape
    note = (
        f"Loaded from {ds.source}. X = images.reshape(n, {h * w}): row r of an image is features "
        f"{w}*r to {w}*r+{w - 1}."
    )
    if len(ds.train) and max(h, w) <= FLATTENING_SIDE:
        first = ds.train[0:1]  # read alone from a store
        assert first.indices is not None  # every Split has indices (0..n-1 unless given)
        label = int(first.labels[0])
        fig = plots.flattening(
            first.images[0], index=int(first.indices[0]), label=label, class_name=ds.classes[label]
        )
        pictures.append(Picture.from_figure(fig, f"the first training image of {ds.name} as numbers"))
    elif len(ds.train):
        note += f" The images are too large ({h}x{w}) to write every value in this panel."
    if ds.name in DATASETS and max(h, w) <= plots.MAX_VALUE_SIDE:
        note += f" mnistlab show {ds.name}:train:0 --values prints the matrix."
    return Panel(pictures=pictures, tables=[facts, per_class], note=note)


@section(
    "first-images",
    "The first training images",
    "The first 12 training images with their index and class, drawn with white = 0 and "
    "black = 255 for every dataset: a first look at the data (not every class need appear).",
)
def first_images(a: Analyses) -> Panel:
    ds = a.ds
    n = min(12, len(ds.train))
    shown = ds.train[0:n]
    fig = plots.image_grid(shown, range(n), columns=6)
    alt = f"first {n} training images of {ds.name}: {_which(shown, range(n))}"
    return Panel(pictures=[Picture.from_figure(fig, alt)])


def _no_test(a: Analyses) -> Panel:
    return Panel(note=f"{a.ds.name} has no test split or fewer than two classes: no model to evaluate.")


@section(
    "pixel-values",
    "Pixel values",
    "The share of pixels taking each value 0..255 in the training images (log scale), overall "
    "and per class; 0 and 255 in orange. Most pixels are background (0). Ink that piles up near "
    "the top of the scale, with little in between, means nearly black-and-white images; ink "
    "spread over all grey levels means texture the greys carry.",
)
def pixel_values(a: Analyses) -> Panel:
    shares = stats.PixelShares.from_counts(a.pixel_counts)
    table = Table(
        ["pixels equal to 0", "in 1..254", "equal to 255"],
        [[percent(shares.zero), percent(shares.between), percent(shares.full)]],
    )
    rows = []
    for name, counts in zip(a.ds.classes, a.pixel_counts_by_class, strict=True):
        s = stats.PixelShares.from_counts(counts)
        rows.append([name, percent(s.zero), percent(s.between), percent(s.full)])
    per_class = Table(["class", "equal to 0", "in 1..254", "equal to 255"], rows)
    return Panel(
        pictures=[
            Picture.from_figure(plots.pixel_histogram(a.pixel_counts), f"pixel values in {a.ds.name}"),
            Picture.from_figure(
                plots.pixel_histograms_by_class(a.pixel_counts_by_class, a.ds.classes),
                f"pixel values per class in {a.ds.name}",
            ),
        ],
        tables=[table, per_class],
        note=_subset_note(a, plots.MAX_HISTOGRAM_CLASSES, "the per-class figure shows the first {n}"),
    )


def _subset_note(a: Analyses, cap: int, figure: str) -> str:
    """Says that a figure shows ``cap`` of the classes (``figure`` with ``{n}``) and the table
    every class, when there are more classes than ``cap``."""
    k = len(a.ds.classes)
    return f"{k} classes: {figure.format(n=cap)}; the table lists every class." if k > cap else ""


@section(
    "binarisation",
    "Does binarising lose information?",
    "Test accuracy of two simple models trained on the raw pixels and on binarised pixels "
    "(255 where a pixel is >= 128, else 0). A small difference supports the claim that the grey "
    "levels carry little information; a large one says the texture matters.",
)
def binarisation(a: Analyses) -> Panel:
    if a.store:
        return Panel(note=a.in_memory_only)
    result = a.binarisation
    if result is None:
        return _no_test(a)
    rows = [
        [r.model, percent(r.raw), percent(r.binarised), f"{100 * r.difference:+.1f} points"]
        for r in result.itertuples()
    ]
    n_train, n_test = int(result.n_train.iloc[0]), int(result.n_test.iloc[0])
    return Panel(
        tables=[Table(["model", "raw", "binarised", "difference"], rows)],
        note=f"Trained on the first {n_train:,} training images, tested on all {n_test:,} test "
        "images; logistic regression is scikit-learn's (L2, C=1, tol=1e-3) on pixels / 255.",
    )


@section(
    "centroids",
    "Class centroids",
    "The mean training image of each class. Sharp centroids mean the class is drawn "
    "consistently; blurred ones mean it varies in position, shape or thickness.",
)
def centroid_images(a: Analyses) -> Panel:
    fig = plots.centroid_grid(a.centroids)
    c = a.centroids
    # Each class's nearest other centroid: its first appearance going down the closest pairs.
    pairs = a.closest_pairs
    near = pd.concat(
        [
            pairs[["class_a", "name_b", "rms"]].set_axis(["label", "nearest", "rms"], axis=1),
            pairs[["class_b", "name_a", "rms"]].set_axis(["label", "nearest", "rms"], axis=1),
        ]
    )
    near = near.sort_values("rms", kind="stable").drop_duplicates("label").set_index("label")
    rows = []
    for label, (name, n) in enumerate(zip(c.classes, c.counts, strict=True)):
        found = label in near.index
        rows.append(
            [
                name,
                f"{n:,}",
                f"{np.nanmean(c.means[label]):.1f}" if n else "n/a",
                near.at[label, "nearest"] if found else "n/a",
                f"{near.at[label, 'rms']:.1f}" if found else "n/a",
            ]
        )
    return Panel(
        pictures=[Picture.from_figure(fig, f"class centroids of {a.ds.name}")],
        tables=[Table(["class", "images", "mean ink", "nearest centroid", "RMS difference"], rows)],
        note=_subset_note(a, plots.MAX_GRID_CLASSES, "the figure shows the first {n}"),
    )


@section(
    "atypical",
    "Atypical images",
    "Every training image's root-mean-square distance to its own class centroid (pixel scale "
    "0..255, one axis for every dataset). Boxes sit high for classes whose images vary, and "
    "also for classes with more ink (a thin 1 sits low); the far outliers are the unusual, "
    "sometimes mislabelled, images shown first in the gallery (titles: index, distance).",
)
def atypical(a: Analyses) -> Panel:
    summary = a.typicality.summary()
    rows = [
        [r["class"], f"{r['median']:.1f}", f"{r['p90']:.1f}", f"{r['max']:.1f}"]
        for _, r in summary.iterrows()
    ]
    if a.store:
        split, shown = a.typicality.gallery(a.ds.train)
        gallery = plots.typicality_gallery(split, shown, per_class=GALLERY_PER_CLASS)
        return Panel(
            pictures=[Picture.from_figure(gallery, _typical_alt(a, split, shown))],
            tables=[Table(["class", "median", "90th pct", "max"], rows)],
            note=" ".join(
                filter(
                    None,
                    (
                        f"{a.ds.name} is a Zarr store: two passes over its chunks kept each class's "
                        f"{GALLERY_PER_CLASS} least and most typical images and a histogram of "
                        "the distances (medians and percentiles to within 0.01), not every "
                        "distance, so there is no box plot.",
                        _atypical_note(a),
                    ),
                )
            ),
        )
    return Panel(
        pictures=[
            Picture.from_figure(
                plots.distance_boxplot(a.typicality),
                f"box plot of distances to the class centroid per class, {a.ds.name}",
            ),
            Picture.from_figure(
                plots.typicality_gallery(a.ds.train, a.typicality, per_class=GALLERY_PER_CLASS),
                _typical_alt(a, a.memory.train, a.typicality),
            ),
        ],
        tables=[Table(["class", "median", "90th pct", "max"], rows)],
        note=_atypical_note(a),
    )


def _typical_alt(a: Analyses, split: Split, typicality: stats.Typicality) -> str:
    """The gallery's alt text: its least and most typical images by index and class."""
    least = np.concatenate(typicality.positions_by_class(GALLERY_PER_CLASS, least=True))
    most = np.concatenate(typicality.positions_by_class(GALLERY_PER_CLASS, least=False))
    return (
        f"least and most typical images of {a.ds.name}; least typical: {_which(split, least)}; "
        f"most typical: {_which(split, most)}"
    )


def _atypical_note(a: Analyses) -> str:
    k = len(a.ds.classes)
    if k <= plots.MAX_GALLERY_CLASSES:
        return ""
    shown = f"the gallery shows {plots.MAX_GALLERY_CLASSES}"
    if k > plots.MAX_BOX_CLASSES:
        shown = f"the box plot shows {plots.MAX_BOX_CLASSES} and {shown}"
    return (
        f"{k} classes: {shown}, those whose farthest image lies farthest from the class centroid; "
        "the table lists every class."
    )


#: Rows of the report's tables of pairs (closest centroids, hardest for one pixel).
PAIR_ROWS = 10


@section(
    "pairs",
    "How classes differ, pair by pair",
    "Each cell is the row class's centroid minus the column class's: red where the row class "
    "has more ink, blue where the column class has, white where they agree. Pairs with little "
    "colour are the ones a pixel-based classifier will confuse.",
)
def pairs(a: Analyses) -> Panel:
    fig = plots.pair_differences(a.centroids)
    found = a.closest_pairs
    note = ""
    if len(found):
        first = found.iloc[0]
        note = f"Closest centroids: {first.name_a} and {first.name_b} (RMS difference {first.rms:.1f})."
    k = len(a.ds.classes)
    if k > plots.MAX_PAIR_CLASSES:
        note += (
            f" {k} classes make {len(found):,} pairs of classes with images: rather than a "
            f"{k}x{k} grid, the figure shows the {min(plots.MAX_PAIR_PANELS, len(found))} closest."
        )
    table = Table(
        [f"closest pairs ({min(PAIR_ROWS, len(found))} of {len(found):,})", "RMS difference"],
        [[f"{r.name_a} - {r.name_b}", f"{r.rms:.1f}"] for r in found.head(PAIR_ROWS).itertuples()],
    )
    return Panel(
        pictures=[Picture.from_figure(fig, f"pairwise centroid differences, {a.ds.name}")],
        tables=[table] if len(found) else [],
        note=note.strip(),
    )


@section(
    "one-pixel",
    "One pixel per pair",
    "For every pair of classes, a logistic regression on a single pixel (value/255), the pixel "
    "with the best training accuracy chosen, then tested on the test split. High numbers mean a "
    "pair is told apart by one pixel alone: the Fashion-MNIST authors' objection to MNIST. The "
    "rings mark each pair's best pixel on the difference of the two centroids.",
)
def one_pixel(a: Analyses) -> Panel:
    result = a.one_pixel
    if len(result.pairs) == 0:
        return Panel(note="Fewer than two classes have training images: there are no pairs.")
    s = result.summary()
    measure = s["measure"].replace("_", " ")
    worst = result.hardest(PAIR_ROWS)
    hardest = ", ".join(
        f"{r.name_a} vs {r.name_b} ({percent(getattr(r, s['measure']))})"
        for r in worst.head(3).itertuples()
    )
    summary = Table(
        [f"mean {measure}", "min", "max", "pairs >= 90%", "pairs >= 95%"],
        [
            [
                percent(s["mean"]),
                percent(s["min"]),
                percent(s["max"]),
                f"{s['pairs_at_least_0.9']:,} of {s['pairs']:,}",
                f"{s['pairs_at_least_0.95']:,} of {s['pairs']:,}",
            ]
        ],
    )
    pairs_table = Table(
        [f"hardest pairs ({len(worst)} of {len(result.pairs):,})", "pixel (x, y)", "train", "test"],
        [
            [
                f"{r.name_a} vs {r.name_b}",
                f"({r.x}, {r.y})",
                percent(r.train_accuracy),
                percent(r.test_accuracy),
            ]
            for r in worst.itertuples()
        ],
    )
    per_class = Table(
        ["class", "pairs", f"mean {measure}", "min", "hardest against"],
        [
            [r["class"], f"{r.pairs:,}", percent(r["mean"]), percent(r["min"]), r.hardest or "n/a"]
            for _, r in result.per_class().iterrows()
        ],
    )
    note = f"Hardest pairs for one pixel: {hardest}."
    k = len(a.ds.classes)
    if result.bounded:
        note += (
            f" {k} classes make {result.class_pairs:,} pairs: only the {len(result.pairs):,} with "
            "the closest class centroids were fitted (the cost grows with the square of the "
            "class count), so the numbers describe those pairs."
        )
    if k > plots.MAX_PAIR_CLASSES:
        note += (
            f" {k} classes: the heat map shows the {plots.MAX_PAIR_CLASSES} classes of the "
            f"hardest pairs and the rings the {min(plots.MAX_PAIR_PANELS, len(result.pairs))} "
            "hardest pairs; the tables cover every class."
        )
    return Panel(
        pictures=[
            Picture.from_figure(
                plots.separability_heatmap(result), f"one-pixel {measure} per pair, {a.ds.name}"
            ),
            Picture.from_figure(
                plots.best_pixels(result, a.centroids), f"best pixel of each pair, {a.ds.name}"
            ),
        ],
        tables=[summary, pairs_table, per_class],
        note=note,
    )


@section(
    "similarity",
    "Similar images, duplicates and leakage",
    "Exact duplicates (identical bytes) and near duplicates (nearest neighbour closer than a "
    "quarter of the median nearest-neighbour distance) within each split and between train and "
    "test, where they inflate test accuracy; the most similar images of different classes; the "
    "nearest training images of a few test images; and k-nearest-neighbour accuracy.",
)
def similarity(a: Analyses) -> Panel:
    found = a.duplicates
    counts = found.counts(every_kind=True)
    if a.store:  # exact duplicates only: no near ones were looked for
        counts["near"] = "not searched"
    tables = [
        Table(
            ["pairs", "exact", "near", "labels differ"],
            [[r.kind, *(_count(v) for v in r[2:])] for r in counts.itertuples()],
        )
    ]
    pictures = []
    if len(found.pairs):
        pictures.append(
            Picture.from_figure(
                plots.duplicate_pairs(a.ds, found.pairs, n=6, title="closest pairs"),
                f"closest duplicate pairs, {a.ds.name}: "
                + "; ".join(
                    f"{r.split_a} #{r.index_a} ({r.name_a}) and {r.split_b} #{r.index_b} ({r.name_b})"
                    for r in found.pairs.head(6).itertuples()
                ),
            )
        )
    neighbours = a.test_neighbours
    # Test neighbours come with a test split in memory, and with the k-NN evaluation made from them.
    train, test = (a.ds.train, None) if a.store else (a.memory.train, a.memory.test)
    if neighbours is not None and test is not None and a.pixel_knn is not None:
        assert isinstance(train, Split)  # in memory, as the neighbours are
        assert train.indices is not None and test.indices is not None  # every Split has them
        found_idx = neighbours[1]
        rows = [[str(k), percent(e.accuracy)] for k, e in a.pixel_knn.items()]
        tables.append(Table(["k", "k-NN test accuracy"], rows))
        confusable = closest_of_other_classes(neighbours, train.labels, test.labels, n=6)
        if len(confusable):
            images, titles = [], []
            side = math.sqrt(np.prod(a.ds.image_shape))
            for q, t, distance in confusable.itertuples(index=False):
                images += [test.images[q], train.images[t]]
                titles += [
                    f"test #{test.indices[q]} · {a.ds.classes[test.labels[q]]}",
                    f"train #{train.indices[t]} · {a.ds.classes[train.labels[t]]}\n"
                    f"RMS {distance / side:.1f}",
                ]
            pictures.append(
                Picture.from_figure(
                    plots.titled_images(
                        images, titles, columns=6, title="most similar images of different classes"
                    ),
                    f"most similar pairs of different classes, {a.ds.name}: "
                    + "; ".join(
                        f"{x} and {y}".replace("\n", ", ")
                        for x, y in zip(titles[::2], titles[1::2], strict=True)
                    ),
                )
            )
        shown = min(NEIGHBOUR_QUERIES, len(test))
        pictures.append(_neighbour_gallery(a, test[0:shown], train[neighbours[1][:shown].ravel()]))
    elif a.store_neighbours is not None:
        queries, found_idx = a.store_neighbours
        assert isinstance(a.ds, LazyDataset)  # only a store's are searched this way
        pictures.append(_neighbour_gallery(a, queries, a.ds.train.take(found_idx.ravel())))
    if a.store:
        note = (
            f"{a.ds.name} is a Zarr store: exact duplicates only, found from a content fingerprint "
            "of every image over its chunks and confirmed byte by byte; the nearest training "
            f"images of the first {NEIGHBOUR_QUERIES} test images by an exact search of every "
            "chunk. Near duplicates and the k-NN accuracy need the nearest training images of "
            "every image (test x train distances), left out at this size (mnistlab report "
            "--first N computes them for the first N images)."
        )
    else:
        note = (
            f"Near-duplicate threshold: RMS {found.threshold:.2f} on the 0..255 scale (median "
            f"nearest-neighbour distance {found.median_nearest:.1f})."
        )
    if found.missing:
        note += f" n/a: {found.missing}."
    return Panel(pictures=pictures, tables=tables, note=note)


def _neighbour_gallery(a: Analyses, queries: Split, found: Split) -> Picture:
    """Each query (a row) and its nearest training images ``found`` (the queries' in turn)."""
    assert queries.indices is not None and found.indices is not None  # every Split has them
    k = len(found) // max(1, len(queries))
    images, titles = [], []
    for q in range(len(queries)):
        images.append(queries.images[q])
        titles.append(f"test #{queries.indices[q]} · {a.ds.classes[queries.labels[q]]}")
        for t in range(q * k, (q + 1) * k):
            images.append(found.images[t])
            titles.append(f"#{found.indices[t]} · {a.ds.classes[found.labels[t]]}")
    figure = plots.titled_images(
        images, titles, columns=k + 1, title=f"test images and their {k} nearest training images"
    )
    alt = f"nearest training images of test images, {a.ds.name}: " + "; ".join(
        f"{_which(queries, [q])}: {_which(found, range(q * k, (q + 1) * k))}"
        for q in range(len(queries))
    )
    return Picture.from_figure(figure, alt)


def _count(value) -> str:
    """A count as a table shows it: n/a where it could not be counted, words kept."""
    if isinstance(value, str):
        return value
    return "n/a" if pd.isna(value) else f"{value:,}"


@section(
    "nearest-centroid",
    "Nearest-centroid classifier",
    "Each test image gets the class of the closest training centroid (Euclidean distance on the raw "
    "0..255 pixels). The simplest classifier there is: its accuracy is the baseline every model "
    "must beat, and its confusions name the classes whose average shapes overlap. The models "
    "section's centroid model standardises each pixel first (as the benchmark's pipelines do), "
    "which weighs rarely inked border pixels as much as the stroke: its accuracy differs.",
)
def nearest_centroid(a: Analyses) -> Panel:
    result = a.nearest_centroid
    if result is None:
        return _no_test(a)
    confused = ", ".join(f"{t} as {p} ({n})" for t, p, n in result.most_confused(3))
    note = f"Most frequent confusions: {confused}." if confused else ""
    return Panel(
        pictures=[
            Picture.from_figure(
                plots.confusion_matrix(result), f"confusion matrix of the nearest centroid, {a.ds.name}"
            )
        ],
        tables=[Table(["test accuracy"], [[percent(result.accuracy)]]), _per_class(result)],
        note=" ".join(filter(None, (note, _confusion_note(a)))),
    )


def _per_class(evaluation) -> Table:
    """Test accuracy and test images of every class."""
    return Table(
        ["class", "accuracy", "test images"],
        [
            [name, percent(acc), f"{int(evaluation.confusion[k].sum()):,}"]
            for k, (name, acc) in enumerate(zip(evaluation.classes, evaluation.per_class, strict=True))
        ],
    )


def _confusion_note(a: Analyses) -> str:
    return _subset_note(
        a, plots.MAX_CONFUSION_CLASSES, "the confusion matrix shows the {n} most confused"
    )


def _accuracies(a: Analyses) -> dict[str, tuple[str, float]]:
    """Model -> (family, test accuracy) of one dataset: the trained models, then the k-NN on
    pixels taken from the shared neighbour search."""
    from mnistlab.models import MODELS

    found = {r.model: (MODELS[r.model].family, r.evaluation.accuracy) for r in a.models or []}
    if a.pixel_knn is not None:
        found[PIXEL_KNN] = ("neighbours", a.pixel_knn[5].accuracy)
    return found


def models_summary(analyses: list[Analyses]) -> Panel:
    """Test accuracy of every model on every dataset, and the gap to the first dataset per family."""
    measured = {a.ds.name: _accuracies(a) for a in analyses if a.models}
    if not measured:
        if all(a.store for a in analyses):
            return Panel(note="Every dataset is a Zarr store: the models train in memory, so none was.")
        return Panel(note="No dataset has a test split: no model was trained.")
    names = list(measured)
    family = {m: f for found in measured.values() for m, (f, _) in found.items()}
    models = list(family)
    accuracy = {(n, m): measured[n].get(m, ("", math.nan))[1] for n in names for m in models}
    first, others = names[0], names[1:]
    gap = [f"{n} vs {first}" for n in others]
    rows = []
    for m in models:
        cells = [accuracy[n, m] for n in names]
        rows.append([m, family[m], *map(percent, cells), *(_points(c - cells[0]) for c in cells[1:])])
    tables = [Table(["model", "family", *names, *gap], rows)]
    families = list(dict.fromkeys(family.values()))
    by_family = []
    for f in families:
        best = [max((accuracy[n, m] for m in models if family[m] == f), default=math.nan) for n in names]
        by_family.append([f, *map(percent, best), *(_points(b - best[0]) for b in best[1:])])
    if any(sum(family[m] == f for m in models) > 1 for f in families):
        tables.append(Table(["family (best model)", *names, *gap], by_family))
    trained = [m for m in models if m != PIXEL_KNN]
    note = (
        f"Models trained: {', '.join(trained)}, named configurations of mnistlab benchmark (classic "
        "models: StandardScaler, then the classifier, as in the Fashion-MNIST benchmark). "
        f"{PIXEL_KNN}: the majority of the 5 nearest training images by Euclidean distance on the "
        "raw pixels, from the similarity section's search (the paper's k-NN on standardised "
        "pixels is the named model knn: report --models quick). Differences are in percentage points."
    )
    return Panel(tables=tables, note=note)


def _points(x: float) -> str:
    return f"{100 * x:+.1f} pts" if np.isfinite(x) else "n/a"


@section(
    "models",
    "Models: baselines and neural networks",
    "Named models trained on the training split and tested on the test split: the table compares "
    "the datasets model by model and family by family (how much harder is one than the other?). "
    "Below, per dataset, the best model's confusion matrix and the test images it got wrong with "
    "the most confidence. mnistlab report --models chooses the models (centroid and mlp by "
    "default; all for every model); the k-NN on pixels comes from the similarity section's search.",
    summary=models_summary,
)
def models_panel(a: Analyses) -> Panel:
    if a.store:
        return Panel(note=a.in_memory_only + " The nearest-centroid section above is the baseline.")
    results = a.models
    if a.models_error is not None:
        return Panel(note=f"No model could be trained on {a.ds.name}: {a.models_error}")
    if not results:
        return _no_test(a)
    best = max(results, key=lambda r: r.evaluation.accuracy)
    rows = [
        [
            r.model,
            percent(r.evaluation.accuracy),
            f"{r.trained.fit_seconds:.1f} s",
            f"{r.predict_seconds:.2f} s",
        ]
        for r in results
    ]
    if a.pixel_knn is not None:
        rows.append([PIXEL_KNN, percent(a.pixel_knn[5].accuracy), "shared search", "shared search"])
    title = f"{best.model}: {best.evaluation.accuracy:.1%}"
    pictures = [
        Picture.from_figure(
            plots.confusion_matrix(best.evaluation, title=title),
            f"confusion matrix of {best.model}, {a.ds.name}",
        )
    ]
    mistakes = plots.confident_mistakes(a.ds, best)
    if mistakes is not None:
        test = a.memory.test
        assert test is not None  # the models were tested on it
        wrong = best.confident_mistakes(test.labels, 12)
        alt = f"most confident mistakes of {best.model} on {a.ds.name}: {_which(test, wrong)}"
        pictures.append(Picture.from_figure(mistakes, alt))
    confused = ", ".join(f"{t} as {p} ({n})" for t, p, n in best.evaluation.most_confused(3))
    note = f"Best: {best.model}. Its most frequent confusions: {confused}." if confused else ""
    failed = "; ".join(f"{m}: {why}" for m, why in a.models_failed.items())
    note = " ".join(filter(None, (note, f"Could not be trained: {failed}." if failed else "")))
    tables = [Table(["model", "test accuracy", "fit", "predict"], rows)]
    if len(a.ds.classes) > plots.MAX_CONFUSION_CLASSES:
        # The confusion matrix shows some classes: the best model's numbers for every class.
        tables.append(_per_class(best.evaluation))
        note = " ".join(filter(None, (note, _confusion_note(a))))
    return Panel(pictures=pictures, tables=tables, note=note)


#: Probable label errors the report's gallery shows per dataset.
ISSUE_GALLERY = 12


@section(
    "label-issues",
    "Probable label errors",
    "Confident learning (Northcutt, Jiang and Chuang 2021) on the test split: a model trained on "
    "the training split (the MLP of the models section above) gives every test image its class "
    "probabilities; images whose given label the model confidently contradicts, beyond what the "
    "estimated noise rates allow, are probable label errors. The matrix estimates how many "
    "images of each given label truly belong to each class; the gallery shows the likeliest "
    "errors (given -> suggested, and the given label's probability).",
)
def label_issues_panel(a: Analyses) -> Panel:
    if a.store:
        return Panel(note=a.in_memory_only)
    found = a.label_issues
    if found is None:
        return _no_test(a)
    numbers = found.summary()["splits"]["test"]
    errors = found.label_errors("test")
    test = a.memory.test
    assert test is not None  # label issues come with a test split
    pictures = [
        Picture.from_figure(
            plots.noise_matrix(found, "test", title="estimated given vs true labels"),
            f"estimated noise matrix of {a.ds.name}",
        )
    ]
    if len(errors):
        gallery = plots.issue_gallery(test, errors, ISSUE_GALLERY, title="probable label errors")
        shown = errors["position"].head(ISSUE_GALLERY)
        alt = f"probable label errors of {a.ds.name}: {_which(test, shown)}"
        pictures.append(Picture.from_figure(gallery, alt))
    table = Table(
        ["test images", "estimated label errors", "probable errors listed", "ambiguous", "outliers"],
        [
            [
                f"{numbers['images']:,}",
                f"{numbers['estimated_label_errors']:,} ({percent(numbers['estimated_error_rate'])})",
                f"{numbers['label error']:,}",
                f"{numbers['ambiguous']:,}",
                f"{numbers['outlier']:,}",
            ]
        ],
    )
    note = (
        f"Probabilities from {found.model}, trained on the training split; ranked by "
        f"{found.method.replace('_', ' ')}. Estimated errors: images whose confident class is "
        "another than the given one; mnistlab label-issues lists every kind of issue of either "
        "split (the training split by cross-validation)."
    )
    return Panel(pictures=pictures, tables=[table], note=note)


def maps_summary(analyses: list[Analyses]) -> Panel:
    """The maps' faithfulness, dataset by dataset."""
    rows = []
    for a in analyses:
        m = a.map
        if m is None or m.faithfulness is None:
            continue
        f = m.faithfulness
        rows.append(
            [
                a.ds.name,
                f"{m.title} of {len(m):,} {m.split} images",
                percent(f.knn_map),
                percent(f.knn_pixels),
                f"{f.trustworthiness:.3f}",
                f"{m.seconds:.1f} s",
            ]
        )
    if not rows:
        return Panel()
    k = next(a.map.faithfulness.k for a in analyses if a.map is not None and a.map.faithfulness)
    columns = ["dataset", "map", f"{k}-NN in the map", f"{k}-NN in pixels", "trustworthiness", "made in"]
    note = (
        "The maps are made on a background thread at the lowest priority while the sections "
        "above run, in the time they leave a core idle: 'made in' is that thread's wall-clock time."
    )
    # BokehJS once, above the datasets' interactive maps (their scripts call it).
    return Panel(tables=[Table(columns, rows)], note=note, html=[_bokeh_script()])


def _bokeh_script() -> str:
    from mnistlab.maps.page import bokeh_script

    return bokeh_script()


@section(
    "maps",
    "Dataset maps",
    "Each image placed in two dimensions by t-SNE (openTSNE, perplexity 30, from the first 50 "
    "principal components), the same settings for every dataset: classes that form islands are "
    "easy to tell apart, classes that share one are not. Faithfulness beside each map: a point's "
    "class by the vote of its 10 nearest neighbours in the map vs in pixel space (close numbers: "
    "the map kept the class neighbourhoods), and trustworthiness (1: the map brings together "
    "only images that are close in pixels), on a stratified sample. Below the scatter, the "
    "images themselves at their places; hover the interactive map to see any point's image.",
    summary=maps_summary,
)
def maps_panel(a: Analyses) -> Panel:
    if a.store:
        return Panel(note=a.in_memory_only)
    m = a.map
    if m is None:
        return Panel(note=f"No map of {a.ds.name}: {a.map_error}")
    split = a.memory.split(m.split)
    images = m.images(split)
    pictures = [
        Picture.from_figure(
            plots.map_scatter(m, size=6.0), f"{m.title} map of {a.ds.name}, coloured by class"
        ),
        Picture.from_figure(
            plots.thumbnail_map(m, images, size=6.5),
            f"{m.title} map of {a.ds.name}: the images at their places",
        ),
    ]
    f = m.faithfulness
    tables = []
    if f is not None:
        tables.append(
            Table(
                ["measure", "value"],
                [
                    [f"{f.k}-NN accuracy in the map", percent(f.knn_map)],
                    [f"{f.k}-NN accuracy in pixel space", percent(f.knn_pixels)],
                    ["trustworthiness", f"{f.trustworthiness:.3f}"],
                    ["points measured", f"{f.sample:,} of {len(m):,}"],
                ],
            )
        )
    return Panel(
        pictures=pictures, tables=tables, note=_map_note(a, m), html=[_map_fragment(a, m, images)]
    )


def _map_fragment(a: Analyses, m, images: np.ndarray) -> str:
    """The interactive map: hover a point for its image, index, class (file) and, for test
    images, the label-quality score of the label-issues section (low: probably mislabelled)."""
    from mnistlab.maps.page import map_components, map_figure

    split = a.memory.split(m.split)
    scores = {}
    issues = a.label_issues
    if issues is not None and m.split in issues.found:
        scores["label quality"] = np.asarray(issues.found[m.split].scores)[m.positions(split)]
    figure = map_figure(m, images, scores=scores, files=split.file_names(m.indices), size=460)
    _, [fragment] = map_components(figure)
    return fragment


def _map_note(a: Analyses, m) -> str:
    """Which classes mix on the map, beside the pairs the models and one pixel find hardest."""
    from mnistlab.maps import mixed_pairs

    shown = f"{len(m):,} {m.split} images" + (
        " (a stratified sample)" if len(m) < len(a.memory.split(m.split)) else ""
    )
    if m.labels is None or len(a.ds.classes) < 2:
        return f"The map shows {shown}."
    mixed = mixed_pairs(m.coordinates, m.labels, m.classes)
    if not mixed:
        return f"The map shows {shown}; no two classes share an island."
    words = ", ".join(f"{x} and {y} ({percent(share)} of their neighbours)" for x, y, share in mixed)
    note = f"The map shows {shown}. The classes that mix most on it: {words}."
    if a.models:
        best = max(a.models, key=lambda r: r.evaluation.accuracy)
        confused = ", ".join(f"{t} as {p}" for t, p, _ in best.evaluation.most_confused(3))
        if confused:
            note += f" For comparison, {best.model}'s most frequent confusions: {confused}."
    return note


@section(
    "tidy",
    "The tidy table",
    "mnistlab.tidy(split) turns images into one row per pixel (index, label, x, y, value), the "
    "long layout of tidy-data analyses; these are a few rows through the middle of the first "
    "training image.",
)
def tidy_table(a: Analyses) -> Panel:
    # A store's table is made of its first image: the whole would not fit in memory.
    table = tidy(a.ds.train[0:1] if a.store else a.memory.train)
    h, w = a.ds.image_shape
    middle = table.iloc[(h // 2) * w + w // 2 - 2 : (h // 2) * w + w // 2 + 3]
    per_row = table.memory_usage(index=False).sum() / len(table)
    rows = len(a.ds.train) * h * w
    note = "dtypes: " + ", ".join(f"{c} {t}" for c, t in table.dtypes.items())
    if a.store:
        note += (
            f". {a.ds.name} is a Zarr store: the rows shown are its first image's; the whole "
            "table's size is that of its rows at the same bytes per row."
        )
    return Panel(
        tables=[
            Table(list(table.columns), middle.to_numpy().tolist()),
            Table(
                ["rows", "memory", "bytes per row"],
                [[f"{rows:,}", f"{rows * per_row / 1e6:,.0f} MB", f"{per_row:.0f}"]],
            ),
        ],
        note=note,
    )
