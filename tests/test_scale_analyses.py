"""The analyses that finish on small summaries (one-pixel fits, nearest centroid, atypical images,
the report) on a Zarr store equal the in-memory ones."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mnistlab
from mnistlab import stats
from mnistlab.cli import app
from mnistlab.data.formats.zarr import write_zarr
from mnistlab.models import NearestCentroidClassifier
from mnistlab.models.evaluation import evaluate
from mnistlab.onepixel import one_pixel_separability
from mnistlab.scale import nearest_centroid_evaluation, pixel_histograms


def _store(ds, path, chunk=7):
    splits = {k: (v.images, v.labels) for k, v in ds.splits.items()}
    write_zarr(path, ds.name, ds.classes, ds.image_shape, splits, chunk=chunk)
    return mnistlab.load(path)


@pytest.fixture
def lazy(tmp_path, five_class):
    return _store(five_class, tmp_path / "five.zarr")


def test_pixel_histograms_of_a_store_equal_the_in_memory_ones_the_three_ways(lazy, five_class):
    train = five_class.train
    expected = stats.pixel_histograms(train.images, train.labels, len(train.classes))
    assert expected.sum() == len(train) * np.prod(train.image_shape)
    np.testing.assert_array_equal(pixel_histograms(train), expected)
    np.testing.assert_array_equal(pixel_histograms(lazy.train, progress=False), expected)
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="threads"):
        from mnistlab.scale import execute

        found = execute.on_dask(
            lambda images, labels, start: stats.pixel_histograms(images, labels, 5),
            lazy.train.path,
            "train",
            len(train),
            lazy.train.chunk,
        )
    np.testing.assert_array_equal(found, expected)


@pytest.mark.parametrize("scale", ["unit", "raw"])
def test_one_pixel_separability_of_a_store_equals_the_in_memory_one(lazy, five_class, scale):
    expected = one_pixel_separability(five_class, scale, progress=False)
    found = one_pixel_separability(lazy, scale, progress=False)
    assert len(found.pairs) == 10 and found.pairs["test_accuracy"].notna().all()
    pd.testing.assert_frame_equal(found.pairs, expected.pairs)
    np.testing.assert_array_equal(found.pixel_accuracy, expected.pixel_accuracy)
    # a store's split alone: fitted on it, no test accuracy, as a Split alone
    alone = one_pixel_separability(lazy.train, scale, pairs=[(0, "four")], progress=False)
    pd.testing.assert_frame_equal(
        alone.pairs,
        one_pixel_separability(five_class.train, scale, pairs=[(0, 4)], progress=False).pairs,
    )
    assert alone.pairs["test_accuracy"].isna().all()


def test_one_pixel_on_a_store_refuses_what_needs_every_image(lazy, monkeypatch):
    with pytest.raises(ValueError, match="l2 scale divides every image by its own norm"):
        one_pixel_separability(lazy, "l2", progress=False)
    from mnistlab.onepixel import sweep

    monkeypatch.setattr(sweep, "HISTOGRAM_BYTES", 5 * 120 * 256 * 8 - 1)
    with pytest.raises(ValueError, match=r"histograms of 5 classes x 120 pixels take 1\.2 MiB"):
        one_pixel_separability(lazy, "unit", pixels=[0], progress=False)
    monkeypatch.setattr(sweep, "HISTOGRAM_BYTES", 5 * 120 * 256 * 8)
    found = one_pixel_separability(lazy, "unit", pixels=[0, 7], progress=False)
    assert set(found.pairs["pixel"]) <= {0, 7}


def test_nearest_centroid_evaluation_of_a_store_equals_the_classifier(tmp_path, five_class):
    # Some test labels moved to the next class: mistakes to find in the confusion matrix.
    labels = five_class.test.labels.copy()
    labels[:6] = (labels[:6] + 1) % 5
    ds = mnistlab.Dataset.from_arrays(
        "noisy",
        (five_class.train.images, five_class.train.labels),
        (five_class.test.images, labels),
        classes=five_class.classes,
    )
    lazy = _store(ds, tmp_path / "noisy.zarr")
    train, test = ds.train, ds.test
    model = NearestCentroidClassifier().fit(train.images, train.labels)
    expected = evaluate(test.labels, model.predict(test.images), ds.classes)
    assert 0 < expected.accuracy < 1  # some right, some wrong: a confusion worth comparing
    for found in (
        nearest_centroid_evaluation(train, test),
        nearest_centroid_evaluation(lazy.train, lazy.test, progress=False),
    ):
        np.testing.assert_array_equal(found.confusion, expected.confusion)
        assert found.accuracy == expected.accuracy
        np.testing.assert_array_equal(found.per_class, expected.per_class)


def test_nearest_centroid_skips_classes_without_training_images(tmp_path, five_class):
    keep = five_class.train.labels != 2  # class 2 has no training image: never predicted
    train = five_class.train.subset(label=[0, 1, 3, 4])
    assert len(train) == keep.sum()
    ds = mnistlab.Dataset.from_arrays(
        "gap",
        (train.images, train.labels),
        (five_class.test.images, five_class.test.labels),
        classes=five_class.classes,
    )
    lazy = _store(ds, tmp_path / "gap.zarr")
    found = nearest_centroid_evaluation(lazy.train, lazy.test, progress=False)
    model = NearestCentroidClassifier().fit(train.images, train.labels)
    expected = evaluate(ds.test.labels, model.predict(ds.test.images), ds.classes)
    np.testing.assert_array_equal(found.confusion, expected.confusion)
    assert found.confusion[:, 2].sum() == 0 and found.confusion[2].sum() > 0
    one = mnistlab.Dataset.from_arrays(
        "one", (train.images[:3], np.zeros(3, int)), (train.images[:2], np.zeros(2, int))
    )
    with pytest.raises(ValueError, match="at least 2 classes with training images"):
        nearest_centroid_evaluation(one.train, one.test)


def test_atypical_on_a_whole_store_draws_the_in_memory_gallery(tmp_path, lazy, five_class):
    runner = CliRunner()
    common = ["--per-class", "2", "--json"]
    found = runner.invoke(
        app,
        [
            "atypical",
            str(lazy.train.path),
            "-o",
            str(tmp_path / "s.png"),
            "--csv",
            str(tmp_path / "s.csv"),
            *common,
        ],
    )
    assert found.exit_code == 0, found.output
    saved = tmp_path / "mem"
    mnistlab.save(five_class, saved, "npz")
    memory = runner.invoke(app, ["atypical", str(saved), "-o", str(tmp_path / "m.png"), *common])
    assert memory.exit_code == 0, memory.output
    # the same least typical image per class, the same figure, byte for byte
    shown, expected = json.loads(found.stdout), json.loads(memory.stdout)
    for a, b in zip(shown["per_class"], expected["per_class"], strict=True):
        assert a["least_typical_index"] == b["least_typical_index"] and a["max"] == pytest.approx(
            b["max"]
        )
        assert a["median"] == pytest.approx(b["median"], abs=0.005)
    assert (tmp_path / "s.png").read_bytes() == (tmp_path / "m.png").read_bytes()
    table = pd.read_csv(tmp_path / "s.csv")
    typ = stats.typicality(five_class.train.images, five_class.train.labels, five_class.classes)
    least = typ.least_typical(2)
    got = table[table["end"] == "least"]
    assert got["index"].tolist() == least["index"].tolist()
    np.testing.assert_allclose(got["distance"], least["distance"], rtol=1e-12)
    boxplot = runner.invoke(
        app,
        [
            "atypical",
            str(lazy.train.path),
            "-o",
            str(tmp_path / "b.png"),
            "--boxplot",
            str(tmp_path / "x.png"),
        ],
    )
    assert boxplot.exit_code == 2 and "--boxplot draws every image" in boxplot.stderr
    assert not (tmp_path / "b.png").exists()


def test_onepixel_on_a_whole_store_on_the_command_line(tmp_path, lazy, five_class):
    runner = CliRunner()
    out = tmp_path / "op"
    found = runner.invoke(app, ["onepixel", str(lazy.train.path), "-o", str(out), "--json"])
    assert found.exit_code == 0, found.output
    table = pd.read_csv(out / "separability.csv")
    expected = one_pixel_separability(five_class, progress=False).pairs
    assert table["pixel"].tolist() == expected["pixel"].tolist()
    np.testing.assert_allclose(table["test_accuracy"], expected["test_accuracy"])
    refused = runner.invoke(app, ["onepixel", str(lazy.train.path), "--scale", "l2"])
    assert refused.exit_code == 1 and "l2 scale divides every image" in refused.stderr


def _panels(html: str, section: str) -> str:
    start = html.index(f'id="{section}"')
    return html[start : html.index("</section>", start)]


@pytest.mark.browser
def test_the_report_of_a_store_beside_the_same_data_in_memory(tmp_path, lazy, five_class):
    from browser import check_page
    from mnistlab.report import SECTIONS, build_report
    from mnistlab.report.analyses import Analyses

    memory = mnistlab.Dataset.from_arrays(
        "memory",
        (five_class.train.images, five_class.train.labels),
        (five_class.test.images, five_class.test.labels),
        classes=five_class.classes,
    )
    path = build_report([lazy, memory], tmp_path / "r", models=("centroid",), progress=False)
    html = path.read_text()
    assert html.count('<article class="panel">') == 2 * len(SECTIONS)
    # the sections that scale give the in-memory numbers; the others say why they are left out
    on_disk, in_memory = Analyses(lazy, ("centroid",)), Analyses(memory, ("centroid",))
    np.testing.assert_array_equal(
        on_disk.nearest_centroid.confusion, in_memory.nearest_centroid.confusion
    )
    np.testing.assert_array_equal(on_disk.pixel_counts_by_class, in_memory.pixel_counts_by_class)
    np.testing.assert_array_equal(on_disk.centroids.means, in_memory.centroids.means)
    pd.testing.assert_frame_equal(on_disk.one_pixel.pairs, in_memory.one_pixel.pairs)
    pd.testing.assert_frame_equal(
        on_disk.typicality.least_typical().drop(columns="position"),
        in_memory.typicality.least_typical(4).drop(columns="position"),
        check_dtype=False,
    )
    queries, found = on_disk.store_neighbours
    np.testing.assert_array_equal(queries.images, five_class.test.images[:3])
    np.testing.assert_array_equal(found, in_memory.test_neighbours[1][:3])
    assert _panels(html, "similarity").count("nearest training images of test images") == 2
    for section in ("binarisation", "models"):
        assert "five is a Zarr store of 85 images" in _panels(html, section)
    assert "exact duplicates only" in _panels(html, "similarity") and "not searched" in html
    assert "so there is no box plot" in _panels(html, "atypical")
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert [d["name"] for d in summary["datasets"]] == ["five", "memory"]
    assert {m["dataset"] for m in summary["models"]} == {"memory"}
    check = check_page(path)
    assert check.console_errors == check.page_errors == check.broken_images == []
    assert check.section_ids == [s.id for s in SECTIONS] + ["per-class"]


def test_report_of_a_store_on_the_command_line(tmp_path, lazy):
    runner = CliRunner()
    out = tmp_path / "r"
    done = runner.invoke(app, ["report", str(lazy.train.path), "-o", str(out), "--models", "centroid"])
    assert done.exit_code == 0, done.output
    assert "Zarr store" in (out / "index.html").read_text()
    memory = runner.invoke(app, ["report", "digits", "-o", str(tmp_path / "d"), "--workers", "2"])
    assert memory.exit_code == 2 and "this dataset is in memory" in memory.stderr
    assert not (tmp_path / "d").exists()


def test_one_pass_gives_histograms_sums_and_fingerprints_for_the_later_passes(tmp_path, five_class):
    import functools

    from mnistlab.scale import ImageSums, exact_duplicates, image_sums, reduce, typicality_extremes
    from mnistlab.scale.duplicates import image_fingerprints
    from mnistlab.scale.execute import together
    from mnistlab.scale.reductions import pixel_histograms as block_histograms

    # a duplicate across splits, so that the fingerprints have something to find
    test_images = five_class.test.images.copy()
    test_images[3] = five_class.train.images[10]
    ds = mnistlab.Dataset.from_arrays(
        "dup",
        (five_class.train.images, five_class.train.labels),
        (test_images, five_class.test.labels),
        classes=five_class.classes,
    )
    lazy = _store(ds, tmp_path / "dup.zarr")

    def histograms(images, labels, start):
        return block_histograms(images, labels, 5)

    n = len(ds.train)
    one = reduce(together(histograms, image_fingerprints), lazy.train, progress=False)
    hist, train_prints = one.parts
    test_prints = reduce(functools.partial(image_fingerprints, offset=n), lazy.test, progress=False)
    sums = ImageSums.from_histograms(hist)
    expected = image_sums(ds.train)
    for field in ("counts", "value_counts", "sums"):
        np.testing.assert_array_equal(getattr(sums, field), getattr(expected, field))
    found = exact_duplicates(lazy, fingerprints=train_prints + test_prints)
    pd.testing.assert_frame_equal(found.pairs, exact_duplicates(ds).pairs)
    assert found.pairs[["index_a", "index_b", "kind"]].values.tolist() == [[10, 3, "train-test"]]
    ends = typicality_extremes(lazy.train, 2, sums=sums, progress=False).least_typical()
    pd.testing.assert_frame_equal(ends, typicality_extremes(ds.train, 2).least_typical())


@pytest.mark.slow
def test_report_of_a_store_on_dask_workers_equals_the_streamed_one(tmp_path, lazy):
    runner = CliRunner()
    for way, extra in (("streamed", []), ("dask", ["--workers", "2"])):
        done = runner.invoke(
            app,
            ["report", str(lazy.train.path), "-o", str(tmp_path / way), "--models", "centroid", *extra],
        )
        assert done.exit_code == 0, done.output
    import re

    def numbers(way):  # the report's sections, text and tables, without the figures
        html = (tmp_path / way / "index.html").read_text()
        html = html[html.index("<main") : html.index("</main>")]
        return re.sub(r'src="data:image/png;base64,[^"]*"', "", html)

    assert "five is a Zarr store" in numbers("dask")
    assert numbers("streamed") == numbers("dask")
