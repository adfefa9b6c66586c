"""The public API as a notebook user meets it: Splits and arrays accepted alike (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from mnistlab import stats
from mnistlab.similarity import NearestImages, compare


def test_analyses_take_a_split_or_its_arrays(five_class):
    train = five_class.train
    by_split = stats.centroids(train)
    by_arrays = stats.centroids(train.images, train.labels, train.classes)
    np.testing.assert_array_equal(by_split.means, by_arrays.means)
    part = train[train.labels != 0]  # indices are positions in the whole split
    typical = stats.typicality(part)
    np.testing.assert_array_equal(typical.indices, part.indices)
    np.testing.assert_array_equal(
        typical.distances, stats.typicality(part.images, part.labels, part.classes).distances
    )
    with pytest.raises(TypeError, match="need their labels"):
        stats.centroids(train.images)
    with pytest.raises(TypeError, match="not both"):
        stats.centroids(train, train.labels, train.classes)


def test_split_items_and_splits_go_straight_into_the_similarity_api(five_class):
    train, test = five_class.train, five_class.test
    assert compare(train[0], train[1]) == compare(train.images[0], train.images[1])
    a = NearestImages().fit(train).kneighbors(test, 3)
    b = NearestImages().fit(train.images).kneighbors(test.images, 3)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0])


def test_the_top_level_names_one_entry_point_per_task():
    import mnistlab

    for name in mnistlab.__all__:
        assert getattr(mnistlab, name) is not None, name
    assert mnistlab.stats.centroids is mnistlab.centroids
    assert mnistlab.similarity.compare is mnistlab.compare
    assert {"stats", "similarity", "models", "plots", "load_image"} <= set(dir(mnistlab))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        mnistlab.nothing  # noqa: B018


def test_match_sizes_resizes_the_image_file_to_the_dataset_image():
    from mnistlab.data.images import ImageRef, match_sizes

    dataset_image = ImageRef(np.zeros((8, 8), np.uint8), "digits:test:0", 0, "0", "digits")
    file_image = ImageRef(np.full((16, 16), 255, np.uint8), "big.png", None, None, None)
    for a, b in ((file_image, dataset_image), (dataset_image, file_image)):
        a2, b2 = match_sizes(a, b, resize=True)
        assert a2.pixels.shape == b2.pixels.shape == (8, 8)
        assert (a2.pixels == a.pixels).all() if a is dataset_image else (b2 is dataset_image)
    with pytest.raises(ValueError, match="resize"):
        match_sizes(file_image, dataset_image)
