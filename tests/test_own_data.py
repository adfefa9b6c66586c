"""Users' own data as people have it: names, class lists and label mappings, train-only data,
inverted polarity, validation splits, and results that point back at the files (issue 12)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mnistlab
from conftest import make_arrays
from mnistlab.cli import app
from mnistlab.data import formats
from mnistlab.data.dataset import Dataset, Polarity
from mnistlab.data.loading import default_name
from mnistlab.errors import FormatError

runner = CliRunner()


def run(*args, code=0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output + str(result.exception)
    return result


def kaggle_csv(path, n=40, n_classes=4, seed=0, labels_from=0):
    x, y = make_arrays(n, n_classes, shape=(6, 6), seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    formats.write_csv(path, x, y + labels_from, layout="kaggle")
    return x, y


def png_folder(root, n_per_class=3, classes=("cat", "dog"), value=lambda k, i: 40 * k + i):
    from PIL import Image

    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            Image.fromarray(np.full((5, 5), value(k, i), np.uint8)).save(root / name / f"{i}.png")


# --------------------------------------------------------------------------------------------
# Item 16: a dataset's name
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("kaggle/digits/train.csv", "digits"),
        ("x/mnist_train.csv", "mnist"),
        ("x/fashion-mnist_test.csv", "fashion-mnist"),
        ("x/emnist-letters-train.csv", "emnist-letters"),
        ("x/my.set.npz", "my.set"),
        ("x/mnist_data.npz", "mnist"),
        ("x/letters/data.npz", "letters"),
        ("x/sketches", "sketches"),
        ("x/sketches/train", "sketches"),
    ],
)
def test_files_are_named_after_what_people_mean(tmp_path, path, name):
    assert default_name(tmp_path / path) == name


def test_two_kaggle_folders_are_told_apart_and_name_overrides(tmp_path):
    """Kaggle's train.csv became "train" ("12 train images from train"), and two Kaggle folders
    could not be compared; now each is named after its folder, and --name sets a name."""
    kaggle_csv(tmp_path / "first" / "train.csv")
    kaggle_csv(tmp_path / "second" / "train.csv", seed=1)
    assert mnistlab.load(tmp_path / "first" / "train.csv").name == "first"
    assert mnistlab.load(tmp_path / "first" / "train.csv", name="mine").name == "mine"
    with pytest.raises(FormatError, match="dataset name"):
        mnistlab.load(tmp_path / "first" / "train.csv", name="a\nb")
    out = run(
        "onepixel",
        tmp_path / "first" / "train.csv",
        tmp_path / "second" / "train.csv",
        "--test-size",
        "0.25",
        "--name",
        "left",
        "--name",
        "right",
        "--json",
    ).stdout
    assert list(json.loads(out)["datasets"]) == ["left", "right"]
    result = run("info", tmp_path / "first" / "train.csv", "--name", "a", "--name", "b", code=2)
    assert "2 --name for 1 dataset" in result.output
    # The same folder name twice is refused instead of merging two datasets in a report.
    kaggle_csv(tmp_path / "third" / "first" / "train.csv")
    result = run(
        "onepixel",
        tmp_path / "first" / "train.csv",
        tmp_path / "third" / "first" / "train.csv",
        "--test-size",
        "0.25",
        code=2,
    )
    assert "two datasets are named 'first'" in result.output and "--name" in result.output


# --------------------------------------------------------------------------------------------
# Item 13: class names and label mappings
# --------------------------------------------------------------------------------------------


def test_emnist_mapping_renumbers_labels_and_names_classes(tmp_path):
    """EMNIST letters: labels 1..26 and a mapping.txt of character codes; the phantom class 0
    is gone and each class is named by its letters."""
    _x, y = kaggle_csv(tmp_path / "letters" / "emnist-letters-train.csv", n_classes=3, labels_from=1)
    (tmp_path / "letters" / "emnist-letters-mapping.txt").write_text("1 65 97\n2 66 98\n3 67 99\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "class 0 has no images" warning with a mapping
        ds = mnistlab.load(tmp_path / "letters" / "emnist-letters-train.csv")
    assert ds.classes == ("A/a", "B/b", "C/c")
    np.testing.assert_array_equal(ds.train.labels, y)
    # The same file without the mapping: the warning says how to fix it.
    (tmp_path / "letters" / "emnist-letters-mapping.txt").unlink()
    with pytest.warns(UserWarning, match="class 0 has no images"):
        assert mnistlab.load(tmp_path / "letters" / "emnist-letters-train.csv").classes[0] == "0"


def test_classes_option_takes_names_or_label_mappings(tmp_path):
    _x, y = kaggle_csv(tmp_path / "d" / "train.csv", n_classes=3, labels_from=1)
    names = tmp_path / "names.txt"
    names.write_text("1 cat\n2 dog\n3 hot dog\n")
    payload = json.loads(run("info", tmp_path / "d" / "train.csv", "--classes", names, "--json").stdout)
    assert payload["classes"] == ["cat", "dog", "hot dog"]
    assert payload["splits"]["train"]["class_counts"]["hot dog"] == int((y == 2).sum())
    names.write_text("1 cat\n2 dog\n")
    result = run("info", tmp_path / "d" / "train.csv", "--classes", names, code=1)
    assert "labels [3]" in result.output and "not in the class mapping" in result.output
    names.write_text("zero\none\ntwo\nthree\n")  # one name per line, for labels 0..3
    ds = mnistlab.load(tmp_path / "d" / "train.csv", classes=names)
    assert ds.classes == ("zero", "one", "two", "three")
    # A classes.txt beside the file is used without being named.
    (tmp_path / "d" / "classes.txt").write_text("none\nA\nB\nC\n")
    assert mnistlab.load(tmp_path / "d" / "train.csv").classes == ("none", "A", "B", "C")
    with pytest.raises(ValueError, match="has its own class names"):
        mnistlab.load("digits", classes=["a"] * 10)
    result = run("info", "digits", "--classes", names, code=2)
    assert "--classes applies to datasets read from files" in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 cat\n1 dog\n", "mapped twice"),
        ("1 7\n2 0\n", "not printable"),
        ("a\nb\na\n", "duplicate"),
        ("cat\rdog\nbird\n", "control character"),
        # Files that could be read two ways (second fault-injection pass) are refused.
        ("# label ascii\n0 48\n1 49\n", r"mixes LABEL NAME lines.*'# label ascii'"),
        ("-1 neg\n0 zero\n1 one\n", r"mixes LABEL NAME lines.*'-1 neg'"),
        ("0 zero\none\n", r"mixes LABEL NAME lines.*'one'"),
        ("# my classes\ncat\ndog\n", r"line '# my classes' looks like a comment"),
        ("²  cat\n0 dog\n", r"mixes LABEL NAME lines.*'²  cat'"),
        ("99999999999999999999999 cat\n", r"above 2147483647"),
        ("0 " + "9" * 5000 + "\n", r"not printable character codes"),
    ],
)
def test_bad_class_files_are_refused(tmp_path, text, message):
    path = tmp_path / "classes.txt"
    path.write_text(text, newline="", encoding="utf-8")
    with pytest.raises(FormatError, match=message):
        formats.read_classes(path)


def test_mapping_for_image_folders_named_by_label(tmp_path):
    png_folder(tmp_path / "data", classes=("1", "2"))
    ds = mnistlab.load(tmp_path / "data", classes={1: "one", 2: "two"})
    assert ds.classes == ("one", "two") and ds.train.labels.tolist() == [0, 0, 0, 1, 1, 1]


# --------------------------------------------------------------------------------------------
# Item 14: a seeded stratified hold-out
# --------------------------------------------------------------------------------------------


def test_hold_out_is_stratified_seeded_and_traceable(tmp_path):
    x, y = kaggle_csv(tmp_path / "k" / "train.csv", n=80, n_classes=4)
    ds = mnistlab.load(tmp_path / "k" / "train.csv", test_size=0.25, seed=3)
    assert len(ds.train) == 60 and len(ds.test) == 20
    assert np.bincount(ds.test.labels).tolist() == [5, 5, 5, 5]
    # Every image lands in exactly one split, and indices point at the file's rows.
    both = np.concatenate([ds.train.indices, ds.test.indices])
    assert sorted(both.tolist()) == list(range(80))
    np.testing.assert_array_equal(ds.test.images, x[ds.test.indices])
    np.testing.assert_array_equal(ds.test.labels, y[ds.test.indices])
    again = mnistlab.load(tmp_path / "k" / "train.csv", test_size=0.25, seed=3)
    np.testing.assert_array_equal(again.test.indices, ds.test.indices)
    other = mnistlab.load(tmp_path / "k" / "train.csv", test_size=0.25, seed=4)
    assert other.test.indices.tolist() != ds.test.indices.tolist()
    assert len(mnistlab.load(tmp_path / "k" / "train.csv", test_size=8).test) == 8


@pytest.mark.parametrize(
    ("size", "message"), [(0, "between 0 and 1"), (1.5, "between 0 and 1"), (79, "stratified")]
)
def test_bad_hold_outs_are_refused(tmp_path, size, message):
    kaggle_csv(tmp_path / "k" / "train.csv", n=80, n_classes=4)
    with pytest.raises(ValueError, match=message):
        mnistlab.load(tmp_path / "k" / "train.csv", test_size=size)


def test_hold_out_is_refused_when_there_is_a_test_split(five_class):
    with pytest.raises(ValueError, match="already has a test split"):
        five_class.hold_out(0.2)


def test_train_only_cli_gets_test_numbers_with_test_size(tmp_path):
    kaggle_csv(tmp_path / "k" / "train.csv", n=80, n_classes=4)
    out = run("duplicates", tmp_path / "k" / "train.csv", "--json").stdout
    assert json.loads(out)["not_searched"]  # n/a without a test split
    out = run("duplicates", tmp_path / "k" / "train.csv", "--test-size", "0.25", "--json").stdout
    payload = json.loads(out)
    assert not payload["not_searched"]
    assert {c["kind"] for c in payload["counts"]} == {"within train", "within test", "train-test"}


# --------------------------------------------------------------------------------------------
# Item 12: polarity
# --------------------------------------------------------------------------------------------


def ink_on_paper(tmp_path):
    """MNIST-like images (a bright stroke on black) and a file of them inverted (dark on light)."""
    rng = np.random.default_rng(0)
    x = np.zeros((40, 8, 8), np.uint8)
    y = np.arange(40) % 4
    for i in range(40):
        x[i, 2:6, 1 + y[i] : 3 + y[i]] = rng.integers(150, 256)
    ds = Dataset.from_arrays("ink", (x, y), (x[:12], y[:12]))
    paper = Dataset.from_arrays("paper", (255 - x, y), (255 - x[:12], y[:12]))
    return ds, mnistlab.save(paper, tmp_path, "npz")[0]


def test_polarity_is_detected_said_and_undone(tmp_path):
    ink, path = ink_on_paper(tmp_path)
    assert Polarity.of(ink.train.images).kind == "light-on-dark"
    with pytest.warns(UserWarning, match="dark ink on a light background.*invert=True"):
        ds = mnistlab.load(path)
    assert ds.polarity().kind == "dark-on-light" and ds.summary()["polarity"] == "dark-on-light"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flipped = mnistlab.load(path, invert=True)
    np.testing.assert_array_equal(flipped.train.images, ink.train.images)
    result = run("info", path)
    assert "dark ink on a light background" in result.stdout and "--invert" in result.output
    assert "light ink on a dark background" in run("info", path, "--invert").stdout


def test_similar_advice_follows_the_dataset_polarity(tmp_path):
    """`similar` advised --invert for a query already in the dataset's own polarity; following
    the advice gave wrong neighbours. The advice now compares the query with the dataset."""
    from PIL import Image

    ink, path = ink_on_paper(tmp_path)
    query = tmp_path / "q.png"
    Image.fromarray(255 - ink.train.images[7]).save(query)  # as dark-on-light as the data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run("similar", query, "--in", path, "--k", "1", "--json")
    assert "Warning" not in result.output.replace(result.stdout, "")
    assert json.loads(result.stdout)["neighbours"][0]["index"] == 7
    result = run("similar", query, "--in", path, "--k", "1", "--invert", "--json")
    assert "once inverted" in result.output and "drop invert (--invert)" in result.output
    # Both inverted: the MNIST convention again, and the same neighbour.
    result = run("similar", query, "--in", path, "--invert-in", "--invert", "--k", "1", "--json")
    assert json.loads(result.stdout)["neighbours"][0]["index"] == 7
    assert "Warning" not in result.output.replace(result.stdout, "")


# --------------------------------------------------------------------------------------------
# Items 11, 17, 19: image folders: validation splits, file paths, progress and advice
# --------------------------------------------------------------------------------------------


def test_results_name_the_files_of_image_folder_datasets(tmp_path):
    root = tmp_path / "pets"
    png_folder(root / "train", n_per_class=4)
    png_folder(root / "test", n_per_class=2, value=lambda k, i: 40 * k + i + 10)
    # An exact train-test duplicate and an outlier, to be found by file name.
    from PIL import Image

    Image.fromarray(np.full((5, 5), 2, np.uint8)).save(root / "test" / "cat" / "copy.png")
    Image.fromarray(np.full((5, 5), 250, np.uint8)).save(root / "train" / "cat" / "odd.png")
    run("atypical", root, "-o", tmp_path / "a.png", "--csv", tmp_path / "a.csv")
    table = pd.read_csv(tmp_path / "a.csv")
    worst = table.sort_values("distance").iloc[-1]
    assert worst["file"].endswith("cat/odd.png") and worst["class"] == "cat"
    assert (root / "train" / "cat" / "odd.png").samefile(worst["file"])
    run("duplicates", root, "-o", tmp_path / "d")
    pairs = pd.read_csv(tmp_path / "d" / "duplicates.csv")
    leak = pairs[(pairs["kind"] == "train-test") & pairs["exact"]]
    assert len(leak) == 1
    assert leak.iloc[0]["file_a"].endswith("train/cat/2.png")
    assert leak.iloc[0]["file_b"].endswith("test/cat/copy.png")
    out = run("similar", root / "test" / "cat" / "copy.png", "--in", root, "--k", "1", "--json").stdout
    assert json.loads(out)["neighbours"][0]["file"].endswith("train/cat/2.png")


def test_validation_split_is_loaded_and_saved(tmp_path):
    root = tmp_path / "pets"
    png_folder(root / "train")
    png_folder(root / "valid", n_per_class=2)
    ds = mnistlab.load(root)
    assert ds.test is None and len(ds.validation) == 4
    assert list(ds.summary()["splits"]) == ["train", "validation"]
    assert "validation" in run("info", root).stdout
    for to in ("idx", "csv", "csv-kaggle", "npz", "png"):
        written = mnistlab.save(ds, tmp_path / to, to)
        back = mnistlab.load(written[0] if to == "npz" else tmp_path / to)
        assert back.test is None, to
        np.testing.assert_array_equal(back.validation.images, ds.validation.images, err_msg=to)
        np.testing.assert_array_equal(back.validation.labels, ds.validation.labels, err_msg=to)


def test_large_folders_show_progress_and_advise_converting(tmp_path, monkeypatch):
    from mnistlab.data import loading

    png_folder(tmp_path / "big", n_per_class=3)
    monkeypatch.setattr(loading, "MANY_IMAGE_FILES", 6)
    with pytest.warns(UserWarning, match=r"read 6 image files.*mnistlab convert .* --to npz"):
        mnistlab.load(tmp_path / "big")
    monkeypatch.setattr(loading, "MANY_IMAGE_FILES", 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mnistlab.load(tmp_path / "big")
    import io

    from rich.console import Console

    from mnistlab import progress

    sink = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=sink, force_terminal=True, width=100))
    mnistlab.load(tmp_path / "big", progress=True)
    assert "reading 6 images in" in sink.getvalue()


def test_a_failed_save_leaves_no_new_folders(five_class, tmp_path, monkeypatch):
    """convert on a full disk left an empty output folder; the folders it made are removed."""
    import errno

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(formats, "write_idx", full)
    with pytest.raises(OSError, match="No space left"):
        mnistlab.save(five_class, tmp_path / "new" / "deeper", "idx")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    with pytest.raises(OSError):
        mnistlab.save(five_class, tmp_path / "kept", "idx")
    assert (tmp_path / "kept").is_dir() and list((tmp_path / "kept").iterdir()) == []
