"""One-pixel separability: the accuracy of the best pixel of every pair, and where that pixel is."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnistlab import stats
from mnistlab.plots._differences import _difference, _difference_scale, _pair_panels
from mnistlab.plots._style import (
    DPI,
    MAX_PAIR_CLASSES,
    MAX_PAIR_PANELS,
    _frame,
    _literal_text,
    _subset,
)

SEPARABILITY_CMAP = "viridis"


@_literal_text
def separability_heatmap(result, *, column: str | None = None) -> Figure:
    """Class-by-class accuracy of the best single pixel, annotated, on a fixed 0.5..1 scale.

    ``result`` is a :class:`~mnistlab.onepixel.OnePixelSeparability`; ``column`` defaults to its
    ``measure`` (test accuracy when there is a test split). Beyond ``MAX_PAIR_CLASSES`` classes:
    those of the hardest pairs (in label order), said in the title.

    Parameters
    ----------
    result : onepixel.OnePixelSeparability
        The best pixel of every pair (:func:`mnistlab.onepixel.one_pixel_separability`).
    column : str, optional
        The column of ``result.pairs`` to draw, an accuracy between 0 and 1 (``train_accuracy``,
        ``test_accuracy``, ...); default ``result.measure``.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``column`` is not a column of ``result.pairs``.
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

    Parameters
    ----------
    result : onepixel.OnePixelSeparability
        The best pixel of every pair (:func:`mnistlab.onepixel.one_pixel_separability`); the
        accuracy shown is ``result.measure``.
    centroids : stats.Centroids
        The class means (0..255 scale) of the split the pixels were fitted on, same classes and
        image shape as ``result``.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``result`` has fewer than two classes (no pair to draw).
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
    bar = fig.colorbar(_difference_scale(), cax=cax, orientation="horizontal")
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
