"""Commands about the data itself: datasets, info, show, convert, tidy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from mnistlab import plots
from mnistlab.cli import _options
from mnistlab.cli._app import app
from mnistlab.cli._options import (
    AsJson,
    FirstOpt,
    NameArg,
    NoDownload,
    SplitOpt,
    _dataset,
    _dataset_image,
    _is_dataset_image,
    _loads_data,
    _split,
)
from mnistlab.cli._output import (
    FIGURE,
    Result,
    _check_outputs,
    _fail,
    _image_title,
    _input,
    _refuse_inputs_as_outputs,
    _save_figure,
    out,
)
from mnistlab.data import DATASETS, QUICKDRAW, SAVE_FORMATS, open_quickdraw, save, write_quickdraw_zarr
from mnistlab.data.loading import default_name, save_targets
from mnistlab.data.quickdraw import cached_quickdraw_classes, quickdraw_dataset, quickdraw_source
from mnistlab.data.sources import availability, cache_home


@app.command()
def datasets(as_json: AsJson = False) -> Result:
    """List the named datasets and where each would be loaded from right now; and Quick, Draw!,
    loaded by class (quickdraw:cat,dog).

    Example: [bold]mnistlab datasets[/]
    """
    rows: list[dict[str, Any]] = []
    for spec in DATASETS.values():
        where = availability(spec)
        rows.append(
            {
                "name": spec.name,
                "classes": list(spec.classes),
                "image_shape": list(spec.image_shape),
                "available": where is not None,
                "from": where or ("download (needs network)" if spec.mirrors else "nowhere"),
                "description": spec.description,
            }
        )
    table = Table(title=f"Datasets (cache: {cache_home()})", title_justify="left")
    for col in ("name", "classes", "shape", "offline", "from"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["name"],
            str(len(r["classes"])),
            "x".join(map(str, r["image_shape"])),
            "yes" if r["available"] else "no",
            r["from"],
        )
    cached = cached_quickdraw_classes()
    quickdraw = {
        "name": QUICKDRAW.name,
        "usage": "quickdraw:CLASS,CLASS,...",
        "classes": len(QUICKDRAW.classes),
        "image_shape": list(QUICKDRAW.image_shape),
        "cached_classes": cached,
        "description": QUICKDRAW.description,
    }
    line = (
        f"By class: quickdraw:CLASS,CLASS,... ({QUICKDRAW.description} "
        f"{len(cached)} classes cached; docs/how-to/quickdraw.md)"
    )
    return Result({"cache": str(cache_home()), "datasets": rows, "by_class": [quickdraw]}, [table, line])


@app.command()
@_loads_data()
def info(
    name: NameArg,
    as_json: AsJson = False,
    no_download: NoDownload = False,
) -> Result:
    """Describe a dataset: classes, image shape, and images per class in each split.

    Examples: [bold]mnistlab info mnist --json[/], [bold]mnistlab info ./my_data.npz[/]
    """
    ds = _dataset(name, None, no_download, store_ok=True)
    source = f"  ({ds.source})" if ds.source not in (ds.name, f"./{ds.name}") else ""
    table = Table("label", "class", *ds.splits)
    counts = {k: v.class_counts() for k, v in ds.splits.items()}
    for k, c in enumerate(ds.classes):
        table.add_row(str(k), c, *[f"{counts[s][c]:,}" for s in counts])
    table.add_row("", "total", *[f"{len(s):,}" for s in ds.splits.values()], style="bold")
    return Result(ds.summary()).show(
        Text(f"{ds.name}{source}", style="bold"),
        f"image shape {ds.image_shape[0]}x{ds.image_shape[1]} uint8, {len(ds.classes)} classes",
        ds.polarity().description,
        table,
    )


@app.command()
@_loads_data(None)
def show(
    name: Annotated[
        str,
        typer.Argument(
            help="Dataset name or path; with --values, one image: DATASET:SPLIT:INDEX, a file or a .npy."
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Figure to write (PNG, SVG, PDF).")
    ] = None,
    split: Annotated[str | None, typer.Option(help="train or test [default: train].")] = None,
    first: Annotated[
        int | None, typer.Option(min=1, help="How many images to show [default: 12].")
    ] = None,
    label: Annotated[str | None, typer.Option(help="Only images of this class (index or name).")] = None,
    columns: Annotated[int | None, typer.Option(min=1, help="Images per row.")] = None,
    values: Annotated[
        bool,
        typer.Option(
            "--values",
            help="One image as its matrix of 0..255 values: printed, and drawn with -o (at most "
            f"{plots.MAX_VALUE_SIDE}x{plots.MAX_VALUE_SIDE}).",
        ),
    ] = False,
    invert: Annotated[
        bool,
        typer.Option(
            help="Invert the images (dark ink on a light background becomes light on dark): an "
            "image file, or a dataset read from files."
        ),
    ] = False,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Draw a grid of images, each titled with its index and class name; or one image's values.

    With [bold]--values[/], one image is shown as the numbers a model sees: its matrix of 0..255
    values (each cell on its own grey, white = 0), printed in the terminal and drawn with -o. The
    image is NAME when it is DATASET:SPLIT:INDEX, an image file or a .npy; else the first image of
    --split (and --label).

    Examples: [bold]mnistlab show mnist -o grid.png[/],
    [bold]mnistlab show fashion-mnist --label Sneaker --first 20 -o sneakers.png[/],
    [bold]mnistlab show mnist:train:0 --values -o one.png[/]
    """
    from mnistlab.data.images import looks_like_single_image

    one_image = looks_like_single_image(name)
    if one_image and not values:
        _fail(f"{name} is one image: add --values to show its values (a dataset name shows a grid).", 2)
    if one_image and (split, label, first, columns) != (None, None, None, None):
        _fail(f"{name} is one image: --split, --label, --first and --columns do not apply to it.", 2)
    if values and (first, columns) != (None, None):
        _fail("--values shows one image: --first and --columns do not apply.", 2)
    if output is None and not values:
        _fail("give -o FILE for the figure (or --values to print one image's values).", code=2)
    if output is not None:
        _check_outputs((output, FIGURE))
    split = split or "train"
    if values:
        return _show_values(name, output, split, label, invert, no_download)
    first = first or 12
    ds = _dataset(name, None, no_download, invert, store_ok=True)
    chosen = ds.split(split).subset(first, label=label)
    if len(chosen) == 0:
        what = f" of class {label!r}" if label is not None else ""
        _fail(f"no {split} images{what} in {ds.name}.")
    what = f" of class {ds.classes[chosen.labels[0]]!r}" if label is not None else ""
    fig = plots.image_grid(chosen, columns=columns, title=f"{ds.name} · {split}{what}")
    assert output is not None  # refused above: a grid needs -o
    path = _save_figure(fig, output)
    data = {
        "output": str(path),
        "dataset": ds.name,
        "split": split,
        "indices": chosen.indices.tolist(),
        "labels": chosen.labels.tolist(),
        "classes": [ds.classes[k] for k in chosen.labels],
    }
    return Result(data).show(f"wrote {path}: {len(chosen)} {split} images{what} from {ds.name}")


