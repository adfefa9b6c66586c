"""Every figure draws cleanly (no layout or value warnings) for any number of classes and sizes."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from conftest import make_arrays
from mnistlab import Split, plots, stats
from mnistlab.models import evaluate


def figures(split: Split):
    k = len(split.classes)
    centroids = stats.centroids(split.images, split.labels, split.classes)
    typicality = stats.typicality(split.images, split.labels, split.classes, split.indices)
    counts = stats.pixel_value_counts_by_class(split.images, split.labels, k)
    yield plots.image_grid(split, range(min(12, len(split))), title="t")
    yield plots.pixel_histogram(counts.sum(axis=0), title="t")
    yield plots.pixel_histograms_by_class(counts, split.classes, title="t")
    yield plots.centroid_grid(centroids)
    yield plots.distance_boxplot(typicality)
    yield plots.typicality_gallery(split, typicality, per_class=3)
    yield plots.pair_differences(centroids)
    yield plots.confusion_matrix(evaluate(split.labels, split.labels[::-1], split.classes))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(("k", "shape"), [(1, (5, 5)), (2, (28, 28)), (5, (12, 10)), (12, (8, 8))])
def test_figures_draw_without_warnings(tmp_path, k, shape):
    x, y = make_arrays(40, k, shape=shape)
    split = Split(x, y, tuple(f"class {i}" for i in range(k)))
    for n, fig in enumerate(figures(split)):
        assert isinstance(fig, Figure)
        path = plots.save(fig, tmp_path / f"{n}.png")
        assert path.stat().st_size > 1000


@pytest.mark.filterwarnings("error")
def test_figures_with_an_empty_class(tmp_path):
    x, y = make_arrays(20, 3)
    split = Split(x[y != 1], y[y != 1], ("a", "b", "c"))  # class b has no images
    for n, fig in enumerate(figures(split)):
        plots.save(fig, tmp_path / f"{n}.png")
    centroids = stats.centroids(split.images, split.labels, split.classes)
    i, j, rms = centroids.closest_pair()
    assert {i, j} == {0, 2} and np.isfinite(rms)


def test_closest_pair_needs_two_classes_with_images():
    x, y = make_arrays(6, 1)
    assert stats.centroids(x, y, ("a", "b")).closest_pair() is None


def test_closest_pair_matches_a_direct_computation():
    x, y = make_arrays(60, 4)
    c = stats.centroids(x, y, tuple("abcd"))
    flat = c.means.reshape(4, -1)
    rms = np.sqrt(((flat[:, None] - flat[None]) ** 2).mean(axis=2))
    np.fill_diagonal(rms, np.inf)
    i, j, value = c.closest_pair()
    assert value == pytest.approx(rms.min(), rel=1e-9)
    assert rms[i, j] == rms.min()
