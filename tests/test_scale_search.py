"""Exact duplicates and nearest training images of datasets larger than memory: in memory,
streamed over a Zarr store's chunks and on Dask, equal to the in-memory searches."""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mnistlab
from conftest import peak_memory
from mnistlab import Dataset
from mnistlab.cli import app
from mnistlab.data.formats.zarr import write_zarr
from mnistlab.scale import duplicates as scale_duplicates
from mnistlab.scale import exact_duplicates, execute, nearest_training_images
from mnistlab.scale.duplicates import Fingerprints, fingerprint
from mnistlab.scale.neighbours import _nearest_in_chunk
from mnistlab.similarity import NearestImages, find_duplicates
from mnistlab.similarity.duplicates import EXACT_GROUP

runner = CliRunner()
CHUNK = 16


def _planted(shape=(8, 8)) -> Dataset:
    """300 train and 120 test random images with exact duplicates planted within train (a pair,
    a triple, a group of more than EXACT_GROUP blank images), within test, and across."""
    rng = np.random.default_rng(7)
    train = rng.integers(0, 256, (300, *shape)).astype(np.uint8)
    test = rng.integers(0, 256, (120, *shape)).astype(np.uint8)
    train[150] = train[3]  # a pair in two chunks
    train[21] = train[90] = train[20]  # a triple
    train[200 : 200 + EXACT_GROUP + 4] = 0  # a large group: each copy with the first
    test[40] = test[1]
    test[7] = train[100]  # leakage
    test[8] = train[3]  # joins the within-train pair
    labels = np.arange(300) % 4
    return Dataset.from_arrays(
        "planted", (train, labels), (test, np.arange(120) % 3), classes=["a", "b", "c", "d"]
    )


def _store(ds: Dataset, path, chunk: int = CHUNK):
    splits = {k: (v.images, v.labels) for k, v in ds.splits.items()}
    write_zarr(path, ds.name, ds.classes, ds.image_shape, splits, chunk=chunk)
    return mnistlab.load(path)


def _exact_rows(ds) -> pd.DataFrame:
    pairs = find_duplicates(ds).pairs
    return pairs[pairs["exact"]].reset_index(drop=True)


@pytest.mark.parametrize("shape", [(8, 8), (7, 5)])  # 35 bytes: rows padded to 32-bit words
def test_exact_duplicates_equal_the_exact_rows_of_find_duplicates(tmp_path, shape):
    ds = _planted(shape)
    expected = _exact_rows(ds)
    counts = expected.groupby("kind").size().to_dict()
    group = EXACT_GROUP + 4
    assert counts == {"within train": 1 + 3 + (group - 1), "within test": 1, "train-test": 1 + 2}
    lazy = _store(ds, tmp_path / "p.zarr")
    assert lazy.train.chunk == CHUNK and len(ds.train) > 10 * CHUNK
    for found in (exact_duplicates(ds), exact_duplicates(lazy, progress=False)):
        pd.testing.assert_frame_equal(found.pairs, expected)
        assert found.threshold == 0.0 and found.has_test and np.isnan(found.median_nearest)
        assert found.counts().equals(find_duplicates(ds, 0).counts())
    # Every pair of the group of 3 + 1 (train 3, 150 and test 8), and the blank group as a star.
    pairs = set(expected[["split_a", "index_a", "split_b", "index_b"]].itertuples(False, None))
    assert {("train", 3, "train", 150), ("train", 3, "test", 8), ("train", 150, "test", 8)} <= pairs
    assert ("train", 201, "train", 202) not in pairs and ("train", 200, "train", 223) in pairs


