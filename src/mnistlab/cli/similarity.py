"""Commands about similar images: compare, similar, duplicates."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from mnistlab import plots
from mnistlab.cli._app import app
from mnistlab.cli._options import (
    AsJson,
    FirstEach,
    NameArg,
    NoDownload,
    Scheduler,
    SplitOpt,
    Workers,
    _dask_client,
    _dataset,
    _dataset_image,
    _is_dataset_image,
    _loads_data,
)
from mnistlab.cli._output import (
    FIGURE,
    Result,
    _check_folder,
    _check_outputs,
    _csv_bytes,
    _fail,
    _file_text,
    _image_title,
    _input,
    _save_figure,
    _write_files,
)
from mnistlab.data import load
from mnistlab.data.lazy import LazyDataset, LazySplit

DISTANCE_LABELS = {
    "euclidean": "euclidean distance",
    "cosine": "cosine distance (1 - cosine)",
    "pearson": "pearson distance (1 - r)",
}


@app.command("compare")
def compare_command(
    a: Annotated[str, typer.Argument(help="DATASET:SPLIT:INDEX, an image file or a .npy.")],
    b: Annotated[str, typer.Argument(help="The second image, in any of the same forms.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="PNG: both images and their difference.")
    ] = None,
    resize: Annotated[
        bool,
        typer.Option(help="Resize an image file to the other image's size instead of refusing."),
    ] = False,
    invert: Annotated[
        bool,
        typer.Option(help="Invert image files (dark ink on a light background); never dataset images."),
    ] = False,
    context: Annotated[
        str | None,
        typer.Option(
            help="Dataset whose typical pairs put the values in context (default: the dataset "
            "of a, when a is DATASET:SPLIT:INDEX)."
        ),
    ] = None,
    no_context: Annotated[
        bool, typer.Option("--no-context", help="Skip the typical pairs (saves a few seconds).")
    ] = False,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """How similar are two images? Every metric, its meaning, and how it compares with typical pairs.

    Example: [bold]mnistlab compare mnist:train:0 mnist:train:1 -o pair.png[/]
    """
    from mnistlab.data.images import load_image, match_sizes
    from mnistlab.similarity import compare, in_context

    _check_outputs((output, FIGURE))
    first = load_image(_input(a), invert=invert, download=not no_download)
    second = load_image(_input(b), invert=invert, download=not no_download)
    first, second = match_sizes(first, second, resize=resize)
    result = compare(first.pixels, second.pixels)
    if context is None and not no_context:
        context = first.dataset or second.dataset
    placed = None
    if context is not None and not no_context:
        placed = in_context(result, load(_input(context), download=not no_download))
    if output is not None:
        note = f"pearson {result.pearson:.3f}, SSIM {result.ssim:.3f}, RMS difference {result.rms:.1f}"
        fig = plots.comparison(
            first.pixels, second.pixels, _image_title(first), _image_title(second), note=note
        )
        _save_figure(fig, output)
    data = {
        "a": first.source,
        "b": second.source,
        "class_a": first.class_name,
        "class_b": second.class_name,
        "output": str(output) if output else None,
        **result.to_dict(),
        "meanings": result.table().set_index("metric")["meaning"].to_dict(),
    }
    if placed is not None:
        data["context"] = placed.to_dict() | {"dataset": context}
    shown = Result(data).show(
        _comparison_table(result, placed, f"{_image_title(first)}  vs  {_image_title(second)}"),
        f"data range {result.data_range:g} (SSIM, mutual information)",
    )
    if placed is not None:
        said = ", ".join(f"{n} {kind}s" for kind, n in placed.pairs.items())
        shown.show(f"(typical pairs from {context}'s training images: {said})")
    shown.show(*(f"  {r.metric}: {r.meaning}" for r in result.table().itertuples()), *result.notes)
    return shown.show(f"wrote {output}") if output is not None else shown


def _comparison_table(result, placed, title: str) -> Table:
    """Each metric's value and, with ``placed``, the share of typical pairs less similar."""
    table = Table(title=title)
    table.add_column("metric", no_wrap=True)
    table.add_column("value")
    kinds = placed.kinds if placed is not None else []
    for kind in kinds:
        table.add_column(f"{kind}s\nless similar", justify="right")
    for r in result.table().itertuples():
        cells = [f"{r.value:.4g}" if math.isfinite(r.value) else "undefined"]
        for kind in kinds:
            share = placed.more_similar_than(r.metric, kind)
            cells.append("-" if share is None else f"{share:.0%}")
        table.add_row(r.metric, *cells)
    return table


