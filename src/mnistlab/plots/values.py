"""Images as numbers: the matrix of an image's values, and how an image becomes a row of features."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnistlab.plots._style import (
    DPI,
    EXTREME_COLOUR,
    IMAGE_CMAP,
    _frame,
    _literal_text,
)

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
    """``pixels`` if it is one uint8 image small enough to write every value, else a ValueError.

    Parameters
    ----------
    pixels : array_like (h, w)
        One image, uint8 (0..255).

    Returns
    -------
    numpy.ndarray
        ``pixels`` as an array (not copied).

    Raises
    ------
    ValueError
        If ``pixels`` is not one non-empty uint8 image (h, w), or a side exceeds
        ``MAX_VALUE_SIDE``.
    """
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

    Parameters
    ----------
    pixels : ndarray (h, w) uint8
        The image, 0..255.
    title : str, optional
        A title above the matrix.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``pixels`` is not one uint8 image or is too large (see :func:`check_value_image`).
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

    Parameters
    ----------
    pixels : ndarray (h, w) uint8
        The image, 0..255.
    index : int
        Its row in ``X`` (and ``y``), as the labels name it.
    label : int
        Its label, the value of ``y[index]``.
    class_name : str
        The name of that class.
    width : float, default 6.4
        The figure's width in inches; widened to at least 0.2 in per column of the image.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``pixels`` is not one uint8 image or is too large (see :func:`check_value_image`).
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
