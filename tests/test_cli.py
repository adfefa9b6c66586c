"""The CLI: each command on generated or built-in data, JSON output, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import mnistlab
from mnistlab.cli import app
from mnistlab.report import SECTIONS

runner = CliRunner()


def run(*args, code=0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output + str(result.exception)
    return result


def test_datasets_json_lists_every_dataset():
    payload = json.loads(run("datasets", "--json").stdout)
    names = {d["name"]: d for d in payload["datasets"]}
    assert set(names) == set(mnistlab.DATASETS)
    assert names["digits"]["available"] is True
    assert names["digits"]["image_shape"] == [8, 8]


def test_datasets_table():
    assert "fashion-mnist" in run("datasets").stdout


def test_info_json(five_class, tmp_path):
    mnistlab.save(five_class, tmp_path, "npz")
    payload = json.loads(run("info", tmp_path / "five.npz", "--json").stdout)
    assert payload["image_shape"] == [12, 10]
    assert payload["splits"]["train"]["n"] == 60
    assert payload["splits"]["test"]["class_counts"] == five_class.test.class_counts()
    assert payload["classes"] == list(five_class.classes)


def test_info_table_digits():
    out = run("info", "digits").stdout
    assert "8x8" in out and "1,347" in out


def test_show_writes_a_png(tmp_path):
    path = tmp_path / "grid.png"
    out = run("show", "digits", "--label", "3", "--first", "7", "-o", path).stdout
    assert "7 train images of class '3'" in out
    from skimage import io as skio

    image = skio.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50


def _printed_matrix(stdout: str) -> np.ndarray:
    """The value rows of ``show --values`` output: row index, then one number per column."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() and line.split()[0] == "0")
    rows = []
    for line in lines[header + 1 :]:
        cells = line.split()
        if not cells or not all(c.isdigit() for c in cells):
            break
        assert int(cells[0]) == len(rows)  # the row index leads each line
        rows.append([int(c) for c in cells[1:]])
    return np.array(rows)


def test_show_values_prints_the_matrix_a_model_sees(tmp_path):
    digits = mnistlab.load("digits")
    path = tmp_path / "one.png"
    out = run("show", "digits:test:5", "--values", "-o", path).stdout
    np.testing.assert_array_equal(_printed_matrix(out), digits.test.images[5])
    assert "\x1b[" not in out  # not a terminal: no colour codes
    label = digits.test.labels[5]
    assert "64 features" in out and f"y = {label}" in out
    lines = out.splitlines()
    widths = {len(line) for line in lines[1:10]}
    assert len(widths) == 1  # header and rows aligned to the same width
    from skimage import io as skio

    assert skio.imread(path).shape[0] > 300  # cells big enough for the numbers
    payload = json.loads(run("show", "digits:test:5", "--values", "--json").stdout)
    assert payload["values"] == digits.test.images[5].tolist()
    assert payload["label"] == int(label) and payload["shape"] == [8, 8] and payload["output"] is None


def test_show_values_of_a_dataset_name_takes_the_first_image_of_a_class():
    digits = mnistlab.load("digits")
    out = run("show", "digits", "--values", "--split", "test", "--label", "7").stdout
    first = int(np.flatnonzero(digits.test.labels == 7)[0])
    assert out.startswith(f"digits:test:{first} · 7:")
    np.testing.assert_array_equal(_printed_matrix(out), digits.test.images[first])


def test_show_values_in_a_terminal_colours_each_cell_by_its_grey():
    from rich.console import Console

    from mnistlab.cli import values_text

    pixels = np.array([[0, 255], [128, 7]], dtype=np.uint8)
    console = Console(force_terminal=True, color_system="truecolor", width=80)
    with console.capture() as captured:
        console.print(values_text(pixels))
    text = captured.get()
    assert "48;2;255;255;255" in text and "48;2;0;0;0" in text  # white 0, black 255 backgrounds
    assert "48;2;127;127;127" in text
    plain = Console(force_terminal=False, width=80)
    with plain.capture() as captured:
        plain.print(values_text(pixels))
    assert captured.get().splitlines() == ["    0   1", "0   0 255", "1 128   7"]


def test_show_values_refusals(tmp_path):
    big = tmp_path / "big.npy"
    np.save(big, np.zeros((65, 65), np.uint8))
    assert "too large" in run("show", big, "--values", code=1).output
    ok = tmp_path / "wide.npy"
    np.save(ok, np.arange(5 * 9, dtype=np.uint8).reshape(5, 9))
    assert _printed_matrix(run("show", ok, "--values").stdout).shape == (5, 9)
    assert "digits:test" in run("show", "digits:test:99999", "--values", code=1).output
    assert "-o" in run("show", "digits", code=2).output
    assert "too large" in run("show", big, "--values", code=1).output and "big.npy" in _err(big)
    assert "no such file" in run("show", tmp_path / "missing.npy", "--values", code=1).output.lower()
    assert "add --values" in run("show", "digits:test:1", "-o", tmp_path / "g.png", code=2).output
    assert "do not apply" in run("show", "digits:test:1", "--values", "--label", "3", code=2).output
    assert "do not apply" in run("show", "digits", "--values", "--first", "3", code=2).output


