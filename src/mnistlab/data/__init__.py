"""Data layer: registry of named datasets, sources, file formats and the Dataset type."""

from mnistlab.data.dataset import Dataset, Split
from mnistlab.data.loading import SAVE_FORMATS, load, save
from mnistlab.data.quickdraw import load_quickdraw, open_quickdraw, write_quickdraw_zarr
from mnistlab.data.registry import DATASETS, QUICKDRAW, DatasetSpec, get_spec

__all__ = [
    "DATASETS",
    "QUICKDRAW",
    "SAVE_FORMATS",
    "Dataset",
    "DatasetSpec",
    "Split",
    "get_spec",
    "load",
    "load_quickdraw",
    "open_quickdraw",
    "save",
    "write_quickdraw_zarr",
]