def _show_values(
    name: str,
    output: Path | None,
    split: str,
    label: str | None,
    invert: bool,
    no_download: bool,
) -> Result:
    from mnistlab.data.images import ImageRef, load_image, looks_like_single_image

    if _is_dataset_image(name):
        ref = _dataset_image(name, no_download, invert)
    elif looks_like_single_image(name):
        ref = load_image(_input(name), invert=invert, download=not no_download)
    else:
        ds = _dataset(name, None, no_download, invert, store_ok=True)
        chosen = ds.split(split).subset(1, label=label)
        if len(chosen) == 0:
            _fail(f"no {split} images{f' of class {label!r}' if label else ''} in {ds.name}.")
        k = int(chosen.labels[0])
        source = f"{ds.name}:{split}:{int(chosen.indices[0])}"
        ref = ImageRef(chosen.images[0], source, k, ds.classes[k], name)
    pixels = _checked_values(ref)
    title = _image_title(ref)
    if output is not None:
        output = _save_figure(plots.pixel_values(pixels, title=title), output)
    result = Result(
        {
            "image": ref.source,
            "label": ref.label,
            "class": ref.class_name,
            "shape": list(pixels.shape),
            "values": pixels.tolist(),
            "output": None if output is None else str(output),
        }
    )
    text = values_text(pixels)
    shading = " (each on its grey: white = 0, black = 255)" if out.color_system else ""
    label_text = f", y = {ref.label}" if ref.label is not None else ""
    result.show(
        f"{title}: {pixels.shape[0]} rows x {pixels.shape[1]} columns of values 0..255{shading}",
        text,
        f"As a row of X: {pixels.size} features, row 0 first (row r = features "
        f"{pixels.shape[1]}*r .. {pixels.shape[1]}*r+{pixels.shape[1] - 1}){label_text}",
    )
    if out.is_terminal and text.cell_len > out.width:
        result.notes.append(
            f"the matrix is {text.cell_len} characters wide and the terminal {out.width}: widen "
            "the terminal, or draw it with -o one.png."
        )
    if output is not None:
        result.show(f"wrote {output}")
    return result


