"""Data layer: registry of named datasets, sources, file formats and the Dataset type."""

from mnistlab.data.dataset import Dataset, Split
from mnistlab.data.loading import SAVE_FORMATS, load, save
from mnistlab.data.registry import DATASETS, DatasetSpec, get_spec

__all__ = [
    "DATASETS",
    "SAVE_FORMATS",
    "Dataset",
    "DatasetSpec",
    "Split",
    "get_spec",
    "load",
    "save",
]