def test_splits_without_duplicates_have_none(tmp_path):
    rng = np.random.default_rng(2)
    train = rng.integers(0, 256, (100, 8, 8)).astype(np.uint8)
    test = rng.integers(0, 256, (40, 8, 8)).astype(np.uint8)
    none = Dataset.from_arrays("none", (train, np.arange(100) % 2), (test, np.arange(40) % 2))
    train = train.copy()
    train[60] = train[5]  # in train only: the test split has no candidate
    some = Dataset.from_arrays("some", (train, np.arange(100) % 2), (test, np.arange(40) % 2))
    for ds, n in ((none, 0), (some, 1)):
        lazy = _store(ds, tmp_path / f"{ds.name}.zarr")
        for data in (ds, lazy):
            found = exact_duplicates(data, progress=False)
            pd.testing.assert_frame_equal(found.pairs, _exact_rows(ds))
            assert len(found.pairs) == n and found.counts()["exact"].tolist() == [n, 0, 0]


def test_a_fingerprint_collision_never_makes_a_false_pair(tmp_path, monkeypatch):
    ds = _planted()
    expected = _exact_rows(ds)
    lazy = _store(ds, tmp_path / "p.zarr")
    # Every image gets the same fingerprint: all are candidates, and the bytes decide.
    monkeypatch.setattr(scale_duplicates, "fingerprint", lambda images: np.zeros(len(images), np.uint64))
    for data in (ds, lazy):
        pd.testing.assert_frame_equal(exact_duplicates(data, progress=False).pairs, expected)


def test_fingerprints_see_every_byte_and_keep_16_bytes_per_image():
    images = np.random.default_rng(0).integers(0, 256, (50, 7, 5)).astype(np.uint8)
    once = fingerprint(images)
    assert once.dtype == np.uint64 and len(np.unique(once)) == 50
    scale_duplicates._keys.cache_clear()
    np.testing.assert_array_equal(fingerprint(images), once)  # fixed keys: the same every run
    for row, column in ((6, 4), (0, 0), (3, 2)):  # the last byte of a padded row too
        changed = images.copy()
        changed[:, row, column] ^= 1
        assert (fingerprint(changed) != once).all()
    parts = scale_duplicates.image_fingerprints(images, None, 10, offset=100)
    hashes, positions = parts.parts[0]
    assert hashes.nbytes + positions.nbytes == 16 * len(images)
    assert positions.tolist() == list(range(110, 160))
    twice = Fingerprints(((once[:3], np.arange(3)),)) + Fingerprints(((once[:2], np.arange(3, 5)),))
    assert twice.shared().tolist() == [0, 1, 3, 4]


def test_the_three_ways_give_the_same_fingerprints(tmp_path):
    ds = _planted()
    lazy = _store(ds, tmp_path / "p.zarr")
    partial = functools.partial(scale_duplicates.image_fingerprints, offset=0)
    split = ds.train
    ways = [
        execute.in_memory(partial, split.images, split.labels, rows=CHUNK),
        execute.streamed(partial, lazy.train.path, "train", len(split), CHUNK, progress=False),
        execute.on_dask(partial, lazy.train.path, "train", len(split), CHUNK),
    ]
    expected = fingerprint(split.images)
    for found in ways:
        hashes = np.concatenate([h for h, _ in found.parts])
        positions = np.concatenate([p for _, p in found.parts])
        np.testing.assert_array_equal(hashes[np.argsort(positions)], expected)
        assert found.shared().tolist() == ways[0].shared().tolist()
    assert ways[0].shared().tolist() == sorted({3, 150, 20, 21, 90, *range(200, 224)})


@pytest.mark.slow
def test_exact_duplicates_on_a_dask_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    ds = _planted()
    lazy = _store(ds, tmp_path / "p.zarr")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        found = exact_duplicates(lazy, client=client, progress=False)
        distances, indices = nearest_training_images(
            ds.test.images[:30], lazy.train, 4, client=client, progress=False
        )
    pd.testing.assert_frame_equal(found.pairs, _exact_rows(ds))
    expected = nearest_training_images(ds.test.images[:30], lazy.train, 4, progress=False)
    np.testing.assert_array_equal(distances, expected[0])
    np.testing.assert_array_equal(indices, expected[1])


