"""Render the report: compute every section's panel for every dataset, fill the template."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import jinja2

from mnistlab.data.dataset import Dataset
from mnistlab.data.formats import atomic_write_bytes
from mnistlab.data.loading import load
from mnistlab.progress import console, want_progress
from mnistlab.report.analyses import Analyses
from mnistlab.report.sections import SECTIONS, Panel

DEFAULT_DATASETS = ("mnist", "fashion-mnist")


def build_report(
    datasets: Sequence[str | Dataset] = DEFAULT_DATASETS,
    out_dir: str | Path = "report",
    *,
    title: str = "mnistlab report",
    models: str | tuple[str, ...] = "quick",
    progress: bool | None = None,
) -> Path:
    """Write ``out_dir/index.html`` (self-contained) and ``out_dir/summary.json``; return the HTML path.

    ``datasets`` are names, paths or loaded Datasets; all are loaded before anything is
    written, so a bad name fails fast and leaves ``out_dir`` untouched. ``models`` are the named
    models the models section trains (see :func:`mnistlab.models.resolve_models`).
    """
    from mnistlab.models import resolve_models

    if not datasets:
        raise ValueError("the report needs at least one dataset.")
    models = resolve_models(models)
    loaded = [d if isinstance(d, Dataset) else load(d, progress=progress) for d in datasets]
    names = [d.name for d in loaded]
    if len(set(names)) != len(names):
        raise ValueError(f"each dataset may appear once in a report, got {names}.")
    panels: dict[str, dict[str, Panel]] = {s.id: {} for s in SECTIONS}
    show = want_progress(progress)
    from rich.progress import Progress

    analyses = {ds.name: Analyses(ds, models) for ds in loaded}
    with Progress(console=console, transient=True, disable=not show) as bar:
        task = bar.add_task("Building report", total=len(SECTIONS) * len(loaded))
        for s in SECTIONS:
            for ds in loaded:
                bar.update(task, description=f"{s.title}: {ds.name}")
                panels[s.id][ds.name] = s.panel(analyses[ds.name])
                bar.advance(task)
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
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        version=__version__,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "datasets": [d.summary() for d in loaded],
        "sections": [s.id for s in SECTIONS],
        "models": [r.row() for a in analyses.values() for r in (a.models or [])],
    }
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    atomic_write_bytes(out / "index.html", html.encode("utf-8"))
    return out / "index.html"
