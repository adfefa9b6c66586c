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


def test_duplicates_name_rows_of_the_file_after_a_hold_out(tmp_path, monkeypatch):
    """With --test-size the splits are a seeded draw from the file: a pair is reported by the
    images' rows in the file (``Split.indices``), in the CSV, the JSON and the gallery, as
    atypical and similar do; not by positions in the drawn splits."""
    import json

    import numpy as np

    from mnistlab.plots import similarity  # duplicate_pairs calls titled_images from there

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 6, 6), dtype=np.uint8)
    images[17] = images[3]
    mnistlab.save(mnistlab.Dataset.from_arrays("rows", (images, np.arange(40) % 2)), tmp_path, "npz")
    titles = []
    real = similarity.titled_images
    monkeypatch.setattr(
        similarity, "titled_images", lambda i, t, **kw: titles.extend(t) or real(i, t, **kw)
    )
    out = tmp_path / "dups"
    payload = json.loads(
        run("duplicates", tmp_path / "rows.npz", "--test-size", "0.2", "-o", out, "--json").stdout
    )
    exact = [p for p in payload["pairs"] if p["exact"]]
    assert [{p["index_a"], p["index_b"]} for p in exact] == [{3, 17}]
    table = pd.read_csv(out / "duplicates.csv")
    assert {*table.loc[table["exact"], ["index_a", "index_b"]].iloc[0]} == {3, 17}
    first = titles[:2]
    assert sorted(t.split("#")[1].split(" ")[0] for t in first) == ["17", "3"]


@pytest.fixture
def badly_named_folder(tmp_path):
    """An image folder (train/<class>/<file>.png) with a file whose name is not UTF-8, as Linux
    allows; it and train/b/copy.png hold the same image."""
    import os

    import imageio.v3 as iio
    import numpy as np

    rng = np.random.default_rng(0)
    root = tmp_path / "scans"
    for name in ("a", "b"):
        (root / "train" / name).mkdir(parents=True)
        for k in range(5):
            iio.imwrite(root / "train" / name / f"{k}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    image = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    iio.imwrite(root / "train" / "a" / os.fsdecode(b"\xff\xfe.png"), image)
    iio.imwrite(root / "train" / "b" / "copy.png", image)
    return root


ESCAPED = "\\xff\\xfe.png"  # the name as every output writes it


def test_file_names_that_are_not_utf8_are_written_escaped(tmp_path, badly_named_folder, monkeypatch):
    import json

    folder = badly_named_folder
    run("atypical", folder, "-o", tmp_path / "a.png", "--csv", tmp_path / "a.csv")
    files = pd.read_csv(tmp_path / "a.csv")["file"].tolist()
    assert sum(f.endswith(f"/a/{ESCAPED}") for f in files) == 1

    payload = json.loads(run("duplicates", folder, "-o", tmp_path / "dups", "--json").stdout)
    pair = next(p for p in payload["pairs"] if p["exact"])
    assert {pair["file_a"].rsplit("/", 1)[1], pair["file_b"].rsplit("/", 1)[1]} == {ESCAPED, "copy.png"}
    table = pd.read_csv(tmp_path / "dups" / "duplicates.csv")
    assert table["file_a"].str.endswith(ESCAPED).any() or table["file_b"].str.endswith(ESCAPED).any()

    query = f"{folder}:train:5"  # class a's sixth file, in sorted order: the badly named one
    payload = json.loads(run("similar", query, "--in", folder, "--k", "2", "--json").stdout)
    assert payload["neighbours"][0]["file"].endswith(ESCAPED)
    monkeypatch.chdir(folder.parent)  # short paths: the table's file column shows them whole
    assert ESCAPED in run("similar", "scans:train:5", "--in", "scans", "--k", "2").stdout


@pytest.fixture
def one_per_class(tmp_path):
    """Three classes, one training image each (and six test images)."""
    import numpy as np

    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (3, 8, 8), dtype=np.uint8), np.arange(3))
    test = (rng.integers(0, 256, (6, 8, 8), dtype=np.uint8), np.arange(6) % 3)
    mnistlab.save(mnistlab.Dataset.from_arrays("tiny", train, test), tmp_path, "npz")
    return tmp_path / "tiny.npz"


def test_a_centroid_model_of_one_image_per_class_trains_predicts_and_loads(tmp_path, one_per_class):
    """scikit-learn pools the within-class spread over n_samples - n_classes degrees of freedom:
    none here, so it was NaN and training ended in "Input contains NaN"."""
    import json

    import numpy as np

    from mnistlab.models import load_model

    path = tmp_path / "tiny.mnistlab"
    payload = json.loads(run("train", one_per_class, "--model", "centroid", "-o", path, "--json").stdout)
    assert 0 <= payload["test_accuracy"] <= 1
    ds = mnistlab.load(one_per_class)
    model = load_model(path)
    np.testing.assert_array_equal(model.predict(ds.train.images), [0, 1, 2])  # each its own mean
    assert np.isfinite(model.predict_proba(ds.test.images)).all()