def test_memory_does_not_grow_with_the_images(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (4000, 28, 28)).astype(np.uint8)
    images[3999] = images[0]
    ds = Dataset.from_arrays("big", (images, np.arange(4000) % 10))
    lazy = _store(ds, tmp_path / "big.zarr", chunk=100)
    with peak_memory() as peak:
        found = exact_duplicates(lazy, progress=False)
    assert found.pairs[["index_a", "index_b"]].values.tolist() == [[0, 3999]]
    assert not found.has_test and found.counts()["kind"].tolist() == ["within train"]
    assert peak[0] < images.nbytes / 4, peak[0]


def _assert_same_neighbours(found, expected, exact: bool):
    distances, indices = found
    if exact:
        np.testing.assert_array_equal(distances, expected[0])
        np.testing.assert_array_equal(indices, expected[1])
        return
    np.testing.assert_allclose(distances, expected[0], rtol=0, atol=1e-9)
    differ = indices != expected[1]
    # Only where two training images are equally far (to rounding) may the order differ.
    assert np.all(np.abs(distances[differ] - expected[0][differ]) < 1e-9)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "pearson"])
def test_nearest_training_images_equal_the_in_memory_search(tmp_path, metric):
    ds = _planted()
    train = ds.train.images.copy()
    # No blank images, for which cosine and pearson distances are undefined.
    train[200:224] = np.random.default_rng(3).integers(0, 256, (24, 8, 8))
    ds = Dataset.from_arrays("planted", (train, ds.train.labels), (ds.test.images, ds.test.labels))
    lazy = _store(ds, tmp_path / "p.zarr")
    queries = np.concatenate([ds.test.images, train[[150, 3, 21]]])
    k = 5
    expected = NearestImages(metric).fit(train).kneighbors(queries, k)
    partial = functools.partial(_nearest_in_chunk, queries=queries, k=k, metric=metric)
    streamed = nearest_training_images(queries, lazy.train, k, metric=metric, progress=False)
    on_dask = execute.on_dask(partial, lazy.train.path, "train", len(train), CHUNK)
    in_memory = nearest_training_images(queries, ds.train, k, metric=metric)
    for found in (streamed, in_memory):
        _assert_same_neighbours(found, expected, exact=metric == "euclidean")
    # The store's two ways run the same chunks: equal bit for bit.
    np.testing.assert_array_equal(on_dask.distances, streamed[0])
    np.testing.assert_array_equal(on_dask.indices, streamed[1])
    if metric == "euclidean":
        # train 3 and 150 are one image in two chunks: the tie goes to the smaller index.
        assert streamed[1][-3, :2].tolist() == [3, 150] and streamed[0][-3, 0] == 0
        assert streamed[1][-1, :3].tolist() == [20, 21, 90]


def test_nearest_training_images_refuses_what_it_cannot_search(tmp_path):
    ds = _planted()
    with pytest.raises(ValueError, match=r"k must be 1\.\.300"):
        nearest_training_images(ds.test.images, ds.train, 301)
    with pytest.raises(ValueError, match="shape"):
        nearest_training_images(ds.test.images[0], ds.train)
    with pytest.raises(ValueError, match="unknown metric"):
        nearest_training_images(ds.test.images, ds.train, metric="l1")
    with pytest.raises(TypeError, match="not Split"):
        exact_duplicates(ds.train)
    with pytest.raises(ValueError, match="client"):
        exact_duplicates(ds, client=object())


@pytest.fixture
def planted_files(tmp_path):
    ds = _planted()
    _store(ds, tmp_path / "p.zarr")
    mnistlab.save(ds, tmp_path / "npz", "npz")
    return tmp_path / "p.zarr", tmp_path / "npz" / "planted.npz"


