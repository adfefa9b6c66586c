"""The health command: image checks (blank, low-information, polarity, cut off) and train/test
drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from mnistlab import plots
from mnistlab.cli._app import app
from mnistlab.cli._options import AsJson, FirstEach, NameArg, NoDownload, _dataset, _loads_data
from mnistlab.cli._output import (
    Result,
    _check_folder,
    _csv_bytes,
    _file_text,
    _finite,
    _percent,
    _write_files,
)

#: The files ``health -o DIR`` may write: the table, the drift and one gallery per check.
FILES = ["image-issues.csv", "drift.json"]
OUTPUT_HELP = (
    "Folder for image-issues.csv (the flagged images), drift.json and a gallery issues-CHECK.png "
    "of each check's flagged images."
)


@app.command()
@_loads_data()
def health(
    name: NameArg,
    output: Annotated[Path | None, typer.Option("-o", "--output", help=OUTPUT_HELP)] = None,
    gallery: Annotated[
        int, typer.Option(min=1, help="Flagged images per gallery, furthest beyond the fence first.")
    ] = 40,
    seed: Annotated[int, typer.Option(min=0, help="Seeds the drift test's sample and folds.")] = 0,
    first: FirstEach = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Check a dataset's images before training: blank, low-information, other-polarity and
    cut-off images, and drift between the training and test images.

    Each check scores every image and flags those beyond a fence derived from the data (Tukey's
    far-out fence of the image's class); drift compares class proportions (chi-square), mean
    images, and asks whether a classifier tells test images from training images better than
    chance. A dataset without a test split gets the image checks only.

    Example: [bold]mnistlab health mnist -o health/[/]
    """
    from mnistlab.quality.drift import split_drift
    from mnistlab.quality.images import CHECKS, image_issues

    if output is not None:
        _check_folder(output, [*FILES, *(f"issues-{check}.png" for check in CHECKS)])
    ds = _dataset(name, first, no_download)
    issues = image_issues(ds)
    drift = split_drift(ds, seed=seed) if ds.test is not None else None
    flagged = issues.flagged
    data = {
        "dataset": ds.name,
        "images": issues.to_dict(),
        "drift": drift.to_dict() if drift is not None else None,
        "output": str(output) if output is not None else None,
    }
    result = Result(data, [_counts_table(ds.name, issues)])
    result.show(*(f"  {check}: {score}" for check, score in CHECKS.items()))
    result.show(
        f"fences: Tukey's far-out fence (quartile {chr(177)} {issues.whisker:g} x IQR) of each "
        f"class (blank: and of all images); ink is > {issues.ink_level} (Otsu), visible > "
        f"{issues.background}; images oriented as {issues.polarity}"
    )
    if drift is not None:
        result.show(_drift_table(drift), drift.verdict)
    else:
        result.notes.append(
            f"{ds.name} has no test split: no drift to measure (--test-size holds one out)."
        )
    if output is not None:
        files = {
            "image-issues.csv": _csv_bytes(_with_file_text(flagged)),
            "drift.json": json.dumps(_finite(data["drift"]), indent=2).encode() + b"\n",
        }
        for check in CHECKS:
            rows = flagged[flagged["check"] == check].head(gallery)
            if len(rows):
                fig = _gallery(ds, rows, f"{ds.name}: {check} ({_said(issues, check)})")
                files[f"issues-{check}.png"] = plots.to_png_bytes(fig)
        _write_files(files, output)
        result.show("wrote " + ", ".join(str(output / f) for f in files))
    return result


def _counts_table(name: str, issues) -> Table:
    """Flagged images per check and split, with the range of the classes' thresholds."""
    from mnistlab.quality.images import CHECKS, DIRECTION

    counts = issues.counts()
    splits = list(dict.fromkeys(counts["split"]))
    table = Table("check", *splits, "flagged if (per class)", title=f"{name}: image checks")
    for check in CHECKS:
        mine = counts[counts["check"] == check].set_index("split")
        fences = issues.thresholds.loc[issues.thresholds["check"] == check, "threshold"]
        side = "<" if DIRECTION[check] == "below" else ">"
        low, high = fences.min(), fences.max()
        span = f"{side} {low:.3g}" if np.isclose(low, high) else f"{side} {low:.3g}..{high:.3g}"
        cells = [f"{mine.at[s, 'flagged']} ({_percent(mine.at[s, 'share'])})" for s in splits]
        table.add_row(check, *cells, span)
    return table


def _said(issues, check: str) -> str:
    return ", ".join(
        f"{n} in {split}" for split, n in issues.to_dict()["checks"][check]["flagged"].items()
    )


def _drift_table(drift) -> Table:
    c = drift.classifier
    table = Table("train vs test", "value", title=f"{drift.dataset}: drift")
    table.add_row(
        "classifier accuracy",
        f"{c['accuracy']:.3f} ({c['confidence']:.0%} CI {c['ci_low']:.3f}..{c['ci_high']:.3f}; "
        f"chance 0.5; {c['images_per_split']:,} images of each split)",
    )
    table.add_row("class proportions", f"chi-square p = {drift.class_test['p_value']:.3g}")
    means = drift.pixels.set_index("split")["mean_value"]
    table.add_row("mean pixel value", f"train {means['train']:.2f}, test {means['test']:.2f}")
    d = drift.pixel_difference()
    table.add_row(
        "mean images differ",
        f"by {d['mean_abs']:.2f} on average, at most {d['max_abs']:.2f} (row {d['max_at'][0]}, "
        f"column {d['max_at'][1]})",
    )
    return table


def _with_file_text(rows):
    if "file" in rows.columns:
        rows = rows.assign(file=[_file_text(str(f)) for f in rows["file"]])
    return rows


def _gallery(ds, rows, title: str):
    """The flagged images of one check, each titled with its split, index, class and score."""
    positions = {}
    for name, split in ds.splits.items():
        assert split.indices is not None
        positions[name] = {int(i): p for p, i in enumerate(split.indices)}
    images, titles = [], []
    for split, index, name, score, threshold in zip(
        rows["split"], rows["index"], rows["class"], rows["score"], rows["threshold"], strict=True
    ):
        images.append(ds.split(split).images[positions[split][int(index)]])
        titles.append(f"{split} #{index}\n{name}\n{score:.3g} (fence {threshold:.3g})")
    return plots.titled_images(images, titles, columns=max(4, min(len(images), 10)), title=title)
