"""matplotlib figures, one function per figure, each returning a Figure (never showing it).

Images are drawn with white = 0 and black = 255 (``IMAGE_CMAP``), the same in every figure and for
every dataset, so ink is dark on paper whatever the dataset.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written to files; never open a window

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnistlab.data.dataset import Split

IMAGE_CMAP = "gray_r"
DPI = 110


def image_grid(
    split: Split,
    indices: Sequence[int] | None = None,
    *,
    columns: int | None = None,
    title: str | None = None,
    cell_inches: float = 1.15,
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
    fontsize = 8 if longest <= 8 else 7
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
        ax.set_title(f"#{split.indices[i]} {name}", fontsize=fontsize, pad=2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3, h_pad=0.4, w_pad=0.2)
    return fig


def pixel_histogram(counts: np.ndarray, *, title: str | None = None) -> Figure:
    """Bar chart of how many pixels take each value 0..255 (log scale: zeros dominate)."""
    counts = np.asarray(counts)
    fig, ax = plt.subplots(figsize=(5.2, 2.9), dpi=DPI)
    share = counts / max(counts.sum(), 1)
    ax.bar(np.arange(256), share, width=1.0, color="#3b6ea5", linewidth=0)
    ax.set_yscale("log")
    ax.set_ylim(1e-6, 1.5)  # fixed, so histograms of different datasets compare at a glance
    ax.set_xlim(-1, 256)
    ax.set_xticks([0, 32, 64, 96, 128, 160, 192, 224, 255])
    ax.set_xlabel("pixel value (0 = background, 255 = full ink)")
    ax.set_ylabel("share of all pixels (log)")
    ax.grid(axis="y", alpha=0.3, which="major")
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def class_count_bars(counts: dict[str, dict[str, int]], *, title: str | None = None) -> Figure:
    """Horizontal bars of images per class, one colour per split (``{split: {class: n}}``)."""
    splits = list(counts)
    classes = list(next(iter(counts.values())))
    fig, ax = plt.subplots(figsize=(5.2, 0.28 * len(classes) + 1.0), dpi=DPI)
    height = 0.8 / len(splits)
    y = np.arange(len(classes))
    for k, split in enumerate(splits):
        values = [counts[split][c] for c in classes]
        ax.barh(y + k * height, values, height=height, label=split)
    ax.set_yticks(y + height * (len(splits) - 1) / 2, classes, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("images")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def to_png_bytes(fig: Figure) -> bytes:
    """Render a figure to PNG bytes and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    plt.close(fig)
    return buffer.getvalue()


def to_data_uri(fig: Figure) -> str:
    """Render a figure to a ``data:image/png;base64,...`` URI (for self-contained HTML)."""
    return "data:image/png;base64," + base64.b64encode(to_png_bytes(fig)).decode("ascii")


def save(fig: Figure, path: str | Path) -> Path:
    """Write a figure as PNG (atomically) and close it; returns the path."""
    from mnistlab.data.formats import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, to_png_bytes(fig))
    return path
