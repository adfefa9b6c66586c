"""The ``mnistlab`` command line: a thin layer that parses arguments and calls the Python API."""

from __future__ import annotations

import inspect
import re

import typer

# Each command module registers its commands on the app when imported.
from mnistlab.cli import (  # noqa: F401
    data,
    health,
    maps,
    models,
    onepixel,
    quality,
    report,
    similarity,
    stats,
)
from mnistlab.cli._app import app
from mnistlab.cli._output import command
from mnistlab.cli.data import values_text

__all__ = ["app", "main", "values_text"]


def _reflow(doc: str) -> str:
    """A docstring's paragraphs each on one line: the terminal, not the source, wraps help text.

    Examples in bold are split at each colon into bold pieces that look the same, so that rich
    (which typer's help uses) cannot read ``mnist:train:0`` as the emoji code ``:train:``.
    """
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    text = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    return re.sub(r"\[bold\](.*?)\[/\]", lambda m: f"[bold]{m[1].replace(':', ':[/][bold]')}[/]", text)


#: The order of the commands in ``mnistlab --help``: from the data to the report.
COMMANDS = [
    "datasets",
    "info",
    "show",
    "convert",
    "generate",
    "tidy",
    "pixels",
    "centroids",
    "atypical",
    "pairs",
    "onepixel",
    "compare",
    "similar",
    "duplicates",
    "label-issues",
    "health",
    "embed",
    "benchmark",
    "train",
    "predict",
    "report",
]
app.registered_commands.sort(
    key=lambda c: COMMANDS.index(c.name or str(getattr(c.callback, "__name__", "")))
)

for _command in app.registered_commands:
    if _command.help is None and _command.callback is not None and _command.callback.__doc__:
        _command.help = _reflow(_command.callback.__doc__)
    if _command.callback is not None:
        _command.callback = command(_command.callback)

#: The app as a click command, as ``mnistlab --help`` sees it: the docs' CLI reference renders it.
click_command = typer.main.get_command(app)


def main() -> None:  # pragma: no cover - console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