@app.command()
@_loads_data("--invert-in")
def similar(
    query: Annotated[str, typer.Argument(help="DATASET:SPLIT:INDEX, an image file or a .npy.")],
    within: Annotated[str, typer.Option("--in", help="Dataset (name or path) to search.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="PNG gallery: the query and its neighbours.")
    ] = None,
    split: SplitOpt = "train",
    k: Annotated[int, typer.Option("--k", min=1, help="How many neighbours.")] = 8,
    metric: Annotated[str, typer.Option(help="euclidean, cosine or pearson.")] = "euclidean",
    resize: Annotated[bool, typer.Option(help="Resize the query to the dataset's size.")] = False,
    invert: Annotated[bool, typer.Option(help="Invert an image file (dark ink on light).")] = False,
    first: FirstEach = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Find the images of a dataset nearest to a query image (exact search).

    A Zarr store is searched chunk by chunk, whatever its size.
    Example: [bold]mnistlab similar mnist:test:0 --in mnist --k 8 -o neighbours.png[/]
    """
    from mnistlab.data.images import fit_to_shape, load_image
    from mnistlab.similarity.neighbours import check_metric

    check_metric(metric)
    _check_outputs((output, FIGURE))
    ds = _dataset(within, first, no_download, store_ok=True)
    target = ds.split(split)
    if k > len(target):
        _fail(f"--k {k}: the {split} split of {ds.name} has {len(target)} images.")
    if _is_dataset_image(query):  # loaded as --in is, with the same options
        same = query.rsplit(":", 2)[0] == within and first is None
        ref = _dataset_image(query, no_download, loaded=ds if same else None)
        ref = fit_to_shape(ref, ds.image_shape, resize=resize)
    else:
        ref = load_image(
            _input(query),
            shape=ds.image_shape,
            resize=resize,
            invert=invert,
            download=not no_download,
            polarity=ds.polarity().kind,
        )
    distances, near = _nearest(ref.pixels, target, k, metric)
    neighbours = [
        {
            "rank": rank + 1,
            "index": int(near.indices[rank]),
            "label": int(near.labels[rank]),
            "class": ds.classes[near.labels[rank]],
            "distance": float(d),
        }
        | ({} if near.files is None else {"file": _file_text(near.files[rank])})
        for rank, d in enumerate(distances)
    ]
    if output is not None:
        images = [ref.pixels, *near.images]
        titles = [f"query\n{_image_title(ref)}"] + [
            f"#{n['index']} · {n['class']}\n{metric} {n['distance']:.3g}" for n in neighbours
        ]
        fig = plots.titled_images(images, titles, columns=min(len(images), 9))
        _save_figure(fig, output)
    data = {
        "query": ref.source,
        "dataset": ds.name,
        "split": split,
        "metric": metric,
        "distance": DISTANCE_LABELS[metric],
        "output": str(output) if output else None,
        "neighbours": neighbours,
    }
    table = Table(
        "rank",
        f"{split} index",
        "class",
        DISTANCE_LABELS[metric],
        *(["file"] if near.files is not None else []),
        title=f"nearest to {_image_title(ref)} in {ds.name}",
    )
    for n in neighbours:
        file = [n["file"]] if "file" in n else []
        table.add_row(str(n["rank"]), str(n["index"]), n["class"], f"{n['distance']:.4g}", *file)
    return Result(data, [table, *([f"wrote {output}"] if output is not None else [])])


def _nearest(pixels, target, k: int, metric: str):
    """The ``k`` images of ``target`` nearest to one image: their distances, nearest first, and
    a Split of them (``indices``: their positions in ``target``'s file). A Zarr store's split is
    searched chunk by chunk (:func:`mnistlab.scale.nearest_training_images`) and only the
    neighbours are read."""
    if isinstance(target, LazySplit):
        from mnistlab.scale import nearest_training_images

        distances, found = nearest_training_images(pixels[None], target, k, metric=metric)
        return distances[0], target.take(found[0])
    from mnistlab.similarity import NearestImages

    distances, found = NearestImages(metric=metric).fit(target.images).kneighbors(pixels[None], k)
    return distances[0], target[found[0]]


@app.command()
@_loads_data()
def duplicates(
    name: NameArg,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Folder for duplicates.csv and duplicates.png."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Near-duplicate RMS distance (0..255 scale); default: a quarter of the median "
            "nearest-neighbour distance. 0: exact duplicates only (a whole Zarr store: streamed)."
        ),
    ] = None,
    first: FirstEach = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Find exact and near-duplicate images within train, within test and between them (leakage).

    A Zarr store's exact duplicates (--threshold 0) are found chunk by chunk (on Dask with
    --workers or --scheduler); near duplicates need its images in memory (--first N).
    Example: [bold]mnistlab duplicates fashion-mnist -o dups/[/]
    """
    from mnistlab.scale import exact_duplicates
    from mnistlab.similarity import find_duplicates
    from mnistlab.similarity.duplicates import check_threshold

    if output is not None:
        _check_folder(output, ["duplicates.csv", "duplicates.png"])
    if threshold is not None:
        check_threshold(threshold)
    ds = _dataset(name, first, no_download, store_ok=True)
    on_store = isinstance(ds, LazyDataset)
    if on_store and threshold != 0:
        _fail(
            f"{name} is a Zarr store, and near duplicates need an exact radius search over its "
            "images in memory: pass --threshold 0 (exact duplicates over the whole store, read "
            "chunk by chunk) or --first N (the first N images of each split, in memory).",
            2,
        )
    with _dask_client(ds.train, workers, scheduler) as client:
        if on_store:
            found = exact_duplicates(ds, client=client)
        else:
            with warnings.catch_warnings():
                found = find_duplicates(ds, threshold)
    counts = found.counts()
    pairs = found.pairs if on_store else _in_the_files(found.pairs, ds)
    if output is not None:
        files = {"duplicates.csv": _csv_bytes(pairs)}
        if len(found.pairs):
            fig = plots.duplicate_pairs(ds, found.pairs, n=12, title=f"{ds.name}: closest pairs")
            files["duplicates.png"] = plots.to_png_bytes(fig)
        _write_files(files, output)
    data = {
        "dataset": ds.name,
        "threshold": found.threshold,
        "median_nearest_rms": found.median_nearest,
        "counts": counts.to_dict(orient="records"),
        "not_searched": found.missing,
        "pairs": pairs.to_dict(orient="records"),
    }
    table = Table("pairs", "exact", "near", "labels differ", title=f"{ds.name}: duplicates")
    for r in found.counts(every_kind=True).itertuples():
        table.add_row(r.kind, *("n/a" if pd.isna(v) else str(v) for v in r[2:]))
    result = Result(data, [table])
    if found.missing:
        result.show(f"n/a: {found.missing}")
    if on_store:
        result.show("exact duplicates only: identical images, compared byte for byte")
    else:
        result.show(
            f"near = nearest neighbour closer than RMS {found.threshold:.2f} on the 0..255 scale "
            f"(median nearest-neighbour distance {found.median_nearest:.1f})"
        )
    if output is not None:
        result.show("wrote " + ", ".join(str(output / f) for f in files))
    return result


def _in_the_files(pairs, ds):
    """``pairs`` (positions in their splits) with ``index_a`` and ``index_b`` as each image's
    index in the original split (``Split.indices``: the row in the file, also after --test-size),
    and ``file_a`` and ``file_b`` after them when the images were read from image files."""
    pairs = pairs.copy()
    with_files = any(split.files is not None for split in ds.splits.values())
    for side in ("a", "b"):
        where = list(zip(pairs[f"split_{side}"], pairs[f"index_{side}"], strict=True))
        pairs[f"index_{side}"] = [int(ds.split(split).indices[i]) for split, i in where]
        if with_files:
            names = [_file_text(ds.split(split).files[i]) for split, i in where]
            pairs.insert(int(pairs.columns.get_loc(f"index_{side}")) + 1, f"file_{side}", names)
    return pairs
