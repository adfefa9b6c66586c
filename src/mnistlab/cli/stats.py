"""Commands over statistics of the images: pixels, centroids, atypical, pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mnistlab import plots
from mnistlab.cli._app import app
from mnistlab.cli._options import (
    AsJson,
    FirstOpt,
    NameArg,
    NoDownload,
    Scheduler,
    SplitOpt,
    Workers,
    _dask_client,
    _loads_data,
    _split,
)
from mnistlab.cli._output import (
    CSV,
    FIGURE,
    Result,
    _check_outputs,
    _csv_bytes,
    _fail,
    _file_text,
    _save_figure,
    _write_files,
)


@app.command()
@_loads_data()
def pixels(
    name: NameArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG histogram of pixel values.")],
    by_class: Annotated[
        Path | None, typer.Option("--by-class", help="Also write per-class histograms (PNG).")
    ] = None,
    binarisation: Annotated[
        bool,
        typer.Option(
            "--binarisation",
            help="Also compare test accuracy on raw vs binarised pixels (threshold 128): models "
            "trained on the first --train-size training images, tested on the test split.",
        ),
    ] = False,
    train_size: Annotated[int, typer.Option(min=2, help="Training images for --binarisation.")] = 10_000,
    split: SplitOpt = "train",
    first: FirstOpt = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Histogram of pixel values and the shares of 0, 1..254 and 255.

    A Zarr store is read chunk by chunk (on Dask with --workers or --scheduler).
    Example: [bold]mnistlab pixels fashion-mnist -o pixels.png --by-class per-class.png[/]
    """
    from mnistlab import stats
    from mnistlab.data.lazy import LazyDataset

    _check_outputs((output, FIGURE), (by_class, FIGURE))
    ds, chosen = _split(name, split, first, no_download, store_ok=True)
    if binarisation and ds.test is None:
        _fail(f"--binarisation tests on the test split, and {ds.name} has none.")
    if binarisation and isinstance(ds, LazyDataset):
        _fail("--binarisation trains models in memory; for a Zarr store, leave it out.", 2)
    with _dask_client(chosen, workers, scheduler) as client:
        per_class = stats.pixel_value_counts_by_class(chosen, client=client)  # one pass for both
    counts = per_class.sum(axis=0)
    shares = stats.PixelShares.from_counts(counts)
    effect = None
    if binarisation:
        from mnistlab.models.binarisation import binarisation_effect

        effect = binarisation_effect(ds, max_train=train_size)
    fig = plots.pixel_histogram(counts, title=f"{ds.name} · {split}")
    figures = {output: plots.figure_bytes(fig, output)}
    if by_class is not None:
        fig = plots.pixel_histograms_by_class(per_class, chosen.classes, title=f"{ds.name} · {split}")
        figures[by_class] = plots.figure_bytes(fig, by_class)
    _write_files(figures)  # both figures or neither
    data = {
        "output": str(output),
        "by_class": str(by_class) if by_class else None,
        "dataset": ds.name,
        "split": split,
        "pixels": int(counts.sum()),
        "share_zero": shares.zero,
        "share_between": shares.between,
        "share_255": shares.full,
        "counts": counts.tolist(),
    }
    if effect is not None:
        data["binarisation"] = effect.to_dict(orient="records")
    result = Result(data).show(
        f"{ds.name} {split}: {counts.sum():,} pixels, {shares.zero:.1%} are 0, "
        f"{shares.between:.1%} in 1..254, {shares.full:.1%} are 255"
    )
    if effect is not None:
        table = Table("model", "raw", "binarised", "difference")
        for r in effect.itertuples():
            table.add_row(
                r.model, f"{r.raw:.1%}", f"{r.binarised:.1%}", f"{100 * r.difference:+.1f} points"
            )
        result.show(
            table,
            f"(trained on the first {int(effect.n_train.iloc[0]):,} training images, tested on "
            f"{int(effect.n_test.iloc[0]):,} test images)",
        )
    return result.show(f"wrote {output}" + (f" and {by_class}" if by_class else ""))


