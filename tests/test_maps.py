"""Dataset maps: PCA, t-SNE, UMAP, their faithfulness, figures and the embed command."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mnistlab
from mnistlab import plots
from mnistlab.cli import app
from mnistlab.data.dataset import Dataset, Split
from mnistlab.maps import embed, faithfulness, mixed_pairs

runner = CliRunner()


def clusters(n_per_class: int = 40, n_classes: int = 3, seed: int = 0, side: int = 8) -> Split:
    """Images of ``n_classes`` well separated blobs: class k has ink in its own block of pixels."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 30, size=(n_per_class * n_classes, side, side))
    labels = np.repeat(np.arange(n_classes), n_per_class)
    for k in range(n_classes):
        rows = labels == k
        images[rows, k * 2 : k * 2 + 2, :] += 200
    return Split(images.astype(np.uint8), labels, tuple(f"c{k}" for k in range(n_classes)), name="train")


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    test = dataclasses.replace(clusters(n_per_class=10, seed=1), name="test")
    return Dataset("blobs", clusters(seed=0), test, ("c0", "c1", "c2"))


# ---------------------------------------------------------------- faithfulness, by hand


def test_well_separated_clusters_give_knn_accuracy_one_in_both_spaces():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2, 3], 30)
    pixels = rng.normal(size=(120, 30)) + 50 * labels[:, None]
    coords = rng.normal(size=(120, 2)) + 50 * np.c_[labels, labels % 2]
    f = faithfulness(pixels, coords, labels, k=5)
    assert f.knn_map == 1.0 and f.knn_pixels == 1.0
    assert f.trustworthiness > 0.5  # within-cluster order is random: not 1, but far from 0
    assert f.sample == 120


def test_a_map_that_mixes_the_classes_loses_knn_accuracy_and_trust():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 60)
    pixels = rng.normal(size=(120, 10)) + 40 * labels[:, None]
    scrambled = rng.normal(size=(120, 2))  # a map unrelated to the data
    f = faithfulness(pixels, scrambled, labels, k=5)
    assert f.knn_pixels == 1.0
    assert f.knn_map < 0.75
    assert f.trustworthiness < 0.7


def test_identity_map_is_fully_trustworthy_and_placed_points_are_scored():
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1], 40)
    xy = rng.normal(size=(80, 2)) + 10 * labels[:, None]
    new = rng.normal(size=(20, 2)) + 10 * np.repeat([0, 1], 10)[:, None]
    f = faithfulness(xy, xy, labels, k=4, placed=(new, new, np.repeat([0, 1], 10)))
    assert f.trustworthiness == pytest.approx(1.0)
    assert f.placed_knn_map == f.placed_knn_pixels == 1.0


def test_faithfulness_on_a_sample_is_stratified_and_seeded():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 500)
    pixels = rng.normal(size=(1000, 5)) + 3 * labels[:, None]
    a = faithfulness(pixels, pixels[:, :2], labels, sample=200, seed=1)
    b = faithfulness(pixels, pixels[:, :2], labels, sample=200, seed=1)
    assert a == b and a.sample == 200


def test_one_class_has_no_knn_accuracy_but_a_trustworthiness():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    f = faithfulness(x, x[:, :2], np.zeros(50, np.int64), k=3)
    assert f.knn_map is None and f.knn_pixels is None
    assert 0 < f.trustworthiness <= 1


@pytest.mark.parametrize(
    ("pixels", "coords", "message"),
    [
        (np.zeros((10, 3)), np.zeros((9, 2)), "shape"),
        (np.full((30, 3), np.nan), np.zeros((30, 2)), "NaN"),
        (np.zeros((8, 3)), np.zeros((8, 2)), "more than"),
    ],
)
def test_faithfulness_refuses_bad_input(pixels, coords, message):
    with pytest.raises(ValueError, match=message):
        faithfulness(pixels, coords, k=5)


def test_mixed_pairs_names_the_classes_that_share_an_island():
    rng = np.random.default_rng(0)
    # a and b share one island, c is alone far away
    xy = np.r_[rng.normal(size=(40, 2)), rng.normal(size=(20, 2)) + 100]
    labels = np.r_[np.repeat([0, 1], 20), np.full(20, 2)]
    pairs = mixed_pairs(xy, labels, ["a", "b", "c"], k=5)
    assert [(a, b) for a, b, _ in pairs] == [("a", "b")]
    assert 0.2 < pairs[0][2] < 0.8


# ---------------------------------------------------------------- embed


@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_a_seed_makes_the_map_reproducible_and_keeps_clusters_apart(dataset, method):
    # one thread: the tests run two at a time on two cores
    options = {"perplexity": 10.0, "threads": 1} if method == "tsne" else {"n_neighbors": 10}
    a = embed(dataset, method, place="test", k=5, **options)
    b = embed(dataset, method, place="test", k=5, **options)
    assert np.array_equal(a.coordinates, b.coordinates)
    assert a.placed is not None and b.placed is not None
    assert np.array_equal(a.placed.coordinates, b.placed.coordinates)
    assert a.coordinates.shape == (120, 2) and a.placed.coordinates.shape == (30, 2)
    f = a.faithfulness
    assert f is not None and f.knn_map == 1.0 and f.knn_pixels == 1.0
    assert f.placed_knn_map == 1.0
    if method != "pca":
        c = embed(dataset, method, seed=1, measure=False, **options)
        assert not np.allclose(a.coordinates, c.coordinates)
        assert a.params["pca"] == 50  # 64 pixels: t-SNE and UMAP start from 50 components
    assert a.params["seed"] == 0


