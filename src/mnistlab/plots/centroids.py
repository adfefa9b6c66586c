"""Class centroids: the mean image of every class, and the differences between pairs of them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnistlab import stats
from mnistlab.plots._differences import (
    DIFFERENCE_LIMIT,
    _difference,
    _difference_scale,
    _pair_panels,
)
from mnistlab.plots._style import (
    DPI,
    IMAGE_CMAP,
    MAX_GRID_CLASSES,
    MAX_PAIR_CLASSES,
    MAX_PAIR_PANELS,
    _frame,
    _grid_shape,
    _literal_text,
    _subset,
)


@_literal_text
def centroid_grid(centroids: stats.Centroids, *, columns: int | None = None) -> Figure:
    """The mean image of every class (white = 0, black = 255), class names as titles.

    At most ``MAX_GRID_CLASSES`` classes, the first by label; the title says when there are more.

    Parameters
    ----------
    centroids : stats.Centroids
        The mean image of every class (0..255 scale) and its image count
        (:func:`mnistlab.stats.centroids`).
    columns : int, optional
        Images per row; default 5 for 10 classes, 6 up to 36 classes (fewer if fewer), else 10.

    Returns
    -------
    matplotlib.figure.Figure
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
def pair_differences(centroids: stats.Centroids) -> Figure:
    """Facet grid of centroid differences (row class minus column class) for every class pair.

    One fixed diverging scale, -255..255, for every dataset; classes without images stay blank.
    Beyond ``MAX_PAIR_CLASSES`` classes: the ``MAX_PAIR_PANELS`` pairs with the closest centroids
    instead, each captioned with its RMS difference, and the title says so.

    Parameters
    ----------
    centroids : stats.Centroids
        The mean image of every class, on the 0..255 scale (:func:`mnistlab.stats.centroids`).

    Returns
    -------
    matplotlib.figure.Figure
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
    for r in range(k):
        for c in range(k):
            ax = axes[r, c]
            _frame(ax)
            _difference(ax, centroids, r, c)
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
    bar = fig.colorbar(_difference_scale(), cax=cax, orientation="horizontal")
    bar.set_ticks([-DIFFERENCE_LIMIT, -128, 0, 128, DIFFERENCE_LIMIT])
    bar.ax.tick_params(labelsize=6.5)
    bar.set_label(
        "row centroid - column centroid\n(blue: column class darker, red: row class darker)", fontsize=7
    )
    return fig
