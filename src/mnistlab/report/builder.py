"""Render the report: compute every section's panel for every dataset, fill the template."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from pathlib import Path

import jinja2

from mnistlab._utils.files import atomic_write_files, staged
from mnistlab.data.dataset import Dataset
from mnistlab.data.lazy import LazyDataset
from mnistlab.data.loading import load
from mnistlab.progress import console, want_progress
from mnistlab.report.analyses import REPORT_MODELS, Analyses
from mnistlab.report.sections import SECTIONS, Panel, Section, Table

DEFAULT_DATASETS = ("mnist", "fashion-mnist")


def build_report(
    datasets: Sequence[str | Dataset] = DEFAULT_DATASETS,
    out_dir: str | Path = "report",
    *,
    title: str = "mnistlab report",
    models: str | tuple[str, ...] = REPORT_MODELS,
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
    models : str or tuple of str, default ("centroid", "tree", "mlp")
        Model names or a set name (``quick``, ``default``, ``all``).
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
        If no dataset is given, one appears twice, or a model name is unknown.
    """
    from mnistlab.models import resolve_models

    if not datasets:
        raise ValueError("the report needs at least one dataset.")
    models = resolve_models(models)
    loaded = [
        d if isinstance(d, (Dataset, LazyDataset)) else load(d, progress=progress) for d in datasets
    ]
    names = [d.name for d in loaded]
    if len(set(names)) != len(names):
        raise ValueError(
            f"each dataset may appear once in a report, got {names}; name them apart "
            "(load(..., name=...), --name)."
        )
    panels: dict[str, dict[str, Panel]] = {s.id: {} for s in SECTIONS}
    analyses = {ds.name: Analyses(ds, models, client) for ds in loaded}
    timings = _build_panels(SECTIONS, analyses, panels, progress)
    summaries = {s.id: s.summary(list(analyses.values())) for s in SECTIONS if s.summary}
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mnistlab.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    from mnistlab import __version__

    html = env.get_template("report.html").render(
        title=title,
        datasets=loaded,
        sections=SECTIONS,
        panels=panels,
        summaries=summaries,
        timings=_timing_table(timings, names),
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        version=__version__,
    )
    out = Path(out_dir)
    summary = {
        "datasets": [d.summary() for d in loaded],
        "sections": [s.id for s in SECTIONS],
        "models": [r.row() for a in analyses.values() for r in (a.models or [])],
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


def _build_panels(
    sections: Sequence[Section],
    analyses: dict[str, Analyses],
    panels: dict[str, dict[str, Panel]],
    progress: bool | None,
) -> list[dict]:
    """Fill ``panels`` section by section; return how long each (section, dataset) took.

    A section's time includes the shared analyses it is the first to need (``Analyses`` computes
    each once), so the times add up to the whole build.
    """
    from rich.progress import Progress

    lines = progress is not False
    timings = []
    start = time.perf_counter()
    with Progress(console=console, transient=True, disable=not want_progress(progress)) as bar:
        task = bar.add_task("Building report", total=len(sections) * len(analyses))
        for number, s in enumerate(sections, 1):
            took = []
            for name, a in analyses.items():
                bar.update(task, description=f"{s.title}: {name}")
                began = time.perf_counter()
                panels[s.id][name] = s.panel(a)
                took.append(time.perf_counter() - began)
                timings.append({"section": s.id, "dataset": name, "seconds": round(took[-1], 2)})
                bar.advance(task)
            if lines:
                each = ", ".join(f"{n} {t:.1f} s" for n, t in zip(analyses, took, strict=True))
                bar.console.print(
                    f"[{number:2d}/{len(sections)}] {s.title}: {each}  "
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
