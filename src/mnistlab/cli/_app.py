"""The typer application every command module registers on."""

from __future__ import annotations

import warnings

import typer

from mnistlab.cli._output import _inputs, _show_warning

app = typer.Typer(
    name="mnistlab",
    help="Understand MNIST-like image classification datasets: data, statistics, figures, report.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


@app.callback()
def _main() -> None:
    """Understand MNIST-like image classification datasets: data, statistics, figures, report."""
    warnings.showwarning = _show_warning
    _inputs.clear()
