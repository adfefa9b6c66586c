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


# --------------------------------------------------------------------------------------------
# Many classes: every figure keeps its size and says what it shows


def many_classes(k: int = 200, per_class: int = 4, side: int = 6, seed: int = 0):
    """A dataset of ``k`` classes, ``per_class`` tiny train images each, half as many test."""
    from mnistlab import Dataset

    rng = np.random.default_rng(seed)
    n = k * per_class
    x = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
    y = np.arange(n) % k
    return Dataset.from_arrays(f"many{k}", (x, y), (x[: n // 2], y[: n // 2]))


def png_size(fig) -> tuple[int, int]:
    """Width and height in pixels of the PNG the figure renders to."""
    import struct

    data = plots.to_png_bytes(fig)
    return struct.unpack(">II", data[16:24])


def all_texts(fig) -> str:
    """Every title and text of a figure, joined (suptitle, axes titles, figure texts)."""
    texts = [fig.get_suptitle(), *(t.get_text() for t in fig.texts)]
    texts += [ax.get_title() for ax in fig.axes]
    return "\n".join(texts)


@pytest.mark.filterwarnings("error")
def test_every_figure_of_200_classes_is_capped_and_says_what_it_shows():
    """The issue's 200 classes made a 9449x9405 px confusion matrix and a 16,769 px gallery;
    the pair figures refused. Now each stays within MAX_FIGURE_INCHES a side and its title says
    which subset it shows."""
    from mnistlab.onepixel import one_pixel_separability

    ds = many_classes(200)
    split, k = ds.train, 200
    centroids = stats.centroids(split.images, split.labels, split.classes)
    typicality = stats.typicality(split.images, split.labels, split.classes, split.indices)
    counts = stats.pixel_value_counts_by_class(split.images, split.labels, k)
    predicted = (ds.test.labels + (np.arange(len(ds.test)) % 3 == 0)) % k
    evaluation = evaluate(ds.test.labels, predicted, ds.classes)
    separability = one_pixel_separability(ds, progress=False)
    cases = {
        "centroid_grid": (plots.centroid_grid(centroids), "60 of 200 classes"),
        "pixel_histograms_by_class": (
            plots.pixel_histograms_by_class(counts, split.classes),
            f"{plots.MAX_HISTOGRAM_CLASSES} of 200 classes",
        ),
        "distance_boxplot": (plots.distance_boxplot(typicality), "30 of 200 classes"),
        "typicality_gallery": (
            plots.typicality_gallery(split, typicality, per_class=1000),
            "20 of 200 classes",
        ),
        "pair_differences": (plots.pair_differences(centroids), "24 of 19,900 pairs"),
        "confusion_matrix": (plots.confusion_matrix(evaluation, title="t"), "30 of 200 classes"),
        "separability_heatmap": (plots.separability_heatmap(separability), "30 of 200 classes"),
        "best_pixels": (plots.best_pixels(separability, centroids), "24 of 19,900 pairs"),
    }
    limit = plots.MAX_FIGURE_INCHES * plots.DPI
    for name, (fig, said) in cases.items():
        assert said in all_texts(fig), name
        inches = fig.get_size_inches()
        assert (inches <= plots.MAX_FIGURE_INCHES).all(), (name, inches)
        width, height = png_size(fig)
        assert width <= limit and height <= limit, (name, width, height)


def test_subset_figures_show_the_classes_that_matter():
    """Beyond the caps: the confusion matrix shows the most confused classes, the gallery and
    box plot the classes with the farthest outlier, the pair figures the closest/hardest pairs."""
    ds = many_classes(60, per_class=3)
    split = ds.train
    # Classes 7 and 41 swap all their test images; class 50 is predicted as 51 once.
    predicted = ds.test.labels.copy()
    predicted[ds.test.labels == 7], predicted[ds.test.labels == 41] = 41, 7
    predicted[np.flatnonzero(ds.test.labels == 50)[0]] = 51
    evaluation = evaluate(ds.test.labels, predicted, ds.classes)
    assert list(evaluation.most_confused_classes(5)) == [7, 41, 50, 51, 0]
    fig = plots.confusion_matrix(evaluation)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(ticks) == plots.MAX_CONFUSION_CLASSES and {"7", "41", "50", "51"} <= set(ticks)
    assert ticks == sorted(ticks, key=int)  # shown in label order

    images = split.images.copy()
    images[split.labels == 33] = 0
    images[np.flatnonzero(split.labels == 33)[0]] = 255  # class 33 has the farthest outlier
    typicality = stats.typicality(images, split.labels, split.classes, split.indices)
    gallery = plots.typicality_gallery(Split(images, split.labels, split.classes), typicality)
    rows = [ax.get_ylabel() for ax in gallery.axes if ax.get_ylabel()]
    assert len(rows) == plots.MAX_GALLERY_CLASSES and rows[0] == "33"
    box = plots.distance_boxplot(typicality)
    assert "33" in [t.get_text() for t in box.axes[0].get_xticklabels()]

    centroids = stats.centroids(split.images, split.labels, split.classes)
    pairs = plots.pair_differences(centroids)
    i, j, rms = centroids.closest_pair()
    first = next(ax.get_title() for ax in pairs.axes if ax.get_title())
    assert first == f"{min(i, j)} - {max(i, j)}\nRMS {rms:.1f}"


def test_figures_up_to_the_caps_are_drawn_whole():
    """Up to the caps nothing changes: every class, no subset line."""
    ds = many_classes(plots.MAX_BOX_CLASSES, per_class=2)
    split = ds.train
    centroids = stats.centroids(split.images, split.labels, split.classes)
    typicality = stats.typicality(split.images, split.labels, split.classes, split.indices)
    box = plots.distance_boxplot(typicality)
    assert len(box.axes[0].get_xticklabels()) == plots.MAX_BOX_CLASSES
    grid = plots.centroid_grid(centroids)
    assert sum(ax.axison for ax in grid.axes) == plots.MAX_BOX_CLASSES
    few = many_classes(12, per_class=2).train
    pairs = plots.pair_differences(stats.centroids(few.images, few.labels, few.classes))
    assert len(pairs.axes) == 12 * 12 + 1  # the k x k grid and its colour bar
    for fig in (box, grid, pairs):
        assert " of " not in all_texts(fig)
        plots.to_png_bytes(fig)


def test_benchmark_command_writes_a_capped_confusion_matrix_for_many_classes(tmp_path):
    """Beyond 30 classes the benchmark command wrote no confusion matrix at all."""
    from PIL import Image
    from typer.testing import CliRunner

    from mnistlab import save
    from mnistlab.cli import app

    save(many_classes(40, per_class=4), tmp_path / "data", "npz")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["benchmark", str(tmp_path / "data" / "many40.npz"), "--models", "centroid", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    width, height = Image.open(out / "confusion-many40-centroid.png").size
    assert max(width, height) <= plots.MAX_FIGURE_INCHES * plots.DPI
