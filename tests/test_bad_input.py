"""Bad input found by trying to break the loaders: each gets a clear error, nothing is written."""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

import mnistlab
from conftest import peak_memory
from mnistlab._utils import files
from mnistlab.cli import app
from mnistlab.data import formats
from mnistlab.errors import FormatError

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def npz(path, **arrays):
    np.savez(path, **arrays)
    return path


X10 = np.zeros((10, 4, 4), np.uint8)


# --------------------------------------------------------------------------------------------
# Labels that are not class indices
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("top", [2**31 - 1, 10**6, 300])
def test_label_ids_are_not_class_indices(tmp_path, top):
    labels = np.arange(10)
    labels[-1] = top
    path = npz(tmp_path / "ids.npz", x_train=X10, y_train=labels)
    with peak_memory() as peak, pytest.raises(FormatError, match="not class indices") as info:
        mnistlab.load(path)
    assert str(path) in str(info.value)
    assert peak[0] < 20_000_000


def test_a_few_missing_classes_are_fine(tmp_path):
    path = npz(tmp_path / "gaps.npz", x_train=X10[:3], y_train=np.array([0, 2, 7]))
    assert mnistlab.load(path).classes == tuple("01234567")


@pytest.mark.parametrize(
    "labels",
    [
        np.r_[np.zeros(9, np.uint64), np.uint64(2**64 - 1)],
        np.r_[np.zeros(9), 1e20],
        np.r_[np.zeros(9), np.inf],
    ],
)
def test_labels_beyond_int64_are_refused_before_casting(tmp_path, labels):
    path = npz(tmp_path / "big.npz", x_train=X10, y_train=labels)
    with pytest.raises(FormatError, match=r"not a class index|infinity"):
        mnistlab.load(path)


def test_huge_label_in_idx_file(tmp_path):
    formats.write_idx(tmp_path / "train-images-idx3-ubyte", X10)
    formats.write_idx(tmp_path / "train-labels-idx1-ubyte", np.r_[np.zeros(9), 2**31 - 1].astype(">i4"))
    with pytest.raises(FormatError, match="not class indices"):
        mnistlab.load(tmp_path)


