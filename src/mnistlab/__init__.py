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

#: Imported on first use: they pull in scikit-learn, matplotlib or torch, which would make
#: ``import mnistlab`` several times slower. The entry point of each task, and where it lives.
_LAZY = {
    "load_image": "mnistlab.data.images",
    "compare": "mnistlab.similarity",
    "NearestImages": "mnistlab.similarity",
    "find_duplicates": "mnistlab.similarity",
    "centroids": "mnistlab.stats",
    "typicality": "mnistlab.stats",
    "OnePixelClassifier": "mnistlab.onepixel",
    "OnePixelSeparability": "mnistlab.onepixel",
    "one_pixel_separability": "mnistlab.onepixel",
    "train": "mnistlab.models",
    "load_model": "mnistlab.models",
    "benchmark": "mnistlab.models",
    "label_issues": "mnistlab.quality",
    "embed": "mnistlab.maps",
}
#: Subpackages reachable as attributes (``mnistlab.stats``), imported on first use.
_SUBMODULES = (
    "stats",
    "similarity",
    "onepixel",
    "models",
    "plots",
    "report",
    "quality",
    "scale",
    "maps",
)


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"mnistlab.{name}")
    raise AttributeError(f"module 'mnistlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


__all__ = [
    "DATASETS",
    "SAVE_FORMATS",
    "Dataset",
    "DatasetNotFoundError",
    "DatasetSpec",
    "FormatError",
    "IntegrityError",
    "MnistlabError",
    "NearestImages",
    "OnePixelClassifier",
    "OnePixelSeparability",
    "Split",
    "UnknownDatasetError",
    "__version__",
    "benchmark",
    "centroids",
    "compare",
    "embed",
    "find_duplicates",
    "from_tidy",
    "label_issues",
    "load",
    "load_image",
    "load_model",
    "one_pixel_separability",
    "save",
    "tidy",
    "train",
    "typicality",
]
