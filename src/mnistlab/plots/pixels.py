"""Pixel-value histograms: the share of pixels at each value 0..255, overall and per class."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnistlab.plots._style import (
    DPI,
    EXTREME_COLOUR,
    MAX_HISTOGRAM_CLASSES,
    _grid_shape,
    _literal_text,
    _subset,
)

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

    Parameters
    ----------
    counts : ndarray (256,)
        How many pixels take each value 0..255 (:func:`mnistlab.stats.pixel_value_counts`).
    title : str, optional
        A title above the histogram.

    Returns
    -------
    matplotlib.figure.Figure
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
def pixel_histograms_by_class(
    counts: np.ndarray, classes: Sequence[str], *, title: str | None = None
) -> Figure:
    """Small multiples: share of pixels at each value 0..255 within each class (log scale).

    At most ``MAX_HISTOGRAM_CLASSES`` classes, the first by label; the title says when there are
    more.

    Parameters
    ----------
    counts : ndarray (n_classes, 256)
        Per class, how many pixels take each value 0..255
        (:func:`mnistlab.stats.pixel_value_counts_by_class`).
    classes : sequence of str
        Class names, one per row of ``counts``, in label order.
    title : str, optional
        A title above the panels.

    Returns
    -------
    matplotlib.figure.Figure
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
