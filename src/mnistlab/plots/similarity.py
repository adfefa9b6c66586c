"""Similar images: duplicate pairs side by side, and two images with their difference."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnistlab.data.lazy import LazySplit
from mnistlab.plots._differences import DIFFERENCE_CMAP, DIFFERENCE_LIMIT
from mnistlab.plots._style import DPI, IMAGE_CMAP, _frame, _literal_text
from mnistlab.plots.images import titled_images


@_literal_text
def duplicate_pairs(dataset, pairs, *, n: int = 6, title: str | None = None) -> Figure:
    """The first ``n`` pairs of ``find_duplicates(dataset).pairs`` (positions in their splits),
    side by side, each titled with its split, its index in the original split (``Split.indices``,
    the row in the file), its class and the pair's RMS distance; (!) marks differing labels.

    Parameters
    ----------
    dataset : Dataset or LazyDataset
        The dataset the pairs were found in (images uint8, 0..255); a Zarr store's images are
        read one by one.
    pairs : pandas.DataFrame
        ``find_duplicates(dataset).pairs`` (:class:`mnistlab.similarity.Duplicates`), or some of its
        rows.
    n : int, default 6
        How many pairs to show, the first ones of ``pairs``.
    title : str, optional
        A title above the pairs.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If there is no pair to draw (``pairs`` empty or ``n`` 0).
    """
    shown = pairs.head(n)
    # Each split's images read at once: from a Zarr store, each chunk holding one is read once.
    read = {}
    for name in {*shown["split_a"], *shown["split_b"]}:
        split = dataset.split(name)
        wanted = np.concatenate([shown.loc[shown[f"split_{s}"] == name, f"index_{s}"] for s in "ab"])
        positions = np.unique(wanted.astype(np.int64))
        picked = split.take(positions) if isinstance(split, LazySplit) else split[positions]
        read[name] = (positions, picked.images, np.asarray(picked.indices))
    images, titles = [], []
    for r in shown.itertuples():
        flag = " (!)" if r.labels_differ else ""
        for split_name, position, label in (
            (r.split_a, r.index_a, r.label_a),
            (r.split_b, r.index_b, r.label_b),
        ):
            positions, pixels, indices = read[split_name]
            row = int(np.searchsorted(positions, position))
            images.append(pixels[row])
            titles.append(
                f"{split_name} #{indices[row]} · {dataset.classes[label]}{flag}\n"
                f"RMS {r.rms_distance:.2f}"
            )
    return titled_images(images, titles, columns=6, title=title)


@_literal_text
def comparison(a: np.ndarray, b: np.ndarray, title_a: str, title_b: str, *, note: str = "") -> Figure:
    """Two images (0..255) and their difference a - b on the fixed -255..255 diverging scale.

    Parameters
    ----------
    a, b : ndarray (h, w)
        The two images, of the same shape, on the 0..255 scale.
    title_a, title_b : str
        Their titles.
    note : str, default ""
        A title above the three panels (none if empty).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(1, 3, figsize=(6.2, 2.6), dpi=DPI)
    for ax, image, text in ((axes[0], a, title_a), (axes[1], b, title_b)):
        _frame(ax)
        ax.imshow(image, cmap=IMAGE_CMAP, vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(text, fontsize=7.5)
    _frame(axes[2])
    shown = axes[2].imshow(
        a.astype(np.float64) - b,
        cmap=DIFFERENCE_CMAP,
        vmin=-DIFFERENCE_LIMIT,
        vmax=DIFFERENCE_LIMIT,
        interpolation="nearest",
    )
    axes[2].set_title("a - b (red: a darker)", fontsize=7.5)
    bar = fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04)
    bar.ax.tick_params(labelsize=6)
    if note:
        fig.suptitle(note, fontsize=7.5)
    fig.tight_layout()
    return fig
