"""The interactive map: a self-contained HTML page (Bokeh) where each point shows its image.

A :class:`~mnistlab.maps.Map` is drawn as a scatter plot coloured by class, with the colours of
the static figures (:func:`mnistlab.plots._style.class_colours`). The page can be zoomed (mouse
wheel) and panned; hovering a point shows its image (a small PNG, drawn enlarged with sharp
pixels, ink dark on paper as in every mnistlab figure), its split, position, class, file and any
scores; clicking a class in the legend hides it, and so does clicking a split (the points of
another split placed into the map are drawn as rings).

The page makes no request: BokehJS (1.27 MB) is inlined once, every image is a ``data:`` URI
(about 390 bytes a point with its other columns: 10,000 MNIST digits make a 5.1 MB page), and a
Content-Security-Policy allows exactly the page's own inline scripts by their sha256 hashes
(:func:`mnistlab._utils.csp.csp_script_hashes`), without ``'unsafe-eval'``.

WebGL: the figure asks for it (``output_backend="webgl"``), and gets it where Bokeh's WebGL
bundle is loaded and code generation is allowed (``bokeh.io.show`` in a notebook). The page does
not carry that bundle: its renderer (regl) builds its drawing functions with ``Function()``,
which the policy forbids, so BokehJS would fall back to a canvas anyway, after a policy
violation. On a canvas Bokeh draws a decimated subset of large renderers while zooming and
panning: 60,000 MNIST points stay usable (measured in headless Chromium without a GPU: a
hover costs about 10 ms, a wheel-zoom or pan step 100 to 200 ms).

>>> import mnistlab
>>> ds = mnistlab.load("digits")
>>> m = mnistlab.embed(ds, "pca", first=200)
>>> html = map_page(m, ds.train.images[:200])
>>> html.startswith("<!DOCTYPE html>"), "'unsafe-eval'" in html
(True, False)
"""

from __future__ import annotations

import base64
import html as html_text
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mnistlab._utils.csp import content_security_policy
from mnistlab._utils.files import atomic_write_bytes
from mnistlab._utils.text import percent
from mnistlab.maps.embedding import Map

if TYPE_CHECKING:
    import os

    from bokeh.model import Model

__all__ = [
    "map_caption",
    "map_components",
    "map_figure",
    "map_page",
    "png_data_uris",
    "write_map_page",
]

