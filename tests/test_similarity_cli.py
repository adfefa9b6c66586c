"""compare, similar and duplicates on the command line; single-image references."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mnistlab import Dataset, save
from mnistlab.cli import app
from mnistlab.data.images import load_image
from mnistlab.similarity import compare

runner = CliRunner()


@pytest.fixture
def dataset_file(tmp_path, five_class):
    save(five_class, tmp_path / "five", "npz")
    return str(tmp_path / "five" / "five.npz")


def test_image_references(tmp_path, dataset_file, five_class):
    import imageio.v3 as iio

    ref = load_image(f"{dataset_file}:test:3")
    np.testing.assert_array_equal(ref.pixels, five_class.test.images[3])
    assert ref.label == five_class.test.labels[3] and ref.class_name == five_class.classes[ref.label]
    assert load_image(f"{dataset_file}:test:-1").source.endswith("test:24")
    np.save(tmp_path / "x.npy", five_class.train.images[0])
    np.testing.assert_array_equal(load_image(str(tmp_path / "x.npy")).pixels, five_class.train.images[0])
    dark_on_light = 255 - five_class.train.images[1]
    iio.imwrite(tmp_path / "x.png", dark_on_light)
    with pytest.warns(UserWarning, match="light"):
        load_image(str(tmp_path / "x.png"))
    np.testing.assert_array_equal(
        load_image(str(tmp_path / "x.png"), invert=True).pixels, five_class.train.images[1]
    )
    resized = load_image(str(tmp_path / "x.png"), invert=True, shape=(24, 20), resize=True)
    assert resized.pixels.shape == (24, 20) and resized.pixels.dtype == np.uint8


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("digits:train", "not an image"),
        ("digits:train:x", "whole number"),
        ("digits:train:99999", "has 1347 images"),
        ("digits:valid:0", "split must be"),
        ("nope.npy", "no such file"),
    ],
)
def test_bad_image_references(ref, message):
    with pytest.raises(Exception, match=message):
        load_image(ref)


def test_shape_mismatch_needs_resize(tmp_path):
    np.save(tmp_path / "big.npy", np.zeros((30, 30), np.uint8))
    with pytest.raises(ValueError, match="--resize"):
        load_image(str(tmp_path / "big.npy"), shape=(8, 8))


def test_cli_compare_json_and_figure(tmp_path, dataset_file, five_class):
    out = tmp_path / "pair.png"
    result = runner.invoke(
        app, ["compare", f"{dataset_file}:train:0", f"{dataset_file}:train:1", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    expected = compare(five_class.train.images[0], five_class.train.images[1])
    assert payload["pearson"] == pytest.approx(expected.pearson) and payload["ssim"] == pytest.approx(
        expected.ssim
    )
    assert set(payload["context"]["more_similar_than"]["ssim"]) == {
        "random pair",
        "same-class nearest neighbour",
    }
    assert out.stat().st_size > 1000
    human = runner.invoke(app, ["compare", f"{dataset_file}:train:0", f"{dataset_file}:train:1"])
    assert human.exit_code == 0 and "ssim" in human.stdout and "structural similarity" in human.stdout


def test_cli_compare_refuses_different_sizes(tmp_path, dataset_file):
    np.save(tmp_path / "small.npy", np.zeros((4, 4), np.uint8))
    result = runner.invoke(app, ["compare", f"{dataset_file}:train:0", str(tmp_path / "small.npy")])
    assert result.exit_code == 1 and "--resize" in result.stderr
    resized = runner.invoke(
        app, ["compare", f"{dataset_file}:train:0", str(tmp_path / "small.npy"), "--resize", "--json"]
    )
    assert resized.exit_code == 0, resized.output


def test_cli_similar(tmp_path, dataset_file, five_class):
    out = tmp_path / "near.png"
    result = runner.invoke(
        app,
        [
            "similar",
            f"{dataset_file}:test:2",
            "--in",
            dataset_file,
            "--k",
            "3",
            "-o",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    neighbours = json.loads(result.stdout)["neighbours"]
    query = five_class.test.images[2].reshape(-1).astype(float)
    train = five_class.train.images.reshape(len(five_class.train), -1).astype(float)
    expected = np.argsort(np.linalg.norm(train - query, axis=1), kind="stable")[:3]
    assert [n["index"] for n in neighbours] == expected.tolist()
    assert out.exists()
    bad = runner.invoke(
        app, ["similar", f"{dataset_file}:test:2", "--in", dataset_file, "--metric", "l1"]
    )
    assert bad.exit_code == 1 and "unknown metric" in bad.stderr


def test_cli_duplicates(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (30, 6, 6)).astype(np.uint8)
    test = rng.integers(0, 256, (10, 6, 6)).astype(np.uint8)
    test[4] = train[7]
    ds = Dataset.from_arrays("leaky", (train, np.arange(30) % 2), (test, np.arange(10) % 2))
    save(ds, tmp_path / "leaky", "npz")
    out = tmp_path / "dups"
    result = runner.invoke(
        app, ["duplicates", str(tmp_path / "leaky" / "leaky.npz"), "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    leak = next(c for c in payload["counts"] if c["kind"] == "train-test")
    assert leak["exact"] == 1 and leak["labels_differ"] == 1  # train 7 is class 1, test 4 class 0
    table = pd.read_csv(out / "duplicates.csv")
    assert table.iloc[0][["index_a", "index_b", "exact"]].tolist() == [7, 4, True]
    assert (out / "duplicates.png").exists()
    bad = runner.invoke(app, ["duplicates", "digits", "--threshold", "-1"])
    assert bad.exit_code == 1


def test_a_train_only_dataset_gets_no_made_up_test_counts(tmp_path):
    """Without a test split, within-test and train-test pairs were never looked for: n/a, said
    why, in the API, the CLI (table and JSON) and the report; not a count of 0."""
    from mnistlab.report.analyses import Analyses
    from mnistlab.report.sections import SECTIONS
    from mnistlab.similarity import find_duplicates

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 6, 6), dtype=np.uint8)
    images[5] = images[1]
    ds = Dataset.from_arrays("only", (images, np.arange(40) % 2))
    found = find_duplicates(ds)
    assert found.counts()["kind"].tolist() == ["within train"]
    assert found.counts()["exact"].tolist() == [1]
    assert "no test split" in found.missing
    save(ds, tmp_path, "npz")
    result = runner.invoke(app, ["duplicates", str(tmp_path / "only.npz")])
    assert result.exit_code == 0
    lines = [
        line for line in result.stdout.splitlines() if "train-test" in line or "within test" in line
    ]
    assert lines and all("n/a" in line for line in lines)
    assert "no test split" in result.stdout
    payload = json.loads(runner.invoke(app, ["duplicates", str(tmp_path / "only.npz"), "--json"]).stdout)
    assert [c["kind"] for c in payload["counts"]] == ["within train"] and payload["not_searched"]
    panel = next(s for s in SECTIONS if s.id == "similarity").panel(Analyses(ds))
    rows = {row[0]: row[1:] for row in panel.tables[0].rows}
    assert rows["within train"][0] == "1" and rows["train-test"] == ["n/a", "n/a", "n/a"]
    assert "no test split" in panel.note
