"""The ``mnistlab`` command line: a thin layer that parses arguments and calls the Python API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
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
out = Console(soft_wrap=True)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _run(func, *args, **kwargs):
    """Call the API; turn the errors users can cause into one clear line, no traceback."""
    try:
        return func(*args, **kwargs)
    except (MnistlabError, FileNotFoundError, ValueError, PermissionError) as exc:
        _fail(str(exc))


def _print_json(payload: object) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


NameArg = Annotated[
    str, typer.Argument(help="Dataset name (mnist, fashion-mnist, kmnist, digits) or a path.")
]
NoDownload = Annotated[
    bool, typer.Option("--no-download", help="Use local copies only; never touch the network.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]


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
            "[green]yes[/]" if r["available"] else "[yellow]no[/]",
            r["from"],
        )
    out.print(table)


@app.command()
def info(
    name: NameArg,
    as_json: AsJson = False,
    no_download: NoDownload = False,
) -> None:
    """Describe a dataset: classes, image shape, and images per class in each split.

    Examples: [bold]mnistlab info mnist --json[/], [bold]mnistlab info ./my_data.npz[/]
    """
    ds = _run(load, name, download=not no_download)
    summary = ds.summary()
    if as_json:
        _print_json(summary)
        return
    out.print(f"[bold]{ds.name}[/]  ({ds.source})", highlight=False)
    out.print(f"image shape {ds.image_shape[0]}x{ds.image_shape[1]} uint8, {len(ds.classes)} classes")
    table = Table("label", "class", *ds.splits)
    counts = {k: v.class_counts() for k, v in ds.splits.items()}
    for k, c in enumerate(ds.classes):
        table.add_row(str(k), c, *[f"{counts[s][c]:,}" for s in counts])
    table.add_row("", "[bold]total[/]", *[f"[bold]{len(s):,}[/]" for s in ds.splits.values()])
    out.print(table)


@app.command()
def show(
    name: NameArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG file to write.")],
    split: Annotated[str, typer.Option(help="train or test.")] = "train",
    first: Annotated[int, typer.Option(min=1, help="How many images to show.")] = 12,
    label: Annotated[str | None, typer.Option(help="Only images of this class (index or name).")] = None,
    columns: Annotated[int | None, typer.Option(min=1, help="Images per row.")] = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> None:
    """Draw a grid of images, each titled with its index and class name.

    Examples: [bold]mnistlab show mnist -o grid.png[/],
    [bold]mnistlab show fashion-mnist --label Sneaker --first 20 -o sneakers.png[/]
    """
    ds = _run(load, name, download=not no_download)
    chosen = _run(lambda: ds.split(split).subset(first, label=label))
    if len(chosen) == 0:
        _fail(f"no {split} images of class {label!r} in {ds.name}.")
    what = f" of class {ds.classes[chosen.labels[0]]!r}" if label is not None else ""
    fig = plots.image_grid(chosen, columns=columns, title=f"{ds.name} · {split}{what}")
    path = _run(plots.save, fig, output)
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


@app.command()
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
    ds = _run(load, name, download=not no_download)
    written = _run(save, ds, output, to)
    if as_json:
        _print_json({"dataset": ds.name, "format": to, "written": [str(p) for p in written]})
        return
    for path in written:
        out.print(f"wrote {path}", highlight=False)


@app.command()
def report(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Datasets side by side (default: mnist fashion-mnist)."),
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for index.html.")] = Path(
        "report"
    ),
    as_json: AsJson = False,
) -> None:
    """Write a self-contained HTML report comparing datasets side by side.

    Examples: [bold]mnistlab report -o report/[/], [bold]mnistlab report mnist kmnist digits -o r/[/]
    """
    from mnistlab.report import build_report

    path = _run(build_report, names or ["mnist", "fashion-mnist"], output)
    if as_json:
        summary = json.loads((path.parent / "summary.json").read_text())
        _print_json({"report": str(path), **summary})
        return
    out.print(f"wrote {path} and {path.parent / 'summary.json'}", highlight=False)


def main() -> None:  # pragma: no cover - console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
