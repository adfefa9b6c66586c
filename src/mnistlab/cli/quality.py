"""The label-issues command: probable label errors, ambiguous images, outliers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mnistlab import plots
from mnistlab.cli._app import app
from mnistlab.cli._options import AsJson, FirstEach, NameArg, NoDownload, _dataset, _loads_data
from mnistlab.cli._output import (
    Result,
    _check_folder,
    _csv_bytes,
    _fail,
    _finite,
    _input,
    _write_files,
)


@app.command("label-issues")
@_loads_data()
def label_issues_command(
    name: NameArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Folder for issues.csv, summary.json, and per split noise-matrix-SPLIT.png and "
            "issues-SPLIT.png (the top label errors).",
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="train, test or both.")] = "train",
    model: Annotated[
        str | None,
        typer.Option(
            help="A named model that gives probabilities (default: the fast one; cnn: the best)."
        ),
    ] = None,
    folds: Annotated[
        int, typer.Option(min=2, help="Cross-validation folds for the training split.")
    ] = 5,
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Seeds the folds and the model.")] = 0,
    method: Annotated[
        str, typer.Option(help="Label-quality score: self_confidence or normalized_margin.")
    ] = "self_confidence",
    top: Annotated[int, typer.Option(min=1, help="Label errors shown and drawn per split.")] = 18,
    probabilities: Annotated[
        list[Path] | None,
        typer.Option(
            help="Reuse probabilities saved by --save-probabilities (one per split) instead of "
            "fitting models."
        ),
    ] = None,
    save_probabilities: Annotated[
        Path | None,
        typer.Option(help="Also save the probabilities as FOLDER/probabilities-SPLIT.parquet."),
    ] = None,
    duplicates: Annotated[
        bool,
        typer.Option(
            "--duplicates/--no-duplicates",
            help="Also list near duplicates whose labels differ (a neighbour search).",
        ),
    ] = True,
    first: FirstEach = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Find images that are probably mislabelled (confident learning), ambiguous or outliers.

    Out-of-sample class probabilities (K-fold cross-validation on the training split; for the test
    split, a model fitted on the training split) feed confident learning: the estimated noise
    matrix, the estimated number of label errors, and the probable errors ranked.
    Example: [bold]mnistlab label-issues mnist --split test -o issues/[/]
    """
    from mnistlab.quality import SPLITS, label_issues, load_probabilities
    from mnistlab.quality.confident import SCORES

    if split not in SPLITS:
        _fail(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}.", 2)
    if method not in SCORES:
        _fail(f"unknown --method {method!r}; choose one of {', '.join(SCORES)}.", 2)
    wanted = ["train", "test"] if split == "both" else [split]
    if output is not None:
        names = ["issues.csv", "summary.json"]
        names += [f"{kind}-{s}.png" for s in wanted for kind in ("noise-matrix", "issues")]
        _check_folder(output, names)
    given = {}
    for path in probabilities or []:
        loaded = load_probabilities(_input(str(path)))
        given[loaded.split] = loaded
    ds = _dataset(name, first, no_download)
    found_duplicates = None
    if duplicates:
        from mnistlab.similarity import find_duplicates

        found_duplicates = find_duplicates(ds)
    result = label_issues(
        ds,
        split,
        model,
        folds=folds,
        seed=seed,
        method=method,
        probabilities=given or None,
        duplicates=found_duplicates,
    )
    summary = result.summary()
    if save_probabilities is not None:
        save_probabilities.mkdir(parents=True, exist_ok=True)
        for s, p in result.probabilities.items():
            p.save(save_probabilities / f"probabilities-{s}")
    if output is not None:
        files = {
            "issues.csv": _csv_bytes(result.table),
            "summary.json": json.dumps(_finite(summary), indent=2, allow_nan=False).encode(),
        }
        for s in wanted:
            rate = summary["splits"][s]["estimated_error_rate"]
            title = f"{ds.name} {s}: estimated label errors {rate:.2%}"
            files[f"noise-matrix-{s}.png"] = plots.to_png_bytes(
                plots.noise_matrix(result, s, title=title)
            )
            errors = result.label_errors(s)
            if len(errors):
                gallery = plots.issue_gallery(
                    ds.split(s),
                    errors,
                    top,
                    title=f"{ds.name} {s}: probable label errors, given -> suggested",
                )
                files[f"issues-{s}.png"] = plots.to_png_bytes(gallery)
        _write_files(files, output)
    data = {**summary, "issues": result.table.head(top * len(wanted)).to_dict(orient="records")}
    shown: list = []
    for s in wanted:
        numbers = summary["splits"][s]
        table = Table(
            "index",
            "given",
            "suggested",
            "score",
            title=f"{ds.name} {s}: top probable label errors ({result.method})",
            title_justify="left",
        )
        for r in result.label_errors(s).head(min(top, 10)).itertuples(index=False):
            table.add_row(f"#{r.index}", str(r[4]), r.suggested_class, f"{r.score:.3f}")
        per_class = result.per_class()
        per_class = per_class[per_class["split"] == s]
        estimated = ", ".join(
            f"{r[2]} {r.estimated_errors}"
            for r in per_class.itertuples(index=False)
            if r.estimated_errors
        )
        shown += [
            table,
            f"{s}: {numbers['images']:,} images, estimated label errors "
            f"{numbers['estimated_label_errors']:,} ({numbers['estimated_error_rate']:.2%}); "
            f"ambiguous {numbers['ambiguous']:,}, outliers {numbers['outlier']:,}, duplicates "
            f"with another label {numbers['duplicate, labels differ']:,}",
            f"estimated label errors per given class: {estimated or 'none'}",
        ]
    out = Result(data, shown)
    if output is not None:
        out.show(f"wrote {output / 'issues.csv'}, summary.json and figures in {output}")
    return out
