"""Readers and writers for the file formats MNIST-like data comes in, one module per format.

- :mod:`~mnistlab.data.formats.idx`: IDX (gzipped or not);
- :mod:`~mnistlab.data.formats.csv`: CSV (``mnist_train.csv`` layout without header, and the
  Kaggle layout with a ``label,pixel0,...`` header);
- :mod:`~mnistlab.data.formats.npz`: Keras-style NPZ;
- :mod:`~mnistlab.data.formats.folders`: folders of image files, one sub-folder per class;
- :mod:`~mnistlab.data.formats.pickled`: the classic ``mnist.pkl.gz`` pickle (only after its
  sha256 was verified, and even then through an unpickler that can build nothing but numpy
  arrays);
- :mod:`~mnistlab.data.formats.classes`: class-name lists and label mappings in text files;
- :mod:`~mnistlab.data.formats.arrays`: the checks every reader's arrays pass;
- :mod:`~mnistlab.data.formats.zarr`: Zarr stores, chunked along the image axis, read lazily;
- :mod:`~mnistlab.data.formats.quickdraw`: folders of Quick, Draw! numpy bitmaps (one ``.npy``
  per class), memory-mapped and read slice by slice.

Readers check structure *before* allocating: an IDX header claiming a billion images in a 1 KB file
is rejected from the header and the file size alone.
"""

from mnistlab.data.formats.arrays import (
    MAX_LABEL,
    as_labels,
    as_uint8_images,
    default_classes,
    square_shape,
)
from mnistlab.data.formats.classes import (
    CLASS_LIST_HEADER,
    MAX_CLASS_FILE,
    MAX_CLASS_NAME,
    check_class_names,
    check_name,
    read_classes,
    write_class_names,
)
from mnistlab.data.formats.csv import MAX_CSV_COLUMNS, csv_has_labels, read_csv, write_csv
from mnistlab.data.formats.folders import (
    IMAGE_SUFFIXES,
    MAX_IMAGE_PIXELS,
    ImageFolder,
    class_folders,
    read_image_file,
    read_image_folder,
    write_image_folder,
)
from mnistlab.data.formats.idx import (
    GZIP_MAGIC,
    IDX_DTYPES,
    idx_bytes,
    parse_idx,
    read_idx,
    read_idx_content,
    read_idx_shape,
    write_idx,
)
from mnistlab.data.formats.npz import (
    NPZ_KEYS,
    NpyHeader,
    keras_arrays,
    read_npy_header,
    read_npz,
    write_npz,
)
from mnistlab.data.formats.pickled import read_verified_pickle
from mnistlab.data.formats.quickdraw import (
    QUICKDRAW_IMAGE_SHAPE,
    QUICKDRAW_PREFIX,
    QuickDrawBitmaps,
    check_bitmap_file,
    is_quickdraw_folder,
    quickdraw_class_name,
    quickdraw_folder_files,
)
from mnistlab.data.formats.zarr import check_new_store, is_zarr_store, open_zarr, write_zarr

__all__ = [
    "CLASS_LIST_HEADER",
    "GZIP_MAGIC",
    "IDX_DTYPES",
    "IMAGE_SUFFIXES",
    "MAX_CLASS_FILE",
    "MAX_CLASS_NAME",
    "MAX_CSV_COLUMNS",
    "MAX_IMAGE_PIXELS",
    "MAX_LABEL",
    "NPZ_KEYS",
    "QUICKDRAW_IMAGE_SHAPE",
    "QUICKDRAW_PREFIX",
    "ImageFolder",
    "NpyHeader",
    "QuickDrawBitmaps",
    "as_labels",
    "as_uint8_images",
    "check_bitmap_file",
    "check_class_names",
    "check_name",
    "check_new_store",
    "class_folders",
    "csv_has_labels",
    "default_classes",
    "idx_bytes",
    "is_quickdraw_folder",
    "is_zarr_store",
    "keras_arrays",
    "open_zarr",
    "parse_idx",
    "quickdraw_class_name",
    "quickdraw_folder_files",
    "read_classes",
    "read_csv",
    "read_idx",
    "read_idx_content",
    "read_idx_shape",
    "read_image_file",
    "read_image_folder",
    "read_npy_header",
    "read_npz",
    "read_verified_pickle",
    "square_shape",
    "write_class_names",
    "write_csv",
    "write_idx",
    "write_image_folder",
    "write_npz",
    "write_zarr",
]