@app.command()
@_loads_data()
def centroids(
    name: NameArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG of the class centroids.")],
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Also write label,class,x,y,mean rows.")
    ] = None,
    split: SplitOpt = "train",
    first: FirstOpt = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Draw the mean image of every class (white = 0, black = 255).

    A Zarr store is read chunk by chunk (on Dask with --workers or --scheduler).
    Example: [bold]mnistlab centroids fashion-mnist -o centroids.png --csv centroids.csv[/]
    """
    from mnistlab import stats

    _check_outputs((output, FIGURE), (csv, CSV))
    ds, chosen = _split(name, split, first, no_download, store_ok=True)
    with _dask_client(chosen, workers, scheduler) as client:
        result = stats.centroids(chosen, client=client)
    files = {output: plots.figure_bytes(plots.centroid_grid(result), output)}
    if csv is not None:
        files[csv] = _csv_bytes(result.table())
    _write_files(files)  # the figure and the table, or neither
    data = {
        "output": str(output),
        "csv": str(csv) if csv else None,
        "dataset": ds.name,
        "split": split,
        "classes": list(result.classes),
        "counts": result.counts.tolist(),
        "mean_ink": [float(m.mean()) for m in result.means],  # NaN -> null: no images
    }
    written = f"{output}" + (f" and {csv}" if csv else "")
    return Result(data).show(
        f"wrote {written}: centroids of {len(result.classes)} classes from {len(chosen):,} "
        f"{split} images of {ds.name}"
    )


@app.command()
@_loads_data()
def atypical(
    name: NameArg,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="PNG gallery of least and most typical images.")
    ],
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="index,[file,]label,class,distance,rank_in_class per image."),
    ] = None,
    boxplot: Annotated[
        Path | None, typer.Option("--boxplot", help="Also write a box plot of distances per class.")
    ] = None,
    split: SplitOpt = "train",
    first: FirstOpt = None,
    per_class: Annotated[int, typer.Option(min=1, help="Images per class in the gallery.")] = 6,
    workers: Workers = None,
    scheduler: Scheduler = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Rank images by RMS distance to their class centroid; show the least and most typical.

    Centroids are computed on the same images analysed; rank 1 is the least typical image of
    its class. Example: [bold]mnistlab atypical mnist --first 10000 -o atypical.png --csv d.csv[/].
    A whole Zarr store takes two passes over its chunks (centroids, then each class's extremes):
    [bold]mnistlab atypical big.zarr --workers 2 -o atypical.png[/]; its --csv lists the least
    and most typical images of each class (--per-class of each), not every image.
    """
    from mnistlab import stats
    from mnistlab.data.lazy import LazySplit

    _check_outputs((output, FIGURE), (csv, CSV), (boxplot, FIGURE))
    ds, chosen = _split(name, split, first, no_download, store_ok=True)
    if isinstance(chosen, LazySplit):
        if boxplot is not None:
            _fail(
                "--boxplot draws every image's distance; on a whole Zarr store only each class's "
                "extremes and a histogram of distances are kept: leave it out, or add --first N.",
                2,
            )
        return _atypical_store(ds, chosen, split, output, csv, per_class, workers, scheduler)
    result = stats.typicality(chosen.images, chosen.labels, chosen.classes, chosen.indices)
    files = {output: plots.figure_bytes(plots.typicality_gallery(chosen, result, per_class), output)}
    if boxplot is not None:
        files[boxplot] = plots.figure_bytes(plots.distance_boxplot(result), boxplot)
    if csv is not None:
        table = result.table()
        table.insert(
            int(table.columns.get_loc("label")) + 1, "class", [ds.classes[k] for k in table["label"]]
        )
        names = chosen.file_names(table["index"])
        if names is not None:  # images read from files: say which file each row is
            table.insert(int(table.columns.get_loc("index")) + 1, "file", list(map(_file_text, names)))
        files[csv] = _csv_bytes(table)
    _write_files(files)  # every output asked for, or none
    return _atypical_result(ds, split, len(chosen), result, output, csv, boxplot)


def _atypical_store(ds, chosen, split: str, output, csv, per_class: int, workers, scheduler) -> Result:
    """``atypical`` over a whole Zarr store: the extremes of each class in two passes."""
    import pandas as pd

    from mnistlab.scale import typicality_extremes

    with _dask_client(chosen, workers, scheduler) as client:
        result = typicality_extremes(chosen, per_class, client=client)
    images, shown = result.gallery(chosen)
    files = {output: plots.figure_bytes(plots.typicality_gallery(images, shown, per_class), output)}
    if csv is not None:
        ends = [result.least_typical().assign(end="least"), result.most_typical().assign(end="most")]
        table = pd.concat(ends, ignore_index=True)
        files[csv] = _csv_bytes(table[["index", "label", "class", "distance", "rank_in_class", "end"]])
    _write_files(files)
    return _atypical_result(ds, split, len(chosen), result, output, csv, None)


def _atypical_result(ds, split: str, n: int, result, output, csv, boxplot) -> Result:
    """What ``atypical`` shows and prints as JSON, from a Typicality or a store's extremes."""
    summary = result.summary()
    least = result.least_typical().groupby("label")["index"].first()
    data = {
        "output": str(output),
        "csv": str(csv) if csv else None,
        "boxplot": str(boxplot) if boxplot else None,
        "dataset": ds.name,
        "split": split,
        "images": n,
        "per_class": [
            {
                "label": int(r["label"]),
                "class": r["class"],
                "n": int(r["n"]),
                "median": float(r["median"]),
                "max": float(r["max"]),
                "least_typical_index": int(least[int(r["label"])]),
            }
            for _, r in summary.iterrows()
            if r["n"] > 0
        ],
    }
    table = Table("class", "images", "median distance", "max", "least typical")
    for _, r in summary.iterrows():
        k = int(r["label"])
        table.add_row(
            r["class"],
            f"{int(r['n']):,}",
            f"{r['median']:.1f}",
            f"{r['max']:.1f}",
            f"#{least[k]}" if k in least.index else "-",
        )
    extra = "".join(f", {p}" for p in (csv, boxplot) if p is not None)
    return Result(data).show(table, f"wrote {output}{extra}")


@app.command()
@_loads_data()
def pairs(
    name: NameArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG of the pair facet grid.")],
    split: SplitOpt = "train",
    first: FirstOpt = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Draw, for every pair of classes, the difference of their centroids.

    Red where the row class has more ink, blue where the column class has, white where equal.
    Example: [bold]mnistlab pairs mnist -o pairs.png[/]
    """
    from mnistlab import stats

    _check_outputs((output, FIGURE))
    ds, chosen = _split(name, split, first, no_download, store_ok=True)
    result = stats.centroids(chosen)  # a store's split is streamed
    _save_figure(plots.pair_differences(result), output)
    pair = result.closest_pair()
    closest = None
    if pair is not None:
        i, j, rms = pair
        names = [result.classes[i], result.classes[j]]
        closest = {"classes": names, "rms_difference": rms}
    data = {"output": str(output), "dataset": ds.name, "split": split, "closest_pair": closest}
    k = len(result.classes)
    shown = f"{k}x{k}" if k <= plots.MAX_PAIR_CLASSES else f"the {plots.MAX_PAIR_PANELS} closest pairs'"
    said = f"wrote {output}: {shown} centroid differences of {ds.name}"
    if closest is not None:
        said += f"; closest centroids: {' and '.join(names)} (RMS difference {rms:.1f})"
    return Result(data).show(said)
