"""Zarr stores and the reductions that run in memory, streamed over chunks, and on Dask."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

import mnistlab
from mnistlab import Dataset, stats
from mnistlab.cli import app
from mnistlab.data.formats.zarr import chunk_images, write_zarr
from mnistlab.data.lazy import LazyDataset, LazySplit
from mnistlab.errors import FormatError
from mnistlab.scale import execute, image_sums
from mnistlab.scale.reductions import image_sums as block_sums


@pytest.fixture
def store(tmp_path, five_class):
    path = tmp_path / "five.zarr"
    split_sizes = {k: len(v) for k, v in five_class.splits.items()}
    assert split_sizes["train"] > 7  # several chunks of 7 below
    mnistlab.save(five_class, path, "zarr")
    return path


def _rechunked(five_class, path, chunk=7):
    splits = {k: (v.images, v.labels) for k, v in five_class.splits.items()}
    write_zarr(path, five_class.name, five_class.classes, five_class.image_shape, splits, chunk=chunk)
    return mnistlab.load(path)


def test_a_store_loads_lazily_and_reads_back_the_same_images(store, five_class):
    lazy = mnistlab.load(store)
    assert isinstance(lazy, LazyDataset) and isinstance(lazy.train, LazySplit)
    assert lazy.name == five_class.name and lazy.classes == five_class.classes
    assert lazy.image_shape == five_class.image_shape
    for name, split in five_class.splits.items():
        read = lazy.split(name).read()
        np.testing.assert_array_equal(read.images, split.images)
        np.testing.assert_array_equal(read.labels, split.labels)
        assert lazy.split(name).class_counts() == split.class_counts()
    part = lazy.train[5:9]
    np.testing.assert_array_equal(part.images, five_class.train.images[5:9])
    assert part.indices.tolist() == [5, 6, 7, 8]
    np.testing.assert_array_equal(lazy.train.subset(3).labels, five_class.train.labels[:3])
    summary = lazy.summary()
    expected = five_class.summary()
    assert summary["splits"] == expected["splits"] and summary["polarity"] == expected["polarity"]
    assert "LazySplit('train'" in repr(lazy.train) and "LazyDataset('five'" in repr(lazy)


def test_chunks_follow_the_documented_size():
    assert chunk_images((28, 28)) == 42_000  # 32 MiB of 28x28 pixels, rounded down to 1,000s
    assert chunk_images((1000, 1000)) == 33 and chunk_images((8, 8)) == 524_000


def test_the_three_ways_give_identical_sums(tmp_path, five_class):
    lazy = _rechunked(five_class, tmp_path / "s.zarr", chunk=7)
    assert lazy.train.chunk == 7
    split = five_class.train
    memory = image_sums(split)
    direct = block_sums(split.images, split.labels, len(split.classes))
    on_disk = image_sums(lazy.train, progress=False)
    dask_threads = execute.on_dask(
        lambda images, labels, start: block_sums(images, labels, len(split.classes)),
        lazy.train.path,
        "train",
        len(split),
        7,
    )
    for found in (memory, on_disk, dask_threads):
        np.testing.assert_array_equal(found.counts, direct.counts)
        np.testing.assert_array_equal(found.value_counts, direct.value_counts)
        np.testing.assert_array_equal(found.sums, direct.sums)
    np.testing.assert_array_equal(on_disk.value_counts.sum(0), stats.pixel_value_counts(split.images))
    np.testing.assert_array_equal(
        on_disk.value_counts, stats.pixel_value_counts_by_class(split.images, split.labels, 5)
    )
    # The centroids of a store equal the in-memory ones bit for bit.
    np.testing.assert_array_equal(stats.centroids(lazy.train).means, stats.centroids(split).means)
    np.testing.assert_array_equal(stats.centroids(lazy.train).counts, stats.centroids(split).counts)


def test_a_dask_cluster_gives_the_same_sums(tmp_path, five_class):
    distributed = pytest.importorskip("distributed")
    lazy = _rechunked(five_class, tmp_path / "s.zarr", chunk=7)
    expected = image_sums(five_class.train)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        found = image_sums(lazy.train, client=client, progress=False)
    np.testing.assert_array_equal(found.sums, expected.sums)
    np.testing.assert_array_equal(found.value_counts, expected.value_counts)


def test_an_interrupted_store_is_never_read_as_a_smaller_dataset(tmp_path, five_class):
    path = tmp_path / "half.zarr"
    _rechunked(five_class, path)
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["mnistlab"]["complete"] = False  # as if killed before the last write
    (path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(FormatError, match="incomplete store"):
        mnistlab.load(path)
    # save writes into a staging folder renamed into place: a failure leaves nothing.
    target = tmp_path / "new.zarr"

    class Boom(Exception):
        pass

    class Exploding:
        shape = (10, 12, 10)
        dtype = np.dtype("uint8")

        def __len__(self):
            return 10

        def __getitem__(self, key):
            raise Boom

    bad = Dataset.from_arrays("x", (five_class.train.images, five_class.train.labels))
    object.__setattr__(bad.train, "images", Exploding())
    with pytest.raises(Boom):
        mnistlab.save(bad, target, "zarr")
    assert not target.exists() and not list(tmp_path.glob(".mnistlab-save-*"))


def test_bad_stores_are_refused_with_what_is_wrong(tmp_path, five_class):
    import zarr

    good = tmp_path / "good.zarr"
    _rechunked(five_class, good)

    def broken(name, change):
        path = tmp_path / name
        shutil.copytree(good, path)
        change(zarr.open_group(str(path), mode="r+"), path)
        return path

    def drop_labels(root, path):
        shutil.rmtree(path / "train" / "labels")

    def wrong_dtype(root, path):
        root["train"].create_array("images", shape=(10, 12, 10), dtype="float32", overwrite=True)

    def wrong_shape(root, path):
        root["train"].create_array("images", shape=(10, 5, 5), dtype="uint8", overwrite=True)

    def bad_labels(root, path):
        root["train/labels"][3] = 9

    def no_description(root, path):
        root.attrs.clear()

    cases = [
        (drop_labels, "images or labels array is missing"),
        (wrong_dtype, "dtype float32"),
        (wrong_shape, r"shape \(10, 5, 5\)"),
        (no_description, "without mnistlab's description"),
    ]
    for change, message in cases:
        with pytest.raises(FormatError, match=message):
            mnistlab.load(broken(change.__name__ + ".zarr", change))
    lazy = mnistlab.load(broken("labels.zarr", bad_labels))
    with pytest.raises(ValueError, match=r"label 9 is outside 0\.\.4"):
        image_sums(lazy.train, progress=False)
    with pytest.raises(FormatError, match="image 3 has label 9"):
        lazy.train.read(0, 5)
    with pytest.raises(ValueError, match="test_size would rewrite it"):
        mnistlab.load(good, test_size=0.2)
    with pytest.raises(FileExistsError, match="already exists"):
        mnistlab.save(five_class, good, "zarr")


def test_convert_to_zarr_and_back_on_the_command_line(tmp_path, five_class):
    runner = CliRunner()
    mnistlab.save(five_class, tmp_path / "src", "npz")
    store = tmp_path / "five.zarr"
    made = runner.invoke(
        app, ["convert", str(tmp_path / "src" / "five.npz"), "--to", "zarr", "-o", str(store)]
    )
    assert made.exit_code == 0, made.output
    info = json.loads(runner.invoke(app, ["info", str(store), "--json"]).stdout)
    assert info["storage"] == "zarr" and info["splits"]["train"]["n"] == len(five_class.train)
    back = runner.invoke(app, ["convert", str(store), "--to", "npz", "-o", str(tmp_path / "back")])
    assert back.exit_code == 0, back.output
    again = mnistlab.load(tmp_path / "back" / "five.npz")
    np.testing.assert_array_equal(again.test.images, five_class.test.images)


def _slow_sums(images, labels, start, *, n_classes):
    import time

    time.sleep(0.25)  # long enough for a worker to be killed while chunks are still running
    return block_sums(images, labels, n_classes)


@pytest.mark.slow
def test_a_killed_worker_still_gives_the_whole_sum(tmp_path, five_class):
    """A scheduler and two worker processes on 127.0.0.1; one is killed (SIGKILL) mid-run: Dask
    runs its chunks again on the other, and the sum is over every chunk."""
    import functools
    import os
    import signal
    import socket
    import subprocess
    import sys
    import threading
    import time
    from pathlib import Path

    import distributed

    lazy = _rechunked(five_class, tmp_path / "s.zarr", chunk=3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{port}"
    common = ["--no-dashboard"]
    # The scheduler and the workers import this module for _slow_sums, as pytest does: from tests/.
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parent)}
    scheduler = [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), *common]
    processes = [subprocess.Popen(scheduler, env=env)]
    try:
        time.sleep(1.0)
        worker = [dask, "worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1"]
        processes += [subprocess.Popen([*worker, *common], env=env) for _ in range(2)]
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            partial = functools.partial(_slow_sums, n_classes=len(five_class.classes))
            found = {}

            def run():
                found["sums"] = execute.on_dask(
                    partial, lazy.train.path, "train", len(lazy.train), 3, client, progress=False
                )

            running = threading.Thread(target=run)
            running.start()
            time.sleep(1.5)
            assert running.is_alive()  # the kill lands mid-run
            processes[1].send_signal(signal.SIGKILL)
            running.join(timeout=120)
        assert not running.is_alive()
        expected = image_sums(five_class.train)
        np.testing.assert_array_equal(found["sums"].sums, expected.sums)
        np.testing.assert_array_equal(found["sums"].counts, expected.counts)
        assert processes[1].wait(timeout=10) == -signal.SIGKILL
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=30)


def test_least_and_most_typical_of_a_store_equal_the_in_memory_ones(tmp_path, five_class):
    from mnistlab.scale import typicality_extremes

    lazy = _rechunked(five_class, tmp_path / "s.zarr", chunk=7)
    expected = stats.typicality(five_class.train)
    for found in (
        typicality_extremes(lazy.train, 3, progress=False),
        typicality_extremes(five_class.train, 3),
    ):
        least, most = found.least_typical(), found.most_typical()
        for mine, theirs in ((least, expected.least_typical(3)), (most, expected.most_typical(3))):
            assert mine[["label", "class", "rank_in_class", "index"]].values.tolist() == (
                theirs[["label", "class", "rank_in_class", "index"]].values.tolist()
            )
            np.testing.assert_allclose(mine["distance"], theirs["distance"], rtol=1e-12)
        summary, exact = found.summary(), expected.summary()
        np.testing.assert_allclose(summary["max"], exact["max"], rtol=1e-12)
        assert (abs(summary["median"] - exact["median"]) <= 0.005 + 1e-9).all()
        assert summary["n"].tolist() == exact["n"].tolist()


def test_centroids_of_a_store_on_the_command_line_with_dask_workers(tmp_path, five_class):
    runner = CliRunner()
    store = tmp_path / "five.zarr"
    mnistlab.save(five_class, store, "zarr")
    out = tmp_path / "c.png"
    result = runner.invoke(app, ["centroids", str(store), "-o", str(out), "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"] == stats.centroids(five_class.train).counts.tolist()
    assert out.stat().st_size > 1000
    plain = runner.invoke(app, ["centroids", str(store), "-o", str(tmp_path / "d.png"), "--json"])
    assert json.loads(plain.stdout)["mean_ink"] == json.loads(result.stdout)["mean_ink"]
    in_memory = runner.invoke(
        app, ["centroids", "digits", "-o", str(tmp_path / "e.png"), "--workers", "2"]
    )
    assert in_memory.exit_code == 2 and "run a Zarr store's chunks on Dask" in in_memory.stderr
    both = ["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]
    refused = runner.invoke(app, ["centroids", str(store), "-o", str(tmp_path / "f.png"), *both])
    assert refused.exit_code == 2 and "not both" in refused.stderr


def test_one_image_of_a_store_is_read_alone(store, five_class):
    lazy = mnistlab.load(store)
    image, label = lazy.train[-1]
    np.testing.assert_array_equal(image, five_class.train.images[-1])
    assert label == five_class.train.labels[-1] and isinstance(label, int)
    with pytest.raises(IndexError):
        lazy.train[len(five_class.train)]
    ref = mnistlab.load_image(f"{store}:test:3")
    np.testing.assert_array_equal(ref.pixels, five_class.test.images[3])
    shown = CliRunner().invoke(app, ["show", f"{store}:test:3", "--values", "--json"])
    assert json.loads(shown.stdout)["values"] == five_class.test.images[3].tolist()


def test_pixel_histograms_of_a_store_equal_the_in_memory_ones(store, five_class, tmp_path):
    lazy = mnistlab.load(store)
    split = five_class.train
    np.testing.assert_array_equal(stats.pixel_value_counts(lazy.train), stats.pixel_value_counts(split))
    np.testing.assert_array_equal(
        stats.pixel_value_counts_by_class(lazy.train),
        stats.pixel_value_counts_by_class(split.images, split.labels, len(split.classes)),
    )
    with pytest.raises(ValueError, match="these images are in memory"):
        stats.pixel_value_counts(split, client=object())
    runner = CliRunner()
    out = [str(tmp_path / "p.png"), "--by-class", str(tmp_path / "q.png"), "--json"]
    on_disk = json.loads(runner.invoke(app, ["pixels", str(store), "-o", *out]).stdout)
    mnistlab.save(five_class, tmp_path / "npz", "npz")
    memory = runner.invoke(app, ["pixels", str(tmp_path / "npz" / "five.npz"), "-o", *out])
    assert on_disk["counts"] == json.loads(memory.stdout)["counts"]
    refused = runner.invoke(app, ["pixels", str(store), "-o", out[0], "--binarisation"])
    assert refused.exit_code == 2 and "trains models in memory" in refused.stderr


def test_commands_that_need_memory_take_a_store_with_first_or_say_so(store, five_class, tmp_path):
    runner = CliRunner()
    refused = runner.invoke(app, ["tidy", str(store), "-o", str(tmp_path / "t.parquet")])
    assert (
        refused.exit_code == 2 and "is a Zarr store" in refused.stderr and "--first N" in refused.stderr
    )
    assert not (tmp_path / "t.parquet").exists()
    first = runner.invoke(app, ["tidy", str(store), "--first", "20", "-o", str(tmp_path / "t.parquet")])
    assert first.exit_code == 0, first.output
    pairs = runner.invoke(app, ["pairs", str(store), "-o", str(tmp_path / "p.png"), "--json"])
    expected = stats.centroids(five_class.train).closest_pair()
    assert (
        pairs.exit_code == 0
        and json.loads(pairs.stdout)["closest_pair"]["rms_difference"] == expected.rms
    )
    # show --label reads chunks only until it has enough images of that class
    lazy = mnistlab.load(store)
    four = five_class.classes[4]
    wanted = five_class.train.subset(3, label=four)
    for chunked in (lazy, _rechunked(five_class, tmp_path / "seven.zarr", chunk=7)):
        found = chunked.train.subset(3, label=four)
        np.testing.assert_array_equal(found.images, wanted.images)
        assert found.indices.tolist() == wanted.indices.tolist()
    grid = ["--label", four, "--first", "3", "-o", str(tmp_path / "s.png"), "--json"]
    shown = runner.invoke(app, ["show", str(store), *grid])
    assert json.loads(shown.stdout)["indices"] == wanted.indices.tolist()
    context = runner.invoke(app, ["compare", f"{store}:train:0", f"{store}:train:1"])
    assert context.exit_code == 1 and "is a Zarr store; typical pairs" in context.stderr
    assert (
        runner.invoke(app, ["compare", f"{store}:train:0", f"{store}:train:1", "--no-context"]).exit_code
        == 0
    )