def test_tsne_and_umap_start_from_50_principal_components_of_larger_images():
    split = clusters(n_per_class=20, side=10)  # 100 pixels
    m = embed(split, "tsne", perplexity=5.0, threads=1, measure=False)
    assert m.params["pca"] == 50 and m.variance is not None and len(m.variance) == 50
    assert embed(split, "tsne", perplexity=5.0, pca=None, threads=1, measure=False).params["pca"] is None


def test_pca_places_new_points_by_its_projection(dataset):
    from sklearn.decomposition import PCA

    m = embed(dataset, "pca", place="test")
    assert m.placed is not None
    X = dataset.train.images.reshape(120, -1) / 255.0
    Z = dataset.test.images.reshape(30, -1) / 255.0
    reference = PCA(2).fit(X)
    # the same plane, up to the sign of each axis
    pairs = ((m.coordinates, reference.transform(X)), (m.placed.coordinates, reference.transform(Z)))
    for mine, theirs in pairs:
        for axis in range(2):
            assert np.allclose(np.abs(mine[:, axis]), np.abs(theirs[:, axis]), atol=1e-4)


def test_components_for_reads_the_explained_variance():
    rng = np.random.default_rng(0)
    # rank-2 data in 16 pixels: two components hold all the variance
    basis = rng.normal(size=(2, 16))
    rows = rng.normal(size=(200, 2)) @ basis
    images = np.clip(128 + 20 * rows, 0, 255).round().reshape(200, 4, 4)
    m = embed(images, "pca", measure=False)
    assert m.components_for(0.9) <= 2 and m.components_for(0.999) <= 3
    assert np.isclose(m.variance.sum(), 1.0)
    assert embed(images, "tsne", perplexity=5.0, threads=1, measure=False).components_for(0.9) is None


def test_to_frame_and_images_follow_the_indices(dataset):
    sample = embed(dataset, "pca", sample=30, place="test", first=None)
    frame = sample.to_frame()
    assert list(frame.columns) == ["split", "index", "label", "class", "x", "y"]
    assert len(frame) == 30 + 30 and frame["split"].tolist().count("test") == 30
    assert sorted(frame["class"].unique()) == ["c0", "c1", "c2"]
    images = sample.images(dataset.train)
    assert np.array_equal(images, dataset.train.images[sample.indices])
    assert np.array_equal(sample.images(dataset.test, placed=True), dataset.test.images)
    # a stratified sample: 10 of each class
    assert np.bincount(sample.labels).tolist() == [10, 10, 10]


def test_bare_arrays_can_be_mapped_with_or_without_labels():
    split = clusters()
    m = embed(split.images.reshape(len(split), -1), "pca", labels=split.labels, k=5)
    assert m.faithfulness.knn_map == 1.0 and m.classes == ("0", "1", "2")
    unlabelled = embed(split.images, "pca", k=5)
    assert unlabelled.faithfulness.knn_map is None and unlabelled.classes == ("all",)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "mds"}, "method must be one of"),
        ({"method": "tsne", "perplexity": 50.0}, "perplexity 50"),
        ({"method": "umap", "n_neighbors": 200}, "n_neighbors=200"),
        ({"method": "pca", "place": "train"}, "another split"),
        ({"method": "pca", "split": "validation"}, "no validation split"),
        ({"method": "pca", "seed": -1}, "seed"),
        ({"method": "pca", "pca": 1}, "pca must be"),
        ({"method": "pca", "threads": 0}, "threads"),
    ],
)
def test_embed_refuses_bad_arguments_clearly(dataset, kwargs, message):
    with pytest.raises(ValueError, match=message):
        embed(dataset, **kwargs)


def test_embed_refuses_identical_images_and_too_few_points():
    with pytest.raises(ValueError, match="all 20 images are the same"):
        embed(np.full((20, 4, 4), 7, np.uint8), "pca")
    with pytest.raises(ValueError, match="at least 3"):
        embed(np.zeros((2, 4, 4), np.uint8), "pca")


