"""Similarity on the real MNIST and Fashion-MNIST (slow): metrics and neighbours against
independent references, and the commands end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.metrics import structural_similarity
from sklearn.metrics import mutual_info_score, normalized_mutual_info_score
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from typer.testing import CliRunner

import mnistlab
from mnistlab.cli import app
from mnistlab.similarity import NearestImages, compare

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("similarity-real")]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNISTLAB_HOME", str(tmp_path_factory.mktemp("similarity-cache")))
        yield {
            name: mnistlab.load(name, download=False, progress=False)
            for name in ("mnist", "fashion-mnist")
        }


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_metrics_on_real_pairs_equal_references(real, name):
    images = real[name].train.images
    rng = np.random.default_rng(1)
    for i, j in rng.integers(0, len(images), size=(5, 2)):
        a, b = images[i], images[j]
        c = compare(a, b)
        x, y = a.ravel().astype(float), b.ravel().astype(float)
        assert c.pearson == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
        assert c.cosine == pytest.approx(x @ y / np.linalg.norm(x) / np.linalg.norm(y), abs=1e-12)
        assert c.rms == pytest.approx(np.sqrt(np.mean((x - y) ** 2)))
        assert c.ssim == pytest.approx(structural_similarity(a, b, data_range=255), abs=1e-12)
        assert c.normalized_mutual_information == pytest.approx(
            normalized_mutual_info_score(a.ravel(), b.ravel())
        )
        assert c.mutual_information_bits == pytest.approx(
            mutual_info_score(a.ravel(), b.ravel()) / np.log(2)
        )


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_neighbours_on_real_images_equal_sklearn(real, metric):
    ds = real["fashion-mnist"]
    X = ds.train.images[:6000].reshape(6000, -1)
    Q = ds.test.images[:500].reshape(500, -1)
    d1, i1 = NearestImages(metric=metric).fit(X).kneighbors(Q, 3)
    d2, i2 = (
        NearestNeighbors(n_neighbors=3, algorithm="brute", metric=metric)
        .fit(X.astype(float))
        .kneighbors(Q.astype(float))
    )
    np.testing.assert_allclose(d1, d2, rtol=1e-7, atol=1e-9)
    assert np.mean(i1 == i2) > 0.999  # ties aside


def test_knn_accuracy_on_mnist_equals_sklearn(real):
    from mnistlab.similarity import KNearestImagesClassifier

    ds = real["mnist"]
    X, y = ds.train.images[:20_000], ds.train.labels[:20_000]
    Q, t = ds.test.images[:2000], ds.test.labels[:2000]
    ours = KNearestImagesClassifier(n_neighbors=3).fit(X, y).predict(Q)
    theirs = (
        KNeighborsClassifier(3, algorithm="brute")
        .fit(X.reshape(len(X), -1), y)
        .predict(Q.reshape(len(Q), -1))
    )
    assert np.mean(ours == theirs) > 0.999
    assert np.mean(ours == t) == pytest.approx(np.mean(theirs == t), abs=1e-3)


def test_commands_on_mnist_and_fashion(real, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app, ["compare", "mnist:train:0", "mnist:train:1", "--json", "-o", str(tmp_path / "c.png")]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["pearson"] == pytest.approx(
        np.corrcoef(*[real["mnist"].train.images[i].ravel() for i in (0, 1)])[0, 1]
    )
    result = runner.invoke(
        app, ["similar", "fashion-mnist:test:0", "--in", "fashion-mnist", "--k", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    neighbours = json.loads(result.stdout)["neighbours"]
    train = real["fashion-mnist"].train.images.reshape(60_000, -1).astype(float)
    query = real["fashion-mnist"].test.images[0].reshape(-1).astype(float)
    assert neighbours[0]["index"] == int(np.argmin(((train - query) ** 2).sum(1)))
    # duplicates on a real subset (the full run takes a minute): the first 5,000 + 1,000 images.
    fashion = real["fashion-mnist"]
    subset = mnistlab.Dataset.from_arrays(
        "fashion-subset",
        (fashion.train.images[:5000], fashion.train.labels[:5000]),
        (fashion.test.images[:1000], fashion.test.labels[:1000]),
        classes=list(fashion.classes),
    )
    mnistlab.save(subset, tmp_path / "subset", "npz")
    source = str(tmp_path / "subset" / "fashion-subset.npz")
    result = runner.invoke(app, ["duplicates", source, "-o", str(tmp_path / "d"), "--json"])
    assert result.exit_code == 0, result.output
    pairs = json.loads(result.stdout)["pairs"]
    assert pairs, "the near copies of Fashion-MNIST's first images are found"
    first = pairs[0]
    a = subset.split(first["split_a"]).images[first["index_a"]].astype(float)
    b = subset.split(first["split_b"]).images[first["index_b"]].astype(float)
    assert first["rms_distance"] == pytest.approx(np.sqrt(np.mean((a - b) ** 2)))
    assert (tmp_path / "d" / "duplicates.csv").exists()
