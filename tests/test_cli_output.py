"""One way to print a result (cli._output.Result and render), one error handler (command)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import typer
from rich.table import Table
from typer.testing import CliRunner

from mnistlab.cli import app
from mnistlab.cli._output import Result, command, render
from mnistlab.errors import MnistlabError

CLI = Path(__file__).parents[1] / "src" / "mnistlab" / "cli"


def test_render_prints_the_data_as_json_or_the_shown_lines_and_tables(capsys):
    table = Table("class", "images")
    table.add_row("cat", "3")
    result = Result({"n": 3, "ratio": float("nan"), "name": "cat"}).show("three cats", table)
    render(result, as_json=True)
    assert json.loads(capsys.readouterr().out) == {"n": 3, "ratio": None, "name": "cat"}
    render(result, as_json=False)
    shown = capsys.readouterr().out
    assert shown.index("three cats") < shown.index("class") and "cat" in shown and "{" not in shown


def test_one_handler_turns_what_users_cause_into_one_line_and_an_exit_code():
    tiny = typer.Typer()

    @tiny.command()
    @command
    def go(what: str, as_json: bool = False) -> Result:
        if what == "value":
            raise ValueError("C must be a positive finite number, got -1.")
        if what == "library":
            raise MnistlabError("mnist: the file is truncated.")
        if what == "file":
            raise FileNotFoundError(2, "No such file or directory", "/nowhere/x.npz")
        if what == "interrupt":
            raise KeyboardInterrupt
        if what == "bug":
            raise KeyError("a programming error keeps its traceback")
        return Result({"what": what}, [f"did {what}"])

    runner = CliRunner()
    cases = {
        "value": (1, "Error: C must be a positive finite number, got -1."),
        "library": (1, "Error: mnist: the file is truncated."),
        "file": (1, "Error: /nowhere/x.npz: No such file or directory"),
        "interrupt": (130, "interrupted"),
    }
    for what, (code, message) in cases.items():
        result = runner.invoke(tiny, [what])
        assert result.exit_code == code, what
        assert result.stderr.strip() == message and "Traceback" not in result.stderr
    assert isinstance(runner.invoke(tiny, ["bug"]).exception, KeyError)
    assert runner.invoke(tiny, ["ok"]).stdout == "did ok\n"
    assert json.loads(runner.invoke(tiny, ["ok", "--as-json"]).stdout) == {"what": "ok"}


def _calls(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


@pytest.mark.parametrize("module", sorted(p.name for p in CLI.glob("*.py") if p.name != "_output.py"))
def test_commands_print_only_through_the_renderer(module):
    """Commands return a Result; only cli/_output.py prints results or wraps calls for errors."""
    tree = ast.parse((CLI / module).read_text())
    assert not {"print", "_print_json", "_run"} & _calls(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(d, ast.Call) and ast.unparse(d.func) == "app.command" for d in node.decorator_list
        ):
            assert ast.unparse(node.returns) == "Result", f"{module}: {node.name}"


def test_every_command_is_wrapped_by_the_one_handler():
    for registered in app.registered_commands:
        assert registered.callback.__code__ is command(lambda: None).__code__, registered.name
