"""Render the report: compute every section's panel for every dataset, fill the template.

The page is one file that makes no request: figures and downloadable tables are ``data:`` URIs,
the script and style are inline, and its Content-Security-Policy allows exactly the inline
scripts it carries (their sha256 hashes, computed from the rendered page): the report's own
(``templates/report.js``: sortable tables, enlarged figures, the class-by-class view) and those
of the interactive figures sections put in :attr:`Panel.html`.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from mnistlab._utils.csp import PAGE_POLICY, content_security_policy
from mnistlab._utils.files import atomic_write_files, staged
from mnistlab.data.dataset import Dataset
from mnistlab.data.lazy import LazyDataset
from mnistlab.data.loading import load
from mnistlab.progress import console, want_progress
from mnistlab.report.analyses import REPORT_MODELS, Analyses
from mnistlab.report.sections import SECTIONS, Section, Table
from mnistlab.report.workspace import DataTable, Workspace, class_views, section_data

DEFAULT_DATASETS = ("mnist", "fashion-mnist")

#: The page's Content-Security-Policy before its ``script-src``: nothing may be fetched, images
#: and styles only from the page itself, no ``<base>`` and no form sent anywhere.
BASE_POLICY = f"{PAGE_POLICY}; base-uri 'none'; form-action 'none'"
#: Stands for the policy in the rendered page until its scripts are known.
_POLICY = "{mnistlab:content-security-policy}"
#: The class-by-class view: its anchor in the page and line in the timings.
CLASS_VIEW_ID = "per-class"
CLASS_VIEW_TITLE = "Class by class"
#: The section whose map the report starts making first thing, on idle cores.
MAPS_ID = "maps"
#: Side in inches of the small map drawn for each class (at ``CLASS_MAP_DPI``).
CLASS_MAP_INCHES = 2.4
CLASS_MAP_DPI = 90
#: Colours kept in the small map (a palette PNG: about 5 kB instead of 13 kB for 10,000 points).
CLASS_MAP_COLOURS = 24


def build_report(
    datasets: Sequence[str | Dataset] = DEFAULT_DATASETS,
    out_dir: str | Path = "report",
    *,
    title: str = "mnistlab report",
    models: str | tuple[str, ...] = REPORT_MODELS,
    sections: str | Sequence[str] | None = None,
    progress: bool | None = None,
    client=None,
) -> Path:
    """Write ``out_dir/index.html`` (self-contained) and ``out_dir/summary.json``; return the HTML path.

    ``datasets`` are names, paths or loaded Datasets; all are loaded before anything is
    written, so a bad name fails fast and leaves ``out_dir`` untouched. ``models`` are the named
    models the models section trains (see :func:`mnistlab.models.resolve_models`).

    Each section's time (with the shared analyses it was the first to need) is printed as it
    finishes unless ``progress=False``, with a bar while stderr is a terminal; the report ends
    with the same table, and ``summary.json`` holds it as ``timings``.

    Parameters
    ----------
    datasets : sequence of str, Dataset or LazyDataset, default ("mnist", "fashion-mnist")
        The datasets side by side, each once. A Zarr store (``big.zarr``) is analysed chunk by
        chunk: the sections that scale, and for the others a sentence saying why not.
    out_dir : str or Path, default "report"
        The folder for ``index.html`` and ``summary.json`` (replaced together, all or nothing).
    title : str
        The page's title.
    models : str or tuple of str, default ("centroid", "mlp")
        Model names or a set name (``quick``, ``default``, ``all``).
    sections : str or sequence of str, optional
        The ids of the sections to write (:data:`SECTIONS`, and ``"per-class"`` for the
        class-by-class view), as a list or one string with commas, in the report's own order
        whatever the order given; default every one. Only the analyses they need are run:
        ``"overview,similarity"`` takes seconds.
    progress : bool, optional
        Print each section's time (default: yes; a bar when stderr is a terminal).
    client : dask.distributed.Client, optional
        Where the reductions over Zarr stores run (default: streamed here, on all cores).

    Returns
    -------
    Path
        ``out_dir/index.html``.

    Raises
    ------
    ValueError
        If no dataset is given, one appears twice, a model name or a section id is unknown.
    """
    from mnistlab.models import resolve_models

    if not datasets:
        raise ValueError("the report needs at least one dataset.")
    models = resolve_models(models)
    chosen, with_classes = choose_sections(sections)
    loaded = [
        d if isinstance(d, (Dataset, LazyDataset)) else load(d, progress=progress) for d in datasets
    ]
    names = [d.name for d in loaded]
    if len(set(names)) != len(names):
        raise ValueError(
            f"each dataset may appear once in a report, got {names}; name them apart "
            "(load(..., name=...), --name)."
        )
    steps: list[tuple[str, str, Callable[[Analyses], object]]] = [
        (s.id, s.title, s.panel) for s in chosen
    ]
    if with_classes:  # after the sections: reuses them
        steps.append((CLASS_VIEW_ID, CLASS_VIEW_TITLE, _class_page))
    results: dict[str, dict[str, object]] = {step[0]: {} for step in steps}
    analyses = {ds.name: Analyses(ds, models, client) for ds in loaded}
    # The maps (t-SNE, GIL-free) are made on idle cores while the sections before theirs run.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mnistlab-map")
    try:
        if with_classes or any(s.id == MAPS_ID for s in chosen):
            for a in analyses.values():
                a.prefetch_map(pool)
        timings = _run_steps(steps, analyses, results, progress)
    finally:  # a failed section does not wait for maps no one will see
        pool.shutdown(wait=False, cancel_futures=True)
    class_pages = results.pop(CLASS_VIEW_ID, None)
    panels = results
    # The data behind each section, to download; from what the sections computed, nothing more.
    tables = {name: section_data(a) for name, a in analyses.items()}
    summaries = {s.id: s.summary(list(analyses.values())) for s in chosen if s.summary}
    templates = jinja2.PackageLoader("mnistlab.report", "templates")
    env = jinja2.Environment(
        loader=templates,
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["image_uri"] = image_uri
    env.filters["file_name"] = _file_name
    env.globals["csv_uri"] = csv_uri
    from mnistlab import __version__

    html = env.get_template("report.html").render(
        title=title,
        datasets=loaded,
        sections=chosen,
        panels=panels,
        summaries=summaries,
        tables=tables,
        class_pages=class_pages,
        class_view=(CLASS_VIEW_ID, CLASS_VIEW_TITLE) if with_classes else None,
        timings=_timing_table(timings, names),
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        version=__version__,
        policy=_POLICY,
        script=templates.get_source(env, "report.js")[0],  # as written: JavaScript is no template
    )
    html = _with_policy(html)
    out = Path(out_dir)
    summary = {
        "datasets": [d.summary() for d in loaded],
        "sections": [s.id for s in chosen] + ([CLASS_VIEW_ID] if with_classes else []),
        # the models trained, if the chosen sections trained any (vars: never trains them here)
        "models": [r.row() for a in analyses.values() for r in (vars(a).get("models") or [])],
        "timings": timings,
    }
    with staged(out) as staging:  # both files or neither; a new folder complete or absent
        atomic_write_files(
            {
                staging / "index.html": html.encode(),
                staging / "summary.json": json.dumps(summary, indent=2).encode(),
            }
        )
    return out / "index.html"


def choose_sections(ids: str | Sequence[str] | None) -> tuple[list[Section], bool]:
    """The sections ``ids`` names, in the report's order, and whether the class-by-class view
    (``"per-class"``) is among them; every one for None.

    Parameters
    ----------
    ids : str, sequence of str or None
        Section ids (:data:`SECTIONS`) and ``"per-class"``, in any order, as a list or one
        string with commas (``"overview, similarity"``), as :func:`~mnistlab.models.resolve_models`
        takes model names.

    Returns
    -------
    tuple of (list of Section, bool)
        The sections to write, and whether to write the class-by-class view.

    Raises
    ------
    ValueError
        If ``ids`` is empty or names an unknown section.
    """
    if ids is None:
        return list(SECTIONS), True
    if isinstance(ids, str):
        ids = [i.strip() for i in ids.split(",") if i.strip()]
    known = [s.id for s in SECTIONS] + [CLASS_VIEW_ID]
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(f"unknown report section(s) {unknown}; choose from: {', '.join(known)}.")
    if not ids:
        raise ValueError(f"no report section chosen; choose from: {', '.join(known)}.")
    return [s for s in SECTIONS if s.id in ids], CLASS_VIEW_ID in ids


def _run_steps(
    steps: Sequence[tuple[str, str, Callable[[Analyses], object]]],
    analyses: dict[str, Analyses],
    results: dict[str, dict[str, object]],
    progress: bool | None,
) -> list[dict]:
    """Fill ``results[step id][dataset]`` step by step (the sections, then the class-by-class
    view); return how long each (step, dataset) took.

    A section's time includes the shared analyses it is the first to need (``Analyses`` computes
    each once), so the times add up to the whole build.
    """
    from rich.progress import Progress

    lines = progress is not False
    timings = []
    start = time.perf_counter()
    with Progress(console=console, transient=True, disable=not want_progress(progress)) as bar:
        task = bar.add_task("Building report", total=len(steps) * len(analyses))
        for number, (step, title, run) in enumerate(steps, 1):
            took = []
            for name, a in analyses.items():
                bar.update(task, description=f"{title}: {name}")
                began = time.perf_counter()
                results[step][name] = run(a)
                took.append(time.perf_counter() - began)
                timings.append({"section": step, "dataset": name, "seconds": round(took[-1], 2)})
                bar.advance(task)
            if lines:
                each = ", ".join(f"{n} {t:.1f} s" for n, t in zip(analyses, took, strict=True))
                bar.console.print(
                    f"[{number:2d}/{len(steps)}] {title}: {each}  "
                    f"(elapsed {time.perf_counter() - start:.0f} s)",
                    highlight=False,
                    markup=False,
                    soft_wrap=True,
                )
    return timings


def _timing_table(timings: list[dict], names: list[str]) -> Table:
    """Seconds per section (rows) and dataset (columns), with totals."""
    seconds = {(t["section"], t["dataset"]): t["seconds"] for t in timings}
    sections = list(dict.fromkeys(t["section"] for t in timings))
    rows = [
        [s, *(f"{seconds[s, n]:.1f}" for n in names), f"{sum(seconds[s, n] for n in names):.1f}"]
        for s in sections
    ]
    totals = [sum(seconds[s, n] for s in sections) for n in names]
    rows.append(["all sections", *(f"{t:.1f}" for t in totals), f"{sum(totals):.1f}"])
    return Table(["section", *(f"{n} (s)" for n in names), "total (s)"], rows)


@dataclass(eq=False)
class ClassPage:
    """The class-by-class view of one dataset as the page shows it.

    Attributes
    ----------
    workspace : Workspace
        Every class (:func:`~mnistlab.report.workspace.class_views`).
    map_base : str or None
        The dataset's map, every point in grey (a ``data:`` URI), or None without a map.
    maps : list of str or None
        Per class, its points in its colour on a transparent image the size of ``map_base``,
        laid over it (so the page holds the map once, and each class a few hundred bytes).
    """

    workspace: Workspace
    map_base: str | None
    maps: list[str | None]


def _class_page(a: Analyses) -> ClassPage:
    """The class-by-class view of ``a``'s dataset, from the analyses the sections made."""
    workspace = class_views(a)
    base, layers = _class_maps(workspace)
    return ClassPage(workspace, base, layers)


