"""The embed command: a dataset's map in two dimensions (PCA, t-SNE, UMAP) and how faithful it is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mnistlab import plots
from mnistlab.cli._app import app
from mnistlab.cli._options import AsJson, FirstEach, NameArg, NoDownload, SplitOpt, _dataset, _loads_data
from mnistlab.cli._output import CSV, FIGURE, Result, _check_outputs, _csv_bytes, _fail, _write_files

HTML = (".html", ".htm")


@app.command("embed")
@_loads_data()
def embed_command(
    name: NameArg,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="The map: points coloured by class (PNG, SVG or PDF)."),
    ] = None,
    method: Annotated[str, typer.Option(help="pca, tsne (openTSNE) or umap (umap-learn).")] = "pca",
    split: SplitOpt = "train",
    place: Annotated[
        str | None,
        typer.Option(help="Also place this split (test) into the map fitted on --split."),
    ] = None,
    first: FirstEach = None,
    sample: Annotated[
        int | None,
        typer.Option(min=3, help="Map a seeded random sample of N images, stratified by class."),
    ] = None,
    perplexity: Annotated[float, typer.Option(min=0.5, help="t-SNE's perplexity.")] = 30.0,
    neighbors: Annotated[int, typer.Option(min=2, help="UMAP's n_neighbors.")] = 15,
    min_dist: Annotated[float, typer.Option(min=0.0, help="UMAP's min_dist.")] = 0.1,
    pca: Annotated[
        int,
        typer.Option(
            min=0, help="t-SNE and UMAP start from this many principal components (0: pixels)."
        ),
    ] = 50,
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Makes the map reproducible.")] = 0,
    threads: Annotated[
        int | None, typer.Option(min=1, help="t-SNE's threads (default: every core).")
    ] = None,
    thumbnails: Annotated[
        Path | None,
        typer.Option(help="Also draw the thumbnail map: images at their places (PNG, SVG, PDF)."),
    ] = None,
    variance: Annotated[
        Path | None,
        typer.Option(help="Also draw PCA's explained variance curve (PNG, SVG, PDF)."),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Coordinates: split,index,label,class,x,y per image.")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="An interactive page: hover a point to see its image, toggle classes, zoom.",
        ),
    ] = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Map a split in two dimensions with PCA, t-SNE or UMAP, and say how faithful the map is.

    Faithfulness: k-NN accuracy (10 neighbours, leave-one-out) in the map and in pixel space, and
    trustworthiness, on a stratified sample of 5,000 points. t-SNE and UMAP start from the first
    50 principal components. Example:
    [bold]mnistlab embed mnist --method tsne --split test -o map.png --html map.html[/]
    """
    from mnistlab.maps import METHODS, embed

    if method not in METHODS:
        _fail(f"unknown --method {method!r}; choose one of {', '.join(METHODS)}.", 2)
    if variance is not None and method != "pca" and pca == 0:
        _fail("--variance needs a PCA: use --method pca, or --pca N with t-SNE or UMAP.", 2)
    _check_outputs((output, FIGURE), (thumbnails, FIGURE), (variance, FIGURE), (csv, CSV), (html, HTML))
    ds = _dataset(name, first, no_download)
    try:
        m = embed(
            ds,
            method,
            split=split,
            place=place,
            sample=sample,
            pca=pca or None,
            perplexity=perplexity,
            n_neighbors=neighbors,
            min_dist=min_dist,
            seed=seed,
            threads=threads,
        )
    except ValueError as exc:
        _fail(str(exc), 2)
    images = m.images(ds.split(split))
    files: dict[Path, bytes] = {}
    if output is not None:
        files[output] = plots.figure_bytes(plots.map_scatter(m), output)
    if thumbnails is not None:
        files[thumbnails] = plots.figure_bytes(plots.thumbnail_map(m, images), thumbnails)
    if variance is not None:
        files[variance] = plots.figure_bytes(plots.variance_curve(m), variance)
    if csv is not None:
        files[csv] = _csv_bytes(m.to_frame())
    if html is not None:
        files[html] = _page(ds, m, images).encode()
    _write_files(files)  # every output asked for, or none
    data = {**m.summary(), "outputs": [str(p) for p in files]}
    return Result(data, _shown(m, ds.name, files))


def _page(ds, m, images) -> str:
    """The interactive page of the map, with the placed points' images."""
    from mnistlab.maps.page import map_page

    placed = None if m.placed is None else m.images(ds.split(m.placed.split), placed=True)
    return map_page([(m, images, placed)], title=f"{m.title} of {ds.name} {m.split}")


def _shown(m, name: str, files) -> list:
    f = m.faithfulness
    table = Table(
        "measure", "value", title=f"{m.title} of {name} {m.split}: faithfulness", title_justify="left"
    )
    if f is not None:
        if f.knn_map is not None:
            table.add_row(f"{f.k}-NN accuracy in the map", f"{f.knn_map:.2%}")
            table.add_row(f"{f.k}-NN accuracy in pixel space", f"{f.knn_pixels:.2%}")
        table.add_row(f"trustworthiness ({f.k} neighbours)", f"{f.trustworthiness:.4f}")
        if f.placed_knn_map is not None:
            table.add_row(f"placed points: {f.k}-NN accuracy in the map", f"{f.placed_knn_map:.2%}")
            table.add_row(f"placed points: {f.k}-NN accuracy in pixels", f"{f.placed_knn_pixels:.2%}")
    lines: list = [table]
    if f is not None:
        lines.append(f"measured on {f.sample:,} of {len(m):,} points")
    if m.variance is not None:
        shares = ", ".join(f"{s:.0%}: {m.components_for(s)}" for s in (0.90, 0.95, 0.99))
        lines.append(f"principal components for a share of the pixel variance: {shares}")
    placed = f", {len(m.placed):,} {m.placed.split} images placed" if m.placed is not None else ""
    lines.append(f"{len(m):,} images mapped in {m.seconds:.1f} s{placed}")
    if files:
        lines.append("wrote " + ", ".join(str(p) for p in files))
    return lines
