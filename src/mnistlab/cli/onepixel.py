"""The onepixel command: one-pixel separability of every pair of classes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mnistlab import plots
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
from mnistlab.cli._output import (
    Result,
    _check_folder,
    _csv_bytes,
    _fail,
    _finite,
    _percent,
    _write_files,
)
from mnistlab.data.lazy import LazyDataset


@app.command()
@_loads_data()
def onepixel(
    names: Annotated[list[str], typer.Argument(help="Datasets (names or paths), side by side.")],
    scale: Annotated[
        str,
        typer.Option(help="Feature scale: unit (value/255), raw (0..255) or l2 (image / its L2 norm)."),
    ] = "unit",
    C: Annotated[
        float, typer.Option("--C", "-C", help="Inverse L2 penalty on the coefficient, as scikit-learn.")
    ] = 1.0,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Folder for separability.csv, summary.json and per dataset heatmap-NAME.png and "
            "best-pixels-NAME.png.",
        ),
    ] = None,
    first: FirstEach = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Which pairs of classes can one pixel tell apart? One logistic regression per pixel and pair.

    For every pair of classes and every pixel, a logistic regression on that pixel alone is fitted
    to the training images of the two classes; the pixel with the best training accuracy wins and
    is tested on the test split. Example: [bold]mnistlab onepixel mnist fashion-mnist -o onepixel/[/].
    A Zarr store is reduced chunk by chunk to per-class pixel histograms (unit and raw scales),
    on Dask with --workers N: [bold]mnistlab onepixel big.zarr --workers 2 -o onepixel/[/]
    """
    from mnistlab._utils.files import safe_filename
    from mnistlab.onepixel import one_pixel_separability
    from mnistlab.onepixel.sweep import check_parameters

    check_parameters(scale, C)
    figure_names = [
        (f"heatmap-{safe_filename(n)}.png", f"best-pixels-{safe_filename(n)}.png") for n in names
    ]
    if output is not None:
        _check_folder(
            output, ["separability.csv", "summary.json", *(f for p in figure_names for f in p)]
        )
    loaded = _load_data(names, no_download, first, store_ok=True)
    labels = [ds.name for ds in loaded]
    if len(set(labels)) != len(labels) or len({safe_filename(n) for n in labels}) != len(labels):
        _fail(
            f"the datasets are named {labels}: each name (and its file-name form) may appear once, "
            "as it labels the results and the figure files."
        )
    import time

    results, seconds = [], []
    with _dask_client([ds.train for ds in loaded], workers, scheduler) as client:
        for ds in loaded:
            started = time.perf_counter()
            on = client if isinstance(ds, LazyDataset) else None
            results.append(one_pixel_separability(ds, scale=scale, C=C, client=on))
            seconds.append(time.perf_counter() - started)
        payload = {"datasets": {r.dataset: r.to_dict() for r in results}}
        if output is not None:
            _write_onepixel(output, loaded, results, payload, client)
    result = Result(payload, _onepixel_shown(results, seconds))
    if output is not None:
        result.show(f"wrote {output / 'separability.csv'}, summary.json and figures in {output}")
    return result


def _write_onepixel(output: Path, loaded, results, payload, client) -> None:
    """Render every file in memory first, then write them: an interrupt leaves little behind."""
    import pandas as pd

    from mnistlab import stats
    from mnistlab._utils.files import safe_filename

    files: dict[str, bytes] = {}
    for ds, result in zip(loaded, results, strict=True):
        name = safe_filename(ds.name)
        if len(result.pairs) == 0:
            warnings.warn(f"{ds.name}: no pairs, so no heat map or best-pixel figure.", stacklevel=1)
            continue
        on = client if isinstance(ds, LazyDataset) else None
        means = stats.centroids(ds.train, client=on)
        files[f"heatmap-{name}.png"] = plots.to_png_bytes(plots.separability_heatmap(result))
        files[f"best-pixels-{name}.png"] = plots.to_png_bytes(plots.best_pixels(result, means))
    table = pd.concat([r.pairs.assign(dataset=r.dataset) for r in results], ignore_index=True)
    table = table[["dataset", *results[0].pairs.columns]]
    files["separability.csv"] = _csv_bytes(table)
    files["summary.json"] = json.dumps(_finite(payload), indent=2, allow_nan=False).encode()
    _write_files(files, output)


def _onepixel_shown(results, seconds) -> list:
    summaries = [r.summary() for r in results]
    table = Table(
        "", *[r.dataset for r in results], title="One-pixel separability", title_justify="left"
    )

    def pairs(found: list) -> str:
        shown = ", ".join(" vs ".join(p) for p in found[:3])
        return shown + (f" (+{len(found) - 3})" if len(found) > 3 else "")

    measure = {s["measure"] for s in summaries}
    rows = [
        ("pairs", [str(s["pairs"]) for s in summaries]),
        ("mean", [_percent(s["mean"]) for s in summaries]),
        ("min", [f"{_percent(s['min'])} {pairs(s['min_pairs'])}" for s in summaries]),
        ("max", [f"{_percent(s['max'])} {pairs(s['max_pairs'])}" for s in summaries]),
        (">= 90%", [str(s.get("pairs_at_least_0.9", "-")) for s in summaries]),
        (">= 95%", [str(s.get("pairs_at_least_0.95", "-")) for s in summaries]),
        ("hardest", [_hardest(r) for r in results]),
        ("fit seconds", [f"{t:.1f}" for t in seconds]),
    ]
    for label, cells in rows:
        table.add_row(label, *cells)
    what = " and ".join(sorted(m.replace("_", " ") for m in measure))
    return [
        table,
        f"{what} of the best single pixel per pair ({results[0].scale} scale, C={results[0].C:g}); "
        "higher means easier to tell apart",
    ]


def _hardest(result, n: int = 3) -> str:
    measure = result.measure
    worst = result.pairs.sort_values([measure, "class_a", "class_b"]).head(n)
    return ", ".join(f"{r.name_a} vs {r.name_b}" for r in worst.itertuples())
