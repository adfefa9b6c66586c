"""Grids of images: from a split (titled with index and class), or any images with their titles."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnistlab.data.dataset import Split
from mnistlab.plots._style import DPI, IMAGE_CMAP, _frame, _literal_text


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

    Parameters
    ----------
    split : Split
        The images (uint8, 0..255), their labels and class names.
    indices : sequence of int, optional
        Positions in ``split`` of the images to show, in this order; default every image.
    columns : int, optional
        Images per row; default 6 for up to 12 images, else 10 (never more than there are).
    title : str, optional
        A title above the grid.
    cell_inches : float, default 0.95
        Width of each image's cell, in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``indices`` is empty (or ``split`` has no image).
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
    assert split.indices is not None  # filled by Split.__post_init__
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


@_literal_text
def titled_images(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    columns: int | None = None,
    title: str | None = None,
    cell_inches: float = 1.2,
) -> Figure:
    """Images (0..255) in a grid, each with its own title (several lines allowed).

    Parameters
    ----------
    images : sequence of ndarray (h, w)
        The images, on the 0..255 scale (white = 0, black = 255).
    titles : sequence of str
        One title per image; lines separated by ``"\\n"``.
    columns : int, optional
        Images per row; default 6 (fewer if there are fewer images).
    title : str, optional
        A title above the grid.
    cell_inches : float, default 1.2
        Width of each image's cell, in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If there is no image, or not one title per image.
    """
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