def _err(path) -> str:
    return runner.invoke(app, ["show", str(path), "--values"]).output


def test_help_examples_show_image_references_as_typed():
    """rich reads ':train:' as an emoji code; the help must show mnist:train:0 literally."""
    for command in ("show", "compare", "predict", "similar"):
        text = run(command, "--help").stdout
        assert "\N{TRAM CAR}" not in text and "\N{TRAIN}" not in text
    assert "mnist:train:0" in run("show", "--help").stdout


@pytest.mark.parametrize("to", ["idx", "npz", "csv", "csv-kaggle", "png"])
def test_convert_round_trips(tmp_path, to):
    run("convert", "digits", "--to", to, "-o", tmp_path)
    source = tmp_path / "digits.npz" if to == "npz" else tmp_path
    back = mnistlab.load(source)
    ds = mnistlab.load("digits")
    assert len(back.train) == len(ds.train) and len(back.test) == len(ds.test)
    if to != "png":
        np.testing.assert_array_equal(back.test.images, ds.test.images)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "mnsit"], "Did you mean 'mnist'"),
        (["show", "digits", "--label", "12", "-o", "x.png"], "out of range"),
        (["show", "digits", "--split", "valid", "-o", "x.png"], "one of train, test, validation"),
        (["convert", "digits", "--to", "xlsx", "-o", "out"], "unknown format"),
        (["info", "no/such/file.npz"], "No such file"),
    ],
)
def test_errors_are_one_clear_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args, code=1)
    assert message in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_help_has_examples():
    commands = (
        "datasets",
        "info",
        "show",
        "convert",
        "report",
        "tidy",
        "centroids",
        "atypical",
        "pairs",
    )
    for command in commands:
        assert "xample" in run(command, "--help").stdout


def test_report_command(tmp_path, five_class):
    mnistlab.save(five_class, tmp_path / "five", "npz")
    # One quick model: the models section has its own tests; this one is about the command.
    args = ("report", "digits", tmp_path / "five" / "five.npz", "-o", tmp_path / "r")
    out = run(*args, "--models", "centroid", "--sections", " models,overview").stdout
    assert "index.html" in out
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert [d["name"] for d in summary["datasets"]] == ["digits", "five"]
    # the sections asked for, in the report's order; the models section trained its model
    assert summary["sections"] == ["overview", "models"]
    assert [(m["dataset"], m["model"]) for m in summary["models"]] == [
        ("digits", "centroid"),
        ("five", "centroid"),
    ]


def test_report_sections_are_checked_before_any_data_is_read(tmp_path):
    result = run("report", "nowhere.npz", "--sections", "overview,map", "-o", tmp_path / "r", code=1)
    assert "unknown report section(s) ['map']" in result.output and "maps" in result.output
    assert not (tmp_path / "r").exists()
    helped = " ".join(run("report", "--help").stdout.split())
    for s in SECTIONS:  # every section id is named in --sections' help
        assert s.id in helped.replace(" - ", "-"), s.id


def test_report_with_unknown_dataset_writes_nothing(tmp_path):
    result = run("report", "digits", "mnsit", "-o", tmp_path / "r", code=1)
    assert "Did you mean" in result.output
    assert not (tmp_path / "r").exists()


def test_json_output_of_show_convert_report(tmp_path):
    shown = json.loads(run("show", "digits", "--first", "3", "-o", tmp_path / "g.png", "--json").stdout)
    assert shown["indices"] == [0, 1, 2] and shown["labels"] == [0, 1, 2]
    converted = json.loads(run("convert", "digits", "--to", "npz", "-o", tmp_path, "--json").stdout)
    assert converted["written"] == [str(tmp_path / "digits.npz")]
    reported = json.loads(
        run("report", "digits", "-o", tmp_path / "r", "--sections", "overview", "--json").stdout
    )
    assert reported["report"] == str(tmp_path / "r" / "index.html")
    assert reported["sections"] == ["overview"] and reported["models"] == []
    assert reported["datasets"][0]["splits"]["train"]["n"] == 1347


