"""Figures of a dataset map: the scatter coloured by class, the thumbnail map (the images at their
places), and PCA's explained variance curve."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from mnistlab.plots._style import DPI, _frame, _literal_text, class_colours

#: Classes labelled at their median place on the scatter (beyond, the legend alone names them).
MAX_LABELLED_CLASSES = 60
#: Cells across the thumbnail map (the images drawn are at most this squared).
THUMBNAIL_CELLS = 40


def _checked(m, images: np.ndarray | None = None) -> None:
    if len(m) == 0:
        raise ValueError("the map has no points to draw.")
    if images is not None and (np.asarray(images).ndim != 3 or len(images) != len(m)):
        raise ValueError(
            f"images must be the map's {len(m)} images (n, h, w), got shape {np.shape(images)}."
        )


def _points(m, placed: bool):
    """Coordinates and labels of the fitted points, with the placed ones when asked."""
    xy, labels = m.coordinates, m.labels
    if placed and m.placed is not None and len(m.placed):
        xy = np.concatenate([xy, m.placed.coordinates])
        labels = None if labels is None else np.concatenate([labels, m.placed.labels])
    return xy, labels


def faithfulness_text(m) -> str:
    """One line: k-NN accuracy in the map vs in pixels, and trustworthiness."""
    f = m.faithfulness
    if f is None:
        return ""
    parts = []
    if f.knn_map is not None:
        parts.append(f"{f.k}-NN accuracy {f.knn_map:.1%} in the map, {f.knn_pixels:.1%} in pixels")
    parts.append(f"trustworthiness {f.trustworthiness:.3f} ({f.sample:,} points)")
    return "; ".join(parts)


@_literal_text
def map_scatter(
    m, *, placed: bool = True, title: str | None = None, size: float = 7.0, legend: bool = True
) -> Figure:
    """The map's points coloured by class, each class named at its median place and in a legend.

    Parameters
    ----------
    m : mnistlab.maps.Map
        The map.
    placed : bool, default True
        Draw the placed points too (outlined, so fitted and placed can be told apart).
    title : str, optional
        Default: method, dataset, split and the faithfulness numbers.
    size : float, default 7
        The plot's side in inches (the legend is added beside it).
    legend : bool, default True
        Draw the legend of class names (in columns beside the plot for many classes).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the map has no points.
    """
    _checked(m)
    n_classes = len(m.classes)
    colours = class_colours(n_classes)
    # Beyond MAX_LABELLED_CLASSES a legend would outgrow the figure: the title says so instead.
    legend = legend and m.labels is not None and n_classes <= MAX_LABELLED_CLASSES
    columns = 1 if n_classes <= 20 else math.ceil(n_classes / 20)
    width = size + (1.2 + 1.4 * columns if legend else 0.2)
    fig = Figure(figsize=(width, size + 0.5), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    point = max(0.8, min(12.0, 30_000 / len(m)))  # marker area: smaller as points grow
    layers = [(m.coordinates, m.labels, "o", "none")]
    if placed and m.placed is not None and len(m.placed):
        layers.append((m.placed.coordinates, m.placed.labels, "o", "black"))
    for xy, labels, marker, edge in layers:
        if labels is None:
            ax.scatter(xy[:, 0], xy[:, 1], s=point, c=colours[0], marker=marker, linewidths=0)
            continue
        ax.scatter(
            xy[:, 0],
            xy[:, 1],
            s=point,
            c=np.asarray(colours)[labels],
            marker=marker,
            edgecolors=edge,
            linewidths=0 if edge == "none" else 0.3,
            rasterized=True,
        )
    xy, labels = _points(m, placed)
    if labels is not None and n_classes <= MAX_LABELLED_CLASSES:
        for k, name in enumerate(m.classes):
            mine = xy[labels == k]
            if len(mine):
                x, y = np.median(mine, axis=0)
                ax.annotate(
                    name,
                    (x, y),
                    ha="center",
                    va="center",
                    fontsize=9 if n_classes <= 20 else 7,
                    fontweight="bold",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": colours[k], "alpha": 0.8},
                )
    if legend:
        handles = [
            Line2D([], [], marker="o", ls="", color=colours[k], label=name)
            for k, name in enumerate(m.classes)
        ]
        if placed and m.placed is not None and len(m.placed):
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    ls="",
                    mfc="white",
                    mec="black",
                    label=f"{m.placed.split} (placed)",
                )
            )
        fig.legend(
            handles=handles,
            loc="outside right upper",
            ncols=columns,
            fontsize=8,
            frameon=False,
            markerscale=1.2,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal", adjustable="datalim")
    _frame(ax)
    if title is None:
        where = f"{m.dataset} {m.split}".strip()
        title = f"{m.title} of {where} ({len(m):,} images)\n{faithfulness_text(m)}"
        if n_classes > MAX_LABELLED_CLASSES:
            title += f"\n{n_classes} classes, too many to name: the interactive map names each point"
    ax.set_title(title, fontsize=10)
    return fig


def thumbnail_cells(xy: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which point to draw in each cell of a ``cells x cells`` grid over the map: the one closest
    to the cell's centre. Returns (rows, columns, point) of the cells that hold a point."""
    low, high = xy.min(axis=0), xy.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    unit = (xy - low) / span * cells
    cell = np.minimum(unit.astype(np.int64), cells - 1)
    offset = np.linalg.norm(unit - (cell + 0.5), axis=1)
    key = cell[:, 1] * cells + cell[:, 0]
    order = np.lexsort((offset, key))  # by cell, the closest to its centre first
    first = order[np.r_[True, key[order][1:] != key[order][:-1]]]
    row = cells - 1 - cell[first, 1]  # y grows upwards on the map, rows downwards
    return row, cell[first, 0], first


