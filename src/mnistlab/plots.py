"""matplotlib figures, one function per figure, each returning a Figure (never showing it).

Images are drawn with white = 0 and black = 255 (``IMAGE_CMAP``), the same in every figure and for
every dataset, so ink is dark on paper whatever the dataset.
"""

from __future__ import annotations

import base64
import functools
import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written to files; never open a window

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnistlab import stats
from mnistlab.data.dataset import Split


def _literal_text(func):
    """Draw every text as written: class names such as "$" or "$$" are data, not mathtext.

    Text reads ``text.parse_math`` when it is created, tick labels partly when the figure is
    drawn: so both the figure functions and the renderers run with it off (a local setting,
    not a change to the user's matplotlib defaults).
    """

    @functools.wraps(func)
    def literal(*args, **kwargs):
        with matplotlib.rc_context({"text.parse_math": False}):
            return func(*args, **kwargs)

    return literal


IMAGE_CMAP = "gray_r"
DPI = 110
#: Pixel values 0 and 255 are drawn in this colour in every histogram.
EXTREME_COLOUR = "#d0632b"

# Caps on what one figure draws, so that no figure grows with the number of classes: beyond
# them a figure shows a subset (or the hardest pairs) and its title says which. Every figure
# stays within MAX_FIGURE_INCHES a side (about 2,000 pixels at DPI).
MAX_FIGURE_INCHES = 18.0
#: Mean images in the centroid grid (the first classes by label beyond).
MAX_GRID_CLASSES = 60
#: Small multiples in the per-class pixel histograms (the first classes by label beyond).
MAX_HISTOGRAM_CLASSES = 30
#: Boxes in the distance box plot (beyond: the classes with the farthest outlier).
MAX_BOX_CLASSES = 30
#: Rows (classes) of the typicality gallery (beyond: the classes with the farthest outlier) and
#: images per class in each of its two blocks.
MAX_GALLERY_CLASSES = 20
MAX_GALLERY_PER_CLASS = 12
#: Class-by-class grids and heat maps (pair differences, one-pixel heat map and best pixels)
#: are drawn whole up to this many classes; beyond, the heat map shows this many classes (those
#: in the hardest pairs) and the pair figures show the MAX_PAIR_PANELS closest or hardest pairs.
MAX_PAIR_CLASSES = 30
MAX_PAIR_PANELS = 24
#: Rows and columns of a confusion matrix (beyond: the most confused classes).
MAX_CONFUSION_CLASSES = 30


def _subset(shown: int, total: int, which: str, unit: str = "classes") -> str:
    """The title line of a figure that shows part of what there is; empty when it shows all."""
    return f"{shown:,} of {total:,} {unit}: {which}" if shown < total else ""


def _farthest_classes(typicality: stats.Typicality, n: int) -> np.ndarray:
    """Labels of the ``n`` classes whose farthest image lies farthest from their centroid,
    farthest first (ties and classes without images: label order)."""
    farthest = np.full(len(typicality.classes), -np.inf)
    np.maximum.at(farthest, typicality.labels, typicality.distances)
    return np.argsort(-farthest, kind="stable")[:n]


@_literal_text
def image_grid(
    split: Split,
    indices: Sequence[int] | None = None,
    *,
    columns: int | None = None,
    title: str | None = None,
    cell_inches: float = 0.95,
) -> Figure:
    """A grid of images from ``split``, each titled with its index and class name.

    ``indices`` are positions in ``split`` (default: all of it); titles show each image's index
    in the original split (``split.indices``), so a subset still names images unambiguously.
    """
    indices = list(range(len(split))) if indices is None else [int(i) for i in indices]
    n = len(indices)
    if n == 0:
        raise ValueError("no images to show (the selection is empty).")
    columns = columns or min(n, 6 if n <= 12 else 10)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(columns * cell_inches, rows * (cell_inches + 0.2) + (0.35 if title else 0)),
        squeeze=False,
        dpi=DPI,
    )
    longest = max(len(c) for c in split.classes)
    fontsize = 8 if longest <= 7 else 6.5
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, i in zip(axes.ravel(), indices, strict=False):
        # A thin frame shows where each white-background image ends.
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("#c8c8c8")
        ax.imshow(split.images[i], cmap=IMAGE_CMAP, vmin=0, vmax=255, interpolation="nearest")
        name = split.classes[split.labels[i]]
        ax.set_title(f"#{split.indices[i]} · {name}", fontsize=fontsize, pad=2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3, h_pad=0.4, w_pad=0.2)
    return fig


#: Where the log-scale histograms put a share of zero: below their axis (which starts at 1e-6).
_LOG_FLOOR = 1e-9


def _middle_values(ax, share: np.ndarray) -> None:
    """The shares of values 1..254 as bars of width 1, drawn as one filled step outline (254
    patches per panel made the per-class figure slow); zero shares stay below the log axis."""
    middle = share[1:255]
    ax.stairs(
        np.where(middle > 0, middle, _LOG_FLOOR),
        np.arange(0.5, 255.5),
        baseline=_LOG_FLOOR,
        fill=True,
        color="#3b6ea5",
        linewidth=0,
    )


