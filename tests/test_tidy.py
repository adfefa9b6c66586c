"""Tidy tables: layout, compact dtypes, the inverse, files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mnistlab import FormatError, Split
from mnistlab.tidy import from_tidy, save_tidy, tidy


def test_layout_matches_an_independent_melt(five_class):
    split = five_class.train
    table = tidy(split, first=7)
    n, h, w = 7, *split.image_shape
    assert list(table.columns) == ["index", "label", "x", "y", "value"]
    assert len(table) == n * h * w
    # Independent construction: melt a wide frame and sort the same way.
    wide = pd.DataFrame(split.images[:n].reshape(n, -1))
    wide["index"] = np.arange(n)
    wide["label"] = split.labels[:n]
    long = wide.melt(id_vars=["index", "label"], var_name="pixel", value_name="value")
    long["x"] = long["pixel"].astype(int) % w
    long["y"] = long["pixel"].astype(int) // w
    long = long.sort_values(["index", "pixel"]).reset_index(drop=True)
    for column in ("index", "label", "x", "y", "value"):
        np.testing.assert_array_equal(table[column].to_numpy(), long[column].to_numpy())


def test_compact_dtypes():
    images = np.zeros((70_000, 28, 28), np.uint8)
    split = Split(images[:2], [0, 9], tuple("0123456789"))
    table = tidy(split)
    assert table.memory_usage(index=False).sum() / len(table) <= 8
    # Large indices widen only the index column.
    big = Split(images, np.zeros(70_000, int), ("a",))
    assert tidy(big)["index"].dtype == np.uint32
    assert tidy(big).memory_usage(index=False).sum() / (70_000 * 784) == 8


def test_subset_keeps_original_indices(five_class):
    sub = five_class.train.subset(label="two/II")
    table = tidy(sub)
    assert set(table["index"].unique()) == set(sub.indices.tolist())
    assert set(table["label"].unique()) == {2}


@settings(max_examples=40, deadline=None)
@given(
    images=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=6)),
    data=st.data(),
)
def test_from_tidy_inverts_tidy_in_any_row_order(images, data):
    labels = data.draw(hnp.arrays(np.int64, len(images), elements=st.integers(0, 2)))
    split = Split(images, labels, ("a", "b", "c"))
    table = tidy(split)
    shuffled = table.sample(frac=1.0, random_state=data.draw(st.integers(0, 1000)))
    back = from_tidy(shuffled, classes=split.classes)
    np.testing.assert_array_equal(back.images, split.images)
    np.testing.assert_array_equal(back.labels, split.labels)
    np.testing.assert_array_equal(back.indices, split.indices)


def test_from_tidy_refuses_broken_tables(five_class):
    table = tidy(five_class.train, first=3)
    with pytest.raises(FormatError, match="lacks columns"):
        from_tidy(table.drop(columns="y"))
    with pytest.raises(FormatError, match="need"):
        from_tidy(table.iloc[1:])
    doubled = pd.concat([table.iloc[:-1], table.iloc[:1]])
    with pytest.raises(FormatError, match="duplicate"):
        from_tidy(doubled)
    relabelled = table.copy()
    relabelled.loc[0, "label"] = 4
    with pytest.raises(FormatError, match="more than one label"):
        from_tidy(relabelled)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_save_tidy_round_trip(tmp_path, five_class, suffix):
    table = tidy(five_class.train, first=4)
    path = save_tidy(table, tmp_path / f"pixels{suffix}")
    back = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    assert list(back.columns) == list(table.columns)
    np.testing.assert_array_equal(back.to_numpy(), table.to_numpy())
    with pytest.raises(ValueError, match=r"parquet or \.csv"):
        save_tidy(table, tmp_path / "pixels.xlsx")
