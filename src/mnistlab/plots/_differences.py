"""Centroid differences on one fixed -255..255 diverging scale, and one panel per pair of classes.

Shared by the centroid, one-pixel and comparison figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from mnistlab import stats
from mnistlab.plots._style import DPI, _frame

#: Diverging map for centroid differences: red where the row class has more ink, blue where the
#: column class has, white where equal. The same fixed scale for every dataset.
DIFFERENCE_CMAP = "RdBu_r"
DIFFERENCE_LIMIT = 255  # the largest possible difference: nothing is ever clipped


def _difference(ax, centroids: stats.Centroids, a: int, b: int, ring=None) -> None:
    """Draw centroid a minus centroid b on the fixed -255..255 scale (:func:`_difference_scale`),
    with a ring at ``ring`` (x, y) if given."""
    ax.imshow(
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


def _difference_scale() -> ScalarMappable:
    """The one scale of every difference panel, for its colour bar: -255 (blue) to 255 (red)."""
    return ScalarMappable(plt.Normalize(-DIFFERENCE_LIMIT, DIFFERENCE_LIMIT), DIFFERENCE_CMAP)


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
    bar = fig.colorbar(_difference_scale(), cax=cax, orientation="horizontal")
    bar.set_ticks([-DIFFERENCE_LIMIT, -128, 0, 128, DIFFERENCE_LIMIT])
    bar.ax.tick_params(labelsize=6)
    bar.set_label("first centroid - second (red: first class darker)", fontsize=6.5)
    return fig
