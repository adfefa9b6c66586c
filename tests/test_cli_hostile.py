"""The CLI given users' own data and hostile files: odd names, tiny classes, failures half-way,
interrupts, outputs that cannot be written (issue 12)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

import mnistlab
from mnistlab.cli import app

runner = CliRunner()


def run(*args, code=0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output + str(result.exception)
    return result


@pytest.fixture
def five_npz(tmp_path, five_class):
    mnistlab.save(five_class, tmp_path / "five", "npz")
    return tmp_path / "five" / "five.npz"


@pytest.mark.parametrize(
    "command",
    [
        ["centroids", "-o", "{out}/c.png", "--csv", "{out}/c.csv"],
        ["atypical", "-o", "{out}/a.png", "--boxplot", "{out}/box.png", "--csv", "{out}/a.csv"],
    ],
)
def test_a_failed_table_leaves_no_figure(tmp_path, five_npz, monkeypatch, command):
    """Every output of a command is written, or none: a CSV that cannot be made (a full disk,
    a bug) must not leave the figure written before it."""
    out = tmp_path / "out"

    def failing_to_csv(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing_to_csv)
    result = runner.invoke(app, [command[0], str(five_npz), *[a.format(out=out) for a in command[1:]]])
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert not out.exists() or list(out.iterdir()) == []