@pytest.mark.parametrize("source", ["digits", "five"])
def test_exploration_commands(tmp_path, five_class, source):
    if source == "five":
        mnistlab.save(five_class, tmp_path / "five", "npz")
        source = tmp_path / "five" / "five.npz"
        ds = five_class
    else:
        ds = mnistlab.load("digits")
    run("tidy", source, "--first", "5", "-o", tmp_path / "p.parquet")
    import pandas as pd

    pixels = pd.read_parquet(tmp_path / "p.parquet")
    assert len(pixels) == 5 * ds.image_shape[0] * ds.image_shape[1]
    out = run("centroids", source, "-o", tmp_path / "c.png", "--csv", tmp_path / "c.csv").stdout
    assert "centroids of" in out
    centroid_rows = pd.read_csv(tmp_path / "c.csv")
    means = centroid_rows.groupby("label")["mean"].mean().to_numpy()
    expected = [ds.train.images[ds.train.labels == k].mean() for k in range(len(ds.classes))]
    np.testing.assert_allclose(means, expected)
    run(
        "atypical",
        source,
        "--per-class",
        "3",
        "-o",
        tmp_path / "a.png",
        "--csv",
        tmp_path / "d.csv",
        "--boxplot",
        tmp_path / "b.png",
    )
    distances = pd.read_csv(tmp_path / "d.csv")
    assert len(distances) == len(ds.train)
    assert distances.groupby("label")["rank_in_class"].min().eq(1).all()
    payload = json.loads(run("pairs", source, "-o", tmp_path / "pairs.png", "--json").stdout)
    assert set(payload["closest_pair"]["classes"]) <= set(ds.classes)
    for png in ("c.png", "a.png", "b.png", "pairs.png"):
        assert (tmp_path / png).stat().st_size > 5_000


def test_atypical_json_and_test_split(tmp_path):
    payload = json.loads(
        run(
            "atypical", "digits", "--split", "test", "--first", "100", "-o", tmp_path / "a.png", "--json"
        ).stdout
    )
    assert payload["images"] == 100 and payload["split"] == "test"
    assert sum(c["n"] for c in payload["per_class"]) == 100


def test_tidy_refuses_unknown_suffix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "ending in .parquet, .csv" in run("tidy", "digits", "-o", "pixels.xlsx", code=1).output
    assert list(tmp_path.iterdir()) == []


def test_pixels_command(tmp_path):
    payload = json.loads(
        run(
            "pixels",
            "digits",
            "-o",
            tmp_path / "h.png",
            "--by-class",
            tmp_path / "c.png",
            "--binarisation",
            "--json",
        ).stdout
    )
    ds = mnistlab.load("digits")
    counts = np.bincount(ds.train.images.ravel(), minlength=256)
    assert payload["counts"] == counts.tolist()
    assert payload["share_zero"] == pytest.approx(counts[0] / counts.sum())
    assert [r["model"] for r in payload["binarisation"]] == ["nearest centroid", "logistic regression"]
    assert (tmp_path / "h.png").exists() and (tmp_path / "c.png").exists()
    human = run("pixels", "digits", "--first", "100", "-o", tmp_path / "h2.png").stdout
    assert "are 0" in human


def test_help_paragraphs_are_reflowed_for_the_terminal():
    from mnistlab.cli import _reflow

    assert _reflow("First line\n    continues.\n\n    Second\n    paragraph.") == (
        "First line continues.\n\nSecond paragraph."
    )
    for command in app.registered_commands:
        for paragraph in command.help.split("\n\n"):
            assert "\n" not in paragraph, command.name


def test_first_cuts_every_split_for_the_dataset_commands(tmp_path):
    """--first N: the first N images of each split, for a quick look (report, onepixel, ...)."""
    payload = json.loads(
        run(
            "report",
            "digits",
            "--first",
            "120",
            "--sections",
            "overview",
            "-o",
            tmp_path / "r",
            "--json",
        ).stdout
    )
    (summary,) = payload["datasets"]
    assert summary["splits"]["train"]["n"] == 120 and summary["splits"]["test"]["n"] == 120
    dups = json.loads(run("duplicates", "digits", "--first", "50", "--json").stdout)
    assert dups["dataset"] == "digits"
    one = json.loads(run("onepixel", "digits", "--first", "80", "--json").stdout)
    assert one["datasets"]["digits"]["summary"]["pairs"] == 45
    trained = json.loads(
        run(
            "train",
            "digits",
            "--model",
            "centroid",
            "--first",
            "200",
            "-o",
            tmp_path / "m.mnistlab",
            "--json",
        ).stdout
    )
    assert trained["test_accuracy"] is not None
    out = run("similar", "digits:test:0", "--in", "digits", "--first", "30", "--json").stdout
    assert all(n["index"] < 30 for n in json.loads(out)["neighbours"])
    assert "--first" in run("report", "--help").stdout


def test_report_never_downloads_with_no_download(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTLAB_HOME", str(tmp_path / "empty-cache"))
    result = run("report", "kmnist", "--no-download", "-o", tmp_path / "r", code=1)
    assert "download: not attempted" in result.output
    assert not (tmp_path / "r").exists()
