"""Readers and writers: round trips, and every kind of bad file gets a clear FormatError."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import make_arrays, peak_memory
from mnistlab._utils import files
from mnistlab.data import formats
from mnistlab.errors import FormatError, IntegrityError

IDX_NATIVE_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


# --------------------------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    array=hnp.arrays(
        dtype=st.sampled_from(IDX_NATIVE_DTYPES),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
        elements={"allow_nan": False},
    ),
    compress=st.booleans(),
)
def test_idx_round_trip_any_rank_and_type(tmp_path_factory, array, compress):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compress else "a.idx")
    formats.write_idx(path, array)
    back = formats.read_idx(path)
    assert back.dtype == array.dtype.newbyteorder("=")
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_idx_header_matches_the_official_layout():
    data = formats.idx_bytes(np.zeros((2, 3, 4), np.uint8))
    assert data[:4] == b"\x00\x00\x08\x03"
    assert struct.unpack(">3I", data[4:16]) == (2, 3, 4)
    assert len(data) == 16 + 24


def test_gzip_detected_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "labels-without-suffix"
    path.write_bytes(gzip.compress(formats.idx_bytes(array)))
    np.testing.assert_array_equal(formats.read_idx(path), array)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"\x00\x00", "too short"),
        (b"\x12\x34\x08\x03" + b"\x00" * 12, "not an IDX file"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated IDX header"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 10) + b"\x01" * 5, "truncated"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"\x01" * 5, "longer than its header"),
    ],
)
def test_bad_idx_files_are_refused(tmp_path, data, message):
    for compress in (False, True):
        path = tmp_path / f"bad{int(compress)}"
        path.write_bytes(gzip.compress(data) if compress else data)
        with pytest.raises(FormatError, match=message):
            formats.read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_lying_header_is_refused_without_allocating(tmp_path, compress):
    # A header claiming a billion 28x28 images (784 GB), followed by ~1 KB of data.
    data = b"\x00\x00\x08\x03" + struct.pack(">3I", 1_000_000_000, 28, 28) + bytes(1000)
    path = tmp_path / "liar"
    path.write_bytes(gzip.compress(data) if compress else data)
    expected = "more than a" if compress else "truncated"
    with peak_memory() as peak, pytest.raises(FormatError, match=expected):
        formats.read_idx(path)
    assert peak[0] < 5_000_000


def test_lying_header_within_deflate_bounds_reads_only_what_exists(tmp_path):
    # Plausible for its compressed size, but the data runs out after 300 KB of the 7.8 MB.
    noise = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    data = b"\x00\x00\x08\x03" + struct.pack(">3I", 10_000, 28, 28) + noise
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(data))
    with peak_memory() as peak, pytest.raises(FormatError, match="truncated"):
        formats.read_idx(path)
    assert peak[0] < 3 * 300_000 + 5 * (1 << 22)  # what exists plus read chunks, not 7.8 MB


def test_truncated_gzip_stream_is_a_format_error(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    blob = gzip.compress(formats.idx_bytes(array))
    path = tmp_path / "cut.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(FormatError, match="corrupt or truncated gzip"):
        formats.read_idx(path)


def test_corrupt_gzip_body_is_a_format_error(tmp_path):
    array = np.random.default_rng(1).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    blob = bytearray(gzip.compress(formats.idx_bytes(array)))
    blob[200:260] = bytes(60)  # inside the deflate stream
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(blob))
    with pytest.raises(FormatError):
        formats.read_idx(path)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), compress=st.booleans())
def test_fuzz_idx_reader_raises_only_format_errors(tmp_path_factory, data, compress):
    path = tmp_path_factory.mktemp("fuzz") / "f"
    path.write_bytes(gzip.compress(data) if compress else data)
    try:
        array = formats.read_idx(path)
    except FormatError:
        return
    # Whatever parses must be exactly what the header describes.
    assert formats.idx_bytes(array) == data


@settings(max_examples=150, deadline=None)
@given(prefix=st.binary(min_size=4, max_size=4), dims=st.lists(st.integers(0, 2**32 - 1), max_size=3))
def test_fuzz_idx_headers(tmp_path_factory, prefix, dims):
    data = b"\x00\x00" + prefix[2:] + b"".join(struct.pack(">I", d) for d in dims) + bytes(64)
    path = tmp_path_factory.mktemp("hdr") / "h"
    path.write_bytes(data)
    with contextlib.suppress(FormatError):
        formats.read_idx(path)


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["plain", "kaggle"])
def test_csv_round_trip(tmp_path, layout):
    images, labels = make_arrays(30, 4, shape=(5, 5))
    path = tmp_path / "d.csv"
    formats.write_csv(path, images, labels, layout=layout)
    first = path.read_text().splitlines()[0]
    assert first.startswith("label,pixel0,pixel1") == (layout == "kaggle")
    x, y = formats.read_csv(path)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_csv_plain_layout_as_commonly_distributed(tmp_path):
    path = tmp_path / "mnist_train.csv"
    path.write_text("5,0,0,255,17\n0,1,2,3,4\n")
    x, y = formats.read_csv(path)
    assert y.tolist() == [5, 0]
    assert x.shape == (2, 2, 2)
    assert x[0].ravel().tolist() == [0, 0, 255, 17]


def test_csv_non_square_needs_a_shape(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,0,0,0,0,0,0\n")
    with pytest.raises(FormatError, match="square"):
        formats.read_csv(path)
    x, _ = formats.read_csv(path, image_shape=(2, 3))
    assert x.shape == (1, 2, 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("1,0,0,0,0\n2,0,0\n", "rectangular"),
        ("1,0,0,0,0\n2,0,x,0,0\n", "whole number"),
        ("1,0,0,0,12.5\n", "fractional.*scale 0..1 images by 255"),
        ("1,0,0,0,256\n", r"0\.\.255"),
        ("1,0,-1,0,0\n", r"0\.\.255"),
        ("-1,0,0,0,0\n", ">= 0"),
        ("1,0,,0,0\n", "empty or missing"),
        ("pixel0,pixel1,pixel2,pixel3\n0,0,0,0\n", "no label column.*test.csv"),
        ("label,class,p0,p1\n0,0,0,0\n", "several label columns"),
        ("label\n1\n", "at least one pixel"),
    ],
)
def test_bad_csv_files_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(FormatError, match=message):
        formats.read_csv(path)


# --------------------------------------------------------------------------------------------
# NPZ
# --------------------------------------------------------------------------------------------


def test_npz_round_trip(tmp_path):
    x, y = make_arrays(10, 2)
    path = tmp_path / "m.npz"
    formats.write_npz(path, {"x_train": x, "y_train": y, "x_test": x[:3], "y_test": y[:3]})
    arrays = formats.read_npz(path)
    np.testing.assert_array_equal(arrays["x_test"], x[:3])


def test_npz_with_object_arrays_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1))
    with pytest.raises(FormatError, match="holds Python objects; refused"):
        formats.read_npz(path)


def test_npz_missing_keys(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, images=np.zeros((2, 2, 2)))
    with pytest.raises(FormatError, match="lacks x_train, y_train"):
        formats.read_npz(path)


def test_npz_that_is_not_a_zip(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(FormatError):
        formats.read_npz(path)


# --------------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------------


def test_image_folder_round_trip_keeps_class_order_and_names(tmp_path):
    x, y = make_arrays(12, 3, shape=(6, 7))
    classes = ["T-shirt/top", "Bag", "10"]
    formats.write_image_folder(tmp_path, x, y, classes)
    assert (tmp_path / "T-shirt_top").is_dir()
    back_x, back_y, back_classes, paths = formats.read_image_folder(tmp_path)
    assert back_classes == tuple(classes)
    # Each image's file is known, in its class folder, and holds that image.
    assert [Path(f).parent.name for f in paths] == [files.safe_filename(classes[k]) for k in back_y]
    assert all(
        (formats.read_image_file(f) == image).all() for f, image in zip(paths, back_x, strict=True)
    )
    order = np.argsort(back_y, kind="stable")
    np.testing.assert_array_equal(np.sort(back_y), np.sort(y))
    assert sorted(map(bytes, back_x[order])) == sorted(map(bytes, x[np.argsort(y, kind="stable")]))


def test_image_folder_converts_colour_to_gray(tmp_path):
    from skimage import io as skio

    (tmp_path / "cat").mkdir()
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., :] = 200
    skio.imsave(tmp_path / "cat" / "a.png", rgb, check_contrast=False)
    x, _y, classes, _files = formats.read_image_folder(tmp_path)
    assert x.dtype == np.uint8 and x.shape == (1, 4, 4)
    assert int(x[0, 0, 0]) == 200
    assert classes == ("cat",)


def test_image_folder_with_mixed_sizes_is_refused(tmp_path):
    from skimage import io as skio

    (tmp_path / "a").mkdir()
    skio.imsave(tmp_path / "a" / "1.png", np.zeros((4, 4), np.uint8), check_contrast=False)
    skio.imsave(tmp_path / "a" / "2.png", np.zeros((5, 4), np.uint8), check_contrast=False)
    with pytest.raises(FormatError, match="same size"):
        formats.read_image_folder(tmp_path)


def test_unreadable_image_is_a_format_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.png").write_bytes(b"not a png")
    with pytest.raises(FormatError, match="not a readable image"):
        formats.read_image_folder(tmp_path)


# --------------------------------------------------------------------------------------------
# The verified pickle
# --------------------------------------------------------------------------------------------


class _Boom:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def evil_pickle(tmp_path):
    marker = tmp_path / "pickle-was-executed"
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(_Boom(marker))))
    return path, marker


def test_pickle_with_wrong_hash_is_never_unpickled(evil_pickle):
    path, marker = evil_pickle
    with pytest.raises(IntegrityError, match="refusing to unpickle"):
        formats.read_verified_pickle(path, "0" * 64)
    assert not marker.exists()


def test_pickle_with_right_hash_still_builds_only_numpy_arrays(evil_pickle):
    path, marker = evil_pickle
    with pytest.raises(IntegrityError, match="not allowed"):
        formats.read_verified_pickle(path, files.sha256_hex(path.read_bytes()))
    assert not marker.exists()


def test_verified_pickle_of_arrays_loads(tmp_path):
    data = ((np.arange(6, dtype=np.float32).reshape(2, 3) / 256, np.array([1, 2])),)
    path = tmp_path / "ok.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(data, protocol=4)))
    ((x, _y),) = formats.read_verified_pickle(path, files.sha256_hex(path.read_bytes()))
    np.testing.assert_array_equal(x, data[0][0])


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    files.atomic_write_bytes(path, b"old")

    def explode(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", explode)
    with pytest.raises(KeyboardInterrupt):
        files.atomic_write_bytes(path, b"new content")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_value_validation_messages():
    with pytest.raises(FormatError, match="NaN"):
        formats.as_uint8_images(np.array([[np.nan]]), source="s")
    with pytest.raises(FormatError, match="fractional"):
        formats.as_uint8_images(np.array([[0.5]]), source="s")
    assert formats.as_uint8_images(np.array([[3.0, 255.0]]), source="s").dtype == np.uint8
    with pytest.raises(FormatError, match="numeric"):
        formats.as_uint8_images(np.array([["a"]]), source="s")


def test_gzip_helpers_do_not_mask_zlib_errors():
    # Guard for the exception list in read_idx_content: zlib.error must stay a distinct type.
    with pytest.raises(zlib.error):
        zlib.decompress(b"nonsense")
    assert io.BytesIO  # keep import used in the module for readers of this test
