"""What every figure shares: colours, resolution, the caps on what one figure draws, helpers.

Images are drawn with white = 0 and black = 255 (``IMAGE_CMAP``), the same in every figure and for
every dataset, so ink is dark on paper whatever the dataset.
"""

from __future__ import annotations

import functools
import math

import matplotlib
import numpy as np

matplotlib.use("Agg")  # figures are written to files; never open a window


def _literal_text(func):
    """Draw every text as written: class names such as "$" or "$$" are data, not mathtext.

    Text reads ``text.parse_math`` when it is created, tick labels partly when the figure is
    drawn: so both the figure functions and the renderers run with it off (a local setting,
    not a change to the user's matplotlib defaults).
    """

    @functools.wraps(func)
    def literal(*args, **kwargs):
        with matplotlib.rc_context({"text.parse_math": False}):
            return func(*args, **kwargs)

    return literal


IMAGE_CMAP = "gray_r"
DPI = 110
#: Pixel values 0 and 255 are drawn in this colour in every histogram.
EXTREME_COLOUR = "#d0632b"

# Caps on what one figure draws, so that no figure grows with the number of classes: beyond
# them a figure shows a subset (or the hardest pairs) and its title says which. Every figure
# stays within MAX_FIGURE_INCHES a side (about 2,000 pixels at DPI).
MAX_FIGURE_INCHES = 18.0
#: Mean images in the centroid grid (the first classes by label beyond).
MAX_GRID_CLASSES = 60
#: Small multiples in the per-class pixel histograms (the first classes by label beyond).
MAX_HISTOGRAM_CLASSES = 30
#: Boxes in the distance box plot (beyond: the classes with the farthest outlier).
MAX_BOX_CLASSES = 30
#: Rows (classes) of the typicality gallery (beyond: the classes with the farthest outlier) and
#: images per class in each of its two blocks.
MAX_GALLERY_CLASSES = 20
MAX_GALLERY_PER_CLASS = 12
#: Class-by-class grids and heat maps (pair differences, one-pixel heat map and best pixels)
#: are drawn whole up to this many classes; beyond, the heat map shows this many classes (those
#: in the hardest pairs) and the pair figures show the MAX_PAIR_PANELS closest or hardest pairs.
MAX_PAIR_CLASSES = 30
MAX_PAIR_PANELS = 24
#: Rows and columns of a confusion matrix (beyond: the most confused classes).
MAX_CONFUSION_CLASSES = 30


def _subset(shown: int, total: int, which: str, unit: str = "classes") -> str:
    """The title line of a figure that shows part of what there is; empty when it shows all."""
    return f"{shown:,} of {total:,} {unit}: {which}" if shown < total else ""


def _grid_shape(n: int, columns: int | None = None) -> tuple[int, int]:
    columns = columns or (5 if n == 10 else min(n, 6) if n <= 36 else 10)
    return math.ceil(n / columns), columns


def _frame(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#c8c8c8")


def class_colours(n: int) -> list[str]:
    """One colour per class (hex strings), told apart as far as ``n`` allows.

    Up to 10 classes: matplotlib's ``tab10`` (the categorical palette of Vega and Tableau); up to
    20: ``tab20`` (10 hues, each dark and light); up to 60: ``tab20``, ``tab20b`` and ``tab20c``
    (EMNIST's 47 classes get 47 distinct colours; neighbours in the list differ in hue or
    lightness); beyond, ``n`` evenly spaced colours of ``turbo``. The same classes get the same
    colours in every figure and on the interactive map.
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if n <= 10:
        colours = list(colormaps["tab10"].colors)[:n]  # type: ignore[attr-defined]
    elif n <= 20:
        colours = list(colormaps["tab20"].colors)[:n]  # type: ignore[attr-defined]
    elif n <= 60:
        colours = [c for name in ("tab20", "tab20b", "tab20c") for c in colormaps[name].colors][:n]  # type: ignore[attr-defined]
    else:
        colours = [colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, n)]
    return [to_hex(c) for c in colours]
