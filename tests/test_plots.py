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
    yield plots.pixel_values(split.images[0], title="t")
    name = split.classes[split.labels[0]]
    yield plots.flattening(split.images[0], index=0, label=int(split.labels[0]), class_name=name)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(("k", "shape"), [(1, (5, 5)), (2, (28, 28)), (5, (12, 10)), (12, (8, 8))])
def test_figures_draw_without_warnings(tmp_path, k, shape):
    x, y = make_arrays(40, k, shape=shape)
    split = Split(x, y, tuple(f"class {i}" for i in range(k)))
    for n, fig in enumerate(figures(split)):
        assert isinstance(fig, Figure)
        path = plots.save(fig, tmp_path / f"{n}.png")
        assert path.stat().st_size > 1000


def test_class_names_with_dollars_are_drawn_literally(tmp_path):
    """'$' and '$$' are price tiers, not mathtext: every figure draws them as written, and the
    user's own matplotlib setting is left as it was."""
    import matplotlib

    x, y = make_arrays(40, 4, shape=(8, 8))
    split = Split(x, y, ("$", "$$", "$1 and $2", r"a_b^c \alpha"))
    before = matplotlib.rcParams["text.parse_math"]
    for n, fig in enumerate(figures(split)):
        plots.save(fig, tmp_path / f"{n}.png")
        assert plots.to_png_bytes(fig)
    assert matplotlib.rcParams["text.parse_math"] == before
    grid = plots.image_grid(split, np.flatnonzero(y == 1)[:2])
    titles = [ax.get_title() for ax in grid.axes if ax.get_title()]
    assert any(t.endswith("· $$") for t in titles)
    plots.to_png_bytes(grid)


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


@pytest.mark.parametrize("shape", [(8, 8), (28, 28), (5, 9), (64, 64)])
def test_value_figures_write_every_value_and_place_the_inked_row(shape):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 60, shape).astype(np.uint8)
    row = shape[0] // 2
    pixels[row] = 250  # the row with the most ink: the one the flattening figure follows
    fig = plots.pixel_values(pixels)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [str(v) for v in pixels.ravel()]
    flat = plots.flattening(pixels, index=3, label=1, class_name="$1$ price")
    titles = " ".join(ax.get_title() for ax in flat.axes)
    w = shape[1]
    assert f"features {row * w}..{row * w + w - 1} of X[3]" in titles
    assert "y[3] = 1 ($1$ price)" in flat.get_suptitle()
    plots.to_png_bytes(flat)  # class names with $ are drawn literally, not as maths
    plots.to_png_bytes(fig)


def test_value_figures_refuse_what_they_cannot_write():
    with pytest.raises(ValueError, match="too large"):
        plots.pixel_values(np.zeros((65, 10), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        plots.flattening(np.zeros((4, 4)), index=0, label=0, class_name="a")
