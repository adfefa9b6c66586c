"""benchmark, train and predict on the command line, and the benchmark runner behind them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mnistlab import Dataset, save
from mnistlab.cli import app
from mnistlab.models import benchmark, load_model, results_table
from mnistlab.models.benchmark import RESULT_COLUMNS

runner = CliRunner()


@pytest.fixture
def dataset_file(tmp_path, five_class):
    save(five_class, tmp_path / "five", "npz")
    return str(tmp_path / "five" / "five.npz")


def test_benchmark_results_match_their_predictions(five_class):
    results = benchmark(five_class, "centroid,tree", progress=False)
    assert [r.model for r in results] == ["centroid", "tree"]
    for r in results:
        assert r.evaluation.accuracy == pytest.approx(np.mean(r.predictions == five_class.test.labels))
        assert r.evaluation.confusion.sum() == 25 and r.trained.test_accuracy == r.evaluation.accuracy
        mistakes = r.confident_mistakes(five_class.test.labels, top=50)
        assert (r.predictions[mistakes] != five_class.test.labels[mistakes]).all()
        assert len(mistakes) == int((r.predictions != five_class.test.labels).sum())
        assert (np.diff(r.confidence[mistakes]) <= 0).all()
        assert r.trained.fit_seconds > 0 and r.predict_seconds > 0
    table = results_table(results)
    assert list(table.columns) == list(RESULT_COLUMNS) and len(table) == 2


def test_benchmark_refuses_a_dataset_without_test_split(five_class):
    solo = Dataset.from_arrays("solo", (five_class.train.images, five_class.train.labels))
    with pytest.raises(ValueError, match="needs a train and a test split"):
        benchmark(solo, "centroid")


def test_benchmark_command_writes_results_and_figures(tmp_path, dataset_file):
    out = tmp_path / "bench"
    result = runner.invoke(
        app, ["benchmark", dataset_file, "--models", "centroid,logreg,mlp", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    rows = payload["results"]
    assert [r["model"] for r in rows] == ["centroid", "logreg", "mlp"]
    assert all(list(r) == list(RESULT_COLUMNS) for r in rows)
    table = pd.read_csv(out / "results.csv")
    assert list(table.columns) == list(RESULT_COLUMNS)
    np.testing.assert_allclose(table["test_accuracy"], [r["test_accuracy"] for r in rows])
    per_class = pd.read_csv(out / "per-class.csv")
    assert len(per_class) == 3 * 5 and set(per_class["class"]) >= {"two/II"}
    for model in ("centroid", "logreg", "mlp"):
        assert (out / f"confusion-five-{model}.png").read_bytes()[:4] == b"\x89PNG"
        seen = per_class[per_class.model == model]
        row = table[table.model == model].iloc[0]
        assert seen["correct"].sum() / seen["n"].sum() == pytest.approx(row["test_accuracy"])
    human = runner.invoke(app, ["benchmark", dataset_file, "--models", "centroid"])
    assert human.exit_code == 0 and "centroid" in human.stdout and "%" in human.stdout


def test_benchmark_command_refusals_write_nothing(tmp_path, dataset_file, five_class):
    out = tmp_path / "bench"
    unknown = runner.invoke(app, ["benchmark", dataset_file, "--models", "centroid,svm", "-o", str(out)])
    assert unknown.exit_code == 1 and "unknown model 'svm'" in unknown.output
    save(
        Dataset.from_arrays("solo", (five_class.train.images, five_class.train.labels)),
        tmp_path / "solo",
        "npz",
    )
    solo = runner.invoke(app, ["benchmark", str(tmp_path / "solo" / "solo.npz"), "-o", str(out)])
    assert solo.exit_code == 1 and "needs a train and a test split" in solo.output
    assert not out.exists()


def test_train_then_predict(tmp_path, dataset_file, five_class):
    model_file = tmp_path / "m.mnistlab"
    result = runner.invoke(
        app, ["train", dataset_file, "--model", "logreg", "-o", str(model_file), "--json"]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)
    assert (
        meta["model"] == "logreg" and meta["dataset"] == "five" and meta["model_file"] == str(model_file)
    )
    trained = load_model(model_file)
    np.save(tmp_path / "img.npy", five_class.test.images[4])
    refs = [f"{dataset_file}:test:3", str(tmp_path / "img.npy")]
    result = runner.invoke(app, ["predict", str(model_file), *refs, "--top", "2", "--json"])
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)["predictions"]
    expected = trained.predict_proba(five_class.test.images[[3, 4]])
    for row, scores in zip(predictions, expected, strict=True):
        assert row["label"] == int(scores.argmax()) and row["class"] == five_class.classes[row["label"]]
        assert row["score"] == pytest.approx(scores.max()) and len(row["top"]) == 2
    assert (
        predictions[0]["true_label"] == int(five_class.test.labels[3])
        and predictions[1]["true_label"] is None
    )
    human = runner.invoke(app, ["predict", str(model_file), refs[0]])
    assert human.exit_code == 0 and five_class.classes[predictions[0]["label"]] in human.stdout


def test_train_and_predict_refusals(tmp_path, dataset_file, five_class):
    model_file = tmp_path / "m.mnistlab"
    cases = [
        (["train", dataset_file, "--model", "resnet", "-o", str(model_file)], "unknown model 'resnet'"),
        (
            ["train", dataset_file, "--model", "logreg", "--epochs", "3", "-o", str(model_file)],
            "--epochs applies",
        ),
        (
            ["train", dataset_file, "--model", "logreg", "-o", str(tmp_path / "m.pkl")],
            "ending in .mnistlab",
        ),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and message in result.output, result.output
    assert not any(tmp_path.glob("m.*"))
    assert (
        runner.invoke(
            app, ["train", dataset_file, "--model", "centroid", "-o", str(model_file)]
        ).exit_code
        == 0
    )
    np.save(tmp_path / "small.npy", np.zeros((8, 8), np.uint8))
    np.save(tmp_path / "unit.npy", five_class.test.images[0] / 255)
    (tmp_path / "junk.mnistlab").write_bytes(b"PK\x03\x04 not really")
    other = tmp_path / "other"
    save(
        Dataset.from_arrays(
            "other", *[(s.images, s.labels) for s in (five_class.train, five_class.test)]
        ),
        other,
        "npz",
    )
    cases = [
        ([str(model_file), str(tmp_path / "small.npy")], "the image is 8x8, expected 12x10"),
        ([str(model_file), str(tmp_path / "unit.npy")], "scale 0..1 images by 255"),
        ([str(tmp_path / "junk.mnistlab"), f"{dataset_file}:test:0"], "damaged"),
        ([str(model_file), f"{other / 'other.npz'}:test:0"], "comes from other"),
        ([str(model_file), f"{dataset_file}:test:99"], "test has 25 images"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["predict", *args])
        assert result.exit_code == 1 and message in result.output, result.output
    allowed = runner.invoke(
        app, ["predict", str(model_file), f"{other / 'other.npz'}:test:0", "--any-dataset"]
    )
    assert allowed.exit_code == 0, allowed.output


def test_benchmark_checks_every_output_before_training(tmp_path, dataset_file):
    out = tmp_path / "bench"
    (out / "mistakes-five-knn.png").mkdir(parents=True)
    result = runner.invoke(app, ["benchmark", dataset_file, "--models", "centroid,knn", "-o", str(out)])
    assert (
        result.exit_code == 1
        and "mistakes-five-knn.png: exists and is not a regular file" in result.output
    )
    assert [p.name for p in out.iterdir()] == ["mistakes-five-knn.png"]


def test_train_refuses_an_unwritable_output_before_training(dataset_file):
    result = runner.invoke(
        app, ["train", dataset_file, "--model", "centroid", "-o", "/proc/model.mnistlab"]
    )
    assert result.exit_code == 1 and "cannot write in /proc" in result.output
    bad_seed = runner.invoke(app, ["train", dataset_file, "--model", "tree", "--seed", "-1"])
    assert bad_seed.exit_code != 0 and "seed" in bad_seed.output


def test_report_notes_a_dataset_no_model_can_learn(tmp_path, five_class):
    from mnistlab.report import build_report

    black = Dataset.from_arrays(
        "black",
        (np.zeros((20, 6, 6), np.uint8), np.arange(20) % 2),
        (np.zeros((6, 6, 6), np.uint8), np.arange(6) % 2),
    )
    path = build_report([black], tmp_path, models="centroid", progress=False)
    assert "No model could be trained on black" in path.read_text()