def _checked_values(ref):
    try:
        return plots.check_value_image(ref.pixels)
    except ValueError as exc:
        raise ValueError(f"{ref.source}: {exc}") from None


def values_text(pixels):
    """An image's values as aligned text, each number on its own grey (white = 0, black = 255).

    Colours are styles: rich drops them when the output is not a terminal (or NO_COLOR is set).
    """
    from rich.style import Style
    from rich.text import Text

    h, w = pixels.shape
    width = max(len(str(int(pixels.max(initial=0)))), len(str(w - 1)))
    margin = len(str(h - 1)) + 1
    text = Text()
    text.append(" " * margin + " ".join(f"{c:>{width}}" for c in range(w)), style="dim")
    for r, row in enumerate(pixels):
        text.append(f"\n{r:>{margin - 1}} ", style="dim")
        for c, v in enumerate(row):
            grey = 255 - int(v)
            ink = "white" if v >= 128 else "black"
            cell = f"{int(v):>{width}}" + (" " if c < w - 1 else "")
            text.append(cell, style=Style(color=ink, bgcolor=f"rgb({grey},{grey},{grey})"))
    return text


@app.command()
@_loads_data()
def convert(
    name: NameArg,
    to: Annotated[str, typer.Option(help="Format: " + ", ".join(SAVE_FORMATS) + ".")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write into.")],
    per_class: Annotated[
        int | None,
        typer.Option(
            "--per-class",
            min=1,
            help="Quick, Draw! only (quickdraw:CLASS,... or a folder of .npy files): the first N "
            "images of each class.",
        ),
    ] = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Write a dataset in another file format (idx, csv, csv-kaggle, npz, png, zarr).

    Quick, Draw! classes (quickdraw:cat,dog, downloaded and verified) or a folder of its .npy
    files are streamed into a Zarr store in bounded memory, whatever their size.

    Examples: [bold]mnistlab convert fashion-mnist --to csv -o fashion_csv/[/],
    [bold]mnistlab convert quickdraw:cat,dog --to zarr -o qd.zarr[/]
    """
    if to not in SAVE_FORMATS:
        _fail(f"unknown format {to!r}; choose one of: {', '.join(SAVE_FORMATS)}.")
    drawings = quickdraw_source(_input(name))
    if drawings is None and per_class is not None:
        _fail("--per-class applies to Quick, Draw! (quickdraw:CLASS,... or a folder of .npy files).", 2)
    if drawings is None:
        ds = _dataset(name, None, no_download, store_ok=True)
    else:
        bitmaps = open_quickdraw(name, per_class=per_class, download=not no_download)
        ds_name = _quickdraw_name(drawings)
        if to == "zarr":
            _refuse_inputs_as_outputs(output, folder=True)
            written = [write_quickdraw_zarr(bitmaps, output, ds_name)]
            return _converted(ds_name, to, written)
        ds = quickdraw_dataset(bitmaps, ds_name, name)
    _refuse_inputs_as_outputs(output, folder=True)
    _refuse_inputs_as_outputs(*save_targets(ds, output, to))  # each file it writes
    return _converted(ds.name, to, save(ds, output, to))


def _quickdraw_name(drawings: Path | tuple[str, ...]) -> str:
    """The name of Quick, Draw! data in a converted copy: --name, else the folder's name, else
    ``quickdraw``; the other loading options are refused, as they do not apply to it."""
    options = _options._data_options  # what _loads_data parsed for this command
    given = {"--classes": options.classes is not None, "--test-size": options.test_size is not None}
    refused = [flag for flag, asked in (given | {"--invert": options.invert}).items() if asked]
    if refused:
        _fail(
            f"{', '.join(refused)}: not for Quick, Draw! bitmaps (named by their files, white on "
            "black, one split); convert them, then load the copy with those options.",
            2,
        )
    if options.names:
        return options.names[0]
    return default_name(drawings) if isinstance(drawings, Path) else QUICKDRAW.name


def _converted(name: str, to: str, written: list[Path]) -> Result:
    data = {"dataset": name, "format": to, "written": [str(p) for p in written]}
    return Result(data, [f"wrote {path}" for path in written])


@app.command("tidy")
@_loads_data()
def tidy_command(
    name: NameArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="pixels.parquet or pixels.csv.")],
    split: SplitOpt = "train",
    first: FirstOpt = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Write one row per pixel (index, label, x, y, value) as Parquet or CSV.

    Example: [bold]mnistlab tidy mnist --first 1000 -o pixels.parquet[/]
    """
    from mnistlab.tidy import save_tidy, tidy

    _check_outputs((output, (".parquet", ".csv")))
    ds, chosen = _split(name, split, first, no_download)
    table = tidy(chosen)
    _refuse_inputs_as_outputs(output)
    save_tidy(table, output)
    data = {
        "output": str(output),
        "dataset": ds.name,
        "split": split,
        "images": len(chosen),
        "rows": len(table),
        "bytes_per_row": float(table.memory_usage(index=False).sum() / max(len(table), 1)),
        "dtypes": {c: str(t) for c, t in table.dtypes.items()},
    }
    return Result(data).show(
        f"wrote {output}: {len(table):,} rows ({len(chosen):,} {split} images of {ds.name}, "
        f"{data['bytes_per_row']:.0f} bytes per row in memory)"
    )


@app.command()
def generate(
    kind: Annotated[str, typer.Argument(help="What to generate: infimnist.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Training images (8100000: MNIST8M's size).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="The new Zarr store (e.g. mnist8m.zarr).")
    ],
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Seed of every deformation.")] = 0,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Write a large MNIST-like dataset to a Zarr store, in bounded memory on all cores.

    infimnist: MNIST's 60,000 training digits, then random elastic and affine deformations of
    them in InfiMNIST's numbering (InfiMNIST-like, not bit-identical to Bottou's tool), and
    MNIST's test set. Example: [bold]mnistlab generate infimnist --n 1000000 -o infi1m.zarr[/]
    """
    from mnistlab.data.infimnist import generate_infimnist

    if kind != "infimnist":
        _fail(f"unknown kind {kind!r}; mnistlab generates: infimnist.")
    _refuse_inputs_as_outputs(output, folder=True)
    ds = generate_infimnist(n, output, seed=seed, download=not no_download)
    data = {
        "output": str(output),
        "name": ds.name,
        "seed": seed,
        "splits": {k: len(v) for k, v in ds.splits.items()},
    }
    return Result(data).show(
        f"wrote {output}: {len(ds.train):,} training images (InfiMNIST-like, seed {seed}) and "
        f"{len(ds.splits['test']):,} test images, in chunks of {ds.train.chunk:,}"
    )