def test_benchmark_reports_a_failing_model_and_trains_the_others(one_per_class):
    import json

    result = runner.invoke(
        app, ["benchmark", str(one_per_class), "--models", "centroid,knn,tree", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [r["model"] for r in payload["results"]] == ["centroid", "tree"]
    [failed] = payload["failed"]
    assert failed["model"] == "knn" and "at least 5 images" in failed["reason"]
    assert "knn on tiny failed" in result.stderr
    table = run("benchmark", one_per_class, "--models", "knn,tree").stdout
    assert "failed" in table
    everything = runner.invoke(app, ["benchmark", str(one_per_class), "--models", "knn"])
    assert everything.exit_code == 1 and "no model could be trained" in everything.stderr


def test_similar_names_its_own_flag_for_inverting_the_dataset(tmp_path):
    """similar inverts the searched dataset with --invert-in (--invert is for the query image):
    the advice on loading dark-on-light data, and the refusal for a named dataset, say so."""
    import re

    import numpy as np

    rng = np.random.default_rng(0)
    dark = (255 - rng.integers(0, 60, (20, 8, 8))).astype(np.uint8)
    labels = np.arange(20) % 2
    mnistlab.save(
        mnistlab.Dataset.from_arrays("dark", (dark, labels), (dark[:6], labels[:6])), tmp_path, "npz"
    )
    np.save(tmp_path / "query.npy", dark[0])
    result = run("similar", tmp_path / "query.npy", "--in", tmp_path / "dark.npz", "--k", "2")
    assert "dark ink on a light background" in result.stderr
    assert re.findall(r"--invert[\w-]*", result.stderr) == ["--invert-in"]
    named = runner.invoke(app, ["similar", "digits:test:0", "--in", "digits", "--invert-in"])
    assert named.exit_code == 2
    assert "--invert-in applies to datasets read from files" in named.stderr


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_quoted(tmp_path, five_class):
    """OWASP's advice for CSV injection: text cells starting with = + - @ get a leading ' (a
    spreadsheet then shows the text); numbers, negative ones included, stay numbers."""
    classes = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "@SUM(A1)", "-1.5", "ok"]
    train, test = five_class.train, five_class.test  # labels reversed: darker classes come first
    ds = mnistlab.Dataset.from_arrays(
        "five", (train.images, 4 - train.labels), (test.images, 4 - test.labels), classes=classes
    )
    mnistlab.save(ds, tmp_path / "data", "npz")
    data = tmp_path / "data" / "five.npz"
    run("atypical", data, "-o", tmp_path / "a.png", "--csv", tmp_path / "a.csv")
    table = pd.read_csv(tmp_path / "a.csv", keep_default_na=False, dtype={"class": str})
    assert set(table["class"]) == {"'" + c for c in classes[:3]} | {"-1.5", "ok"}
    run("onepixel", data, "-o", tmp_path / "onepixel")
    pairs = pd.read_csv(tmp_path / "onepixel" / "separability.csv")
    assert pairs["coef"].dtype.kind == "f" and (pairs["coef"] < 0).any()  # numbers stay numbers
    assert pairs["name_a"].str.startswith("'=HYPERLINK").any()


@pytest.mark.parametrize("where", ["/proc/mnistlab-report", "{tmp}/a-file/report"])
def test_report_refuses_an_unwritable_output_before_any_analysis(tmp_path, monkeypatch, where):
    """Every section ran (minutes on the real datasets) before the output path failed. Tests
    run as root, whom chmod does not stop: /proc takes no new files, and a file is no folder."""
    import time

    import mnistlab.report

    (tmp_path / "a-file").write_text("in the way")

    def no_analysis(*args, **kwargs):
        raise AssertionError("the report was built")

    monkeypatch.setattr(mnistlab.report, "build_report", no_analysis)
    started = time.perf_counter()
    result = runner.invoke(app, ["report", "digits", "-o", where.format(tmp=tmp_path)])
    assert time.perf_counter() - started < 1
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "cannot write in /proc" in result.stderr or "a-file is not a folder" in result.stderr


def test_ctrl_c_says_interrupted_exits_130_and_leaves_nothing(tmp_path, five_npz, monkeypatch):
    from PIL import Image

    calls = []

    def interrupted_write(*args, **kwargs):
        calls.append(1)
        if len(calls) > 5:  # a few files in: the staging folder holds some
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    real = Image.Image.save
    monkeypatch.setattr(Image.Image, "save", interrupted_write)
    before = set(tmp_path.iterdir())
    result = runner.invoke(app, ["convert", str(five_npz), "--to", "png", "-o", str(tmp_path / "pngs")])
    assert result.exit_code == 130
    assert result.stderr.strip() == "interrupted" and "Traceback" not in result.output
    assert set(tmp_path.iterdir()) == before  # no output folder, no staging folder


def test_loading_options_reach_dataset_image_references(tmp_path):
    """DATASET:SPLIT:INDEX is read from its dataset loaded as the command's --test-size and
    --invert ask, as the dataset itself is; a named dataset refuses them, as it does elsewhere."""
    import json

    import numpy as np

    rng = np.random.default_rng(0)
    images = rng.integers(0, 100, (40, 6, 6), dtype=np.uint8)
    mnistlab.save(mnistlab.Dataset.from_arrays("only", (images, np.arange(40) % 2)), tmp_path, "npz")
    data = tmp_path / "only.npz"
    held_out = mnistlab.load(data, test_size=0.2).test
    shown = json.loads(run("show", f"{data}:test:3", "--values", "--test-size", "0.2", "--json").stdout)
    np.testing.assert_array_equal(shown["values"], held_out.images[3])
    inverted = json.loads(run("show", f"{data}:train:0", "--values", "--invert", "--json").stdout)
    np.testing.assert_array_equal(inverted["values"], 255 - images[0])
    found = json.loads(
        run("similar", f"{data}:test:3", "--in", data, "--test-size", "0.2", "--k", "1", "--json").stdout
    )
    nearest = np.abs(held_out.images[3].astype(int) - images.astype(int)).reshape(40, -1)
    train_rows = sorted(set(range(40)) - set(held_out.indices.tolist()))
    best = min(train_rows, key=lambda i: (np.square(nearest[i]).sum(), i))
    assert found["neighbours"][0]["index"] == best
    named = runner.invoke(app, ["show", "digits:test:0", "--values", "--test-size", "0.2"])
    assert named.exit_code == 2 and "--test-size applies to datasets read from files" in named.stderr


@pytest.mark.parametrize(
    ("dataset", "command"),
    [
        ("csv", ["tidy", "{data}", "-o", "{data}"]),
        ("png", ["show", "{data}", "-o", "{data}/train/zero/x.png"]),
        ("png", ["convert", "{data}", "--to", "png", "-o", "{data}"]),
        ("csv", ["convert", "{folder}", "--to", "csv-kaggle", "-o", "{folder}"]),
        ("png", ["centroids", "{data}", "-o", "{data}/c.png"]),
        ("csv", ["report", "{folder}", "-o", "{folder}/report", "--models", "centroid"]),
        ("png", ["pairs", "{data}", "-o", "{data}/pairs.png"]),
    ],
)
def test_an_output_never_overwrites_or_writes_into_an_input(tmp_path, five_class, dataset, command):
    """`tidy data.csv -o data.csv` replaced the dataset by its tidy table, exit 0; `show` wrote its
    figure into the image folder it read, which then no longer loaded."""
    folder = tmp_path / "in"
    train, test = five_class.train, five_class.test  # 12x10 images cut square for CSV
    square = mnistlab.Dataset.from_arrays(
        "five",
        (train.images[:, :10], train.labels),
        (test.images[:, :10], test.labels),
        classes=five_class.classes,
    )
    written = mnistlab.save(square, folder, "csv-kaggle" if dataset == "csv" else "png")
    data = written[0] if dataset == "csv" else folder
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    args = [a.format(data=data, folder=folder) for a in command]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "would overwrite or write into the input" in result.stderr
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_convert_never_replaces_the_files_it_read(tmp_path, five_class):
    """Fourth fault-injection pass: convert into the input's own folder replaced the label
    mapping beside it (every image one class off, exit 0), or the input file itself."""
    import numpy as np

    folder = tmp_path / "m3"
    folder.mkdir()
    images = five_class.train.images[:, :10]
    rows = np.column_stack([five_class.train.labels + 1, images.reshape(len(images), -1)])
    np.savetxt(folder / "letters.csv", rows, fmt="%d", delimiter=",")
    (folder / "classes.txt").write_text("1 A\n2 B\n3 C\n4 D\n5 E\n6 F\n")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for command in (
        ["convert", folder / "letters.csv", "--to", "csv", "-o", folder],
        ["convert", folder / "letters.csv", "--to", "csv", "--name", "letters", "-o", folder],
    ):
        result = runner.invoke(app, [str(a) for a in command])
        assert result.exit_code == 1, result.output
        assert "would overwrite or write into the input" in result.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    names = tmp_path / "names.csv"
    names.write_text("\n".join("abcdef") + "\n")
    result = runner.invoke(
        app,
        [
            "centroids",
            str(folder / "letters.csv"),
            "--classes",
            str(names),
            "-o",
            str(tmp_path / "c.png"),
            "--csv",
            str(names),
        ],
    )
    assert result.exit_code == 1 and "would overwrite" in result.stderr
    assert names.read_text() == "\n".join("abcdef") + "\n"


def test_a_class_named_like_the_class_list_is_refused_for_png(tmp_path, five_class):
    x, y = five_class.train.images, five_class.train.labels
    ds = mnistlab.Dataset.from_arrays("c", (x, y), classes=["classes.txt", "b", "c", "d", "e"])
    mnistlab.save(ds, tmp_path / "n", "npz")
    result = runner.invoke(
        app, ["convert", str(tmp_path / "n"), "--to", "png", "-o", str(tmp_path / "p")]
    )
    assert result.exit_code == 1 and "a class named 'classes.txt'" in result.stderr
    assert "Errno None" not in result.stderr and not (tmp_path / "p").exists()