@_literal_text
def pixel_histogram(counts: np.ndarray, *, title: str | None = None) -> Figure:
    """Share of pixels taking each value 0..255 (log scale), the two extremes labelled.

    Value 0 (background) and 255 (full ink) are drawn in their own colour, marked with a dot and
    annotated with their share.
    """
    counts = np.asarray(counts)
    fig, ax = plt.subplots(figsize=(5.4, 3.0), dpi=DPI)
    share = counts / max(counts.sum(), 1)
    _middle_values(ax, share)
    for v, align in ((0, "left"), (255, "right")):
        # At one unit wide the extremes vanish against the axes: mark their tops as well.
        if share[v] > 0:
            ax.bar([v], [share[v]], width=1.0, color=EXTREME_COLOUR, linewidth=0)
            ax.plot([v], [share[v]], marker="o", markersize=4, color=EXTREME_COLOUR, clip_on=False)
            ax.annotate(
                f"{v}: {share[v]:.1%}",
                (v, share[v]),
                xytext=(6 if v == 0 else -6, 0),
                textcoords="offset points",
                ha=align,
                va="center",
                fontsize=8,
                color=EXTREME_COLOUR,
            )
    ax.set_yscale("log")
    ax.set_ylim(1e-6, 1.5)  # fixed, so histograms of different datasets compare at a glance
    ax.set_xlim(-2, 257)
    ax.set_xticks([0, 32, 64, 96, 128, 160, 192, 224, 255])
    ax.set_xlabel("pixel value (0 = background, 255 = full ink)")
    ax.set_ylabel("share of all pixels (log)")
    ax.set_axisbelow(True)
    ax.grid(axis="y", alpha=0.3, which="major")
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


@_literal_text
def to_png_bytes(fig: Figure) -> bytes:
    """Render a figure to PNG bytes and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    plt.close(fig)
    return buffer.getvalue()


@_literal_text
def to_data_uri(fig: Figure) -> str:
    """Render a figure to a ``data:image/png;base64,...`` URI (for self-contained HTML)."""
    return "data:image/png;base64," + base64.b64encode(to_png_bytes(fig)).decode("ascii")


#: File formats ``save`` writes, by suffix.
FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg"}


@_literal_text
def figure_bytes(fig: Figure, path: str | Path) -> bytes:
    """The figure rendered in the format ``path``'s suffix names (PNG, SVG, PDF or JPEG); closes it."""
    path = Path(path)
    fmt = FIGURE_FORMATS.get(path.suffix.lower())
    try:
        if fmt is None:
            raise ValueError(
                f"{path}: figures are written as {', '.join(FIGURE_FORMATS)}; "
                f"got {path.suffix or 'no suffix'!r}."
            )
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=fig.dpi)
        return buffer.getvalue()
    finally:
        plt.close(fig)


def save(fig: Figure, path: str | Path) -> Path:
    """Write a figure (format from the suffix: PNG, SVG, PDF or JPEG) atomically; close it."""
    from mnistlab._utils.files import atomic_write_bytes

    atomic_write_bytes(path, figure_bytes(fig, path))
    return Path(path)


def _grid_shape(n: int, columns: int | None = None) -> tuple[int, int]:
    columns = columns or (5 if n == 10 else min(n, 6) if n <= 36 else 10)
    return math.ceil(n / columns), columns


