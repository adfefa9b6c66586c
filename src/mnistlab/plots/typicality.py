"""How typical each image is of its class: distances to the class centroid as box plots, and the
least and most typical images of every class."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnistlab import stats
from mnistlab.data.dataset import Split
from mnistlab.plots._style import (
    DPI,
    IMAGE_CMAP,
    MAX_BOX_CLASSES,
    MAX_GALLERY_CLASSES,
    MAX_GALLERY_PER_CLASS,
    _frame,
    _literal_text,
    _subset,
)


def _farthest_classes(typicality: stats.Typicality, n: int) -> np.ndarray:
    """Labels of the ``n`` classes whose farthest image lies farthest from their centroid,
    farthest first (ties and classes without images: label order)."""
    farthest = np.full(len(typicality.classes), -np.inf)
    np.maximum.at(farthest, typicality.labels, typicality.distances)
    return np.argsort(-farthest, kind="stable")[:n]


#: Upper end of the distance axis in box plots (raised only if some distance is larger).
DISTANCE_LIMIT = 180


@_literal_text
def distance_boxplot(typicality: stats.Typicality) -> Figure:
    """Box plot of each image's RMS distance to its class centroid, one box per class.

    At most ``MAX_BOX_CLASSES`` boxes: beyond, the classes with the farthest outlier (in label
    order), said in the title.

    Parameters
    ----------
    typicality : stats.Typicality
        Every image's RMS distance to its class centroid, on the 0..255 scale
        (:func:`mnistlab.stats.typicality`).

    Returns
    -------
    matplotlib.figure.Figure
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

    Parameters
    ----------
    split : Split
        The split ``typicality`` was computed on: its images (uint8, 0..255) are drawn.
    typicality : stats.Typicality
        Every image's distance to its class centroid (:func:`mnistlab.stats.typicality`).
    per_class : int, default 6
        Images in each block, capped at ``MAX_GALLERY_PER_CLASS`` and at the largest class's size.

    Returns
    -------
    matplotlib.figure.Figure
    """
    # No more columns than the largest class can fill.
    largest = int(np.bincount(typicality.labels).max(initial=1))
    per_class = max(1, min(per_class, largest, MAX_GALLERY_PER_CLASS))
    total = len(typicality.classes)
    rows = np.arange(total)
    if total > MAX_GALLERY_CLASSES:
        rows = _farthest_classes(typicality, MAX_GALLERY_CLASSES)
    least = typicality.positions_by_class(per_class, least=True)
    most = typicality.positions_by_class(per_class, least=False)
    k = len(rows)
    subset = _subset(k, total, "those with the farthest outlier, farthest first")
    columns = 2 * per_class + 1  # a blank column separates the two blocks
    cell = 0.62
    header = 0.3 + (0.2 if subset else 0)
    height = k * (cell + 0.14) + 0.15 + header
    fig, axes = plt.subplots(k, columns, figsize=(columns * cell + 0.9, height), squeeze=False, dpi=DPI)
    for ax in axes.ravel():
        ax.set_axis_off()
    assert split.indices is not None  # filled by Split.__post_init__
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
