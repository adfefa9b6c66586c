"""Dataset and Split: validation at the boundary, selection, counts."""

from __future__ import annotations

import numpy as np
import pytest

from mnistlab import Dataset, FormatError, Split


def split(n=6, classes=("a", "b", "c")):
    images = np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2)
    return Split(images, np.arange(n) % len(classes), classes)


def test_types_are_normalised():
    s = Split(np.ones((2, 3, 3), dtype=np.int64) * 7, np.array([0, 1], dtype=np.uint8), ["x", "y"])
    assert s.images.dtype == np.uint8
    assert s.labels.dtype == np.int64
    assert s.classes == ("x", "y")
    assert s.image_shape == (3, 3)


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (np.zeros((2, 4)), [0, 1], r"shape \(n, height, width\)"),
        (np.zeros((2, 2, 2)), [0], "2 images but 1 labels"),
        (np.full((1, 2, 2), np.nan), [0], "NaN"),
        (np.full((1, 2, 2), 256), [0], r"0\.\.255"),
        (np.full((1, 2, 2), -3), [0], r"0\.\.255"),
        (np.zeros((1, 2, 2)), [5], "no class name"),
        (np.zeros((1, 2, 2)), [-1], ">= 0"),
        (np.zeros((1, 2, 2)), [0.5], "whole numbers"),
    ],
)
def test_bad_arrays_are_refused(images, labels, message):
    with pytest.raises(FormatError, match=message):
        Split(np.asarray(images), np.asarray(labels), ("a", "b"))


def test_subset_and_slicing_keep_original_indices():
    s = split(9)
    b = s.subset(label="b")
    assert b.labels.tolist() == [1, 1, 1]
    assert b.indices.tolist() == [1, 4, 7]
    assert s.subset(first=2, label=1).indices.tolist() == [1, 4]
    assert s[::4].indices.tolist() == [0, 4, 8]
    assert len(s[[3]]) == 1 and s[[3]].indices.tolist() == [3]
    # One position is one (image, label) pair, as in torchvision; iteration gives the pairs.
    image, label = s[3]
    np.testing.assert_array_equal(image, s.images[3])
    assert label == s.labels[3] and isinstance(label, int)
    assert [lab for _, lab in s] == s.labels.tolist()
    np.testing.assert_array_equal(s[[2, 0]].images[1], s.images[0])


def test_class_index_errors():
    s = split()
    assert s.class_index("c") == 2 and s.class_index("2") == 2
    with pytest.raises(ValueError, match="out of range"):
        s.class_index(3)
    with pytest.raises(ValueError, match="neither a class index"):
        s.class_index("zebra")
    with pytest.raises(ValueError, match=">= 0"):
        s.subset(first=-1)


def test_class_counts_include_empty_classes():
    s = Split(np.zeros((3, 1, 1), np.uint8), [0, 0, 2], ("a", "b", "c"))
    assert s.class_counts() == {"a": 2, "b": 0, "c": 1}


def test_dataset_summary_and_splits(five_class):
    summary = five_class.summary()
    assert summary["image_shape"] == [12, 10]
    assert summary["splits"]["train"]["n"] == 60
    assert sum(summary["splits"]["test"]["class_counts"].values()) == 25
    assert five_class.split("test") is five_class.test
    with pytest.raises(ValueError, match="one of train, test, validation"):
        five_class.split("valid")
    with pytest.raises(ValueError, match="has no validation split"):
        five_class.split("validation")


def test_dataset_without_test_split():
    ds = Dataset.from_arrays("t", (np.zeros((2, 2, 2)), [0, 1]))
    assert list(ds.splits) == ["train"] and ds.classes == ("0", "1")
    with pytest.raises(ValueError, match="no test split"):
        ds.split("test")


def test_splits_must_agree_on_shape():
    with pytest.raises(FormatError, match="same image shape"):
        Dataset.from_arrays("t", (np.zeros((2, 2, 2)), [0, 1]), (np.zeros((2, 3, 3)), [0, 1]))


def test_subset_takes_several_classes_and_seeded_samples():
    s = split(30)
    assert s.subset(label=["a", 2]).labels.tolist() == [0, 2] * 10
    sample = s.subset(sample=9, seed=1)
    assert sample.class_counts() == {"a": 3, "b": 3, "c": 3}  # stratified
    assert sample.indices.tolist() == sorted(sample.indices.tolist())  # original order kept
    assert s.subset(sample=9, seed=1).indices.tolist() == sample.indices.tolist()
    assert s.subset(sample=9, seed=2).indices.tolist() != sample.indices.tolist()
    assert len(s.subset(sample=0.5, stratify=False)) == 15
    for bad in (0, 31, -1, 1.5, "3", True):
        with pytest.raises(ValueError, match="sample must be"):
            s.subset(sample=bad)
    with pytest.raises(ValueError, match="first must be"):
        s.subset(first=2.5)
