"""The report command: the self-contained HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mnistlab.cli._app import app
from mnistlab.cli._options import (
    AsJson,
    FirstEach,
    NoDownload,
    Scheduler,
    Workers,
    _dask_client,
    _load_data,
    _loads_data,
)
from mnistlab.cli._output import Result, _check_folder, _refuse_inputs_as_outputs


@app.command()
@_loads_data()
def report(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Datasets side by side (default: mnist fashion-mnist)."),
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for index.html.")] = Path(
        "report"
    ),
    models: Annotated[
        str,
        typer.Option(
            help="Models the models section trains, as names or a set (quick, default, all). "
            "The k-NN on raw pixels (knn-pixels) comes free from the similarity search."
        ),
    ] = "centroid,mlp",
    sections: Annotated[
        str | None,
        typer.Option(
            help="Only these sections, by id, comma-separated (default: all): overview, "
            "first-images, pixel-values, binarisation, centroids, atypical, pairs, one-pixel, "
            "similarity, nearest-centroid, models, label-issues, maps, tidy, per-class.",
        ),
    ] = None,
    first: FirstEach = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Write a self-contained HTML report comparing datasets side by side.

    Examples: [bold]mnistlab report -o report/[/], [bold]mnistlab report mnist kmnist digits -o r/[/],
    [bold]mnistlab report --models all[/] (every model: much longer),
    [bold]mnistlab report --sections overview,similarity[/] (those two sections: seconds). A Zarr
    store is analysed chunk by chunk (on Dask with --workers N), with a sentence for each analysis
    that needs the images in memory: [bold]mnistlab report big.zarr --workers 2 -o big/[/]
    """
    from mnistlab.models import resolve_models
    from mnistlab.report import build_report
    from mnistlab.report.builder import choose_sections

    chosen = resolve_models(models)
    choose_sections(sections)  # an unknown id fails before any data is loaded
    _check_folder(output, ["index.html", "summary.json"])  # before minutes of analyses
    loaded = _load_data(names or ["mnist", "fashion-mnist"], no_download, first, store_ok=True)
    _refuse_inputs_as_outputs(output, folder=True)  # before minutes of analyses
    with _dask_client([ds.train for ds in loaded], workers, scheduler) as client:
        path = build_report(loaded, output, models=chosen, sections=sections, client=client)
    summary = json.loads((path.parent / "summary.json").read_text())
    return Result({"report": str(path), **summary}).show(
        f"wrote {path} and {path.parent / 'summary.json'}"
    )
