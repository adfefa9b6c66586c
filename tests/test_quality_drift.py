"""Train/test drift: splits from one generator show none; a shifted or thickened test split, and
changed class proportions, are detected; bad inputs are refused with the reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnistlab.data import Dataset
from mnistlab.quality.drift import split_drift
from test_quality_images import strokes


def dataset(test_images, test_labels, train_seed=1):
    return Dataset.from_arrays("generated", strokes(1500, train_seed), (test_images, test_labels))


def test_splits_from_one_generator_show_no_drift():
    """The interval includes chance (under no drift, cross-validated accuracy scatters around 0.5,
    a little below it on average: seeds 2 and 5 give intervals just under 0.5; never above)."""
    drift = split_drift(dataset(*strokes(1500, 3)))
    c = drift.classifier
    assert c["ci_low"] <= 0.5 <= c["ci_high"] and not c["detected"] and c["chance"] == 0.5
    assert c["p_value"] > 0.05
    assert c["images_per_split"] == 1500 and c["total"] == 3000
    assert drift.class_test["p_value"] > 0.05
    assert drift.verdict.startswith("No drift detected")
    assert drift.pixel_difference()["max_abs"] < 15
    json.dumps(drift.to_dict())


@pytest.mark.parametrize("change", [{"shift": 2}, {"thickness": 1.6}])
def test_a_shifted_or_thickened_test_split_is_detected(change):
    drift = split_drift(dataset(*strokes(1500, 2, **change)))
    c = drift.classifier
    assert c["detected"] and c["ci_low"] > 0.5 and c["p_value"] < 1e-6
    assert drift.verdict.startswith("Drift:")
    if "thickness" in change:
        means = drift.pixels.set_index("split")["mean_value"]
        assert means["test"] > means["train"] * 1.2


def test_changed_class_proportions_are_detected():
    images, labels = strokes(1500, 2)
    keep = (labels != 1) | (np.arange(len(labels)) % 5 == 0)  # 4 in 5 bars left out
    drift = split_drift(dataset(images[keep], labels[keep]))
    assert drift.class_test["p_value"] < 1e-6 and drift.class_test["dof"] == 2
    row = drift.classes.set_index("class").loc["1"]
    assert row["test_share"] < row["train_share"] and row["train"] == 500
    assert "class proportions differ" in drift.verdict and "most: 1" in drift.verdict


def test_sample_is_seeded_and_balanced():
    ds = dataset(*strokes(400, 2))
    a, b = split_drift(ds, seed=3), split_drift(ds, seed=3)
    assert a.classifier == b.classifier and a.classifier["images_per_split"] == 400
    assert split_drift(ds, max_images=100).classifier["total"] == 200


def test_bad_inputs_are_refused_with_the_reason():
    train_only = Dataset.from_arrays("train-only", strokes(100, 1))
    with pytest.raises(ValueError, match="no test split"):
        split_drift(train_only)
    ds = dataset(*strokes(100, 2))
    with pytest.raises(TypeError, match="Dataset"):
        split_drift(ds.train)
    for option, message in [
        ({"seed": -1}, "seed"),
        ({"max_images": 5}, "max_images"),
        ({"folds": 1}, "folds"),
        ({"confidence": 1.5}, "confidence"),
    ]:
        with pytest.raises(ValueError, match=message):
            split_drift(ds, **option)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_datasets(name, real_cache):
    """MNIST's test writers are not its training writers: a linear model tells the splits apart
    slightly (accuracy about 0.52); Fashion-MNIST's random split: no drift."""
    import mnistlab

    drift = split_drift(mnistlab.load(name, download=False, progress=False))
    c = drift.classifier
    assert drift.class_test["p_value"] > 0.5
    if name == "mnist":
        assert c["detected"] and c["accuracy"] < 0.55
    else:
        assert not c["detected"]