#: The side of the plotting area, in CSS pixels (the legend is beside it).
MAP_SIZE = 560
#: How large a hovered image is drawn (its longer side, in CSS pixels, an integer multiple of
#: the image's own pixels so that they stay square).
TOOLTIP_IMAGE = 96
#: The grey of the legend entries that stand for a whole split.
_SPLIT_GREY = "#777777"
_PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; font-weight: 600; margin: 0 0 1rem; }
.maps { display: flex; flex-wrap: wrap; gap: 2rem; align-items: flex-start; }
.maps figure { margin: 0; }
.maps figcaption { font-size: 0.85rem; color: #555; max-width: 46rem; margin-top: 0.4rem; }
"""


def png_data_uris(images: np.ndarray) -> list[str]:
    """Each image as a ``data:image/png;base64,...`` URI, ink dark on paper.

    The PNGs are written here, with ``zlib``: 8-bit grayscale, every row unfiltered (filter type
    None) and deflated at level 9. On MNIST digits (mostly blank) that is 14 % smaller than
    Pillow's adaptive filters (246 bytes a digit instead of 287), twice as fast, and as small on
    Fashion-MNIST (522 bytes instead of 513).

    Parameters
    ----------
    images : ndarray of uint8, shape (n, h, w)
        Pixel values 0..255, ink bright (as MNIST stores them); each PNG holds ``255 - value``,
        the way every mnistlab figure draws images.

    Returns
    -------
    list of str
        One URI per image (an MNIST digit: about 350 characters).

    Raises
    ------
    ValueError
        If ``images`` is not a uint8 array of shape (n, h, w).

    Examples
    --------
    >>> import numpy as np
    >>> uri = png_data_uris(np.zeros((1, 28, 28), np.uint8))[0]
    >>> uri[:22], len(uri)
    ('data:image/png;base64,', 126)
    """
    images = _checked_images(images, "images")
    n, h, w = images.shape
    if h == 0 or w == 0 or h >= 2**31 or w >= 2**31:
        raise ValueError(f"images must have between 1 and 2**31 - 1 rows and columns, got {h} x {w}.")
    rows = np.zeros((n, h, 1 + w), np.uint8)  # each row starts with its filter type: 0, None
    np.subtract(255, images, out=rows[:, :, 1:])
    signature = b"\x89PNG\r\n\x1a\n"
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))  # 8-bit grey
    end = _png_chunk(b"IEND", b"")
    return [
        "data:image/png;base64,"
        + base64.b64encode(
            signature + header + _png_chunk(b"IDAT", zlib.compress(image.tobytes(), 9)) + end
        ).decode("ascii")
        for image in rows
    ]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data and the CRC-32 of type and data (PNG specification, 5.3)."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def map_figure(
    m: Map,
    images: np.ndarray,
    *,
    placed_images: np.ndarray | None = None,
    scores: Mapping[str, np.ndarray | Sequence[float]] | None = None,
    files: Sequence[str] | None = None,
    title: str | None = None,
    size: int = MAP_SIZE,
) -> Model:
    """An interactive scatter plot of a map (a Bokeh figure) whose points show their images.

    Parameters
    ----------
    m : Map
        The map (:func:`mnistlab.embed`).
    images : ndarray of uint8, shape (n, h, w)
        The mapped images, pixel values 0..255, in the order of ``m.coordinates``.
    placed_images : ndarray of uint8, shape (p, h, w), optional
        The images of the points placed into the map (``m.placed``); required when there are.
    scores : dict of str to array of float, optional
        Numbers shown on hover, by name (``{"label-issue score": ..., "typicality": ...}``):
        one per mapped point (length n) or one per row of ``m.to_frame()`` (mapped then placed
        points, length n + p). Finite values only.
    files : sequence of str, optional
        The file each image came from, shown on hover; length n or n + p, like ``scores``.
    title : str, optional
        The plot's title (default: the method, dataset and split, "t-SNE of mnist test").
    size : int, default 560
        The side of the square plotting area in CSS pixels (the legend is beside it).

    Returns
    -------
    bokeh.plotting.figure
        Ready for :func:`map_components` or :func:`map_page`.

    Raises
    ------
    ValueError
        If ``m`` is not a Map, the images do not match the map's points (count, shape, dtype),
        placed images are missing or unexpected, a score or ``files`` has the wrong length, a
        score is not finite, or a label is not a class number.

    Examples
    --------
    >>> import mnistlab
    >>> ds = mnistlab.load("digits")
    >>> m = mnistlab.embed(ds, "pca", place="test", first=100, measure=False)
    >>> fig = map_figure(m, ds.train.images[:100], placed_images=ds.test.images[:100])
    >>> fig.output_backend, [item.label.value for item in fig.legend[0].items][:3]
    ('webgl', ['train (100, mapped)', 'test (100, placed)', '0'])
    """
    from bokeh.plotting import figure

    from mnistlab.plots._style import class_colours

    if not isinstance(m, Map):
        raise ValueError(f"m must be a Map (mnistlab.embed), got {type(m).__name__}.")
    n = len(m)
    images = _checked_images(images, "images", n, "points (len(m))")
    p = 0 if m.placed is None else len(m.placed)
    if m.placed is None and placed_images is not None:
        raise ValueError("placed_images given, but the map has no placed points (m.placed is None).")
    groups = [_Points("mapped", m.split, m.indices, m.labels, m.coordinates, images, 0)]
    if m.placed is not None:
        if placed_images is None:
            raise ValueError(
                f"the map has {p:,} placed points ({m.placed.split}): pass their images as "
                "placed_images."
            )
        placed_images = _checked_images(placed_images, "placed_images", p, "placed points (m.placed)")
        if placed_images.shape[1:] != images.shape[1:]:
            raise ValueError(
                f"placed_images are {placed_images.shape[1:]} pixels but images are "
                f"{images.shape[1:]}; they must be images of the same dataset."
            )
        pl = m.placed
        groups.append(
            _Points("placed", pl.split, pl.indices, pl.labels, pl.coordinates, placed_images, n)
        )
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 100 <= size <= 4000:
        raise ValueError(f"size must be a whole number of pixels in 100..4000, got {size!r}.")
    for group in groups:
        labels = group.labels
        if labels is not None and len(labels) and not 0 <= labels.min() <= labels.max() < len(m.classes):
            raise ValueError(
                f"the {group.split} labels must be class numbers in 0..{len(m.classes) - 1} "
                f"(m.classes), got {labels.min()}..{labels.max()}."
            )
    columns = _score_columns(scores, n, p)
    file_names = _file_names(files, n, p)

    fig = figure(
        title=title if title is not None else _default_title(m),
        frame_width=int(size),
        frame_height=int(size),
        match_aspect=True,
        output_backend="webgl",
        tools="pan,wheel_zoom,box_zoom,reset",
        active_scroll="wheel_zoom",
        toolbar_location="above",
    )
    fig.grid.visible = False
    fig.toolbar.logo = None  # a link to bokeh.org: nothing of the map
    if m.method == "pca":
        fig.xaxis.axis_label, fig.yaxis.axis_label = "PC 1", "PC 2"
    else:  # t-SNE and UMAP axes have no unit: only distances between nearby points mean something
        fig.axis.visible = False

    colours = class_colours(len(m.classes))
    dot = float(np.clip(30 / (n + p) ** 0.2, 2.5, 8.0))  # 8 px for 100 points, 3 px for 60,000
    by_class: dict[int, list] = {k: [] for k in range(len(m.classes))}
    by_group: list[list] = []
    for group in groups:
        rows = slice(group.first_row, group.first_row + len(group.coordinates))
        # A score is shown for the split it covers, under its column's name in the data.
        shown = {
            f"score{j}": (name, values[rows])
            for j, (name, values) in enumerate(columns.items())
            if len(values) >= rows.stop
        }
        names = file_names[rows] if file_names is not None and len(file_names) >= rows.stop else None
        renderers = _draw(fig, group, m.classes, colours, dot, shown, names, by_class)
        fig.add_tools(_hover(group, renderers, shown, with_files=names is not None))
        by_group.append(renderers)
    fig.add_layout(_legend(fig, m, groups, by_group, by_class, int(size)), "right")
    return fig


def map_components(figures: Model | Sequence[Model]) -> tuple[str, list[str]]:
    """The parts to embed maps in another page: what its ``<head>`` needs once, and one HTML
    fragment per figure.

    Parameters
    ----------
    figures : bokeh figure or sequence of them
        Made by :func:`map_figure`.

    Returns
    -------
    head : str
        BokehJS (its core bundle, an inline ``<script>``, 1.27 MB; see the module's note on
        WebGL): to put once in the page, before the fragments.
    fragments : list of str
        Per figure, its ``<div>`` and the inline ``<script>`` that draws it (the data is in the
        script). No fragment requests anything or needs ``'unsafe-eval'``: a page that includes
        them runs under ``script-src`` with the hashes of :func:`csp_script_hashes`.

    Raises
    ------
    ValueError
        If ``figures`` is empty or holds something else than Bokeh models.

    Examples
    --------
    >>> import mnistlab
    >>> ds = mnistlab.load("digits")
    >>> m = mnistlab.embed(ds, "pca", first=50, measure=False)
    >>> head, [fragment] = map_components(map_figure(m, ds.train.images[:50]))
    >>> len(head) > 1_000_000, fragment.count("<script")
    (True, 1)
    """
    from bokeh.embed import components
    from bokeh.model import Model

    if isinstance(figures, Model):
        figures = [figures]
    figures = list(figures)
    if not figures or not all(isinstance(f, Model) for f in figures):
        raise ValueError(
            f"figures must be one or more Bokeh figures (map_figure), got {type(figures).__name__}."
        )
    head = bokeh_script()
    fragments = []
    for fig in figures:  # one document each: figures made for different pages stay independent
        script, div = components(fig)
        fragments.append(f"{div}\n{script}")
    return head, fragments


def bokeh_script() -> str:
    """BokehJS inline, for a page that embeds :func:`map_components`' fragments: put it once,
    before them (``map_components`` returns it too).

    Returns
    -------
    str
        Inline ``<script>`` elements: BokehJS's core bundle (1.27 MB) and its log level.
    """
    from bokeh.resources import Resources

    # BokehJS's core only. Its WebGL bundle (regl) compiles its drawing code with Function(),
    # which a policy without 'unsafe-eval' forbids: BokehJS would load it, be refused, and draw
    # on a canvas anyway. Without the bundle it draws on a canvas at once, with no violation.
    return Resources(mode="inline", components=["bokeh"], log_level="warn").render_js()


def map_caption(m: Map) -> str:
    """What a map shows and how faithful it is, in a sentence or two (plain text).

    Parameters
    ----------
    m : Map
        The map; its faithfulness is quoted when it was measured.

    Returns
    -------
    str
        The method, the images, and the k-NN accuracies (in the map and in pixel space) and the
        trustworthiness of :class:`~mnistlab.maps.Faithfulness`.

    Examples
    --------
    >>> import mnistlab
    >>> print(map_caption(mnistlab.embed(mnistlab.load("digits"), "pca", place="test")))
    ... # doctest: +NORMALIZE_WHITESPACE
    PCA of digits train, 1,347 images (+ 450 test images placed). 10-nearest-neighbour accuracy:
    65.7% in the map, 98.3% in pixels; trustworthiness 0.828. Placed test images: 61.6% in the
    map, 95.6% in pixels.
    """
    where = " ".join(s for s in (m.dataset, m.split) if s)
    sentence = f"{m.title} of {where}, {len(m):,} images" if where else f"{m.title}, {len(m):,} images"
    if m.placed is not None:
        sentence += f" (+ {len(m.placed):,} {m.placed.split} images placed)"
    sentence += "."
    f = m.faithfulness
    if f is None:
        return sentence
    measures = [f"trustworthiness {f.trustworthiness:.3f}"]
    if f.knn_map is not None:
        accuracy = f"{percent(f.knn_map)} in the map, {percent(f.knn_pixels)} in pixels"
        measures.insert(0, f"{f.k}-nearest-neighbour accuracy: {accuracy}")
    text = "; ".join(measures)
    sentence += f" {text[0].upper()}{text[1:]}."
    if f.placed_knn_map is not None and m.placed is not None:
        sentence += (
            f" Placed {m.placed.split} images: {percent(f.placed_knn_map)} in the map, "
            f"{percent(f.placed_knn_pixels)} in pixels."
        )
    return sentence


def map_page(
    maps: Map | Sequence[Map | tuple],
    images: np.ndarray | Sequence[np.ndarray] | None = None,
    *,
    placed_images: np.ndarray | Sequence[np.ndarray | None] | None = None,
    scores: Mapping[str, np.ndarray | Sequence[float]] | None = None,
    files: Sequence[str] | None = None,
    title: str = "Dataset maps",
    size: int = MAP_SIZE,
) -> str:
    """A standalone HTML page with one or several interactive maps side by side.

    Parameters
    ----------
    maps : Map, sequence of Map, or sequence of (Map, images) or (Map, images, placed_images)
        The maps, each drawn with :func:`map_figure` and captioned with its faithfulness; with
        tuples, each map comes with its own images (and ``images`` is not given).
    images : ndarray or sequence of ndarray, optional
        For maps given alone: the mapped images (uint8, 0..255), one array for every map (maps
        of the same images by different methods) or one per map.
    placed_images : ndarray or sequence of (ndarray or None), optional
        For maps given alone: the placed points' images, likewise.
    scores, files : optional
        As in :func:`map_figure`, the same for every map.
    title : str, default "Dataset maps"
        The page's title and heading.
    size : int, default 560
        Each map's side in CSS pixels.

    Returns
    -------
    str
        The page: no request leaves it; its Content-Security-Policy allows only its own
        inline scripts (by sha256) and ``data:`` images.

    Raises
    ------
    ValueError
        If there is no map, images are missing or given twice, their number does not match the
        maps, or :func:`map_figure` refuses one.

    Examples
    --------
    >>> import mnistlab
    >>> ds = mnistlab.load("digits")
    >>> train, test = (mnistlab.embed(ds, "pca", split=s, first=150) for s in ("train", "test"))
    >>> html = map_page([(train, ds.train.images[:150]), (test, ds.test.images[:150])])
    >>> html.count('<figure class="map">')
    2
    """
    entries = _page_entries(maps, images, placed_images)
    figures = [
        map_figure(m, pictures, placed_images=placed, scores=scores, files=files, size=size)
        for m, pictures, placed in entries
    ]
    head, fragments = map_components(figures)
    body = "\n".join(
        f'<figure class="map">\n{fragment}\n'
        f"<figcaption>{html_text.escape(map_caption(m))}</figcaption>\n</figure>"
        for (m, _, _), fragment in zip(entries, fragments, strict=True)
    )
    escaped = html_text.escape(title)
    scripts = head + body
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy(scripts)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escaped}</title>\n<style>{_PAGE_STYLE}</style>\n{head}\n</head>\n"
        f'<body>\n<h1>{escaped}</h1>\n<div class="maps">\n{body}\n</div>\n</body>\n</html>\n'
    )


def write_map_page(path: str | os.PathLike, html: str) -> None:
    """Write a page made by :func:`map_page` to ``path`` atomically (UTF-8).

    Parameters
    ----------
    path : str or path-like
        The file to write (replaced in one rename: readers see the old page or the new one).
    html : str
        The page.

    Raises
    ------
    ValueError
        If ``html`` is not a string.
    OSError
        If the file cannot be written.
    """
    if not isinstance(html, str):
        raise ValueError(f"html must be a str (map_page's result), got {type(html).__name__}.")
    atomic_write_bytes(path, html.encode("utf-8"))


def _checked_images(images, name: str, n: int | None = None, what: str = "") -> np.ndarray:
    array = np.asarray(images)
    if array.dtype != np.uint8 or array.ndim != 3:
        raise ValueError(
            f"{name} must be a uint8 array of shape (n, h, w) with pixel values 0..255, got "
            f"{array.dtype} of shape {array.shape}."
        )
    if n is not None and len(array) != n:
        raise ValueError(
            f"{name} holds {len(array):,} images but the map has {n:,} {what}: one image per point, "
            "in the map's order."
        )
    return array


def _score_columns(scores, n: int, p: int) -> dict[str, np.ndarray]:
    if scores is None:
        return {}
    if not isinstance(scores, Mapping):
        raise ValueError(f"scores must be a dict of name -> array, got {type(scores).__name__}.")
    columns = {}
    for name, values in scores.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"score names must be non-empty strings, got {name!r}.")
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"scores[{name!r}] must be numbers.") from None
        if array.ndim != 1 or len(array) not in (n, n + p):
            expected = (
                f"{n:,}" if p == 0 else f"{n:,} (the mapped points) or {n + p:,} (mapped then placed)"
            )
            raise ValueError(f"scores[{name!r}] has shape {array.shape}; expected length {expected}.")
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise ValueError(
                f"scores[{name!r}] has {bad.size:,} values that are not finite (NaN or infinite), "
                f"the first at position {bad[0]:,}."
            )
        columns[name] = array
    return columns


def _file_names(files, n: int, p: int) -> list[str] | None:
    if files is None:
        return None
    if isinstance(files, (str, bytes)) or not isinstance(files, Sequence | np.ndarray):
        raise ValueError(f"files must be a sequence of file names, got {type(files).__name__}.")
    names = [str(f) for f in files]
    if len(names) not in (n, n + p):
        expected = f"{n:,}" if p == 0 else f"{n:,} (the mapped points) or {n + p:,} (mapped then placed)"
        raise ValueError(f"files holds {len(names):,} names; expected {expected}.")
    return names


def _page_entries(maps, images, placed_images) -> list[tuple[Map, np.ndarray, np.ndarray | None]]:
    """(map, images, placed images) of each map of a page, from either way of giving them."""
    maps = [maps] if isinstance(maps, Map) else list(maps)
    if not maps:
        raise ValueError("maps must be a Map or a non-empty sequence of Map (mnistlab.embed).")
    if all(isinstance(m, tuple) for m in maps):
        if images is not None or placed_images is not None:
            raise ValueError(
                "maps given as (map, images, ...) tuples carry their images: leave images and "
                "placed_images out."
            )
        if not all(len(m) in (2, 3) for m in maps):
            raise ValueError("each tuple must be (map, images) or (map, images, placed_images).")
        return [(m[0], m[1], m[2] if len(m) == 3 else None) for m in maps]
    if not all(isinstance(m, Map) for m in maps):
        raise ValueError(
            "maps must be a Map, a sequence of Map, or a sequence of (map, images[, placed_images]) "
            f"tuples; got {', '.join(sorted({type(m).__name__ for m in maps}))}."
        )
    if images is None:
        raise ValueError("images are required (the mapped images, one array or one per map).")
    image_sets = _per_map(images, len(maps), "images")
    placed_sets = (
        [None] * len(maps)
        if placed_images is None
        else _per_map(placed_images, len(maps), "placed_images")
    )
    return list(zip(maps, image_sets, placed_sets, strict=True))


def _per_map(values, count: int, name: str) -> list:
    if isinstance(values, np.ndarray):
        return [values] * count
    values = list(values)
    if len(values) != count:
        raise ValueError(
            f"{name} holds {len(values)} arrays for {count} maps; pass one array or one per map."
        )
    return values


def _default_title(m: Map) -> str:
    where = " ".join(s for s in (m.dataset, m.split) if s)
    title = f"{m.title} of {where}" if where else m.title
    if m.placed is not None:
        title += f", {m.placed.split} placed"
    return title


@dataclass(frozen=True)
class _Points:
    """The points of one split on the map: mapped (fitted), or placed into it afterwards."""

    kind: str
    split: str
    indices: np.ndarray
    labels: np.ndarray | None
    coordinates: np.ndarray
    images: np.ndarray
    #: Their first row in ``Map.to_frame()`` (and in ``scores`` and ``files`` that cover both).
    first_row: int


def _draw(fig, group: _Points, classes, colours, dot, scores, files, by_class) -> list:
    """One renderer per class (so that the legend can hide a class): filled dots for the mapped
    points, rings for the placed ones; unlabelled points are grey. Returns the renderers."""
    from bokeh.models import ColumnDataSource

    uris = np.asarray(png_data_uris(group.images), dtype=object)
    parts: list[tuple[int | None, str, str, np.ndarray]]
    if group.labels is None:
        parts = [(None, "unlabelled", _SPLIT_GREY, np.arange(len(group.coordinates)))]
    else:
        labels = np.asarray(group.labels)
        parts = [(k, classes[k], colours[k], np.flatnonzero(labels == k)) for k in range(len(classes))]
    renderers = []
    for k, name, colour, chosen in parts:
        if chosen.size == 0:
            continue
        data: dict[str, Any] = {
            "x": group.coordinates[chosen, 0],
            "y": group.coordinates[chosen, 1],
            "image": uris[chosen].tolist(),
            "split": [group.split] * chosen.size,
            "index": np.asarray(group.indices)[chosen],
            "class": [name] * chosen.size,
        }
        if files is not None:
            data["file"] = [files[i] for i in chosen]
        for column, (_, values) in scores.items():
            data[column] = values[chosen]
        style: dict[str, Any] = (
            {"fill_color": colour, "fill_alpha": 0.75, "line_color": None, "size": dot}
            if group.kind == "mapped"
            else {"fill_color": None, "line_color": colour, "line_width": 1.3, "size": dot + 1}
        )
        r = fig.scatter("x", "y", source=ColumnDataSource(data), marker="circle", **style)
        renderers.append(r)
        if k is not None:
            by_class[k].append(r)
    return renderers


def _hover(group: _Points, renderers: list, scores: dict, with_files: bool):
    """One hover tool per split, its card showing what is known of that split's points."""
    from bokeh.models import HoverTool

    return HoverTool(
        renderers=renderers,
        tooltips=_tooltip(group.images.shape[1:], with_file=with_files, scores=scores),
        formatters={f"@{column}": "printf" for column in scores},
        limit=1,  # per renderer: one card per class under the pointer, not one per point
        sort_by=[("$index", "descending")],  # the point drawn over the others
        description=f"Hover: {group.split} points",
    )


def _tooltip(shape: tuple[int, ...], *, with_file: bool, scores: dict) -> str:
    """The hover card: the image enlarged by a whole factor (square pixels), then the facts.
    Bokeh escapes the values it substitutes for ``@column``; the names are escaped here."""
    h, w = shape
    zoom = max(1, round(TOOLTIP_IMAGE / max(h, w)))
    lines = ['<div style="font-weight:600">@class</div>', "<div>@split #@index{0}</div>"]
    if with_file:
        lines.append('<div style="max-width:16em;overflow-wrap:anywhere">@file</div>')
    lines += [
        f"<div>{html_text.escape(name)}: @{column}{{%.4g}}</div>" for column, (name, _) in scores.items()
    ]
    return (
        '<div style="display:flex;gap:8px;align-items:flex-start">'
        f'<img src="@image" alt="" width="{w * zoom}" height="{h * zoom}" '
        'style="image-rendering:pixelated;border:1px solid #bbb;background:#fff">'
        f'<div style="font-size:12px;line-height:1.4">{"".join(lines)}</div></div>'
    )


def _legend(fig, m: Map, groups: list[_Points], by_group: list[list], by_class: dict, size: int):
    """The legend beside the plot: an entry per split when there are two (or the points are
    unlabelled), then one per class; clicking an entry hides its points. Many classes (47 in
    EMNIST) are laid out in as many columns as the plot's height needs."""
    from bokeh.models.annotations import Legend, LegendItem

    items = []
    if len(groups) > 1 or groups[0].labels is None:
        for group, renderers in zip(groups, by_group, strict=True):
            style: dict[str, Any] = (
                {"fill_color": _SPLIT_GREY, "line_color": None}
                if group.kind == "mapped"
                else {"fill_color": None, "line_color": _SPLIT_GREY, "line_width": 1.3}
            )
            # The entry draws the glyphs of all its renderers, in order, and skips empty ones:
            # this one comes last, with a single point that is not on the map (NaN).
            swatch = fig.scatter([math.nan], [math.nan], marker="circle", size=9, **style)
            label = f"{group.split} ({len(group.coordinates):,}, {group.kind})"
            items.append(LegendItem(label=label, renderers=[*renderers, swatch]))
    items += [LegendItem(label=m.classes[k], renderers=rs) for k, rs in by_class.items() if rs]
    rows_that_fit = max(1, (size - 10) // 17)
    columns = math.ceil(len(items) / rows_that_fit)
    return Legend(
        items=items,
        click_policy="hide",
        location="top_left",
        ncols=columns,
        nrows=math.ceil(len(items) / columns),
        label_text_font_size="11px" if len(items) > 20 else "12px",
        glyph_height=14,
        glyph_width=14,
        label_height=14,
        spacing=3,
        border_line_color=None,
    )
