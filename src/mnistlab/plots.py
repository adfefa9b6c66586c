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


def pixel_histogram(counts: np.ndarray, *, title: str | None = None) -> Figure:
    """Share of pixels taking each value 0..255 (log scale), the two extremes labelled.

    Value 0 (background) and 255 (full ink) are drawn in their own colour and annotated with
    their share: at one unit wide they would otherwise vanish against the axes.
    """
    counts = np.asarray(counts)
    fig, ax = plt.subplots(figsize=(5.4, 3.0), dpi=DPI)
    share = counts / max(counts.sum(), 1)
    values = np.arange(256)
    ax.bar(values[1:255], share[1:255], width=1.0, color="#3b6ea5", linewidth=0)
    for v, align in ((0, "left"), (255, "right")):
        ax.bar([v], [share[v]], width=3.0, color="#d0632b", linewidth=0)
        if share[v] > 0:
            ax.annotate(
                f"{v}: {share[v]:.1%}",
                (v, share[v]),
                xytext=(6 if v == 0 else -6, 0),
                textcoords="offset points",
                ha=align,
                va="center",
                fontsize=8,
                color="#d0632b",
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
