"""label_issues: every kind of issue in one table, from given or fitted probabilities; the
label-issues command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mnistlab
from mnistlab.cli import app
from mnistlab.quality import Probabilities, confident_learning, label_issues
from mnistlab.quality.issues import AMBIGUOUS_MARGIN, KINDS, TABLE_COLUMNS, outliers


def _dataset_with_problems():
    """Three well-separated classes of 8x8 images; three training labels flipped, one image far
    from every class, one exact copy given another label."""
    rng = np.random.default_rng(3)
    k, n = 3, 90
    labels = np.arange(n) % k
    images = rng.integers(0, 30, (n, 8, 8)).astype(np.uint8)  # every image its own
    for i, c in enumerate(labels):
        images[i, :, 2 * c : 2 * c + 3] = 200 + rng.integers(0, 40)  # a bar per class
    images[40] = 255 - images[40] // 2  # far from every centroid
    images[50] = images[51]
    labels[50] = (labels[51] + 1) % k  # a copy with another label
    true = labels.copy()
    flipped = [3, 17, 29]
    labels[flipped] = (labels[flipped] + 1) % k
    test_labels = np.arange(30) % k
    test_images = images[:30].copy()
    ds = mnistlab.Dataset.from_arrays(
        "bars", (images, labels), (test_images, test_labels), classes=["left", "middle", "right"]
    )
    return ds, true, flipped


def _probabilities(ds, split: str, true: np.ndarray, ties=()) -> Probabilities:
    """What a good model of the true classes would say (not knowing the flipped labels)."""
    chosen = ds.split(split)
    p = np.full((len(chosen), 3), 0.05)
    p[np.arange(len(chosen)), true] = 0.9
    for i in ties:  # two classes nearly equally likely
        p[i] = [0.48, 0.47, 0.05]
    return Probabilities(
        ds.name,
        split,
        "logreg",
        5 if split == "train" else None,
        0,
        tuple(ds.classes),
        np.asarray(chosen.indices),
        np.asarray(chosen.labels),
        p,
    )


def test_every_kind_of_issue_in_one_table():
    ds, true, flipped = _dataset_with_problems()
    given = _probabilities(ds, "train", true, ties=[60])
    found = label_issues(
        ds, "train", probabilities=given, duplicates=mnistlab.find_duplicates(ds, threshold=0)
    )
    table = found.table
    assert list(table.columns) == TABLE_COLUMNS
    errors = found.label_errors("train")
    assert sorted(errors["position"]) == flipped
    assert (errors["suggested_label"].to_numpy() == true[errors["position"]]).all()
    reference = confident_learning(ds.train.labels, given.probabilities)
    assert errors["position"].tolist() == reference.issues.tolist()
    assert errors["rank"].tolist() == list(range(1, len(errors) + 1))
    unsure = table[table["kind"] == "ambiguous"]
    assert unsure["position"].tolist() == [60] and unsure["score"].iloc[0] < AMBIGUOUS_MARGIN
    far = table[table["kind"] == "outlier"]
    assert far["position"].tolist() == [40]
    pair = table[table["kind"] == "duplicate, labels differ"]
    # the planted copy, and the flipped images, whose copies in the test split keep the true label
    assert sorted(pair["position"]) == [3, 17, 29, 50, 51]
    row = pair.set_index("position").loc[50]
    assert row["suggested_label"] == ds.train.labels[51] and row["score"] == 0
    assert found.counts() == {KINDS[0]: 3, KINDS[1]: 1, KINDS[2]: 1, KINDS[3]: 5}
    summary = found.summary()["splits"]["train"]
    assert summary["estimated_label_errors"] == 3 and summary["images"] == 90
    noise = found.noise_matrix()
    assert list(noise.index) == ["left", "middle", "right"]
    np.testing.assert_allclose(noise.sum(axis=0), 1)
    per_class = found.per_class()
    assert per_class["issues_found"].sum() == 3 and per_class["images"].sum() == 90
    assert "label error: 3" in repr(found)


def test_both_splits_and_probabilities_that_do_not_belong():
    ds, true, _ = _dataset_with_problems()
    both = {
        "train": _probabilities(ds, "train", true),
        "test": _probabilities(ds, "test", ds.test.labels),
    }
    found = label_issues(ds, "both", probabilities=both)
    assert set(found.found) == {"train", "test"}
    assert len(found.label_errors("test")) == 0 and len(found.label_errors("train")) == 3
    with pytest.raises(ValueError, match="unknown split"):
        label_issues(ds, "valid", probabilities=both["train"])
    reversed_labels = (ds.train.images, ds.train.labels[::-1].copy())
    other = mnistlab.Dataset.from_arrays("other", reversed_labels, classes=ds.classes)
    with pytest.raises(ValueError, match="other labels than this split's"):
        label_issues(other, "train", probabilities=both["train"])
    renamed = mnistlab.Dataset.from_arrays("renamed", (ds.train.images, ds.train.labels))
    with pytest.raises(ValueError, match="are of the classes"):
        label_issues(renamed, "train", probabilities=both["train"])
    with pytest.raises(ValueError, match="are of 90 images; the split has 30"):
        label_issues(ds, "test", probabilities={"test": both["train"]})
    no_test = mnistlab.Dataset.from_arrays("no-test", (ds.train.images, ds.train.labels))
    with pytest.raises(ValueError, match="no test split"):
        label_issues(no_test, "test")


def test_outliers_lie_beyond_the_far_fence():
    distances = np.r_[np.linspace(10, 20, 100), 50.0, 21.0]
    found, far, fence = outliers(distances)
    assert found.tolist() == [100] and far.tolist() == [50.0]
    q1, q3 = np.percentile(distances, [25, 75])
    assert fence == pytest.approx(q3 + 3 * (q3 - q1))


def test_label_issues_fits_out_of_sample_probabilities(five_class):
    found = label_issues(five_class, "train", "logreg", folds=3, progress=False)
    p = found.probabilities["train"]
    assert p.folds == 3 and p.model == "logreg" and p.probabilities.shape == (60, 5)
    assert found.summary()["model"] == "logreg"


def test_the_label_issues_command(tmp_path):
    ds, true, flipped = _dataset_with_problems()
    saved = tmp_path / "bars"
    mnistlab.save(ds, saved, "npz")
    probabilities = tmp_path / "p-train"
    _probabilities(ds, "train", true).save(probabilities)
    runner = CliRunner()
    out = tmp_path / "out"
    args = ["label-issues", str(saved), "-o", str(out), "--probabilities", str(probabilities)]
    done = runner.invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["splits"]["train"]["estimated_label_errors"] == 3
    table = pd.read_csv(out / "issues.csv")
    assert sorted(table[table["kind"] == "label error"]["position"]) == flipped
    for name in ("summary.json", "noise-matrix-train.png", "issues-train.png"):
        assert (out / name).stat().st_size > 0
    shown = runner.invoke(app, [*args[:2], "--probabilities", str(probabilities), "--no-duplicates"])
    assert "estimated label errors 3" in shown.stdout and "given" in shown.stdout
    bad = runner.invoke(app, ["label-issues", str(saved), "--split", "valid"])
    assert bad.exit_code == 2 and "unknown split" in bad.stderr
    first_run = (out / "issues.csv").read_bytes()
    again = runner.invoke(app, args)  # its own files are replaced, with the same results
    assert again.exit_code == 0 and (out / "issues.csv").read_bytes() == first_run
