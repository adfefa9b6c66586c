"""mnistlab.load / mnistlab.save: every supported file layout round-trips."""

from __future__ import annotations

import numpy as np
import pytest

import mnistlab
from mnistlab.errors import FormatError, UnknownDatasetError


def assert_same(a, b):
    for name in a.splits:
        np.testing.assert_array_equal(a.splits[name].images, b.splits[name].images)
        np.testing.assert_array_equal(a.splits[name].labels, b.splits[name].labels)


@pytest.mark.parametrize("to", ["idx", "png"])
def test_save_and_load_folder_formats(five_class, tmp_path, to):
    mnistlab.save(five_class, tmp_path, to)
    back = mnistlab.load(tmp_path)
    assert back.image_shape == (12, 10)
    assert back.classes == five_class.classes  # kept in classes.txt
    if to == "idx":
        assert_same(five_class, back)
        return
    # PNG files come back grouped by class: compare per class as multisets of images.
    for name, split in five_class.splits.items():
        got = back.splits[name]
        for k in range(len(five_class.classes)):
            want = sorted(map(bytes, split.images[split.labels == k]))
            assert sorted(map(bytes, got.images[got.labels == k])) == want


def test_csv_of_non_square_images_needs_a_shape(five_class, tmp_path):
    rows = np.column_stack([five_class.train.labels, five_class.train.images.reshape(60, -1)])
    np.savetxt(tmp_path / "five_train.csv", rows, fmt="%d", delimiter=",")
    with pytest.raises(FormatError, match="do not form a square image"):
        mnistlab.load(tmp_path)


def test_save_and_load_csv_square(tmp_path):
    ds = mnistlab.load("digits")
    for to in ("csv", "csv-kaggle"):
        folder = tmp_path / to
        mnistlab.save(ds, folder, to)
        assert_same(ds, mnistlab.load(folder))
        single = next(folder.glob("*train*.csv"))
        assert len(mnistlab.load(single).train) == len(ds.train)


def test_save_and_load_npz(five_class, tmp_path):
    (path,) = mnistlab.save(five_class, tmp_path, "npz")
    back = mnistlab.load(path)
    assert_same(five_class, back)
    assert back.classes == five_class.classes  # stored as a unicode array, no pickle


def test_explicit_classes_override_the_stored_ones(five_class, tmp_path):
    mnistlab.save(five_class, tmp_path, "idx")
    names = ["A", "B", "C", "D", "E"]
    assert mnistlab.load(tmp_path, classes=names).classes == tuple(names)


def test_csv_files_are_named_after_the_dataset(tmp_path):
    written = mnistlab.save(mnistlab.load("digits"), tmp_path, "csv")
    assert [p.name for p in written] == ["digits_train.csv", "digits_test.csv", "classes.txt"]


def test_digits_is_built_in_and_scaled():
    ds = mnistlab.load("digits")
    assert ds.image_shape == (8, 8)
    assert len(ds.train) + len(ds.test) == 1797
    assert ds.train.images.max() == 255 and ds.train.images.dtype == np.uint8


def test_unknown_name_and_missing_path():
    with pytest.raises(UnknownDatasetError, match="Did you mean 'mnist'"):
        mnistlab.load("mnits")
    with pytest.raises(FileNotFoundError, match="No such file"):
        mnistlab.load("nowhere/data.npz")


def test_folder_without_dataset(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(FormatError, match="found no dataset here"):
        mnistlab.load(tmp_path)


def test_image_count_mismatch_in_idx_folder(five_class, tmp_path):
    mnistlab.save(five_class, tmp_path, "idx")
    from mnistlab.data.formats import write_idx

    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(59, np.uint8))
    with pytest.raises(FormatError, match=r"declares 60 images but .* 59 labels"):
        mnistlab.load(tmp_path)


def test_ambiguous_idx_folder(five_class, tmp_path):
    mnistlab.save(five_class, tmp_path, "idx")
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(FormatError, match="several files"):
        mnistlab.load(tmp_path)


def test_unknown_save_format(five_class, tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        mnistlab.save(five_class, tmp_path, "parquet-ish")
