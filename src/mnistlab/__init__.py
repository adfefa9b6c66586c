"""mnistlab: understand MNIST-like image classification datasets.

>>> import mnistlab
>>> ds = mnistlab.load("digits")          # or "mnist", "fashion-mnist", "kmnist", a path
>>> ds.train.images.shape, ds.train.labels[:5].tolist()
((1347, 8, 8), [0, 1, 2, 3, 4])
"""

from mnistlab.data import DATASETS, SAVE_FORMATS, Dataset, DatasetSpec, Split, load, save
from mnistlab.errors import (
    DatasetNotFoundError,
    FormatError,
    IntegrityError,
    MnistlabError,
    UnknownDatasetError,
)
from mnistlab.tidy import from_tidy, tidy

__version__ = "0.1.0"

#: Imported on first use: they pull in scikit-learn, which would triple ``import mnistlab``.
_LAZY = {
    "OnePixelClassifier": "mnistlab.onepixel",
    "OnePixelSeparability": "mnistlab.onepixel",
    "one_pixel_separability": "mnistlab.onepixel",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mnistlab' has no attribute {name!r}")


__all__ = [
    "DATASETS",
    "SAVE_FORMATS",
    "Dataset",
    "DatasetNotFoundError",
    "DatasetSpec",
    "FormatError",
    "IntegrityError",
    "MnistlabError",
    "OnePixelClassifier",
    "OnePixelSeparability",
    "Split",
    "UnknownDatasetError",
    "__version__",
    "from_tidy",
    "load",
    "one_pixel_separability",
    "save",
    "tidy",
]
