"""The registry: names, aliases, suggestions."""

from __future__ import annotations

import pytest

from mnistlab.data.registry import DATASETS, get_spec
from mnistlab.errors import UnknownDatasetError


def test_names_and_aliases():
    assert get_spec("MNIST").name == "mnist"
    assert get_spec("fashion_mnist").name == "fashion-mnist"
    assert get_spec("fashion-mnist").classes[0] == "T-shirt/top"
    assert get_spec("fashion-mnist").classes[9] == "Ankle boot"
    assert get_spec("digits").image_shape == (8, 8)
    assert set(DATASETS) == {"mnist", "fashion-mnist", "kmnist", "digits"}


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("mnsit", "mnist"),
        ("fashion-mnst", "fashion-mnist"),
        ("kmnst", "kmnist"),
        ("digit", "digits"),
    ],
)
def test_unknown_names_suggest_the_closest(typo, suggestion):
    with pytest.raises(UnknownDatasetError, match=f"Did you mean '{suggestion}'"):
        get_spec(typo)


def test_hopeless_names_list_what_exists():
    with pytest.raises(UnknownDatasetError, match="Known datasets: mnist, fashion-mnist"):
        get_spec("cifar-10-zzz")


def test_mnist_and_fashion_share_file_names_but_not_hashes():
    m, f = get_spec("mnist"), get_spec("fashion-mnist")
    for role in m.files:
        assert m.files[role].name == f.files[role].name
        assert m.files[role].sha256 != f.files[role].sha256