def test_duplicates_of_a_whole_store_on_the_command_line(tmp_path, planted_files):
    store, npz = planted_files
    on_store = runner.invoke(
        app, ["duplicates", str(store), "--threshold", "0", "-o", str(tmp_path / "s"), "--json"]
    )
    assert on_store.exit_code == 0, on_store.output
    in_memory = runner.invoke(
        app, ["duplicates", str(npz), "--threshold", "0", "-o", str(tmp_path / "m"), "--json"]
    )
    assert in_memory.exit_code == 0, in_memory.output
    mine, theirs = json.loads(on_store.stdout), json.loads(in_memory.stdout)
    assert mine["counts"] == theirs["counts"] and mine["pairs"] == theirs["pairs"]
    assert [c["exact"] for c in mine["counts"]] == [EXACT_GROUP + 7, 1, 3]
    csv = (tmp_path / "s" / "duplicates.csv").read_bytes()
    assert csv == (tmp_path / "m" / "duplicates.csv").read_bytes()
    assert (tmp_path / "s" / "duplicates.png").stat().st_size > 1000
    human = runner.invoke(app, ["duplicates", str(store), "--threshold", "0"])
    assert human.exit_code == 0 and "exact duplicates only" in human.stdout
    first = runner.invoke(app, ["duplicates", str(store), "--first", "100", "--json"])
    assert first.exit_code == 0 and json.loads(first.stdout)["threshold"] > 0


@pytest.mark.slow
def test_duplicates_of_a_store_with_dask_workers(tmp_path, planted_files):
    pytest.importorskip("distributed")
    store, npz = planted_files
    plain = runner.invoke(app, ["duplicates", str(store), "--threshold", "0", "--json"])
    dask = runner.invoke(app, ["duplicates", str(store), "--threshold", "0", "--workers", "2", "--json"])
    assert dask.exit_code == 0, dask.output
    assert json.loads(dask.stdout)["pairs"] == json.loads(plain.stdout)["pairs"]
    in_memory = runner.invoke(app, ["duplicates", str(npz), "--threshold", "0", "--workers", "2"])
    assert in_memory.exit_code == 2 and "run a Zarr store's chunks on Dask" in in_memory.stderr


@pytest.mark.parametrize("threshold", [[], ["--threshold", "0.5"]])
def test_near_duplicates_of_a_whole_store_are_refused(tmp_path, planted_files, threshold):
    store, _ = planted_files
    out = tmp_path / "out"
    refused = runner.invoke(app, ["duplicates", str(store), *threshold, "-o", str(out)])
    assert refused.exit_code == 2
    message = " ".join(refused.stderr.split())
    assert "exact radius search over its images in memory" in message
    assert "--threshold 0" in message and "--first N" in message
    assert not out.exists()


def test_similar_searches_a_whole_store(tmp_path, planted_files):
    store, npz = planted_files
    found = {}
    for name, data in (("store", store), ("memory", npz)):
        out = tmp_path / f"{name}.png"
        result = runner.invoke(
            app,
            ["similar", f"{data}:train:150", "--in", str(data), "--k", "4", "-o", str(out), "--json"],
        )
        assert result.exit_code == 0, result.output
        found[name] = json.loads(result.stdout)["neighbours"]
        assert out.stat().st_size > 1000
    assert found["store"] == found["memory"]
    assert [n["index"] for n in found["store"][:2]] == [3, 150] and found["store"][0]["distance"] == 0
    np.save(tmp_path / "q.npy", _planted().test.images[5])
    query = runner.invoke(
        app, ["similar", str(tmp_path / "q.npy"), "--in", str(store), "--split", "test", "--json"]
    )
    assert query.exit_code == 0, query.output
    neighbours = json.loads(query.stdout)["neighbours"]
    assert neighbours[0]["index"] == 5 and neighbours[0]["distance"] == 0 and len(neighbours) == 8
    too_many = runner.invoke(app, ["similar", f"{store}:test:0", "--in", str(store), "--k", "500"])
    assert too_many.exit_code == 1 and "has 300 images" in too_many.stderr
