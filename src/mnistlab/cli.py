"""The ``mnistlab`` command line: a thin layer that parses arguments and calls the Python API."""

from __future__ import annotations

import functools
import inspect
import json
import math
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mnistlab import plots
from mnistlab.data import DATASETS, SAVE_FORMATS, load, save
from mnistlab.data.sources import availability, cache_home
from mnistlab.errors import MnistlabError
from mnistlab.progress import console

app = typer.Typer(
    name="mnistlab",
    help="Understand MNIST-like image classification datasets: data, statistics, figures, report.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
# Human summaries go to stdout (never wrapped mid-path); progress and errors go to stderr.
out = Console(soft_wrap=True, markup=False, emoji=False)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _run(func, *args, **kwargs):
    """Call the API; turn the errors users can cause into one clear line, no traceback."""
    try:
        return func(*args, **kwargs)
    except (MnistlabError, ValueError) as exc:
        _fail(str(exc))
    except MemoryError:
        _fail("not enough memory for this; try fewer or smaller images.")
    except OSError as exc:  # files and folders: missing, not writable, in the way, ...
        if exc.strerror and exc.filename:
            _fail(f"{exc.filename}: {exc.strerror}")
        _fail(str(exc))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    console.print(f"[yellow]Warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


@app.callback()
def _main() -> None:
    """Understand MNIST-like image classification datasets: data, statistics, figures, report."""
    warnings.showwarning = _show_warning
    _inputs.clear()


#: The files and folders the running command reads (resolved), so no output overwrites them.
_inputs: list[Path] = []


def _input(ref: str) -> str:
    """Note ``ref`` as an input if it is a path (or ``PATH:SPLIT:INDEX``); return it unchanged."""
    for candidate in (ref, ref.rsplit(":", 2)[0] if ref.count(":") >= 2 else None):
        if candidate is not None and Path(candidate).exists():
            _inputs.append(Path(candidate).resolve())
            break
    return ref


def _refuse_inputs_as_outputs(*outputs: Path, folder: bool = False) -> None:
    """Refuse, before writing, an output that is an input file or lies inside an input folder
    (``tidy data.csv -o data.csv`` replaced the dataset with its tidy table); an output
    ``folder`` must also not hold an input folder."""
    for output in outputs:
        target = output.resolve()
        for source in _inputs:
            inside = source.is_dir() and source in (target, *target.parents)
            holds = folder and source.is_dir() and target in source.parents
            if target == source or inside or holds:
                what = "input folder" if source.is_dir() else "input file"
                _fail(
                    f"{output}: would overwrite or write into the {what} {source}; write the "
                    "output somewhere else."
                )


def _file_text(name: str) -> str:
    """A file name (or any text) as text every output can hold: bytes that are not UTF-8, which
    Linux file names may have and os.listdir gives as surrogates, become ``\\xNN`` escapes
    (``b"\\xff.png"`` is written ``\\xff.png``), the same in CSV, JSON and the terminal."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        try:
            raw = name.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that stands for no byte
            raw = name.encode("utf-8", "backslashreplace")
        return raw.decode("utf-8", "backslashreplace")


def _finite(value: object) -> object:
    """NaN and infinities become null (JSON has no such numbers); text is :func:`_file_text`."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return _file_text(value)
    if isinstance(value, dict):
        return {_finite(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _print_json(payload: object) -> None:
    sys.stdout.write(json.dumps(_finite(payload), indent=2, allow_nan=False) + "\n")


FIGURE = tuple(plots.FIGURE_FORMATS)
CSV = (".csv",)


def _check_outputs(*targets: tuple[Path | None, tuple[str, ...]]) -> None:
    """Refuse, before any work, outputs that could not be written: all or nothing is written."""
    given = [path.resolve() for path, _ in targets if path is not None]
    if len(set(given)) != len(given):
        _fail("two outputs have the same path; give each its own file.")
    for path, suffixes in targets:
        if path is None:
            continue
        if path.suffix.lower() not in suffixes:
            _fail(f"{path}: expected a file name ending in {', '.join(suffixes)}.")
        if path.exists() and not path.is_file():
            _fail(f"{path}: exists and is not a regular file; not replacing it.")
        existing = next((p for p in path.parents if p.exists()), None)
        if existing is not None and not existing.is_dir():
            _fail(f"{path}: {existing} is not a folder.")


def _save_figure(fig, output: Path) -> Path:
    """Save one figure (format from the suffix), never over an input."""
    _refuse_inputs_as_outputs(output)
    return _run(plots.save, fig, output)


def _write_files(files: dict[Path, bytes], folder: Path | None = None) -> None:
    """Write the files a command made (names inside ``folder`` if given), all or nothing."""
    from mnistlab.data.formats import atomic_write_files

    if folder is not None:
        _refuse_inputs_as_outputs(folder, folder=True)
    _refuse_inputs_as_outputs(*((folder / p if folder else p) for p in files))
    _run(atomic_write_files, {(folder / p if folder else p): data for p, data in files.items()})


#: What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str) -> str:
    """A text cell as a CSV file holds it: :func:`_file_text`, and a leading ``'`` on text a
    spreadsheet would run as a formula (a class ``=HYPERLINK(...)``, a file ``=cmd().png``);
    text that is a plain number (``-1.5``) is left as it is, as a spreadsheet reads it as one."""
    value = _file_text(value)
    if value.startswith(FORMULA_STARTS):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def _csv_bytes(frame) -> bytes:
    """A table as the bytes of a CSV file (header, no index), ready for :func:`_write_files`;
    text cells (never numbers) as :func:`_csv_text`."""
    import pandas as pd

    frame = frame.copy()
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = [_csv_text(v) if isinstance(v, str) else v for v in frame[column]]
    frame.columns = [_csv_text(str(c)) for c in frame.columns]
    return _run(frame.to_csv, index=False).encode()


NameArg = Annotated[
    str, typer.Argument(help="Dataset name (mnist, fashion-mnist, kmnist, digits) or a path.")
]
NoDownload = Annotated[
    bool, typer.Option("--no-download", help="Use local copies only; never touch the network.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]


@dataclass(frozen=True)
class _DataOptions:
    """How the datasets a command reads from files are to be loaded (the options that
    :func:`_loads_data` adds to a command), for :func:`_load_data`."""

    names: tuple[str, ...] = ()
    classes: Path | None = None
    test_size: float | None = None
    invert: bool = False
    #: The command's flag for ``invert`` (``similar`` inverts the searched dataset: --invert-in).
    invert_flag: str = "--invert"


_data_options = _DataOptions()


def _data_parameters(invert_flag: str | None) -> list[inspect.Parameter]:
    def option(name: str, kind: type, default, decl: str, help: str) -> inspect.Parameter:
        metavar = {"--name": "NAME", "--classes": "FILE", "--test-size": "SHARE"}.get(decl)
        option = typer.Option(decl, help=help, metavar=metavar, rich_help_panel="Loading files")
        annotation = Annotated[kind, option]
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
        )

    parameters = [
        option(
            "data_name",
            list[str] | None,
            None,
            "--name",
            "Name the dataset in results and reports (default: its file's or folder's name). "
            "With several datasets, give one --name per dataset, in order.",
        ),
        option(
            "data_classes",
            Path | None,
            None,
            "--classes",
            "Class names for files without them: one name per line, LABEL NAME lines, or "
            "EMNIST's mapping.txt (default: a classes.txt or *mapping.txt beside the data).",
        ),
        option(
            "data_test_size",
            float | None,
            None,
            "--test-size",
            "For a train-only dataset: hold out this share (0..1) or number of images as a "
            "stratified test split (seed 0).",
        ),
    ]
    if invert_flag is not None:
        parameters.append(
            option(
                "data_invert",
                bool,
                False,
                invert_flag,
                "Invert the images of datasets read from files (dark ink on light paper becomes "
                "light on dark, as in MNIST).",
            )
        )
    return parameters


def _loads_data(invert_flag: str | None = "--invert"):
    """Give a command the options of :class:`_DataOptions` (--name, --classes, --test-size and
    ``invert_flag``), declared here once; the command loads with :func:`_load_data`."""

    def decorate(command):
        @functools.wraps(command)
        def wrapper(
            *args, data_name=None, data_classes=None, data_test_size=None, data_invert=False, **kw
        ):
            global _data_options
            _data_options = _DataOptions(
                tuple(data_name or ()),
                data_classes,
                data_test_size,
                data_invert,
                invert_flag or "--invert",
            )
            try:
                return command(*args, **kw)
            finally:
                _data_options = _DataOptions()

        signature = inspect.signature(command, eval_str=True)
        wrapper.__signature__ = signature.replace(
            parameters=[*signature.parameters.values(), *_data_parameters(invert_flag)]
        )
        return wrapper

    return decorate


def _load_data(refs: list[str], no_download: bool, first: int | None = None, invert: bool | None = None):
    """Load the datasets a command names, as its --name, --classes, --test-size and --invert
    ask; those apply to datasets read from files (a named dataset such as mnist has its
    classes, test split and polarity)."""
    options = _data_options
    invert = options.invert if invert is None else invert
    if options.names and len(options.names) != len(refs):
        _fail(
            f"{len(options.names)} --name for {len(refs)} dataset(s); give one --name per dataset, "
            "in order.",
            2,
        )
    files = [Path(ref).exists() for ref in refs]
    asked = {"--classes": options.classes is not None, "--test-size": options.test_size is not None}
    asked[options.invert_flag] = invert
    for flag in (f for f, given in asked.items() if given):
        if not any(files):
            _fail(f"{flag} applies to datasets read from files, not to {', '.join(refs)}.", 2)
    loaded = []
    for k, (ref, is_file) in enumerate(zip(refs, files, strict=True)):
        given = {"name": options.names[k] if options.names else None}
        if is_file:
            given |= {"classes": options.classes, "test_size": options.test_size, "invert": invert}
        with warnings.catch_warnings(record=True) as caught:
            ds = _run(load, _input(ref), download=not no_download, **given)
        for warning in caught:  # the library's advice in this command's terms: its flag
            message = str(warning.message).replace("invert=True", options.invert_flag)
            warnings.warn_explicit(message, warning.category, warning.filename, warning.lineno)
        loaded.append(_run(ds.subset, first))
    names = [ds.name for ds in loaded]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        _fail(f"two datasets are named {twice[0]!r}; tell them apart with --name (one per dataset).", 2)
    return loaded


def _dataset(name: str, first: int | None, no_download: bool, invert: bool | None = None):
    """Load one dataset for a command (see :func:`_load_data`), cut to the first N images of
    each split with --first."""
    return _load_data([name], no_download, first, invert)[0]


def _split(name: str, split: str, first: int | None, no_download: bool):
    ds = _dataset(name, None, no_download)
    return ds, _run(lambda: ds.split(split).subset(first))


def _is_dataset_image(ref: str) -> bool:
    """True for ``DATASET:SPLIT:INDEX`` (as :func:`mnistlab.data.images.load_image` reads it)."""
    return ref.count(":") >= 2 and not Path(ref).exists()


def _dataset_image(ref: str, no_download: bool, invert: bool | None = None, loaded=None):
    """The image ``DATASET:SPLIT:INDEX`` names, from its dataset loaded as the command's loading
    options ask (--test-size, --classes, --name, the invert flag: see :func:`_load_data`), so
    that ``my.csv:test:3`` with --test-size is the held-out image; ``loaded`` if it is that
    dataset already loaded."""
    from mnistlab.data.images import ImageRef

    name, split_name, index = ref.rsplit(":", 2)
    ds = loaded if loaded is not None else _dataset(name, None, no_download, invert)
    split = _run(ds.split, split_name)
    if not re.fullmatch(r"-?\d+", index) or not -len(split) <= int(index) < len(split):
        _fail(
            f"{ref!r}: the index must be a whole number in 0..{len(split) - 1} "
            f"({split_name} of {ds.name})."
        )
    position = int(index) % len(split)
    k = int(split.labels[position])
    return ImageRef(split.images[position], f"{ds.name}:{split_name}:{position}", k, ds.classes[k], name)


@app.command()
def datasets(as_json: AsJson = False) -> None:
    """List the named datasets and where each would be loaded from right now.

    Example: [bold]mnistlab datasets[/]
    """
    rows = []
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
    if as_json:
        _print_json({"cache": str(cache_home()), "datasets": rows})
        return
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
    out.print(table)


@app.command()
@_loads_data()
def info(
    name: NameArg,
    as_json: AsJson = False,
    no_download: NoDownload = False,
) -> None:
    """Describe a dataset: classes, image shape, and images per class in each split.

    Examples: [bold]mnistlab info mnist --json[/], [bold]mnistlab info ./my_data.npz[/]
    """
    ds = _dataset(name, None, no_download)
    summary = ds.summary()
    if as_json:
        _print_json(summary)
        return
    source = f"  ({ds.source})" if ds.source not in (ds.name, f"./{ds.name}") else ""
    out.print(f"{ds.name}{source}", highlight=False, style="bold")
    out.print(f"image shape {ds.image_shape[0]}x{ds.image_shape[1]} uint8, {len(ds.classes)} classes")
    out.print(f"{ds.polarity().description}", highlight=False)
    table = Table("label", "class", *ds.splits)
    counts = {k: v.class_counts() for k, v in ds.splits.items()}
    for k, c in enumerate(ds.classes):
        table.add_row(str(k), c, *[f"{counts[s][c]:,}" for s in counts])
    table.add_row("", "total", *[f"{len(s):,}" for s in ds.splits.values()], style="bold")
    out.print(table)


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
) -> None:
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
        _show_values(name, output, split, label, invert, no_download, as_json)
        return
    first = first or 12
    ds = _dataset(name, None, no_download, invert)
    chosen = _run(lambda: ds.split(split).subset(first, label=label))
    if len(chosen) == 0:
        what = f" of class {label!r}" if label is not None else ""
        _fail(f"no {split} images{what} in {ds.name}.")
    what = f" of class {ds.classes[chosen.labels[0]]!r}" if label is not None else ""
    fig = plots.image_grid(chosen, columns=columns, title=f"{ds.name} · {split}{what}")
    path = _save_figure(fig, output)
    if as_json:
        _print_json(
            {
                "output": str(path),
                "dataset": ds.name,
                "split": split,
                "indices": chosen.indices.tolist(),
                "labels": chosen.labels.tolist(),
                "classes": [ds.classes[k] for k in chosen.labels],
            }
        )
        return
    out.print(f"wrote {path}: {len(chosen)} {split} images{what} from {ds.name}", highlight=False)


def _show_values(
    name: str,
    output: Path | None,
    split: str,
    label: str | None,
    invert: bool,
    no_download: bool,
    as_json: bool,
) -> None:
    from mnistlab.data.images import ImageRef, load_image, looks_like_single_image

    if _is_dataset_image(name):
        ref = _dataset_image(name, no_download, invert)
    elif looks_like_single_image(name):
        ref = _run(load_image, _input(name), invert=invert, download=not no_download)
    else:
        ds = _dataset(name, None, no_download, invert)
        chosen = _run(lambda: ds.split(split).subset(1, label=label))
        if len(chosen) == 0:
            _fail(f"no {split} images{f' of class {label!r}' if label else ''} in {ds.name}.")
        k = int(chosen.labels[0])
        source = f"{ds.name}:{split}:{int(chosen.indices[0])}"
        ref = ImageRef(chosen.images[0], source, k, ds.classes[k], name)
    pixels = _run(lambda: _checked_values(ref))
    title = _image_title(ref)
    if output is not None:
        output = _save_figure(_run(plots.pixel_values, pixels, title=title), output)
    if as_json:
        _print_json(
            {
                "image": ref.source,
                "label": ref.label,
                "class": ref.class_name,
                "shape": list(pixels.shape),
                "values": pixels.tolist(),
                "output": None if output is None else str(output),
            }
        )
        return
    text = values_text(pixels)
    shading = " (each on its grey: white = 0, black = 255)" if out.color_system else ""
    out.print(
        f"{title}: {pixels.shape[0]} rows x {pixels.shape[1]} columns of values 0..255{shading}",
        highlight=False,
    )
    out.print(text, no_wrap=True, crop=False)
    if out.is_terminal and text.cell_len > out.width:
        console.print(
            f"[yellow]Note:[/] the matrix is {text.cell_len} characters wide and the terminal "
            f"{out.width}: widen the terminal, or draw it with -o one.png.",
            highlight=False,
        )
    label_text = f", y = {ref.label}" if ref.label is not None else ""
    out.print(
        f"As a row of X: {pixels.size} features, row 0 first (row r = features "
        f"{pixels.shape[1]}*r .. {pixels.shape[1]}*r+{pixels.shape[1] - 1}){label_text}",
        highlight=False,
    )
    if output is not None:
        out.print(f"wrote {output}", highlight=False)


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
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Write a dataset in another file format (idx, csv, csv-kaggle, npz, png).

    Example: [bold]mnistlab convert fashion-mnist --to csv -o fashion_csv/[/]
    """
    if to not in SAVE_FORMATS:
        _fail(f"unknown format {to!r}; choose one of: {', '.join(SAVE_FORMATS)}.")
    ds = _dataset(name, None, no_download)
    _refuse_inputs_as_outputs(output, folder=True)
    written = _run(save, ds, output, to)
    if as_json:
        _print_json({"dataset": ds.name, "format": to, "written": [str(p) for p in written]})
        return
    for path in written:
        out.print(f"wrote {path}", highlight=False)


SplitOpt = Annotated[str, typer.Option(help="train, test or validation.")]
FirstOpt = Annotated[int | None, typer.Option(min=1, help="Only the first N images of the split.")]
FirstEach = Annotated[
    int | None, typer.Option(min=1, help="Only the first N images of each split (a quick look).")
]


@app.command("tidy")
@_loads_data()
def tidy_command(
    name: NameArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="pixels.parquet or pixels.csv.")],
    split: SplitOpt = "train",
    first: FirstOpt = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Write one row per pixel (index, label, x, y, value) as Parquet or CSV.

    Example: [bold]mnistlab tidy mnist --first 1000 -o pixels.parquet[/]
    """
    from mnistlab.tidy import save_tidy, tidy

    _check_outputs((output, (".parquet", ".csv")))
    ds, chosen = _split(name, split, first, no_download)
    table = tidy(chosen)
    _refuse_inputs_as_outputs(output)
    _run(save_tidy, table, output)
    info = {
        "output": str(output),
        "dataset": ds.name,
        "split": split,
        "images": len(chosen),
        "rows": len(table),
        "bytes_per_row": float(table.memory_usage(index=False).sum() / max(len(table), 1)),
        "dtypes": {c: str(t) for c, t in table.dtypes.items()},
    }
    if as_json:
        _print_json(info)
        return
    out.print(
        f"wrote {output}: {len(table):,} rows ({len(chosen):,} {split} images of {ds.name}, "
        f"{info['bytes_per_row']:.0f} bytes per row in memory)",
        highlight=False,
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
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Histogram of pixel values and the shares of 0, 1..254 and 255.

    Example: [bold]mnistlab pixels fashion-mnist -o pixels.png --by-class per-class.png[/]
    """
    from mnistlab import stats

    _check_outputs((output, FIGURE), (by_class, FIGURE))
    ds, chosen = _split(name, split, first, no_download)
    if binarisation and ds.test is None:
        _fail(f"--binarisation tests on the test split, and {ds.name} has none.")
    counts = stats.pixel_value_counts(chosen.images)
    shares = stats.PixelShares.from_counts(counts)
    effect = None
    if binarisation:
        from mnistlab.models.binarisation import binarisation_effect

        effect = _run(binarisation_effect, ds, max_train=train_size)
    fig = plots.pixel_histogram(counts, title=f"{ds.name} · {split}")
    figures = {output: _run(plots.figure_bytes, fig, output)}
    if by_class is not None:
        per_class = stats.pixel_value_counts_by_class(chosen.images, chosen.labels, len(chosen.classes))
        fig = plots.pixel_histograms_by_class(per_class, chosen.classes, title=f"{ds.name} · {split}")
        figures[by_class] = _run(plots.figure_bytes, fig, by_class)
    _write_files(figures)  # both figures or neither
    if as_json:
        payload = {
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
            payload["binarisation"] = effect.to_dict(orient="records")
        _print_json(payload)
        return
    out.print(
        f"{ds.name} {split}: {counts.sum():,} pixels, {shares.zero:.1%} are 0, "
        f"{shares.between:.1%} in 1..254, {shares.full:.1%} are 255",
        highlight=False,
    )
    if effect is not None:
        table = Table("model", "raw", "binarised", "difference")
        for r in effect.itertuples():
            table.add_row(
                r.model, f"{r.raw:.1%}", f"{r.binarised:.1%}", f"{100 * r.difference:+.1f} points"
            )
        out.print(table)
        out.print(
            f"(trained on the first {int(effect.n_train.iloc[0]):,} training images, tested on "
            f"{int(effect.n_test.iloc[0]):,} test images)",
            highlight=False,
        )
    out.print(f"wrote {output}" + (f" and {by_class}" if by_class else ""), highlight=False)


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
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Draw the mean image of every class (white = 0, black = 255).

    Example: [bold]mnistlab centroids fashion-mnist -o centroids.png --csv centroids.csv[/]
    """
    from mnistlab import stats

    _check_outputs((output, FIGURE), (csv, CSV))
    ds, chosen = _split(name, split, first, no_download)
    result = stats.centroids(chosen.images, chosen.labels, chosen.classes)
    files = {output: _run(plots.figure_bytes, plots.centroid_grid(result), output)}
    if csv is not None:
        files[csv] = _csv_bytes(result.table())
    _write_files(files)  # the figure and the table, or neither
    if as_json:
        _print_json(
            {
                "output": str(output),
                "csv": str(csv) if csv else None,
                "dataset": ds.name,
                "split": split,
                "classes": list(result.classes),
                "counts": result.counts.tolist(),
                "mean_ink": [float(m.mean()) for m in result.means],  # NaN -> null: no images
            }
        )
        return
    written = f"{output}" + (f" and {csv}" if csv else "")
    out.print(
        f"wrote {written}: centroids of {len(result.classes)} classes from {len(chosen):,} "
        f"{split} images of {ds.name}",
        highlight=False,
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
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Rank images by RMS distance to their class centroid; show the least and most typical.

    Centroids are computed on the same images analysed; rank 1 is the least typical image of
    its class. Example: [bold]mnistlab atypical mnist --first 10000 -o atypical.png --csv d.csv[/]
    """
    from mnistlab import stats

    _check_outputs((output, FIGURE), (csv, CSV), (boxplot, FIGURE))
    ds, chosen = _split(name, split, first, no_download)
    result = stats.typicality(chosen.images, chosen.labels, chosen.classes, chosen.indices)
    files = {
        output: _run(plots.figure_bytes, plots.typicality_gallery(chosen, result, per_class), output)
    }
    if boxplot is not None:
        files[boxplot] = _run(plots.figure_bytes, plots.distance_boxplot(result), boxplot)
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
    summary = result.summary()
    if as_json:
        least = result.least_typical(1)
        _print_json(
            {
                "output": str(output),
                "csv": str(csv) if csv else None,
                "boxplot": str(boxplot) if boxplot else None,
                "dataset": ds.name,
                "split": split,
                "images": len(chosen),
                "per_class": [
                    {
                        "label": int(r["label"]),
                        "class": r["class"],
                        "n": int(r["n"]),
                        "median": float(r["median"]),
                        "max": float(r["max"]),
                        "least_typical_index": int(chosen.indices[least[int(r["label"])][0]]),
                    }
                    for _, r in summary.iterrows()
                    if r["n"] > 0
                ],
            }
        )
        return
    table = Table("class", "images", "median distance", "max", "least typical")
    least = result.least_typical(1)
    for _, r in summary.iterrows():
        k = int(r["label"])
        table.add_row(
            r["class"],
            f"{int(r['n']):,}",
            f"{r['median']:.1f}",
            f"{r['max']:.1f}",
            f"#{chosen.indices[least[k][0]]}",
        )
    out.print(table)
    extra = "".join(f", {p}" for p in (csv, boxplot) if p is not None)
    out.print(f"wrote {output}{extra}", highlight=False)


@app.command()
@_loads_data()
def pairs(
    name: NameArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG of the pair facet grid.")],
    split: SplitOpt = "train",
    first: FirstOpt = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Draw, for every pair of classes, the difference of their centroids.

    Red where the row class has more ink, blue where the column class has, white where equal.
    Example: [bold]mnistlab pairs mnist -o pairs.png[/]
    """
    from mnistlab import stats

    _check_outputs((output, FIGURE))
    ds, chosen = _split(name, split, first, no_download)
    result = stats.centroids(chosen.images, chosen.labels, chosen.classes)
    _save_figure(_run(plots.pair_differences, result), output)
    pair = result.closest_pair()
    closest = None
    if pair is not None:
        i, j, rms = pair
        closest = {"classes": [result.classes[i], result.classes[j]], "rms_difference": rms}
    if as_json:
        _print_json({"output": str(output), "dataset": ds.name, "split": split, "closest_pair": closest})
        return
    k = len(result.classes)
    shown = f"{k}x{k}" if k <= plots.MAX_PAIR_CLASSES else f"the {plots.MAX_PAIR_PANELS} closest pairs'"
    said = f"wrote {output}: {shown} centroid differences of {ds.name}"
    if closest is not None:
        said += f"; closest centroids: {' and '.join(closest['classes'])} (RMS difference {rms:.1f})"
    out.print(said, highlight=False)


def _check_writable(path: Path) -> None:
    """Refuse, before a long computation, an output whose folder cannot take a new file."""
    import tempfile

    folder = next((p for p in path.parents if p.exists()), Path("."))
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        _fail(f"{path}: cannot write in {folder} ({exc.strerror or exc}).")


def _check_folder(folder: Path, files: list[str]) -> None:
    """Refuse, before any work, an output folder (or files in it) that could not be written."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        _fail(f"{folder}: {existing} is not a folder.")
    for name in files:
        path = folder / name
        if path.exists() and not path.is_file():
            _fail(f"{path}: exists and is not a regular file; not replacing it.")
    _check_writable(folder / files[0])


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


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
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Which pairs of classes can one pixel tell apart? One logistic regression per pixel and pair.

    For every pair of classes and every pixel, a logistic regression on that pixel alone is fitted
    to the training images of the two classes; the pixel with the best training accuracy wins and
    is tested on the test split. Example: [bold]mnistlab onepixel mnist fashion-mnist -o onepixel/[/]
    """
    from mnistlab.data.formats import safe_filename
    from mnistlab.onepixel import SCALES, one_pixel_separability

    if scale not in SCALES:
        _fail(f"unknown scale {scale!r}; choose one of: {', '.join(SCALES)}.")
    if not (C > 0 and math.isfinite(C)):
        _fail(f"--C must be a positive finite number, got {C}.")
    figure_names = [
        (f"heatmap-{safe_filename(n)}.png", f"best-pixels-{safe_filename(n)}.png") for n in names
    ]
    if output is not None:
        _check_folder(
            output, ["separability.csv", "summary.json", *(f for p in figure_names for f in p)]
        )
    loaded = _load_data(names, no_download, first)
    labels = [ds.name for ds in loaded]
    if len(set(labels)) != len(labels) or len({safe_filename(n) for n in labels}) != len(labels):
        _fail(
            f"the datasets are named {labels}: each name (and its file-name form) may appear once, "
            "as it labels the results and the figure files."
        )
    import time

    results, seconds = [], []
    for ds in loaded:
        started = time.perf_counter()
        results.append(_run(one_pixel_separability, ds, scale=scale, C=C))
        seconds.append(time.perf_counter() - started)
    payload = {"datasets": {r.dataset: r.to_dict() for r in results}}
    if output is not None:
        _write_onepixel(output, loaded, results, payload)
    if as_json:
        _print_json(payload)
        return
    _print_onepixel(results, seconds)
    if output is not None:
        out.print(
            f"wrote {output / 'separability.csv'}, summary.json and figures in {output}", highlight=False
        )


def _write_onepixel(output: Path, loaded, results, payload) -> None:
    """Render every file in memory first, then write them: an interrupt leaves little behind."""
    import pandas as pd

    from mnistlab import stats
    from mnistlab.data.formats import safe_filename

    files: dict[str, bytes] = {}
    for ds, result in zip(loaded, results, strict=True):
        name = safe_filename(ds.name)
        if len(result.pairs) == 0:
            warnings.warn(f"{ds.name}: no pairs, so no heat map or best-pixel figure.", stacklevel=1)
            continue
        means = stats.centroids(ds.train.images, ds.train.labels, ds.classes)
        files[f"heatmap-{name}.png"] = plots.to_png_bytes(plots.separability_heatmap(result))
        files[f"best-pixels-{name}.png"] = plots.to_png_bytes(plots.best_pixels(result, means))
    table = pd.concat([r.pairs.assign(dataset=r.dataset) for r in results], ignore_index=True)
    table = table[["dataset", *results[0].pairs.columns]]
    files["separability.csv"] = _csv_bytes(table)
    files["summary.json"] = json.dumps(_finite(payload), indent=2, allow_nan=False).encode()
    _write_files(files, output)


def _print_onepixel(results, seconds) -> None:
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
    out.print(table)
    what = " and ".join(sorted(m.replace("_", " ") for m in measure))
    out.print(
        f"{what} of the best single pixel per pair ({results[0].scale} scale, C={results[0].C:g}); "
        "higher means easier to tell apart",
        highlight=False,
    )


def _hardest(result, n: int = 3) -> str:
    measure = result.measure
    worst = result.pairs.sort_values([measure, "class_a", "class_b"]).head(n)
    return ", ".join(f"{r.name_a} vs {r.name_b}" for r in worst.itertuples())


DISTANCE_LABELS = {
    "euclidean": "euclidean distance",
    "cosine": "cosine distance (1 - cosine)",
    "pearson": "pearson distance (1 - r)",
}


def _image_title(ref) -> str:
    label = f" · {ref.class_name}" if ref.class_name is not None else ""
    return _file_text(f"{ref.source}{label}")


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
) -> None:
    """How similar are two images? Every metric, its meaning, and how it compares with typical pairs.

    Example: [bold]mnistlab compare mnist:train:0 mnist:train:1 -o pair.png[/]
    """
    from mnistlab.data.images import load_image
    from mnistlab.similarity import METRICS as METRIC_NAMES
    from mnistlab.similarity import compare, metric_context, percentiles

    _check_outputs((output, FIGURE))
    first = _run(load_image, _input(a), invert=invert, download=not no_download)
    second = _run(load_image, _input(b), invert=invert, download=not no_download)
    if first.pixels.shape != second.pixels.shape:
        if not resize:
            _fail(
                f"the images differ in size: {first.source} is {first.pixels.shape}, {second.source} "
                f"is {second.pixels.shape}; pass --resize to resize the image file to the other."
            )
        from dataclasses import replace

        from mnistlab.data.images import resize_image

        # Resize an image file to a dataset image's size (the dataset's scale is the one that has
        # context); otherwise b to a.
        if first.dataset is None and second.dataset is not None:
            first = replace(first, pixels=resize_image(first.pixels, second.pixels.shape))
        else:
            second = replace(second, pixels=resize_image(second.pixels, first.pixels.shape))
    result = _run(compare, first.pixels, second.pixels)
    if context is None and not no_context:
        context = first.dataset or second.dataset
    placed = None
    if context is not None and not no_context:
        ds = _run(load, _input(context), download=not no_download)
        if ds.image_shape != result.shape:
            _fail(f"--context {context}: its images are {ds.image_shape}, these {result.shape}.")
        typical = _run(metric_context, ds.train)
        placed = percentiles(result, typical) if len(typical) else None
        sizes = typical.groupby("kind").size().to_dict() if len(typical) else {}
    if output is not None:
        note = f"pearson {result.pearson:.3f}, SSIM {result.ssim:.3f}, RMS difference {result.rms:.1f}"
        fig = plots.comparison(
            first.pixels, second.pixels, _image_title(first), _image_title(second), note=note
        )
        _save_figure(fig, output)
    if as_json:
        payload = {
            "a": first.source,
            "b": second.source,
            "class_a": first.class_name,
            "class_b": second.class_name,
            "output": str(output) if output else None,
            **result.to_dict(),
        }
        payload["meanings"] = result.table().set_index("metric")["meaning"].to_dict()
        if placed is not None:
            payload["context"] = {
                "dataset": context,
                "more_similar_than": {
                    m: dict(zip(g["kind"], g["more_similar_than"], strict=True))
                    for m, g in placed.groupby("metric")
                },
            }
        _print_json(payload)
        return
    table = Table(title=f"{_image_title(first)}  vs  {_image_title(second)}")
    table.add_column("metric", no_wrap=True)
    table.add_column("value")
    kinds = sorted(placed["kind"].unique()) if placed is not None else []
    for kind in kinds:
        table.add_column(f"{kind}s\nless similar", justify="right")
    for r in result.table().itertuples():
        cells = [f"{r.value:.4g}" if math.isfinite(r.value) else "undefined"]
        for kind in kinds:
            hit = placed[(placed["metric"] == r.metric) & (placed["kind"] == kind)]["more_similar_than"]
            cells.append(f"{hit.iloc[0]:.0%}" if len(hit) else "-")
        table.add_row(r.metric, *cells)
    out.print(table)
    out.print(f"data range {result.data_range:g} (SSIM, mutual information)", highlight=False)
    if placed is not None:
        said = ", ".join(f"{n // len(METRIC_NAMES)} {kind}s" for kind, n in sizes.items())
        out.print(f"(typical pairs from {context}'s training images: {said})", highlight=False)
    for r in result.table().itertuples():
        out.print(f"  {r.metric}: {r.meaning}", highlight=False)
    for note in result.notes:
        out.print(note, highlight=False)
    if output is not None:
        out.print(f"wrote {output}", highlight=False)


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
) -> None:
    """Find the images of a dataset nearest to a query image (exact search).

    Example: [bold]mnistlab similar mnist:test:0 --in mnist --k 8 -o neighbours.png[/]
    """
    from mnistlab.data.images import fit_to_shape, load_image
    from mnistlab.similarity import NEIGHBOUR_METRICS, NearestImages

    if metric not in NEIGHBOUR_METRICS:
        _fail(f"unknown metric {metric!r}; choose one of: {', '.join(NEIGHBOUR_METRICS)}.")
    _check_outputs((output, FIGURE))
    ds = _dataset(within, first, no_download)
    target = _run(ds.split, split)
    if k > len(target):
        _fail(f"--k {k}: the {split} split of {ds.name} has {len(target)} images.")
    if _is_dataset_image(query):  # loaded as --in is, with the same options
        same = query.rsplit(":", 2)[0] == within and first is None
        ref = _dataset_image(query, no_download, loaded=ds if same else None)
        ref = _run(fit_to_shape, ref, ds.image_shape, resize=resize)
    else:
        ref = _run(
            load_image,
            _input(query),
            shape=ds.image_shape,
            resize=resize,
            invert=invert,
            download=not no_download,
            polarity=ds.polarity().kind,
        )
    index = _run(NearestImages(metric=metric).fit, target.images)
    distances, found = _run(index.kneighbors, ref.pixels[None], k)
    neighbours = [
        {
            "rank": rank + 1,
            "index": int(target.indices[i]),
            "label": int(target.labels[i]),
            "class": ds.classes[target.labels[i]],
            "distance": float(d),
        }
        | ({} if target.files is None else {"file": _file_text(target.files[i])})
        for rank, (d, i) in enumerate(zip(distances[0], found[0], strict=True))
    ]
    if output is not None:
        images = [ref.pixels, *[target.images[i] for i in found[0]]]
        titles = [f"query\n{_image_title(ref)}"] + [
            f"#{n['index']} · {n['class']}\n{metric} {n['distance']:.3g}" for n in neighbours
        ]
        fig = plots.titled_images(images, titles, columns=min(len(images), 9))
        _save_figure(fig, output)
    if as_json:
        _print_json(
            {
                "query": ref.source,
                "dataset": ds.name,
                "split": split,
                "metric": metric,
                "distance": DISTANCE_LABELS[metric],
                "output": str(output) if output else None,
                "neighbours": neighbours,
            }
        )
        return
    table = Table(
        "rank",
        f"{split} index",
        "class",
        DISTANCE_LABELS[metric],
        *(["file"] if target.files is not None else []),
        title=f"nearest to {_image_title(ref)} in {ds.name}",
    )
    for n in neighbours:
        file = [n["file"]] if "file" in n else []
        table.add_row(str(n["rank"]), str(n["index"]), n["class"], f"{n['distance']:.4g}", *file)
    out.print(table)
    if output is not None:
        out.print(f"wrote {output}", highlight=False)


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
            "nearest-neighbour distance."
        ),
    ] = None,
    first: FirstEach = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Find exact and near-duplicate images within train, within test and between them (leakage).

    Example: [bold]mnistlab duplicates fashion-mnist -o dups/[/]
    """
    from mnistlab.similarity import find_duplicates

    if output is not None:
        _check_folder(output, ["duplicates.csv", "duplicates.png"])
    if threshold is not None and not (threshold >= 0 and math.isfinite(threshold)):
        _fail(f"--threshold must be a non-negative number, got {threshold}.")
    ds = _dataset(name, first, no_download)
    with warnings.catch_warnings():
        found = _run(find_duplicates, ds, threshold)
    counts = found.counts()
    pairs = _in_the_files(found.pairs, ds)
    if output is not None:
        files = {"duplicates.csv": _csv_bytes(pairs)}
        if len(found.pairs):
            fig = plots.duplicate_pairs(ds, found.pairs, n=12, title=f"{ds.name}: closest pairs")
            files["duplicates.png"] = plots.to_png_bytes(fig)
        _write_files(files, output)
    if as_json:
        _print_json(
            {
                "dataset": ds.name,
                "threshold": found.threshold,
                "median_nearest_rms": found.median_nearest,
                "counts": counts.to_dict(orient="records"),
                "not_searched": found.missing,
                "pairs": pairs.to_dict(orient="records"),
            }
        )
        return
    table = Table("pairs", "exact", "near", "labels differ", title=f"{ds.name}: duplicates")
    for r in counts.itertuples():
        table.add_row(r.kind, str(r.exact), str(r.near), str(r.labels_differ))
    if found.missing:
        for kind in ("within test", "train-test"):
            table.add_row(kind, "n/a", "n/a", "n/a")
    out.print(table)
    if found.missing:
        out.print(f"n/a: {found.missing}", highlight=False)
    out.print(
        f"near = nearest neighbour closer than RMS {found.threshold:.2f} on the 0..255 scale "
        f"(median nearest-neighbour distance {found.median_nearest:.1f})",
        highlight=False,
    )
    if output is not None:
        written = ", ".join(str(output / f) for f in files)
        out.print(f"wrote {written}", highlight=False)


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


# ---------------------------------------------------------------------------------------------
# Models: benchmark, train, predict


def _benchmark_files(loaded, results) -> dict[str, bytes]:
    import pandas as pd

    from mnistlab.data.formats import safe_filename
    from mnistlab.models import results_table

    by_name = {ds.name: ds for ds in loaded}
    files: dict[str, bytes] = {"results.csv": _csv_bytes(results_table(results))}
    per_class = [r.evaluation.table().assign(dataset=r.dataset, model=r.model) for r in results]
    table = pd.concat(per_class, ignore_index=True)
    columns = ["dataset", "model", "label", "class", "n", "correct", "accuracy"]
    files["per-class.csv"] = _csv_bytes(table[columns])
    for r in results:
        stem = f"{safe_filename(r.dataset)}-{r.model}"
        title = f"{r.dataset} · {r.model}: {r.evaluation.accuracy:.1%}"
        files[f"confusion-{stem}.png"] = plots.to_png_bytes(
            plots.confusion_matrix(r.evaluation, title=title)
        )
        mistakes = plots.confident_mistakes(by_name[r.dataset], r)
        if mistakes is not None:
            files[f"mistakes-{stem}.png"] = plots.to_png_bytes(mistakes)
    return files


@app.command("benchmark")
@_loads_data()
def benchmark_command(
    names: Annotated[list[str], typer.Argument(help="Datasets (names or paths), side by side.")],
    models: Annotated[
        str,
        typer.Option(
            help="Comma-separated model names (centroid, knn, logreg, linear-svm, tree, forest, "
            "boosting, rbf-svm, mlp, cnn) or a set: quick, default, classic, all."
        ),
    ] = "default",
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Seed of every random choice.")] = 0,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Folder for results.csv, per-class.csv, and per dataset and model "
            "confusion-DATASET-MODEL.png and mistakes-DATASET-MODEL.png.",
        ),
    ] = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Train models on each dataset's train split; accuracy and time on its test split.

    The classic models are scikit-learn pipelines (StandardScaler, then the classifier) with
    configurations from the Fashion-MNIST benchmark, whose published accuracies are shown beside
    ours. The default set leaves out the slow linear-svm and rbf-svm; quick (centroid, knn, tree,
    mlp) takes about a minute per dataset. Example:
    [bold]mnistlab benchmark mnist fashion-mnist --models quick -o bench/[/]
    """
    from mnistlab.data.formats import safe_filename
    from mnistlab.models import benchmark, resolve_models

    chosen = _run(resolve_models, models)
    loaded = _load_data(names, no_download)
    if output is not None:
        figures = [
            f"{kind}-{safe_filename(ds.name)}-{m}.png"
            for ds in loaded
            for m in chosen
            for kind in ("confusion", "mistakes")
        ]
        _check_folder(output, ["results.csv", "per-class.csv", *figures])
    labels = [ds.name for ds in loaded]
    if len(set(labels)) != len(labels):
        _fail(f"the datasets are named {labels}: each may appear once, as it labels the results.")
    for ds in loaded:
        if "test" not in ds.splits or "train" not in ds.splits:
            _fail(f"{ds.name} has the splits {', '.join(ds.splits)}; a benchmark needs train and test.")
    results, failed = [], []
    for ds in loaded:
        found = _run(benchmark, ds, chosen, seed=seed)
        results.extend(found)
        failed += [{"dataset": ds.name, "model": m, "reason": why} for m, why in found.failed.items()]
    for f in failed:
        console.print(
            f"[yellow]Warning:[/] {escape(f['model'])} on {escape(f['dataset'])} failed: "
            f"{escape(f['reason'])}",
            highlight=False,
            soft_wrap=True,
        )
    if not results:
        _fail("no model could be trained and tested (the reasons are above).")
    if output is not None:
        files = _benchmark_files(loaded, results)
        _write_files(files, output)
    if as_json:
        _print_json({"results": [r.row() for r in results], "failed": failed})
        return
    _print_benchmark(labels, chosen, results)
    if output is not None:
        out.print(
            f"wrote {output / 'results.csv'}, per-class.csv and figures in {output}", highlight=False
        )


def _print_benchmark(datasets: list[str], models: tuple[str, ...], results) -> None:
    from mnistlab.models import MODELS

    found = {(r.dataset, r.model): r for r in results}
    columns = [c for name in datasets for c in (name, "paper", "fit / predict s")]
    table = Table("model", *columns, title="Test accuracy", title_justify="left")
    for model in models:
        published = MODELS[model].published
        cells = []
        for name in datasets:
            r = found.get((name, model))
            paper = published.accuracy.get(name) if published else None
            mark = "" if published is None or published.same else "~"
            cells += [
                "failed" if r is None else f"{r.evaluation.accuracy:.2%}",
                "-" if paper is None else f"{mark}{paper:.1%}",
                "-" if r is None else f"{r.trained.fit_seconds:.1f} / {r.predict_seconds:.1f}",
            ]
        table.add_row(model, *cells)
    out.print(table)
    shown = [MODELS[m].published for m in models if MODELS[m].published is not None]
    shown = [p for p in shown if any(name in p.accuracy for name in datasets)]
    if shown:
        note = "paper: Fashion-MNIST benchmark (arXiv:1708.07747, Table 3), the same configuration"
        if not all(p.same for p in shown):
            note += "; ~: the closest published configuration, a different model"
        out.print(note + ".", highlight=False)


@app.command("train")
@_loads_data()
def train_command(
    name: NameArg,
    model: Annotated[
        str, typer.Option(help="Model name: cnn, mlp, logreg, knn, tree, forest, ...")
    ] = "cnn",
    output: Annotated[Path, typer.Option("-o", "--output", help="The model file (.mnistlab).")] = Path(
        "model.mnistlab"
    ),
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Maximum epochs (mlp and cnn; default 10 and 6).")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed: the same seed, data and machine give the same model.")
    ] = 0,
    first: FirstEach = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Train one model on a dataset's train split, test it, and save it (no pickle inside).

    Neural models show a progress bar per epoch and stop early when accuracy on a validation
    share of the training split stops improving. Example:
    [bold]mnistlab train fashion-mnist --model cnn --epochs 6 -o fashion-cnn.mnistlab[/]
    """
    from mnistlab.models import MODELS, train

    if model not in MODELS:
        _fail(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}.")
    if epochs is not None and not MODELS[model].neural:
        _fail(f"--epochs applies to the neural models (mlp, cnn), not to {model}.")
    _check_outputs((output, (".mnistlab",)))
    _check_writable(output)
    ds = _dataset(name, first, no_download)
    params = {} if epochs is None else {"epochs": epochs}
    trained = _run(train, ds, model, seed=seed, **params)
    _refuse_inputs_as_outputs(output)
    _run(trained.save, output)
    if as_json:
        _print_json({"model_file": str(output), **trained.to_dict()})
        return
    out.print(
        f"{model} on {ds.name}: test accuracy {trained.test_accuracy:.2%}, trained in "
        f"{trained.fit_seconds:.1f} s\nwrote {output}",
        highlight=False,
    )


@app.command()
def predict(
    model_file: Annotated[Path, typer.Argument(help="A model file written by mnistlab train.")],
    images: Annotated[
        list[str], typer.Argument(help="Images: PNG/JPEG files, .npy arrays or DATASET:SPLIT:INDEX.")
    ],
    top: Annotated[int, typer.Option(min=1, help="How many classes to list per image.")] = 3,
    resize: Annotated[
        bool,
        typer.Option(help="Stretch image files to the model's size (the aspect ratio is not kept)."),
    ] = False,
    invert: Annotated[
        bool, typer.Option(help="Invert image files (dark ink on a light background).")
    ] = False,
    any_dataset: Annotated[
        bool,
        typer.Option(help="Allow DATASET:SPLIT:INDEX images from a dataset other than the model's."),
    ] = False,
    ignore_versions: Annotated[
        bool, typer.Option(help="Load a model saved by another scikit-learn version anyway.")
    ] = False,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Classify images with a saved model: the class, its name and the top scores.

    Example: [bold]mnistlab predict fashion-cnn.mnistlab fashion-mnist:test:0 shoe.png --invert[/]
    """
    from mnistlab.data.images import fit_to_shape, load_image
    from mnistlab.models import load_model

    trained = _run(load_model, _input(str(model_file)), check_versions=not ignore_versions)
    refs = []
    for image in images:
        ref = _run(load_image, _input(image), invert=invert, download=not no_download)
        origin = ref.source.rsplit(":", 2)[0] if ref.dataset is not None else None
        if origin is not None and origin != trained.dataset and not any_dataset:
            _fail(
                f"{ref.source} comes from {origin}, but the model was trained on {trained.dataset} "
                f"(classes {', '.join(trained.classes[:4])}...); its answer would be meaningless. "
                "Pass --any-dataset to predict anyway."
            )
        # Then the size, once the image is known to be one this model is meant for.
        refs.append(_run(fit_to_shape, ref, trained.image_shape, resize=resize))
    import numpy as np

    labels, scores = _run(trained.predict_scores, np.stack([r.pixels for r in refs]))
    k = min(top, len(trained.classes))
    rows = []
    for ref, label, row in zip(refs, labels.tolist(), scores, strict=True):
        best = np.argsort(-row, kind="stable")[:k]
        rows.append(
            {
                "image": ref.source,
                "label": label,
                "class": trained.classes[label],
                "score": float(row[label]),
                "top": [
                    {"label": int(j), "class": trained.classes[j], "score": float(row[j])} for j in best
                ],
                "true_label": ref.label,
                "true_class": ref.class_name,
            }
        )
    if as_json:
        _print_json(
            {
                "model_file": str(model_file),
                "model": trained.model,
                "dataset": trained.dataset,
                "scores_are_probabilities": trained.has_probabilities,
                "predictions": rows,
            }
        )
        return
    what = "probabilities" if trained.has_probabilities else "scores"
    table = Table(
        "image", "predicted", f"top {what}", "true", title=f"{trained.model} ({trained.dataset})"
    )
    for r in rows:
        tops = ", ".join(f"{t['class']} {t['score']:.1%}" for t in r["top"])
        true = "" if r["true_class"] is None else r["true_class"]
        table.add_row(r["image"], f"{r['label']} {r['class']}", tops, true)
    out.print(table)


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
    ] = "centroid,tree,mlp",
    first: FirstEach = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Write a self-contained HTML report comparing datasets side by side.

    Examples: [bold]mnistlab report -o report/[/], [bold]mnistlab report mnist kmnist digits -o r/[/],
    [bold]mnistlab report --models all[/] (every model: much longer)
    """
    from mnistlab.models import resolve_models
    from mnistlab.report import build_report

    chosen = _run(resolve_models, models)
    _check_folder(output, ["index.html", "summary.json"])  # before minutes of analyses
    loaded = _load_data(names or ["mnist", "fashion-mnist"], no_download, first)
    _refuse_inputs_as_outputs(output, folder=True)  # before minutes of analyses
    path = _run(build_report, loaded, output, models=chosen)
    if as_json:
        summary = json.loads((path.parent / "summary.json").read_text())
        _print_json({"report": str(path), **summary})
        return
    out.print(f"wrote {path} and {path.parent / 'summary.json'}", highlight=False)


def _reflow(doc: str) -> str:
    """A docstring's paragraphs each on one line: the terminal, not the source, wraps help text.

    Examples in bold are split at each colon into bold pieces that look the same, so that rich
    (which typer's help uses) cannot read ``mnist:train:0`` as the emoji code ``:train:``.
    """
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    text = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    return re.sub(r"\[bold\](.*?)\[/\]", lambda m: f"[bold]{m[1].replace(':', ':[/][bold]')}[/]", text)


def _interruptible(command):
    """Ctrl-C anywhere in ``command``: one line, exit code 130 (128 + SIGINT), no traceback;
    writes are staged and renamed into place, so nothing partial is left behind."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            console.print("interrupted", highlight=False)
            raise typer.Exit(130) from None

    return wrapper


for _command in app.registered_commands:
    if _command.help is None and _command.callback is not None and _command.callback.__doc__:
        _command.help = _reflow(_command.callback.__doc__)
    if _command.callback is not None:
        _command.callback = _interruptible(_command.callback)


def main() -> None:  # pragma: no cover - console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