def _frame(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#c8c8c8")


@_literal_text
def centroid_grid(centroids: stats.Centroids, *, columns: int | None = None) -> Figure:
    """The mean image of every class (white = 0, black = 255), class names as titles.

    At most ``MAX_GRID_CLASSES`` classes, the first by label; the title says when there are more.
    """
    total = len(centroids.classes)
    k = min(total, MAX_GRID_CLASSES)
    rows, columns = _grid_shape(k, columns)
    subset = _subset(k, total, "the first by label")
    height = rows * 1.55 + (0.5 if subset else 0.3)
    fig, axes = plt.subplots(
        rows, columns, figsize=(columns * 1.2, height), squeeze=False, dpi=DPI, layout="constrained"
    )
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, mean, name, n in zip(
        axes.ravel(), centroids.means[:k], centroids.classes[:k], centroids.counts[:k], strict=False
    ):
        ax.set_axis_on()
        _frame(ax)
        ax.imshow(mean, cmap=IMAGE_CMAP, vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(name, fontsize=8, pad=2)
        ax.set_xlabel(f"n={n:,}", fontsize=6.5, labelpad=1, color="#555")
    title = "Mean image per class (white = 0, black = 255)"
    fig.suptitle(f"{title}\n{subset}" if subset else title, fontsize=9)
    return fig


@_literal_text
def pixel_histograms_by_class(
    counts: np.ndarray, classes: Sequence[str], *, title: str | None = None
) -> Figure:
    """Small multiples: share of pixels at each value 0..255 within each class (log scale).

    At most ``MAX_HISTOGRAM_CLASSES`` classes, the first by label; the title says when there are
    more.
    """
    total = len(classes)
    k = min(total, MAX_HISTOGRAM_CLASSES)
    rows, columns = _grid_shape(k)
    subset = _subset(k, total, "the first by label")
    title = "\n".join(t for t in (title, subset) if t)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(max(3.4, columns * 1.25 + 0.6), rows * 1.35 + 0.8 + (0.2 if subset else 0)),
        squeeze=False,
        dpi=DPI,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    for ax in axes.ravel()[k:]:
        ax.set_axis_off()
    for ax, row, name in zip(axes.ravel(), counts[:k], classes[:k], strict=False):
        share = row / max(row.sum(), 1)
        ends = [v for v in (0, 255) if share[v] > 0]
        _middle_values(ax, share)
        if ends:
            ax.bar(ends, share[ends], width=1.0, color=EXTREME_COLOUR, linewidth=0)
            ax.plot(ends, share[ends], "o", markersize=2.5, color=EXTREME_COLOUR, clip_on=False)
        ax.set_yscale("log")
        ax.set_ylim(1e-6, 1.5)
        ax.set_yticks([1e-6, 1e-3, 1], ["1e-6", "1e-3", "1"])
        ax.set_xlim(-3, 258)
        ax.set_xticks([0, 128, 255])
        ax.set_title(f"{name}: {share[0]:.0%} zero", fontsize=7, pad=2)
        ax.tick_params(labelsize=6.5, length=2, pad=1)
        ax.spines[["top", "right"]].set_visible(False)
    fig.supxlabel("pixel value (0 and 255 in orange)", fontsize=8)
    fig.supylabel("share of the class's pixels (log)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


#: Upper end of the distance axis in box plots (raised only if some distance is larger).
DISTANCE_LIMIT = 180


@_literal_text
def distance_boxplot(typicality: stats.Typicality) -> Figure:
    """Box plot of each image's RMS distance to its class centroid, one box per class.

    At most ``MAX_BOX_CLASSES`` boxes: beyond, the classes with the farthest outlier (in label
    order), said in the title.
    """
    total = len(typicality.classes)
    shown = np.arange(total)
    if total > MAX_BOX_CLASSES:
        shown = np.sort(_farthest_classes(typicality, MAX_BOX_CLASSES))
    data = [typicality.distances[typicality.labels == c] for c in shown]
    names = [typicality.classes[c] for c in shown]
    fig, ax = plt.subplots(figsize=(max(5.4, 0.22 * len(shown) + 1.2), 3.0), dpi=DPI)
    ax.boxplot(
        data,
        tick_labels=names,
        showfliers=True,
        flierprops={"markersize": 1.5, "alpha": 0.35, "markeredgecolor": "#555"},
        medianprops={"color": "#d0632b"},
        widths=0.6,
    )
    ax.set_ylabel("RMS distance to class centroid\n(pixel scale 0..255)", fontsize=8)
    ax.set_xlabel("class", fontsize=8)
    subset = _subset(len(shown), total, "those with the farthest outlier")
    if subset:
        ax.set_title(subset, fontsize=8)
    # One scale for every dataset, so side-by-side box plots compare at a glance.
    top = max(DISTANCE_LIMIT, float(np.max(typicality.distances, initial=0)) * 1.05)
    ax.set_ylim(0, top)
    ax.tick_params(axis="x", labelsize=7, rotation=35 if max(map(len, names)) > 3 else 0)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


@_literal_text
def typicality_gallery(split: Split, typicality: stats.Typicality, per_class: int = 6) -> Figure:
    """One row per class: its least typical images (most atypical first), then its most typical.

    Each image is titled with its index in the split and its distance to the class centroid.
    At most ``MAX_GALLERY_CLASSES`` rows: beyond, the classes with the farthest outlier, farthest
    first; at most ``MAX_GALLERY_PER_CLASS`` images in each block. The header says what is shown.
    """
    # No more columns than the largest class can fill.
    largest = int(np.bincount(typicality.labels).max(initial=1))
    per_class = max(1, min(per_class, largest, MAX_GALLERY_PER_CLASS))
    total = len(typicality.classes)
    rows = np.arange(total)
    if total > MAX_GALLERY_CLASSES:
        rows = _farthest_classes(typicality, MAX_GALLERY_CLASSES)
    least = typicality.least_typical(per_class)
    most = typicality.most_typical(per_class)
    k = len(rows)
    subset = _subset(k, total, "those with the farthest outlier, farthest first")
    columns = 2 * per_class + 1  # a blank column separates the two blocks
    cell = 0.62
    header = 0.3 + (0.2 if subset else 0)
    height = k * (cell + 0.14) + 0.15 + header
    fig, axes = plt.subplots(k, columns, figsize=(columns * cell + 0.9, height), squeeze=False, dpi=DPI)
    for ax in axes.ravel():
        ax.set_axis_off()
    for row, label in enumerate(rows):
        worst, best = least[label], most[label]
        cells = [(j, i) for j, i in enumerate(worst)] + [
            (per_class + 1 + j, i) for j, i in enumerate(best)
        ]
        for column, position in cells:
            ax = axes[row, column]
            ax.set_axis_on()
            _frame(ax)
            ax.imshow(split.images[position], cmap=IMAGE_CMAP, vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(
                f"#{split.indices[position]} {typicality.distances[position]:.0f}",
                fontsize=6.5,
                pad=1,
            )
        axes[row, 0].set_axis_on()
        axes[row, 0].set_ylabel(
            typicality.classes[label], fontsize=7, rotation=0, ha="right", va="center"
        )
    top = 1 - 0.05 / height
    if subset:
        fig.text(0.01, top, subset, ha="left", va="top", fontsize=8)
        top -= 0.2 / height
    fig.text(0.30, top, "least typical (most atypical first)", ha="center", va="top", fontsize=8)
    fig.text(0.76, top, "most typical", ha="center", va="top", fontsize=8)
    fig.text(0.995, top, "titles: #index distance", ha="right", va="top", fontsize=6, color="#666")
    fig.tight_layout(pad=0.2, h_pad=0.25, w_pad=0.15, rect=(0, 0, 1, 1 - header / height))
    return fig


#: Diverging map for centroid differences: red where the row class has more ink, blue where the
#: column class has, white where equal. The same fixed scale for every dataset.
DIFFERENCE_CMAP = "RdBu_r"
DIFFERENCE_LIMIT = 255  # the largest possible difference: nothing is ever clipped


def _difference(ax, centroids: stats.Centroids, a: int, b: int, ring=None):
    """Draw centroid a minus centroid b on the fixed -255..255 scale, with a ring at ``ring``
    (x, y) if given; returns the image (for a colour bar)."""
    image = ax.imshow(
        centroids.means[a] - centroids.means[b],
        cmap=DIFFERENCE_CMAP,
        vmin=-DIFFERENCE_LIMIT,
        vmax=DIFFERENCE_LIMIT,
        interpolation="nearest",
    )
    if ring is not None:
        x, y = ring
        ax.scatter([x], [y], s=30, facecolors="none", edgecolors="white", linewidths=2.2)
        ax.scatter([x], [y], s=30, facecolors="none", edgecolors="black", linewidths=1)
    return image


def _pair_panels(
    centroids: stats.Centroids,
    pairs: Sequence[tuple[int, int, str]],
    title: str,
    rings: Sequence[tuple[float, float]] | None = None,
) -> Figure:
    """One panel per pair ``(a, b, caption)``: centroid a minus centroid b on the fixed
    -255..255 scale, captioned, with an optional ring per pair at ``(x, y)``; a colour bar below.

    The summary view of pair figures with too many classes for a k x k grid.
    """
    n = max(len(pairs), 1)
    columns = min(n, 6)
    rows = math.ceil(n / columns)
    width, height = columns * 1.25 + 0.3, rows * 1.55 + 1.35
    fig, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False, dpi=DPI)
    for ax in axes.ravel():
        ax.set_axis_off()
    for number, (ax, (a, b, caption)) in enumerate(zip(axes.ravel(), pairs, strict=False)):
        ax.set_axis_on()
        _frame(ax)
        _difference(ax, centroids, a, b, None if rings is None else rings[number])
        ax.set_title(caption, fontsize=6.5, pad=4)
    fig.suptitle(title, fontsize=8, y=1 - 0.08 / height, va="top")
    fig.tight_layout(pad=0.3, h_pad=0.5, w_pad=0.3, rect=(0, 0.8 / height, 1, 1 - 0.5 / height))
    cax = fig.add_axes((0.2, 0.45 / height, 0.6, 0.1 / height))
    bar = fig.colorbar(
        plt.cm.ScalarMappable(plt.Normalize(-DIFFERENCE_LIMIT, DIFFERENCE_LIMIT), DIFFERENCE_CMAP),
        cax=cax,
        orientation="horizontal",
    )
    bar.set_ticks([-DIFFERENCE_LIMIT, -128, 0, 128, DIFFERENCE_LIMIT])
    bar.ax.tick_params(labelsize=6)
    bar.set_label("first centroid - second (red: first class darker)", fontsize=6.5)
    return fig


@_literal_text
def pair_differences(centroids: stats.Centroids) -> Figure:
    """Facet grid of centroid differences (row class minus column class) for every class pair.

    One fixed diverging scale, -255..255, for every dataset; classes without images stay blank.
    Beyond ``MAX_PAIR_CLASSES`` classes: the ``MAX_PAIR_PANELS`` pairs with the closest centroids
    instead, each captioned with its RMS difference, and the title says so.
    """
    k = len(centroids.classes)
    if k > MAX_PAIR_CLASSES:
        found = centroids.closest_pairs(MAX_PAIR_PANELS)
        names = centroids.classes
        pairs = [
            (a, b, f"{names[a]} - {names[b]}\nRMS {rms:.1f}")
            for a, b, rms in zip(found.class_a, found.class_b, found.rms, strict=True)
        ]
        present = int(np.sum(np.asarray(centroids.counts) > 0))
        subset = _subset(len(pairs), present * (present - 1) // 2, "the closest centroids", "pairs")
        return _pair_panels(
            centroids, pairs, f"Centroid differences, {subset or 'every pair'} (first - second)"
        )
    size = 0.47 if k <= 10 else 0.36
    rotate = max(len(c) for c in centroids.classes) > 3
    height = k * size + 1.6
    fig, axes = plt.subplots(k, k, figsize=(k * size + 1.3, height), squeeze=False, dpi=DPI)
    image = None
    for r in range(k):
        for c in range(k):
            ax = axes[r, c]
            _frame(ax)
            image = _difference(ax, centroids, r, c)
            if c == 0:
                ax.set_ylabel(centroids.classes[r], fontsize=7, rotation=0, ha="right", va="center")
            if r == 0:
                ax.set_title(
                    centroids.classes[c],
                    fontsize=7,
                    rotation=35 if rotate else 0,
                    ha="left" if rotate else "center",
                    pad=3,
                )
    # Leave 0.95 inch at the bottom for the colour bar and its two-line label.
    fig.tight_layout(pad=0.3, h_pad=0.1, w_pad=0.1, rect=(0, 0.95 / height, 0.96, 1))
    cax = fig.add_axes((0.2, 0.55 / height, 0.6, 0.12 / height))
    bar = fig.colorbar(image, cax=cax, orientation="horizontal")
    bar.set_ticks([-DIFFERENCE_LIMIT, -128, 0, 128, DIFFERENCE_LIMIT])
    bar.ax.tick_params(labelsize=6.5)
    bar.set_label(
        "row centroid - column centroid\n(blue: column class darker, red: row class darker)", fontsize=7
    )
    return fig


@_literal_text
def confusion_matrix(evaluation, *, title: str | None = None) -> Figure:
    """Confusion matrix: rows are true classes, columns predictions; share of the row, with counts.

    Beyond ``MAX_CONFUSION_CLASSES`` classes: the most confused ones (in label order), each row
    still the share of all that class's test images; the title says so.
    """
    total = len(evaluation.classes)
    shown = np.arange(total)
    if total > MAX_CONFUSION_CLASSES:
        shown = np.sort(evaluation.most_confused_classes(MAX_CONFUSION_CLASSES))
    names = [evaluation.classes[c] for c in shown]
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = evaluation.confusion / evaluation.confusion.sum(axis=1, keepdims=True)
    confusion, rates = evaluation.confusion[np.ix_(shown, shown)], rates[np.ix_(shown, shown)]
    k = len(shown)
    cell = min(0.42, 12 / k)
    fig, ax = plt.subplots(figsize=(cell * k + 1.9, cell * k + 1.5), dpi=DPI)
    ax.imshow(np.nan_to_num(rates), cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if confusion[i, j]:
                dark = rates[i, j] > 0.55
                ax.text(
                    j,
                    i,
                    f"{confusion[i, j]}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if dark else "#1d2330",
                )
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel("predicted class", fontsize=8)
    ax.set_ylabel("true class", fontsize=8)
    subset = _subset(k, total, "the most confused (colour: share of the row's test images)")
    title = "\n".join(t for t in (title, subset) if t)
    if title:
        ax.set_title(title, fontsize=9 if not subset else 8)
    fig.tight_layout()
    return fig


SEPARABILITY_CMAP = "viridis"


@_literal_text
def separability_heatmap(result, *, column: str | None = None) -> Figure:
    """Class-by-class accuracy of the best single pixel, annotated, on a fixed 0.5..1 scale.

    ``result`` is a :class:`~mnistlab.onepixel.OnePixelSeparability`; ``column`` defaults to its
    ``measure`` (test accuracy when there is a test split). Beyond ``MAX_PAIR_CLASSES`` classes:
    those of the hardest pairs (in label order), said in the title.
    """
    column = column or result.measure
    table = result.matrix(column).to_numpy()
    total = len(result.classes)
    shown = np.arange(total)
    if total > MAX_PAIR_CLASSES:
        shown = np.sort(result.hardest_classes(MAX_PAIR_CLASSES))
    table = table[np.ix_(shown, shown)]
    names = [result.classes[c] for c in shown]
    k = len(shown)
    cell = 0.48 if k <= 12 else 0.3
    fig, ax = plt.subplots(figsize=(k * cell + 2.4, k * cell + 1.6), dpi=DPI)
    cmap = plt.get_cmap(SEPARABILITY_CMAP).with_extremes(bad="#f2f2f2")
    image = ax.imshow(np.ma.masked_invalid(table), cmap=cmap, vmin=0.5, vmax=1)
    if k <= 12:
        for i in range(k):
            for j in range(k):
                if np.isfinite(table[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{100 * table[i, j]:.1f}",
                        ha="center",
                        va="center",
                        fontsize=5.8,
                        color="white" if table[i, j] < 0.8 else "#1d2330",
                    )
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    what = column.replace("_", " ")
    subset = _subset(k, total, f"those in the hardest pairs by {result.measure.replace('_', ' ')}")
    ax.set_title(
        f"{result.dataset}: {what} of the best pixel\n({result.scale} scale, C={result.C:g})"
        + (f"\n{subset}" if subset else ""),
        fontsize=8,
    )
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1, decimals=0))
    bar.ax.tick_params(labelsize=6.5)
    bar.set_label(f"{what} (%)", fontsize=7)
    fig.tight_layout()
    return fig


@_literal_text
def best_pixels(result, centroids: stats.Centroids) -> Figure:
    """For every pair (row class a, column class b), centroid a minus centroid b, with a ring on
    the pair's best pixel and its accuracy above; the -255..255 scale of :func:`pair_differences`.

    Beyond ``MAX_PAIR_CLASSES`` classes: the ``MAX_PAIR_PANELS`` hardest pairs, said in the title.
    """
    k = len(result.classes)
    if k < 2:
        raise ValueError("one class: there are no pairs to draw.")
    if k > MAX_PAIR_CLASSES:
        return _hardest_best_pixels(result, centroids)
    m = k - 1
    size = 0.78 if m <= 10 else 0.45
    rotate = max(len(c) for c in result.classes) > 4
    top, bottom, left = 1.05 if rotate else 0.75, 0.8, 0.9
    width, height = m * size + left + 0.3, m * size * 1.12 + top + bottom
    fig, axes = plt.subplots(m, m, figsize=(width, height), squeeze=False, dpi=DPI)
    # Labels sit beside the diagonal, over the empty lower triangle: fixed margins, no layout engine.
    fig.subplots_adjust(
        left=left / width,
        right=1 - 0.3 / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=0.08,
        hspace=0.3,
    )
    rows = {(r.class_a, r.class_b): r for r in result.pairs.itertuples()}
    measure = result.measure
    for r in range(m):
        for c in range(m):
            ax = axes[r, c]
            a, b = r, c + 1
            if b <= a:
                ax.axis("off")
                continue
            _frame(ax)
            if c == r:
                ax.set_ylabel(result.classes[a], fontsize=7, rotation=0, ha="right", va="center")
            if r == 0:
                ax.set_title(
                    result.classes[b],
                    fontsize=7,
                    pad=10,
                    rotation=35 if rotate else 0,
                    ha="left" if rotate else "center",
                )
            pair = rows.get((a, b))
            if pair is None or not (centroids.counts[a] and centroids.counts[b]):
                continue
            _difference(ax, centroids, a, b, (pair.x, pair.y))
            accuracy = getattr(pair, measure)
            if np.isfinite(accuracy):
                ax.text(
                    0.5,
                    1.02,
                    f"{100 * accuracy:.0f}%",
                    transform=ax.transAxes,
                    ha="center",
                    va="bottom",
                    fontsize=6.5,
                    color="#444444",
                )
    fig.suptitle(
        f"{result.dataset}: best pixel of each pair (ring) on centroid a - centroid b; "
        f"{measure.replace('_', ' ')} above",
        fontsize=7.5,
        y=1 - 0.12 / height,
        va="top",
    )
    cax = fig.add_axes((0.25, 0.42 / height, 0.5, 0.1 / height))
    bar = fig.colorbar(
        plt.cm.ScalarMappable(plt.Normalize(-DIFFERENCE_LIMIT, DIFFERENCE_LIMIT), DIFFERENCE_CMAP),
        cax=cax,
        orientation="horizontal",
    )
    bar.ax.tick_params(labelsize=6)
    bar.set_label("row centroid - column centroid (red: row class darker)", fontsize=6.5)
    return fig


def _hardest_best_pixels(result, centroids: stats.Centroids) -> Figure:
    """The summary view of :func:`best_pixels`: one panel per hardest pair."""
    measure = result.measure
    hardest = result.hardest(MAX_PAIR_PANELS)
    pairs = [
        (r.class_a, r.class_b, f"{r.name_a} - {r.name_b}\n{_accuracy(getattr(r, measure))}")
        for r in hardest.itertuples()
    ]
    rings = [(r.x, r.y) for r in hardest.itertuples()]
    which = f"the hardest by {measure.replace('_', ' ')}"
    subset = _subset(len(pairs), len(result.pairs), which, "pairs") or f"every pair, {which} first"
    title = (
        f"{result.dataset}: best pixel (ring) of {subset}\non first centroid - second; accuracy above"
    )
    return _pair_panels(centroids, pairs, title, rings)


def _accuracy(value: float) -> str:
    return f"{100 * value:.0f}%" if np.isfinite(value) else "n/a"


@_literal_text
def titled_images(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    columns: int | None = None,
    title: str | None = None,
    cell_inches: float = 1.2,
) -> Figure:
    """Images (0..255) in a grid, each with its own title (several lines allowed)."""
    n = len(images)
    if n == 0 or n != len(titles):
        raise ValueError(f"need one title per image and at least one image, got {n} and {len(titles)}.")
    columns = columns or min(n, 6)
    rows = math.ceil(n / columns)
    lines = max(t.count("\n") + 1 for t in titles)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(
            columns * cell_inches,
            rows * (cell_inches + 0.16 * lines + 0.1) + (0.35 if title else 0),
        ),
        squeeze=False,
        dpi=DPI,
    )
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, image, text in zip(axes.ravel(), images, titles, strict=False):
        _frame(ax)
        ax.set_axis_on()
        ax.imshow(image, cmap=IMAGE_CMAP, vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(text, fontsize=6.5, pad=2)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3, h_pad=0.3, w_pad=0.2)
    return fig


@_literal_text
def duplicate_pairs(dataset, pairs, *, n: int = 6, title: str | None = None) -> Figure:
    """The first ``n`` pairs of ``find_duplicates(dataset).pairs`` (positions in their splits),
    side by side, each titled with its split, its index in the original split (``Split.indices``,
    the row in the file), its class and the pair's RMS distance; (!) marks differing labels."""
    images, titles = [], []
    for r in pairs.head(n).itertuples():
        flag = " (!)" if r.labels_differ else ""
        for split_name, position, label in (
            (r.split_a, r.index_a, r.label_a),
            (r.split_b, r.index_b, r.label_b),
        ):
            split = dataset.split(split_name)
            images.append(split.images[position])
            titles.append(
                f"{split_name} #{split.indices[position]} · {dataset.classes[label]}{flag}\n"
                f"RMS {r.rms_distance:.2f}"
            )
    return titled_images(images, titles, columns=6, title=title)


@_literal_text
def comparison(a: np.ndarray, b: np.ndarray, title_a: str, title_b: str, *, note: str = "") -> Figure:
    """Two images (0..255) and their difference a - b on the fixed -255..255 diverging scale."""
    fig, axes = plt.subplots(1, 3, figsize=(6.2, 2.6), dpi=DPI)
    for ax, image, text in ((axes[0], a, title_a), (axes[1], b, title_b)):
        _frame(ax)
        ax.imshow(image, cmap=IMAGE_CMAP, vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(text, fontsize=7.5)
    _frame(axes[2])
    shown = axes[2].imshow(
        a.astype(np.float64) - b,
        cmap=DIFFERENCE_CMAP,
        vmin=-DIFFERENCE_LIMIT,
        vmax=DIFFERENCE_LIMIT,
        interpolation="nearest",
    )
    axes[2].set_title("a - b (red: a darker)", fontsize=7.5)
    bar = fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04)
    bar.ax.tick_params(labelsize=6)
    if note:
        fig.suptitle(note, fontsize=7.5)
    fig.tight_layout()
    return fig


@_literal_text
def confident_mistakes(ds, result, top: int = 12) -> Figure | None:
    """The test images a model got wrong with the highest score (a ``ModelResult``); None if none."""
    found = result.confident_mistakes(ds.test.labels, top)
    if not len(found):
        return None
    images = [ds.test.images[i] for i in found]
    titles = [
        f"#{ds.test.indices[i]} {ds.classes[ds.test.labels[i]]}\n→ {ds.classes[result.predictions[i]]} "
        f"{result.confidence[i]:.0%}"
        for i in found
    ]
    title = f"{ds.name} · {result.model}: most confident mistakes (true → predicted, score)"
    scores = result.confidence[found]
    if len(found) > 1 and scores.min() == scores.max():
        title = (
            f"{ds.name} · {result.model}: mistakes, all scored {scores[0]:.0%}, so in test-set order "
            "(true → predicted)"
        )
    return titled_images(images, titles, columns=6, title=title)


#: The largest image whose values ``pixel_values`` writes into its cells (larger: unreadable).
MAX_VALUE_SIDE = 64


def _value_cells(ax, pixels: np.ndarray, fontsize: float, aspect: str = "equal") -> None:
    """Draw ``pixels`` (0..255) as grey cells (white = 0, black = 255) with each value written in."""
    ax.imshow(pixels, cmap=IMAGE_CMAP, vmin=0, vmax=255, interpolation="nearest", aspect=aspect)
    for (r, c), v in np.ndenumerate(pixels):
        ax.text(
            c, r, str(v), ha="center", va="center", fontsize=fontsize,
            color="white" if v >= 128 else "#333333",
        )  # fmt: skip


def check_value_image(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` if it is one uint8 image small enough to write every value, else a ValueError."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 2 or pixels.size == 0 or pixels.dtype != np.uint8:
        raise ValueError(f"expected one uint8 image (h, w), got {pixels.dtype} of shape {pixels.shape}.")
    if max(pixels.shape) > MAX_VALUE_SIDE:
        raise ValueError(
            f"the image is {pixels.shape[0]}x{pixels.shape[1]}: too large to write every value "
            f"(at most {MAX_VALUE_SIDE}x{MAX_VALUE_SIDE}); crop or resize it first."
        )
    return pixels


def _cell_inches(side: int) -> float:
    """Cells large enough for three digits: 0.34 in at 28x28, up to 0.6 in for tiny images."""
    return float(np.clip(9.5 / side, 0.22, 0.6))


@_literal_text
def pixel_values(pixels: np.ndarray, *, title: str | None = None) -> Figure:
    """One uint8 image as its matrix of values: each cell's number on its grey (white = 0).

    Row and column indices run along the edges, as in ``image[row, column]``. Sizes up to
    ``MAX_VALUE_SIDE`` a side; the cells and numbers scale so that 8x8 and 28x28 both read well.
    """
    pixels = check_value_image(pixels)
    h, w = pixels.shape
    cell = _cell_inches(max(h, w))
    fig, ax = plt.subplots(figsize=(w * cell + 0.7, h * cell + (0.8 if title else 0.5)), dpi=DPI)
    _value_cells(ax, pixels, fontsize=cell * 72 * 0.3)
    _index_ticks(ax, h, w, fontsize=min(8, cell * 72 * 0.3))
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout(pad=0.4)
    return fig


def _index_ticks(ax, h: int, w: int, fontsize: float) -> None:
    step_r, step_c = (1 if side <= 32 else side // 16 for side in (h, w))
    ax.set_yticks(range(0, h, step_r))
    ax.set_xticks(range(0, w, step_c))
    ax.tick_params(labelsize=fontsize, length=2, pad=1, top=True, labeltop=True, bottom=False,
                   labelbottom=False)  # fmt: skip
    ax.set_xlabel("column", fontsize=fontsize)
    ax.xaxis.set_label_position("top")
    ax.set_ylabel("row", fontsize=fontsize)


@_literal_text
def flattening(
    pixels: np.ndarray, *, index: int, label: int, class_name: str, width: float = 6.4
) -> Figure:
    """How one image becomes a row of X: its matrix, the image, and where a row of it lands.

    The matrix is flattened row after row (C order, ``images.reshape(n, -1)``): row ``r`` of an
    h x w image fills features ``r*w .. r*w + w-1`` of ``X[index]``, and the label goes in
    ``y[index]``. The row with the most ink is outlined (orange) in the matrix, shown as its w
    features, and outlined in the whole vector. ``width`` (inches) is the figure's width: the
    matrix fills it, so the numbers stay as large as it allows (6.4 in: a report panel).
    """
    from matplotlib.patches import Rectangle

    pixels = check_value_image(pixels)
    h, w = pixels.shape
    n = h * w
    row = int(np.argmax(pixels.sum(axis=1, dtype=np.int64)))
    width = max(width, 0.2 * w + 0.5)  # at least 0.2 in per cell: beyond ~30 columns it grows
    cell = min(0.6, (width - 0.5) / w, max(7.0, 0.2 * h) / h)
    matrix_w, matrix_h = w * cell, h * cell
    top, bottom = 0.75, 1.75  # title and column numbers; the image, the row and the vector
    height = top + matrix_h + bottom

    def axes(left: float, low: float, w_in: float, h_in: float):  # positions in inches
        return fig.add_axes((left / width, low / height, w_in / width, h_in / height))

    fig = plt.figure(figsize=(width, height), dpi=DPI)
    matrix = axes(0.4 + (width - 0.5 - matrix_w) / 2, bottom, matrix_w, matrix_h)
    small = axes(0.1, 0.1, 1.1, 1.1)
    strip = axes(1.45, 0.95, width - 1.6, 0.3)
    vector = axes(1.45, 0.3, width - 1.6, 0.2)
    fontsize = cell * 72 * 0.36
    _value_cells(matrix, pixels, fontsize)
    _index_ticks(matrix, h, w, fontsize=min(7, max(5, fontsize)))
    matrix.add_patch(Rectangle((-0.5, row - 0.5), w, 1, fill=False, edgecolor=EXTREME_COLOUR, lw=2))
    small.imshow(pixels, cmap=IMAGE_CMAP, vmin=0, vmax=255, interpolation="nearest")
    _frame(small)
    small.set_title(f"image #{index}", fontsize=7, pad=2)

    _value_cells(strip, pixels[row][None], min(7.0, (width - 1.6) / w * 72 * 0.36), aspect="auto")
    step = max(1, w // 7)
    _feature_axis(
        strip,
        range(0, w, step),
        [row * w + c for c in range(0, w, step)],
        f"row {row} of the image = features {row * w}..{row * w + w - 1} of X[{index}]",
    )
    for spine in strip.spines.values():
        spine.set_color(EXTREME_COLOUR)

    vector.imshow(pixels.reshape(1, n), cmap=IMAGE_CMAP, vmin=0, vmax=255, aspect="auto",
                  interpolation="nearest")  # fmt: skip
    vector.add_patch(Rectangle((row * w - 0.5, -0.5), w, 1, fill=False, edgecolor=EXTREME_COLOUR, lw=2))
    ticks = [0, *range(w * max(1, h // 4), n - w // 2, w * max(1, h // 4)), n - 1]
    _feature_axis(
        vector, ticks, ticks, f"X[{index}]: all {n} features, row 0 first, then row 1, ... row {h - 1}"
    )
    fig.suptitle(
        f"One image as a model sees it: X[{index}] holds its {n} values 0..255,\n"
        f"y[{index}] = {label} ({class_name})",
        fontsize=9, y=1 - 0.06 / height, va="top",
    )  # fmt: skip
    return fig


def _feature_axis(ax, positions, features, title: str) -> None:
    """A one-row strip of features: feature numbers below, a title above, no y axis."""
    ax.set_xticks(list(positions), [str(f) for f in features], fontsize=6)
    ax.tick_params(length=2, pad=1)
    ax.set_yticks([])
    ax.set_title(title, fontsize=7.5, pad=3)