@_literal_text
def thumbnail_map(
    m, images: np.ndarray, *, cells: int = THUMBNAIL_CELLS, title: str | None = None, size: float = 9.0
) -> Figure:
    """The images drawn at their places: a grid over the map, each cell showing the image closest
    to its centre, inked in its class's colour, so islands and the bridges between them can be
    seen as images.

    Parameters
    ----------
    m : mnistlab.maps.Map
        The map (its fitted points).
    images : ndarray of uint8, shape (n, h, w)
        The map's images, in the order of ``m.coordinates`` (0..255, light ink on dark).
    cells : int, default 40
        Cells across the grid.
    title : str, optional
        A title above the map.
    size : float, default 9
        The figure's side in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the images do not match the map's points, or ``cells`` is below 2.
    """
    _checked(m, images)
    if isinstance(cells, bool) or not isinstance(cells, (int, np.integer)) or cells < 2:
        raise ValueError(f"cells must be a whole number >= 2, got {cells!r}.")
    images = np.asarray(images)
    h, w = images.shape[1:]
    row, column, point = thumbnail_cells(m.coordinates, cells)
    canvas = np.ones((cells * h, cells * w, 3), np.float32)
    colours = np.array([to_rgb(c) for c in class_colours(max(1, len(m.classes)))], np.float32)
    ink = images[point].astype(np.float32) / 255.0  # 1 = ink
    tint = colours[m.labels[point]] if m.labels is not None else np.zeros((len(point), 3), np.float32)
    tiles = 1.0 - ink[..., None] * (1.0 - tint[:, None, None, :])  # white paper, coloured ink
    for r, c, tile in zip(row, column, tiles, strict=True):
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = tile
    fig = Figure(figsize=(size, size + 0.4), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(canvas, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    _frame(ax)
    if title is None:
        where = f"{m.dataset} {m.split}".strip()
        title = (
            f"{m.title} of {where}: the images at their places\n"
            f"in each cell the one nearest its centre ({len(point):,} of {len(m):,}), "
            "inked in its class's colour"
        )
    ax.set_title(title, fontsize=10)
    return fig


@_literal_text
def variance_curve(m, *, title: str | None = None) -> Figure:
    """PCA's cumulative explained variance by number of components, with the counts that reach
    90, 95 and 99 % marked.

    Parameters
    ----------
    m : mnistlab.maps.Map
        A map whose ``variance`` is known (PCA, or t-SNE/UMAP after a PCA).
    title : str, optional
        A title above the curve.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the map has no explained variance.
    """
    if m.variance is None:
        raise ValueError("this map was made without a PCA: there is no explained variance.")
    total = np.cumsum(m.variance)
    fig = Figure(figsize=(6.0, 3.6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(np.arange(1, len(total) + 1), total, color="#1f77b4")
    for share, colour in ((0.90, "#2ca02c"), (0.95, "#ff7f0e"), (0.99, "#d62728")):
        k = m.components_for(share)
        if k is not None:
            ax.axhline(share, color=colour, lw=0.8, ls=":")
            ax.axvline(k, color=colour, lw=0.8, ls=":")
            ax.annotate(
                f"{share:.0%}: {k}", (k, share), xytext=(4, -12), textcoords="offset points", fontsize=8
            )
    ax.set_xscale("log")
    # Plain numbers: the figure draws text literally, so the log axis' mathtext 10^k would not render.
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("principal components")
    ax.set_ylabel("share of pixel variance")
    ax.grid(alpha=0.3)
    where = f"{m.dataset} {m.split}".strip()
    ax.set_title(title or f"Explained variance of {where}", fontsize=10)
    return fig
