"""How commands talk: console output, errors as one line, JSON, CSV cells, and files written all
or nothing (never over an input)."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from mnistlab import plots
from mnistlab._utils.text import percent
from mnistlab.errors import MnistlabError
from mnistlab.progress import console

# Human summaries go to stdout (never wrapped mid-path); progress and errors go to stderr.
out = Console(soft_wrap=True, markup=False, emoji=False)


def _fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@dataclass
class Result:
    """What a command found, in both forms it prints: ``data`` for ``--json``; for people,
    ``shown`` (lines of text and rich tables, in order) on stdout and ``notes`` (advice about
    the output, not results) on stderr. A command returns one; :func:`command` prints it."""

    data: dict
    shown: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def show(self, *items) -> Result:
        """Add lines (text) or rich renderables (tables) to what people see."""
        self.shown.extend(items)
        return self


def render(result: Result, as_json: bool) -> None:
    """Print ``result``: its data as JSON, or what it shows people."""
    if as_json:
        _print_json(result.data)
        return
    for item in result.shown:
        out.print(item, highlight=False)
    for note in result.notes:
        console.print(f"[yellow]Note:[/] {escape(note)}", highlight=False, soft_wrap=True)


def command(func):
    """Run a command: print the :class:`Result` it returns (as JSON with ``--json``), and turn
    what users can cause into one line and an exit code, no traceback: the library's errors,
    files (missing, unwritable, in the way), memory, and Ctrl-C (exit 130, 128 + SIGINT; writes
    are staged and renamed into place, so nothing partial is left behind)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            result = func(*args, **kwargs)
            if result is not None:
                render(result, bool(kwargs.get("as_json")))
        except KeyboardInterrupt:
            console.print("interrupted", highlight=False)
            raise typer.Exit(130) from None
        except (MnistlabError, ValueError) as exc:
            _fail(str(exc))
        except MemoryError:
            _fail("not enough memory for this; try fewer or smaller images.")
        except OSError as exc:  # files and folders: missing, not writable, in the way, ...
            if exc.strerror and exc.filename:
                _fail(f"{exc.filename}: {exc.strerror}")
            _fail(str(exc))

    return wrapper


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    console.print(f"[yellow]Warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


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
    return plots.save(fig, output)


def _write_files(files: Mapping[Path, bytes] | Mapping[str, bytes], folder: Path | None = None) -> None:
    """Write the files a command made (names inside ``folder`` if given), all or nothing."""
    from mnistlab._utils.files import atomic_write_files

    if folder is not None:
        _refuse_inputs_as_outputs(folder, folder=True)
    targets = {(folder / p if folder else Path(p)): data for p, data in files.items()}
    _refuse_inputs_as_outputs(*targets)
    atomic_write_files(targets)


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
    return frame.to_csv(index=False).encode()


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
    """A share in the terminal's tables: ``81.2%``, ``-`` where there is none."""
    return percent(value, missing="-")


def _image_title(ref) -> str:
    label = f" · {ref.class_name}" if ref.class_name is not None else ""
    return _file_text(f"{ref.source}{label}")