def _class_maps(workspace: Workspace) -> tuple[str | None, list[str | None]]:
    """The dataset's map in grey (drawn once by matplotlib), and per class a transparent layer
    with that class's points in its colour at the same pixels; None for what cannot be drawn."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb

    from mnistlab.plots._style import class_colours

    m = workspace.map
    none: list[str | None] = [None] * len(workspace.views)
    if m is None or m.labels is None or not len(m):
        return None, none
    xy = np.asarray(m.coordinates, dtype=np.float64)
    # Marker area in points^2, from 0.5 for 10,000 points to 6 for 500 or fewer.
    area = float(np.clip(3_000 / len(xy), 0.5, 6.0))
    fig, ax = plt.subplots(figsize=(CLASS_MAP_INCHES, CLASS_MAP_INCHES), dpi=CLASS_MAP_DPI)
    try:
        ax.scatter(xy[:, 0], xy[:, 1], s=area, c="#bcc3ce", linewidths=0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", "datalim")
        fig.tight_layout(pad=0.15)
        fig.canvas.draw()
        pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3]  # type: ignore[attr-defined]
        width, height = fig.canvas.get_width_height()
        where = ax.transData.transform(xy)  # in pixels from the bottom left
    finally:
        plt.close(fig)
    columns = np.rint(where[:, 0] - 0.5).astype(np.int64)
    rows = np.rint(height - where[:, 1] - 0.5).astype(np.int64)
    # A class's points a little larger than the grey ones: discs of this radius in pixels.
    radius = max(1, round(np.sqrt(2 * area) * CLASS_MAP_DPI / 72 / 2))
    disc = [(dr, dc) for dr in range(-radius, radius + 1) for dc in range(-radius, radius + 1)]
    disc = [(dr, dc) for dr, dc in disc if dr * dr + dc * dc <= radius * radius + radius // 2]
    colours = class_colours(len(m.classes))
    layers: list[str | None] = []
    for view in workspace.views:
        mine = m.labels == view.label
        if not mine.any():
            layers.append(None)
            continue
        layer = np.zeros((height, width), np.uint8)  # 0: transparent, 1: the class's colour
        for dr, dc in disc:
            r, c = rows[mine] + dr, columns[mine] + dc
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            layer[r[inside], c[inside]] = 1
        colour = [round(255 * v) for v in to_rgb(colours[view.label])]
        layers.append(_png_uri(layer, palette=[0, 0, 0, *colour], transparent=0))
    return _png_uri(pixels, colours=CLASS_MAP_COLOURS), layers


def _png_uri(
    pixels: np.ndarray,
    *,
    colours: int | None = None,
    palette: list[int] | None = None,
    transparent: int | None = None,
) -> str:
    """A PNG ``data:`` URI of ``pixels``: RGB reduced to ``colours``, or palette indices."""
    from PIL import Image

    if palette is not None:
        picture = Image.fromarray(pixels, mode="P")
        picture.putpalette(palette)
    else:
        picture = Image.fromarray(pixels)
        if colours is not None:
            picture = picture.quantize(colours)
    buffer = io.BytesIO()
    options = {} if transparent is None else {"transparency": transparent}
    picture.save(buffer, format="png", optimize=True, **options)
    return _data_uri("image/png", buffer.getvalue())


def image_uri(image: np.ndarray) -> str:
    """One image of a dataset (or a centroid) as a PNG ``data:`` URI, white = 0 and black = 255
    as in every figure, one PNG pixel per image pixel (the page scales it up, unsmoothed).

    Parameters
    ----------
    image : ndarray, shape (h, w)
        Pixel values on the 0..255 scale, integers or floats (rounded; NaN drawn as 0).

    Returns
    -------
    str
        ``data:image/png;base64,...``.
    """
    from PIL import Image

    values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
    grey = (255 - np.clip(np.rint(values), 0, 255)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buffer, format="png")
    return _data_uri("image/png", buffer.getvalue())


def csv_uri(table: Table | DataTable | pd.DataFrame) -> str:
    """A table as a CSV file in a ``data:`` URI, for a download link that fetches nothing.

    Parameters
    ----------
    table : Table, DataTable or DataFrame
        A report table (its columns and the cells as shown), a section's data table, or a frame.

    Returns
    -------
    str
        ``data:text/csv;charset=utf-8;base64,...``: a header row, then one row per table row.
    """
    buffer = io.StringIO()
    if isinstance(table, DataTable):
        table = table.frame
    if isinstance(table, pd.DataFrame):
        table.to_csv(buffer, index=False, lineterminator="\n")
    else:
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows([[_cell(c) for c in row] for row in table.rows])
    return _data_uri("text/csv;charset=utf-8", buffer.getvalue().encode("utf-8"))


def _cell(value: object) -> object:
    """A table cell as the page shows it (numpy scalars as Python's)."""
    return value.item() if isinstance(value, np.generic) else value


def _data_uri(media_type: str, content: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"


def _file_name(text: object) -> str:
    """``text`` fit for a file name: letters, digits, ``.``, ``_`` and ``-``, nothing else."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.") or "data"


def _with_policy(html: str) -> str:
    """The rendered page with its Content-Security-Policy in place of ``_POLICY``: ``BASE_POLICY``
    and the sha256 hash of every executable inline script the page carries (the report's own
    and the interactive figures'), computed from the page as written."""
    return html.replace(_POLICY, content_security_policy(html, BASE_POLICY), 1)
