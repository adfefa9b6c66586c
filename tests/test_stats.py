"""Statistics checked against independent computations (pandas on the tidy table, numpy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mnistlab import stats
from mnistlab._utils import blocks
from mnistlab.tidy import tidy


def test_centroids_equal_groupby_on_the_tidy_table(five_class):
    split = five_class.train
    result = stats.centroids(split.images, split.labels, split.classes)
    expected = tidy(split).groupby(["label", "y", "x"])["value"].mean()
    k, _h, _w = result.means.shape
    np.testing.assert_allclose(result.means.reshape(-1), expected.to_numpy(), rtol=1e-12)
    assert result.counts.tolist() == np.bincount(split.labels, minlength=k).tolist()


@pytest.mark.parametrize("block_bytes", [8 * 120 * 7, 8 * 120 * 200_000])
def test_results_do_not_depend_on_the_block_size(five_class, monkeypatch, block_bytes):
    # 7 images per block, and blocks so large that the float64 path replaces the float32 one.
    split = five_class.train
    whole = stats.centroids(split.images, split.labels, split.classes)
    distances = stats.distance_to_centroid(split.images, split.labels, whole.means)
    monkeypatch.setattr(blocks, "FLOAT_BLOCK_BYTES", block_bytes)
    chunked = stats.centroids(split.images, split.labels, split.classes)
    np.testing.assert_allclose(chunked.means, whole.means, rtol=1e-12)
    again = stats.distance_to_centroid(split.images, split.labels, chunked.means)
    np.testing.assert_allclose(again, distances, rtol=1e-12)


def test_empty_class_centroid_is_nan():
    images = np.zeros((2, 2, 2), np.uint8)
    result = stats.centroids(images, np.array([0, 0]), ("a", "b"))
    assert np.isnan(result.means[1]).all() and result.counts.tolist() == [2, 0]


def test_distances_match_the_tidy_route(five_class):
    split = five_class.train
    result = stats.typicality(split.images, split.labels, split.classes, split.indices)
    long = tidy(split)
    centre = long.groupby(["label", "x", "y"])["value"].mean().rename("centre").reset_index()
    joined = long.merge(centre, on=["label", "x", "y"])
    joined["sq"] = (joined["value"].astype(float) - joined["centre"]) ** 2
    expected = np.sqrt(joined.groupby("index")["sq"].mean())
    np.testing.assert_allclose(result.distances, expected.loc[split.indices].to_numpy(), rtol=1e-10)


def test_rank_in_class(five_class):
    split = five_class.train
    result = stats.typicality(split.images, split.labels, split.classes, split.indices)
    table = result.table()
    for k in range(len(split.classes)):
        members = table[table.label == k].sort_values(["distance", "index"], ascending=[False, True])
        assert members["rank_in_class"].tolist() == list(range(1, len(members) + 1))
    least = result.positions_by_class(2, least=True)
    most = result.positions_by_class(1, least=False)
    for k in range(len(split.classes)):
        assert result.rank_in_class[least[k]].tolist() == [1, 2]
        assert result.distances[most[k][0]] == result.distances[split.labels == k].min()


def test_ties_rank_by_index():
    images = np.zeros((3, 1, 2), np.uint8)
    images[:, 0, 0] = [0, 10, 0]  # images 0 and 2 tie
    result = stats.typicality(images, np.zeros(3, int), ("a",))
    assert result.rank_in_class.tolist() == [2, 1, 3]


def test_distance_identity_and_scale():
    images = np.full((2, 4, 4), 100, np.uint8)
    d = stats.distance_to_centroid(images, np.array([0, 0]), np.full((1, 4, 4), 100.0))
    assert d.tolist() == [0.0, 0.0]
    d = stats.distance_to_centroid(images, np.array([0, 0]), np.full((1, 4, 4), 97.0))
    assert d.tolist() == [3.0, 3.0]


def test_pixel_counts_by_class_sum_to_the_total(five_class):
    split = five_class.train
    by_class = stats.pixel_value_counts_by_class(split.images, split.labels, 5)
    np.testing.assert_array_equal(by_class.sum(axis=0), stats.pixel_value_counts(split.images))
    for k in range(5):
        expected = np.bincount(split.images[split.labels == k].ravel(), minlength=256)
        np.testing.assert_array_equal(by_class[k], expected)


def test_pixel_shares_and_binarise():
    counts = np.zeros(256, int)
    counts[[0, 5, 255]] = [6, 3, 1]
    shares = stats.PixelShares.from_counts(counts)
    assert (shares.zero, shares.between, shares.full) == (0.6, 0.3, 0.1)
    out = stats.binarise(np.array([[[0, 127, 128, 255]]], np.uint8))
    assert out.tolist() == [[[0, 0, 255, 255]]] and out.dtype == np.uint8
    with pytest.raises(TypeError, match="uint8"):
        stats.pixel_value_counts(np.zeros((1, 2, 2), np.int16))


def test_summary_table(five_class):
    split = five_class.train
    summary = stats.typicality(split.images, split.labels, split.classes).summary()
    assert summary["n"].tolist() == [12] * 5
    assert (summary["max"] >= summary["p90"]).all() and (summary["p90"] >= summary["median"]).all()
    assert isinstance(summary, pd.DataFrame)


def test_least_and_most_typical_are_labelled_tables(five_class):
    split = five_class.train
    result = stats.typicality(split)
    least = result.least_typical(2)
    assert list(least.columns) == ["label", "class", "rank_in_class", "index", "position", "distance"]
    assert least["label"].tolist() == sorted(least["label"]) and least["rank_in_class"].max() == 2
    for k, group in least.groupby("label"):
        assert group["rank_in_class"].tolist() == [1, 2]
        assert group["class"].eq(split.classes[k]).all()
        assert group["distance"].iloc[0] == result.distances[split.labels == k].max()
    np.testing.assert_array_equal(least["index"], split.indices[least["position"]])
    most = result.most_typical()
    assert len(most) == len(split.classes)
    for row in most.itertuples():
        assert row.distance == result.distances[split.labels == row.label].min()
    with pytest.raises(ValueError, match="per_class must be a positive whole number"):
        result.least_typical(0)