def test_string_labels(tmp_path):
    path = npz(tmp_path / "s.npz", x_train=X10[:2], y_train=np.array(["cat", "dog"]))
    with pytest.raises(FormatError, match="labels must be integers"):
        mnistlab.load(path)


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def test_very_wide_csv_is_refused_from_its_first_line(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("3," + ",".join(["255"] * 300_000) + "\n")
    with pytest.raises(FormatError, match="at most 65,536 pixels"):
        formats.read_csv(path)


def test_csv_without_newlines_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "oneline.csv"
    path.write_bytes(b"5," + b"1," * 5_000_000)
    with peak_memory() as peak, pytest.raises(FormatError, match="first line is longer"):
        formats.read_csv(path)
    assert peak[0] < 50_000_000


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_other_delimiters_are_detected(tmp_path, delimiter):
    path = tmp_path / "d.csv"
    path.write_text(
        f"label{delimiter}p0{delimiter}p1{delimiter}p2{delimiter}p3\n1{delimiter}0{delimiter}5{delimiter}9{delimiter}255\n"
    )
    x, y = formats.read_csv(path)
    assert y.tolist() == [1] and x.ravel().tolist() == [0, 5, 9, 255]


def test_leading_blank_lines(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\n1,0,0,0,0\n")
    _, y = formats.read_csv(path)
    assert y.tolist() == [1]


def test_kaggle_folder_with_unlabelled_test_loads_train_with_a_warning(tmp_path):
    (tmp_path / "train.csv").write_text("label,pixel0,pixel1,pixel2,pixel3\n1,0,0,0,9\n0,1,1,1,1\n")
    (tmp_path / "test.csv").write_text("pixel0,pixel1,pixel2,pixel3\n0,0,0,0\n")
    with pytest.warns(UserWarning, match="no label column"):
        ds = mnistlab.load(tmp_path)
    assert len(ds.train) == 2 and ds.test is None


def test_header_only_csv_is_an_empty_dataset_error(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("label,pixel0,pixel1,pixel2,pixel3\n")
    with pytest.raises(FormatError, match="no images"):
        mnistlab.load(path)


# --------------------------------------------------------------------------------------------
# NPZ
# --------------------------------------------------------------------------------------------


def test_npy_renamed_to_npz(tmp_path):
    path = tmp_path / "x.npz"
    np.save(path.with_suffix(".npy"), X10)
    path.with_suffix(".npy").rename(path)
    with pytest.raises(FormatError, match="not an NPZ file"):
        mnistlab.load(path)


def test_text_named_npz(tmp_path):
    path = tmp_path / "t.npz"
    path.write_text("hello")
    with pytest.raises(FormatError, match="not an NPZ file"):
        mnistlab.load(path)


def _zip_with(path, name, data, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr(name, data)
        labels = io.BytesIO()
        np.save(labels, np.zeros(10, np.uint8))
        z.writestr("y_train.npy", labels.getvalue())
    return path


def test_npz_member_header_claiming_a_huge_array(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 1000, 1000)}
    )
    path = _zip_with(tmp_path / "liar.npz", "x_train.npy", header.getvalue() + bytes(100))
    with peak_memory() as peak, pytest.raises(FormatError, match="declares shape"):
        mnistlab.load(path)
    assert peak[0] < 20_000_000


def _npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _liar_npy() -> bytes:
    """A .npy of 100 bytes whose header claims 55.9 GiB of uint8 (shape 60000 x 1000 x 1000)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (60000, 1000, 1000)}
    )
    return header.getvalue() + bytes(100)


@pytest.mark.parametrize(
    "decoys",
    [
        [("decoy/x_train.npy", "good"), ("x_train.npy", "liar")],
        [("x_train.npy", "liar"), ("decoy/x_train.npy", "good")],
        [("x_train.npy", "good"), ("x_train.npy", "liar")],  # the same name twice in the directory
        [("x_train", "liar"), ("x_train.npy", "good")],  # numpy would read the one without .npy
    ],
)
def test_npz_with_a_decoy_member_is_refused_as_ambiguous(tmp_path, decoys):
    """The header check must look at the member numpy reads; with two candidates, refuse."""
    import warnings

    payload = {"good": _npy_bytes(X10), "liar": _liar_npy()}
    path = tmp_path / "decoy.npz"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate name
        for name, kind in decoys:
            archive.writestr(name, payload[kind])
        archive.writestr("y_train.npy", _npy_bytes(np.zeros(10, np.int64)))
    with peak_memory() as peak, pytest.raises(FormatError, match="ambiguous"):
        mnistlab.load(path)
    assert peak[0] < 20_000_000


def test_npz_member_that_is_not_npy(tmp_path):
    path = _zip_with(tmp_path / "garbage.npz", "x_train.npy", b"garbage")
    with pytest.raises(FormatError, match=r"not a .npy array") as info:
        mnistlab.load(path)
    assert str(path) in str(info.value)


def test_npz_classes_must_be_strings(tmp_path):
    path = npz(tmp_path / "c.npz", x_train=X10[:2], y_train=np.array([0, 1]), classes=np.array(3))
    with pytest.raises(FormatError, match="1-D array of strings"):
        mnistlab.load(path)
    path = npz(
        tmp_path / "b.npz", x_train=X10[:2], y_train=np.array([0, 1]), classes=np.array([b"a", b"b"])
    )
    assert mnistlab.load(path).classes == ("a", "b")


def test_npz_duplicate_class_names(tmp_path):
    path = npz(
        tmp_path / "dup.npz", x_train=X10[:2], y_train=np.array([0, 1]), classes=np.array(["a", "a"])
    )
    with pytest.raises(FormatError, match="duplicate class names"):
        mnistlab.load(path)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cat\ndog", "line break"),
        ("cat\rdog", "line break"),
        ("cat\u2028dog", "line break"),
        ("tab\there", "line break"),
        ("\x1b[2Jclear", "control character"),
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "control character"),
        (" cat", "starts or ends with a space"),
        ("cat ", "starts or ends with a space"),
        ("x" * 201, "at most 200"),
    ],
)
def test_class_names_that_would_not_survive_are_refused_everywhere(tmp_path, name, message):
    """A name with a line break would become two names in the one-per-line formats (relabelling
    the images after it); an escape sequence would reach the terminal through info."""
    classes = np.array([name, "bird", "fish"])
    y = np.array([0, 1, 2, 0])
    with pytest.raises(FormatError, match=message):
        mnistlab.Dataset.from_arrays("d", (X10[:4], y), classes=list(classes))
    with pytest.raises(FormatError, match=message):
        mnistlab.data.dataset.Split(X10[:4], y, tuple(classes))
    path = npz(tmp_path / "n.npz", x_train=X10[:4], y_train=y, classes=classes)
    with pytest.raises(FormatError, match=message):
        mnistlab.load(path)
    result = cli("info", path)
    assert result.exit_code == 1 and message in result.output
    assert "\x1b" not in result.output and "\u2028" not in result.output
    for to in ("idx", "csv", "png", "npz"):
        assert cli("convert", path, "--to", to, "-o", tmp_path / to).exit_code == 1
        assert not (tmp_path / to).exists()


def _png_declaring(path, width: int, height: int):
    """A small valid PNG whose header then claims ``width`` x ``height`` pixels (CRC fixed)."""
    import zlib

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("width", "height"), [(12000, 12000), (20000, 20000), (4097, 4096)])
def test_an_image_declaring_huge_dimensions_is_refused_from_its_header(tmp_path, width, height):
    bomb = _png_declaring(tmp_path / "bomb.png", width, height)
    with peak_memory() as peak, pytest.raises(FormatError, match="at most 16,777,216 pixels"):
        formats.read_image_file(bomb)
    assert peak[0] < 20e6  # nothing decoded
    result = cli("show", bomb, "--values")
    assert result.exit_code == 1 and "resize it first" in result.output
    assert "unknown error" not in result.output
    _png(tmp_path / "folder" / "a" / "ok.png", np.zeros((4, 4), np.uint8))
    _png_declaring(tmp_path / "folder" / "a" / "bomb.png", width, height)
    with pytest.raises(FormatError, match="at most"):
        mnistlab.load(tmp_path / "folder")


def test_an_image_at_the_size_limit_is_read(tmp_path):
    from PIL import Image

    path = tmp_path / "large.png"
    Image.fromarray(np.zeros((4096, 8), np.uint8)).save(path)
    assert formats.read_image_file(path).shape == (4096, 8)


def test_dollar_class_names_through_the_commands(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 6, 6), dtype=np.uint8)
    y = np.arange(30) % 3
    path = npz(tmp_path / "price.npz", x_train=x, y_train=y, x_test=x[:9], y_test=y[:9],
               classes=np.array(["$", "$$", "$$$"]))  # fmt: skip
    for args in (
        ("show", path, "-o", tmp_path / "s.png"),
        ("atypical", path, "-o", tmp_path / "a.png"),
        ("onepixel", path, "-o", tmp_path / "one"),
        ("report", path, "--models", "centroid", "-o", tmp_path / "report"),
    ):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
    assert "$$$" in (tmp_path / "report" / "index.html").read_text()


def test_class_folders_with_a_line_break_are_refused(tmp_path):
    _png(tmp_path / "train" / "cat\ndog" / "a.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "train" / "bird" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(FormatError, match="line break"):
        mnistlab.load(tmp_path)


# --------------------------------------------------------------------------------------------
# IDX folders
# --------------------------------------------------------------------------------------------


def test_images_without_labels_are_named(tmp_path):
    formats.write_idx(tmp_path / "train-images-idx3-ubyte.gz", X10)
    with pytest.raises(FormatError, match="no train labels file"):
        mnistlab.load(tmp_path)


def test_test_images_without_labels_are_not_dropped_silently(tmp_path):
    formats.write_idx(tmp_path / "train-images-idx3-ubyte.gz", X10)
    formats.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(10, np.uint8))
    formats.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", X10)
    with pytest.raises(FormatError, match="no test labels file"):
        mnistlab.load(tmp_path)


def test_count_mismatch_is_found_from_headers_before_reading(tmp_path):
    # 1.3 million 28x28 images of zeros (a ~1 MB gzip bomb) beside 10 labels.
    header = b"\x00\x00\x08\x03" + struct.pack(">3I", 1_300_000, 28, 28)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(header)
        zeros = bytes(28 * 28 * 10_000)
        for _ in range(130):
            f.write(zeros)
    formats.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(10, np.uint8))
    expected = r"1,300,000 images but .* 10 labels"
    with peak_memory() as peak, pytest.raises(FormatError, match=expected):
        mnistlab.load(tmp_path)
    assert peak[0] < 20_000_000


def test_idx_with_absurd_rank_gets_a_short_message(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(b"\x00\x00\x08\xff" + struct.pack(">255I", *([1] * 255)) + b"\x00")
    with pytest.raises(FormatError, match="255 dimensions") as info:
        formats.read_idx(path)
    assert len(str(info.value)) < 300


def test_images_without_pixels(tmp_path):
    formats.write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((20, 0, 0), np.uint8))
    formats.write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(20, np.uint8))
    with pytest.raises(FormatError, match="no pixels"):
        mnistlab.load(tmp_path)


def test_too_few_class_names_mentions_the_listing(tmp_path):
    formats.write_idx(tmp_path / "train-images-idx3-ubyte", X10)
    formats.write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(10, dtype=np.uint8))
    (tmp_path / "classes.txt").write_text("a\nb\nc\n")
    with pytest.raises(FormatError, match=r"classes.txt"):
        mnistlab.load(tmp_path)


def test_class_listing_with_bom_and_bad_encoding(tmp_path):
    listing = tmp_path / "classes.txt"
    listing.write_bytes("\ufeffcat\ndog\n".encode())
    assert formats.read_classes(listing) == ["cat", "dog"]
    listing.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(FormatError, match="UTF-8"):
        formats.read_classes(listing)


# --------------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------------


def _png(path, array):
    import imageio.v3 as iio

    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, array, plugin="pillow")


def test_junk_folders_are_not_classes_and_digit_names_keep_their_value(tmp_path):
    _png(tmp_path / "0" / "a.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "4" / "a.png", np.full((4, 4), 9, np.uint8))
    (tmp_path / "3").mkdir()  # empty
    _png(tmp_path / "__MACOSX" / "a.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / ".ipynb_checkpoints" / "a.png", np.zeros((4, 4), np.uint8))
    ds = mnistlab.load(tmp_path)
    assert ds.classes == ("0", "1", "2", "3", "4")
    assert ds.train.labels.tolist() == [0, 4]


def test_16_bit_and_1_bit_pngs_are_scaled(tmp_path):
    from PIL import Image

    _png(tmp_path / "a" / "16.png", np.full((4, 4), 65535, np.uint16))
    Image.fromarray(np.ones((4, 4), bool)).convert("1").save(tmp_path / "a" / "1.png")
    ds = mnistlab.load(tmp_path)
    assert ds.train.images.max() == 255 and ds.train.images.min() == 255
    # A dark 16-bit image (every value <= 255) is scaled by its bit depth like any other,
    # not read as 8-bit values: 200 of 65535 is 1 of 255, not 200.
    _png(tmp_path / "a" / "dark.png", np.full((4, 4), 200, np.uint16))
    image = formats.read_image_file(tmp_path / "a" / "dark.png")
    assert image.dtype == np.uint8 and image.max() == 1


def test_boolean_arrays_are_ink_or_background():
    """A bool image array is ink (255) or background (0), as a 1-bit PNG is; not 0 and 1."""
    images = formats.as_uint8_images(np.eye(3, dtype=bool)[None], source="s")
    assert images.dtype == np.uint8 and images.max() == 255 and images.sum() == 3 * 255


# --------------------------------------------------------------------------------------------
# Paths and outputs
# --------------------------------------------------------------------------------------------


def test_empty_name_and_special_files(tmp_path):
    with pytest.raises(ValueError, match="empty dataset name"):
        mnistlab.load("")
    fifo = tmp_path / "f.csv"
    os.mkfifo(fifo)
    with pytest.raises(FormatError, match="neither a regular file nor a folder"):
        mnistlab.load(fifo)


@pytest.mark.parametrize("target", ["a-dir", "a-file/x.png", "/dev/full"])
def test_show_refuses_bad_outputs_cleanly(tmp_path, target):
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "a-file").write_text("")
    out = target if target.startswith("/") else tmp_path / target
    before = os.stat("/dev/full")
    result = cli("show", "digits", "-o", out)
    assert result.exit_code == 1
    assert "Error:" in result.output and "Traceback" not in result.output
    assert os.stat("/dev/full").st_rdev == before.st_rdev  # the device is still a device


def test_convert_is_all_or_nothing(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").mkdir()  # in the way of the last-but-one file
    result = cli("convert", "digits", "--to", "idx", "-o", tmp_path)
    assert result.exit_code == 1 and "not a regular file" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t10k-images-idx3-ubyte.gz"]


@pytest.fixture
def disk_full_for(monkeypatch):
    """Make writing a temporary file for a target whose name contains ``part`` fail with ENOSPC."""
    import errno
    from pathlib import Path

    parts = []
    original = Path.write_bytes

    def write_bytes(self, data):
        if any(p in self.name for p in parts):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    return parts


def test_several_outputs_are_written_all_or_nothing_and_name_the_file(tmp_path, disk_full_for):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("old a")
    disk_full_for.append("b.txt")
    with pytest.raises(OSError, match="No space left") as info:
        files.atomic_write_files({first: b"new a", second: b"new b"})
    assert info.value.filename == str(second)
    assert first.read_text() == "old a" and not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # no temporary file left


def test_report_on_a_full_disk_changes_nothing(tmp_path, disk_full_for, five_class):
    from mnistlab.report import build_report

    out = tmp_path / "report"
    out.mkdir()
    (out / "summary.json").write_text("old summary")
    (out / "index.html").write_text("old page")
    disk_full_for.append("index.html")
    with pytest.raises(OSError) as info:
        build_report([five_class], out, sections=["overview"], progress=False)
    assert info.value.filename == str(out / "index.html")
    assert (out / "summary.json").read_text() == "old summary"
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "summary.json"]


def test_pixels_writes_both_figures_or_neither(tmp_path, disk_full_for):
    disk_full_for.append("by-class.png")
    result = cli("pixels", "digits", "-o", tmp_path / "px.png", "--by-class", tmp_path / "by-class.png")
    assert result.exit_code == 1
    assert f"{tmp_path / 'by-class.png'}: No space left on device" in result.output.replace("\n", "")
    assert list(tmp_path.iterdir()) == []


def test_convert_png_refuses_a_used_folder(tmp_path):
    (tmp_path / "test").write_text("")
    result = cli("convert", "digits", "--to", "png", "-o", tmp_path)
    assert result.exit_code == 1 and "already exists" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test"]


def test_convert_failure_mid_way_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing_write_csv(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return original(*args, **kwargs)

    original = formats.write_csv
    monkeypatch.setattr(formats, "write_csv", failing_write_csv)
    with pytest.raises(OSError, match="No space"):
        mnistlab.save(mnistlab.load("digits"), tmp_path, "csv")
    assert list(tmp_path.iterdir()) == []


def test_figure_suffix_decides_the_format(tmp_path):
    assert cli("show", "digits", "-o", tmp_path / "g.jpg").exit_code == 0
    assert (tmp_path / "g.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert cli("show", "digits", "-o", tmp_path / "g.svg").exit_code == 0
    assert b"<svg" in (tmp_path / "g.svg").read_bytes()[:500]
    result = cli("show", "digits", "-o", tmp_path / "g.txt")
    assert result.exit_code == 1 and "expected a file name ending in .png" in result.output


def test_cli_shows_warnings_as_one_line(tmp_path, monkeypatch):
    (tmp_path / "train.csv").write_text("label,pixel0,pixel1,pixel2,pixel3\n1,0,0,0,9\n")
    (tmp_path / "test.csv").write_text("pixel0,pixel1,pixel2,pixel3\n0,0,0,0\n")
    result = cli("info", tmp_path)
    assert result.exit_code == 0
    assert "Warning: " in result.output and "no label column" in result.output
    assert "UserWarning" not in result.output


# --------------------------------------------------------------------------------------------
# Commands with several outputs: checked before any work, all or nothing
# --------------------------------------------------------------------------------------------


def test_pixels_binarisation_without_test_split_writes_nothing(tmp_path, five_class):
    single = tmp_path / "one.csv"
    formats.write_csv(single, mnistlab.load("digits").train.images, mnistlab.load("digits").train.labels)
    result = cli(
        "pixels", single, "-o", tmp_path / "h.png", "--by-class", tmp_path / "c.png", "--binarisation"
    )
    assert result.exit_code == 1 and "has none" in result.output
    assert not (tmp_path / "h.png").exists() and not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("command", ["atypical", "centroids"])
def test_csv_output_in_the_way_is_refused_before_any_work(tmp_path, command):
    (tmp_path / "d.csv").mkdir()
    result = cli(command, "digits", "-o", tmp_path / "a.png", "--csv", tmp_path / "d.csv")
    assert result.exit_code == 1 and "not a regular file" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "a.png").exists()


def test_wrong_suffix_of_a_second_output(tmp_path):
    result = cli("pixels", "digits", "-o", tmp_path / "h.png", "--by-class", tmp_path / "c.csv")
    assert result.exit_code == 1 and "ending in .png" in result.output
    assert list(tmp_path.iterdir()) == []


def test_json_stays_valid_with_empty_classes(tmp_path):
    import json

    pairs = cli("pairs", "digits", "--first", "3", "-o", tmp_path / "p.png", "--json")
    payload = json.loads(pairs.stdout)  # strict: NaN would not parse
    assert set(payload["closest_pair"]["classes"]) <= {"0", "1", "2"}
    centroids = cli("centroids", "digits", "--first", "3", "-o", tmp_path / "c.png", "--json")
    means = json.loads(centroids.stdout)["mean_ink"]
    assert means[3:] == [None] * 7 and all(m is not None for m in means[:3])
    assert "Warning" not in centroids.output


# --------------------------------------------------------------------------------------------
# Round 3: markup, paths in OS errors, duplicates, caps, hidden files, odd API input
# --------------------------------------------------------------------------------------------


def test_brackets_in_names_and_paths_are_printed_literally(tmp_path):
    path = npz(
        tmp_path / "m.npz",
        x_train=X10[:2],
        y_train=np.array([0, 1]),
        classes=np.array(["[/]", "[bold]b"]),
    )
    info = cli("info", path)
    assert info.exit_code == 0 and "[/]" in info.output and "[bold]b" in info.output
    out = tmp_path / "a[/]b.png"
    shown = cli("show", path, "-o", out)
    assert shown.exit_code == 0 and out.exists() and "a[/]b.png" in shown.output
    missing = cli("info", tmp_path / "nope[/].npz")
    assert missing.exit_code == 1 and "nope[/].npz" in missing.output


def test_os_errors_name_the_path(tmp_path):
    (tmp_path / "regf").write_text("")
    result = cli("convert", "digits", "--to", "idx", "-o", tmp_path / "regf" / "sub")
    assert result.exit_code == 1 and "regf" in result.output


def test_two_outputs_with_one_path(tmp_path):
    result = cli("pixels", "digits", "-o", tmp_path / "s.png", "--by-class", tmp_path / "s.png")
    assert result.exit_code == 1 and "same path" in result.output
    assert list(tmp_path.iterdir()) == []


def test_tidy_suffix_case(tmp_path):
    assert cli("tidy", "digits", "--first", "2", "-o", tmp_path / "X.CSV").exit_code == 0
    assert (tmp_path / "X.CSV").read_text().startswith("index,label,x,y,value")


def test_per_class_is_capped_by_the_class_size(tmp_path):
    path = npz(tmp_path / "t.npz", x_train=X10[:6], y_train=np.array([0, 1] * 3))
    result = cli("atypical", path, "--per-class", "1000", "-o", tmp_path / "a.png")
    assert result.exit_code == 0
    from PIL import Image

    assert Image.open(tmp_path / "a.png").size[0] < 2000


def test_pairs_of_many_classes_draws_the_closest_pairs(tmp_path):
    """40 classes were refused ("at most 30"); now the closest pairs are drawn, capped in size."""
    from PIL import Image

    labels = np.arange(200) % 40
    images = np.random.default_rng(0).integers(0, 256, (200, 4, 4), dtype=np.uint8)
    path = npz(tmp_path / "c40.npz", x_train=images, y_train=labels)
    result = cli("pairs", path, "-o", tmp_path / "p.png")
    assert result.exit_code == 0, result.output
    assert "the 24 closest pairs' centroid differences" in result.output
    assert max(Image.open(tmp_path / "p.png").size) <= 2000


def test_hidden_files_are_ignored(tmp_path):
    mnistlab.save(mnistlab.load("digits"), tmp_path, "idx")
    (tmp_path / ".train-images-idx3-ubyte.abc123.tmp").write_bytes(b"partial")
    (tmp_path / "._train-labels-idx1-ubyte.gz").write_bytes(b"AppleDouble")
    assert len(mnistlab.load(tmp_path).train) == 1347


def test_png_class_names_that_collide_are_refused(tmp_path):
    ds = mnistlab.Dataset.from_arrays("c", (X10[:2], [0, 1]), classes=["a/b", "a_b"])
    with pytest.raises(FormatError, match="share folders"):
        mnistlab.save(ds, tmp_path, "png")
    assert list(tmp_path.iterdir()) == []
    dots = mnistlab.Dataset.from_arrays("d", (X10[:2], [0, 1]), classes=["..", "."])
    mnistlab.save(dots, tmp_path / "dots", "png")
    assert mnistlab.load(tmp_path / "dots").classes == ("..", ".")


def test_report_on_a_one_class_dataset(tmp_path):
    path = npz(
        tmp_path / "one.npz",
        x_train=X10[:4],
        y_train=np.zeros(4, int),
        x_test=X10[:2],
        y_test=np.zeros(2, int),
    )
    result = cli("report", path, "-o", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert "fewer than two classes" in (tmp_path / "r" / "index.html").read_text()


def test_empty_test_split_is_refused(tmp_path):
    path = npz(
        tmp_path / "e.npz",
        x_train=X10[:4],
        y_train=np.arange(4) % 2,
        x_test=np.zeros((0, 4, 4), np.uint8),
        y_test=np.zeros(0, int),
    )
    with pytest.raises(FormatError, match="test split has no images"):
        mnistlab.load(path)


@pytest.mark.parametrize(
    ("kwargs", "X", "y", "message"),
    [
        ({"chunk_size": -1}, np.zeros((4, 2)), [0, 1, 0, 1], "chunk_size"),
        ({}, np.zeros((4, 2)), [0, 1, 0, np.nan], "NaN"),
        # scikit-learn's own messages since the estimators validate with validate_data.
        ({}, np.zeros((0, 2)), [], r"0 sample\(s\)"),
        ({}, np.zeros((4, 2)), np.eye(4)[:, :2], "1d array"),
    ],
)
def test_classifier_refuses_bad_arguments(kwargs, X, y, message):
    from mnistlab.models import NearestCentroidClassifier

    with pytest.raises(ValueError, match=message):
        NearestCentroidClassifier(**kwargs).fit(X, np.asarray(y))


def test_classifier_not_fitted():
    from sklearn.exceptions import NotFittedError

    from mnistlab.models import NearestCentroidClassifier

    with pytest.raises(NotFittedError):
        NearestCentroidClassifier().predict(np.zeros((1, 2)))


@pytest.mark.parametrize(
    ("labels", "message"),
    [(np.array([0, 5]), "0..1"), (np.array([0, -1]), "0..1"), (np.array([0, 1, 1]), "one class")],
)
def test_stats_check_labels(labels, message):
    from mnistlab import stats

    images = np.zeros((2, 2, 2), np.uint8)
    with pytest.raises(ValueError, match=message):
        stats.centroids(images, labels, ("a", "b"))
    with pytest.raises(ValueError, match=message):
        stats.distance_to_centroid(images, labels, np.zeros((2, 2, 2)))


def test_from_tidy_refuses_odd_columns():
    from mnistlab import from_tidy, tidy

    table = tidy(mnistlab.load("digits").train, first=2)
    with pytest.raises(FormatError, match="not class indices"):
        from_tidy(table.assign(label=10**9))
    with pytest.raises(FormatError, match="whole numbers"):
        from_tidy(table.assign(x=table.x.astype(float) + 0.5))
    with pytest.raises(FormatError, match="must be numeric"):
        from_tidy(table.assign(label="cat"))
    with pytest.raises(FormatError, match="duplicate class names"):
        from_tidy(table, classes=(*"0123456789", "0"))


def test_npz_count_mismatch_is_found_from_member_headers(tmp_path):
    # 20,000 zero images (a small zip bomb) beside 10 labels.
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, x_train=np.zeros((20_000, 28, 28), np.uint8), y_train=np.zeros(10))
    with peak_memory() as peak, pytest.raises(FormatError, match="20,000 images but y_train 10"):
        mnistlab.load(path)
    assert peak[0] < 5_000_000


def test_labels_counted_from_one_warn_of_the_empty_class_zero(tmp_path):
    path = npz(tmp_path / "one.npz", x_train=X10, y_train=np.arange(10) % 5 + 1)
    with pytest.warns(UserWarning, match=r"labels run 1\.\.5, so class 0 has no images"):
        ds = mnistlab.load(path)
    assert ds.classes == ("0", "1", "2", "3", "4", "5")  # kept as given: a warning, not a guess
    result = cli("info", path)
    assert result.exit_code == 0 and "class 0 has no images" in result.output
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # labels from 0, or with a gap: no warning
        mnistlab.load(npz(tmp_path / "zero.npz", x_train=X10, y_train=np.arange(10) % 5))
        mnistlab.load(npz(tmp_path / "gap.npz", x_train=X10, y_train=np.array([1, 3] * 5)))


@pytest.mark.parametrize("value", ["0.5", ".25", "1e-3", "1.0"])
def test_csv_of_fractions_is_read_scaled_by_255(tmp_path, value):
    """A 0..1 float CSV was refused with "every value must be a whole number"; the NPZ loader
    said "scale by 255". Fractions in 0..1 are now read as value x 255 everywhere, with a
    warning; fractions beyond 1 are refused with the hint."""
    path = tmp_path / "floats.csv"
    path.write_text(f"label,p0,p1,p2,p3\n1,0,{value},0,0.5\n")
    with pytest.warns(UserWarning, match=r"fractions in 0\.\.1.*x 255"):
        ds = mnistlab.load(path)
    assert ds.train.images.ravel().tolist() == [0, round(float(value) * 255), 0, 128]
    path.write_text(f"label,p0,p1,p2,p3\n1,0,{value},0,2.5\n")
    with pytest.raises(FormatError, match=r"scale 0\.\.1 images by 255"):
        mnistlab.load(path)


def test_keras_style_inputs_are_read_where_their_meaning_is_certain(tmp_path):
    """(n, 28, 28, 1) images, one-hot labels, 0..1 floats, X_train keys, label-last and id
    columns: read as what they mean; colour images and ambiguous labels refused clearly."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 4, 4)).astype(np.uint8)
    y = np.array([0, 1, 2, 0, 1, 2])
    one_hot = np.eye(3, dtype=np.float32)[y]
    path = npz(
        tmp_path / "keras.npz",
        X_train=(x[..., None] / 255.0).astype(np.float32),
        Y_train=one_hot,
        x_test=x[:, None],
        y_test=y[:, None],
        x_valid=x[:3],
        y_valid=y[:3],
    )
    with pytest.warns(UserWarning, match="x_train holds fractions"):
        ds = mnistlab.load(path)
    np.testing.assert_array_equal(ds.train.images, x)
    np.testing.assert_array_equal(ds.train.labels, y)
    np.testing.assert_array_equal(ds.test.images, x)
    assert len(ds.validation) == 3 and ds.test.labels.tolist() == y.tolist()

    colour = npz(tmp_path / "rgb.npz", x_train=np.zeros((2, 4, 4, 3), np.uint8), y_train=[0, 1])
    with pytest.raises(FormatError, match=r"\(2, 4, 4, 3\).*grey"):
        mnistlab.load(colour)
    soft = npz(tmp_path / "soft.npz", x_train=x[:2], y_train=np.array([[0.5, 0.5], [1, 0]]))
    with pytest.raises(FormatError, match="one-hot rows"):
        mnistlab.load(soft)
    both = npz(tmp_path / "both.npz", x_train=x, X_train=x, y_train=y)
    with pytest.raises(FormatError, match="ambiguous"):
        mnistlab.load(both)

    flat = x.reshape(6, -1)
    rows = [",".join(map(str, [i, *flat[i], y[i]])) for i in range(6)]
    header = "id," + ",".join(f"pixel{j}" for j in range(16)) + ",label"
    (tmp_path / "last.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    ds = mnistlab.load(tmp_path / "last.csv")
    np.testing.assert_array_equal(ds.train.images, x)
    np.testing.assert_array_equal(ds.train.labels, y)


def test_csv_with_words_gets_no_scaling_hint(tmp_path):
    path = tmp_path / "words.csv"
    path.write_text("label,p0,p1,p2,p3\n1,0,abc,0,0\n")
    with pytest.raises(FormatError, match="whole number") as info:
        mnistlab.load(path)
    assert "255 first" not in str(info.value)


def test_image_folders_say_what_they_skip_and_refuse_nested_classes(tmp_path):
    """Found by a newcomer: 'T-shirt/top' written with os.path.join made a class vanish; .webp
    files and a val/ split were skipped without a word."""
    from PIL import Image

    root = tmp_path / "clothes"
    _png(root / "train" / "Trouser" / "a.png", np.zeros((4, 4), np.uint8))
    _png(root / "train" / "T-shirt" / "top" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(FormatError, match=r"T-shirt.*sub-folders.*classes.txt"):
        mnistlab.load(root)
    (root / "train" / "T-shirt" / "top" / "a.png").unlink()
    (root / "train" / "T-shirt" / "top").rmdir()
    Image.fromarray(np.full((4, 4), 7, np.uint8)).save(root / "train" / "T-shirt" / "b.webp")
    (root / "train" / "Trouser" / "notes.txt").write_text("x")
    _png(root / "val" / "Trouser" / "c.png", np.zeros((4, 4), np.uint8))
    with pytest.warns(UserWarning) as caught:
        ds = mnistlab.load(root)
    said = " ".join(str(w.message) for w in caught)
    assert ds.classes == ("T-shirt", "Trouser") and len(ds.train) == 2  # the .webp is read
    assert "1 .txt files" in said
    # The val/ folder is loaded as the validation split, with the training split's classes.
    assert ds.test is None and len(ds.validation) == 1
    assert ds.validation.classes == ds.classes and ds.validation.labels.tolist() == [1]
    assert ds.split("validation").files[0].endswith("c.png")


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(child.stdout)


def test_temporaries_left_by_a_killed_process_are_removed_by_the_next_write(tmp_path):
    """kill -9 during a write leaves its hidden temporary; the next write into that folder
    removes it: only names mnistlab makes, and only when their process is gone."""
    import subprocess
    import sys

    dead = _dead_pid()
    stale_file = tmp_path / f".summary.json.{dead}.abcd1234.tmp"
    stale_file.write_bytes(b"half written")
    stale_dir = tmp_path / f".mnistlab-save-{dead}-abcd1234"
    (stale_dir / "train").mkdir(parents=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        alive_file = tmp_path / f".index.html.{live.pid}.abcd1234.tmp"
        alive_file.write_bytes(b"being written")
        someone_elses = tmp_path / ".notes.tmp"
        someone_elses.write_text("keep")
        files.atomic_write_bytes(tmp_path / "summary.json", b"{}")
        assert not stale_file.exists() and not stale_dir.exists()
        assert alive_file.exists() and someone_elses.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [alive_file.name, someone_elses.name, "summary.json"]
        )
    finally:
        live.kill()
        live.wait()


def test_a_write_killed_midway_leaves_a_temporary_the_next_run_removes(tmp_path):
    import signal
    import subprocess
    import sys

    script = (
        "import os, signal\n"
        "from mnistlab._utils import files\n"
        f"with files.atomic_path({str(tmp_path / 'big.bin')!r}) as tmp:\n"
        "    tmp.write_bytes(b'x' * 1000)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script])
    assert killed.returncode == -signal.SIGKILL
    (left,) = tmp_path.iterdir()
    assert left.name.startswith(".big.bin.") and left.suffix == ".tmp"
    files.atomic_write_bytes(tmp_path / "other.bin", b"y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.bin"]