def test_embed_refuses_nan_and_a_store(tmp_path, dataset):
    images = np.zeros((20, 4, 4))
    images[3, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        embed(images, "pca")
    with pytest.raises(ValueError, match="place needs a Dataset"):
        embed(dataset.train, "pca", place="test")
    from mnistlab.data.lazy import load_zarr

    store = tmp_path / "blobs.zarr"
    mnistlab.save(dataset, store, "zarr")
    with pytest.raises(ValueError, match="in memory"):
        embed(load_zarr(store), "pca")


def test_one_class_is_mapped_without_a_vote():
    split = clusters(n_classes=1, n_per_class=40)
    m = embed(split, "pca", k=5)
    assert m.faithfulness.knn_map is None and 0 < m.faithfulness.trustworthiness <= 1


# ---------------------------------------------------------------- figures


def test_scatter_names_every_class_in_its_legend_even_47():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(47), 6)
    images = rng.integers(0, 255, size=(len(labels), 6, 6))
    m = embed(
        images, "pca", labels=labels, classes=tuple(f"class {k}" for k in range(47)), measure=False
    )
    fig = plots.map_scatter(m)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == [f"class {k}" for k in range(47)]
    assert len({h.get_color() for h in fig.legends[0].legend_handles}) == 47


def test_thumbnail_map_draws_each_cell_once_and_checks_its_images(dataset):
    m = embed(dataset, "pca", measure=False)
    from mnistlab.plots.maps import thumbnail_cells

    rows, columns, points = thumbnail_cells(m.coordinates, 5)
    assert len(set(zip(rows.tolist(), columns.tolist(), strict=True))) == len(points)
    assert len(np.unique(points)) == len(points) <= 25
    fig = plots.thumbnail_map(m, m.images(dataset.train), cells=5)
    assert fig.axes[0].images[0].get_array().shape == (5 * 8, 5 * 8, 3)
    with pytest.raises(ValueError, match="images must be the map's 120"):
        plots.thumbnail_map(m, dataset.train.images[:5])
    with pytest.raises(ValueError, match="cells"):
        plots.thumbnail_map(m, m.images(dataset.train), cells=1)


def test_variance_curve_needs_a_pca(dataset):
    m = embed(dataset, "pca", measure=False)
    assert plots.variance_curve(m).axes[0].get_xlabel() == "principal components"
    without = embed(dataset, "tsne", perplexity=5.0, pca=None, threads=1, measure=False)
    with pytest.raises(ValueError, match="without a PCA"):
        plots.variance_curve(without)


# ---------------------------------------------------------------- command


def test_embed_command_writes_every_output_and_json(tmp_path):
    out = tmp_path / "out"
    args = ["embed", "digits", "--method", "pca", "--place", "test", "-o", str(out / "map.png")]
    args += ["--thumbnails", str(out / "thumbs.png"), "--variance", str(out / "variance.png")]
    args += ["--csv", str(out / "coords.csv"), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["method"] == "pca" and data["points"] == 1347 and data["placed"]["points"] == 450
    assert 0 < data["faithfulness"]["knn_map"] < data["faithfulness"]["knn_pixels"] <= 1
    assert data["components_for"]["90%"] == 21  # sklearn's digits: 21 components for 90 %
    for name in ("map.png", "thumbs.png", "variance.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    coords = pd.read_csv(out / "coords.csv")
    assert len(coords) == 1347 + 450 and set(coords["split"]) == {"train", "test"}


def test_embed_command_says_what_is_wrong(tmp_path):
    result = runner.invoke(app, ["embed", "digits", "--method", "mds"])
    assert result.exit_code == 2 and "unknown --method" in result.output
    result = runner.invoke(app, ["embed", "digits", "--method", "tsne", "--first", "20"])
    assert result.exit_code == 2 and "perplexity 30" in result.output
    result = runner.invoke(app, ["embed", "digits", "-o", str(tmp_path / "map.txt")])
    assert result.exit_code != 0 and "expected a file name ending in" in result.output
    assert not (tmp_path / "map.txt").exists()


# ---------------------------------------------------------------- real data


@pytest.mark.slow
def test_tsne_of_mnist_test_keeps_its_classes_and_places_new_points():
    ds = mnistlab.load("mnist")
    small = Dataset("mnist", ds.train.subset(sample=3000), ds.test.subset(sample=600), ds.classes)
    m = embed(small, "tsne", place="test", measure_sample=2000)
    f = m.faithfulness
    # MNIST's t-SNE islands: the map's vote is as good as the pixels' (0.91 and 0.90 on 3,000;
    # 0.93 on 5,000)
    assert f.knn_map > 0.88 and f.knn_map >= f.knn_pixels - 0.02
    assert f.trustworthiness > 0.95
    assert f.placed_knn_map > 0.85
    pairs = {frozenset(p[:2]) for p in mixed_pairs(m.coordinates, m.labels, m.classes)}
    assert frozenset({"4", "9"}) in pairs  # the pair every MNIST map shows touching


def test_embed_command_writes_the_interactive_page(tmp_path):
    from mnistlab._utils.csp import csp_script_hashes

    page = tmp_path / "map.html"
    args = ["embed", "digits", "--first", "200", "--place", "test", "--html", str(page), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert html.count('<figure class="map">') == 1
    policy = html.split('http-equiv="Content-Security-Policy" content="')[1].split('"')[0]
    assert "'unsafe-eval'" not in policy and "default-src 'none'" in policy
    assert all(h in policy for h in csp_script_hashes(html))
    # every mapped and placed image (and BokehJS's own logo)
    assert html.count("data:image/png;base64,") >= 200 + 200
