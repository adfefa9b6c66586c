"""Options shared by commands, and how a command loads the datasets it names (--name, --classes,
--test-size, --invert)."""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from mnistlab.cli._output import _fail, _input
from mnistlab.data import load
from mnistlab.data.lazy import LazyDataset

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
    def option(name: str, kind: Any, default, decl: str, help: str) -> inspect.Parameter:
        metavar = {"--name": "NAME", "--classes": "FILE", "--test-size": "SHARE"}.get(decl)
        option = typer.Option(decl, help=help, metavar=metavar, rich_help_panel="Loading files")
        annotation = Annotated[kind, option]  # built at run time: typer reads it
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


def _load_data(
    refs: list[str],
    no_download: bool,
    first: int | None = None,
    invert: bool | None = None,
    *,
    store_ok: bool = False,
):
    """Load the datasets a command names, as its --name, --classes, --test-size and --invert
    ask; those apply to datasets read from files (a named dataset such as mnist has its
    classes, test split and polarity). A Zarr store is refused unless the command works on
    one (``store_ok``) or reads only its ``first`` images of each split into memory."""
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
        given: dict[str, Any] = {"name": options.names[k] if options.names else None}
        if is_file:
            given |= {"classes": options.classes, "test_size": options.test_size, "invert": invert}
        with warnings.catch_warnings(record=True) as caught:
            ds = load(_input(ref), download=not no_download, **given)
        if is_file:  # the class names it was read with are inputs too
            _input_class_files(Path(ref), options.classes)
        for warning in caught:  # the library's advice in this command's terms: its flag
            message = str(warning.message).replace("invert=True", options.invert_flag)
            warnings.warn_explicit(message, warning.category, warning.filename, warning.lineno)
        if isinstance(ds, LazyDataset) and first is None and not store_ok:
            _fail(
                f"{ref} is a Zarr store, and this command reads its images into memory: add "
                "--first N (the first N images of each split), or see the analyses that run on a "
                "whole store (info, show, pixels, centroids, pairs, onepixel, atypical, "
                "duplicates --threshold 0, similar, report; docs/how-to/large-datasets.md).",
                2,
            )
        loaded.append(ds if first is None else ds.subset(first))
    names = [ds.name for ds in loaded]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        _fail(f"two datasets are named {twice[0]!r}; tell them apart with --name (one per dataset).", 2)
    return loaded


def _dataset(
    name: str, first: int | None, no_download: bool, invert: bool | None = None, *, store_ok=False
):
    """Load one dataset for a command (see :func:`_load_data`), cut to the first N images of
    each split with --first."""
    return _load_data([name], no_download, first, invert, store_ok=store_ok)[0]


def _split(name: str, split: str, first: int | None, no_download: bool, *, store_ok: bool = False):
    """A dataset and one of its splits (a Zarr store's split stays on disk unless --first; a
    command that needs it in memory refuses a whole store)."""
    ds = _dataset(name, None, no_download, store_ok=store_ok or first is not None)
    chosen = ds.split(split)
    return ds, chosen if first is None else chosen.subset(first)


Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Run on a local Dask cluster of N worker processes (a Zarr store's chunks).",
        rich_help_panel="Dask",
    ),
]


Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Run on the Dask cluster at ADDRESS (tcp://host:8786: dask scheduler, dask worker).",
        rich_help_panel="Dask",
    ),
]


@contextlib.contextmanager
def _dask_client(splits, workers: int | None, scheduler: str | None):
    """The Dask client --workers or --scheduler ask for (None without them), for ``splits`` (one
    split or a list), of which one at least must be a Zarr store's: the workers read its chunks
    from its path (a command passes the client for stores only)."""
    from mnistlab.data.lazy import LazySplit

    if workers is None and scheduler is None:
        yield None
        return
    if workers is not None and scheduler is not None:
        _fail("give --workers (a local cluster) or --scheduler (an existing one), not both.", 2)
    if not any(isinstance(s, LazySplit) for s in (splits if isinstance(splits, list) else [splits])):
        _fail(
            "--workers and --scheduler run a Zarr store's chunks on Dask; this dataset is in "
            "memory (write it as a store first: mnistlab convert NAME --to zarr -o NAME.zarr).",
            2,
        )
    import distributed

    if scheduler is not None:
        with distributed.Client(scheduler, timeout=30) as client:
            yield client
        return
    with (
        distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


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
    ds = loaded if loaded is not None else _dataset(name, None, no_download, invert, store_ok=True)
    split = ds.split(split_name)
    if not re.fullmatch(r"-?\d+", index) or not -len(split) <= int(index) < len(split):
        _fail(
            f"{ref!r}: the index must be a whole number in 0..{len(split) - 1} "
            f"({split_name} of {ds.name})."
        )
    position = int(index) % len(split)
    image, k = split[position]  # a store's split reads this one image
    return ImageRef(image, f"{ds.name}:{split_name}:{position}", k, ds.classes[k], name)


SplitOpt = Annotated[str, typer.Option(help="train, test or validation.")]


FirstOpt = Annotated[int | None, typer.Option(min=1, help="Only the first N images of the split.")]


FirstEach = Annotated[
    int | None, typer.Option(min=1, help="Only the first N images of each split (a quick look).")
]


def _input_class_files(data: Path, given: Path | None) -> None:
    """Note the class-name files a dataset read from ``data`` may have used as inputs: the
    ``--classes`` file, or a ``classes.txt`` / ``*mapping.txt`` beside the data (an output
    must not replace a label mapping: the images would be relabelled)."""
    if given is not None:
        _input(str(given))
        return
    folder = data if data.is_dir() else data.parent
    for name in ("classes.txt", "*mapping.txt"):
        for found in folder.glob(name):
            _input(str(found))
