"""Own data and hostile files, second fault-injection pass (issue 12): class lists that round-trip,
mappings that are refused rather than guessed, names that are never paths, 0/1 images, ambiguous
split folders, and saves that name the file they failed on."""

from __future__ import annotations

import errno
import os
import warnings

import numpy as np
import pytest

import mnistlab
from conftest import make_arrays
from mnistlab.data import formats
from mnistlab.data.dataset import Dataset, Polarity
from mnistlab.data.images import load_image
from mnistlab.data.loading import default_name
from mnistlab.errors import FormatError


def small(name="tiny", classes=("9 cat", "8 dog", "# 1", "1 2")):
    x, y = make_arrays(24, len(classes), shape=(6, 6), seed=3)
    return Dataset.from_arrays(name, (x, y), classes=list(classes), source="generated")


# --------------------------------------------------------------------------------------------
# Class lists mnistlab writes are read back as the same list, never as a mapping
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("to", ["idx", "csv", "csv-kaggle", "png", "npz"])
@pytest.mark.parametrize("classes", [("9 cat", "8 dog", "7 owl", "6 fish"), ("9 cat", "# 1", "1 2")])
def test_class_names_that_look_like_a_mapping_survive_every_format(tmp_path, to, classes):
    """Names "9 cat", "8 dog" were read back as LABEL NAME lines: images relabelled, exit 0."""
    ds = small(classes=classes)
    paths = mnistlab.save(ds, tmp_path / "out", to)
    back = mnistlab.load(paths[0] if to == "npz" else tmp_path / "out")
    assert back.classes == ds.classes
    order = np.arange(len(ds.train))
    if to == "png":  # read class folder by class folder; each file is named by its index
        order = [int(os.path.basename(f).split(".")[0]) for f in back.train.files]
    np.testing.assert_array_equal(back.train.labels, ds.train.labels[order])
    np.testing.assert_array_equal(back.train.images, ds.train.images[order])


def test_written_class_list_is_read_literally(tmp_path):
    path = tmp_path / "classes.txt"
    formats.write_class_names(path, ["10 65", "# x", "cat"])
    assert formats.read_classes(path) == ["10 65", "# x", "cat"]
    assert path.read_text().splitlines()[0] == formats.CLASS_LIST_HEADER


def test_a_huge_label_in_a_mapping_is_a_format_error(tmp_path):
    x, y = make_arrays(8, 2, shape=(4, 4))
    for key in (2**70, -1, "x"):
        with pytest.raises(FormatError, match=r"whole-number labels in 0\.\."):
            Dataset.from_arrays("d", (x, y), classes={0: "a", key: "b"}, source="api")


def test_classes_txt_beside_a_mapping_is_ambiguous(tmp_path):
    x, y = make_arrays(12, 2, shape=(4, 4))
    formats.write_csv(tmp_path / "train.csv", x, y, layout="kaggle")
    (tmp_path / "classes.txt").write_text("a\nb\n")
    (tmp_path / "emnist-mapping.txt").write_text("0 66\n1 67\n")
    with pytest.raises(FormatError, match="several class-name files"):
        mnistlab.load(tmp_path / "train.csv")


def test_folders_named_by_label_take_names_from_a_class_list(tmp_path):
    from PIL import Image

    for label in ("0", "1", "2"):
        (tmp_path / "d" / label).mkdir(parents=True)
        Image.fromarray(np.full((4, 4), 50 * int(label), np.uint8)).save(
            tmp_path / "d" / label / "a.png"
        )
    (tmp_path / "d" / "classes.txt").write_text("zero\none\ntwo\n")
    ds = mnistlab.load(tmp_path / "d")
    assert ds.classes == ("zero", "one", "two") and ds.train.labels.tolist() == [0, 1, 2]
    (tmp_path / "d" / "classes.txt").write_text("zero\none\n")
    with pytest.raises(FormatError, match=r"folders named by label \[2\].*only 2 class names"):
        mnistlab.load(tmp_path / "d")


# --------------------------------------------------------------------------------------------
# A dataset's name is never a path
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escape", "/etc/x", "a/b", ".hidden", ".", ".."])
@pytest.mark.parametrize("to", ["npz", "csv"])
def test_names_are_never_used_as_paths(tmp_path, name, to):
    out = tmp_path / "deep" / "out"
    paths = mnistlab.save(small(name=name), out, to)
    for path in paths:
        assert path.parent == out and not path.name.startswith(".")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]
    assert len(list(out.iterdir())) == len(paths)


# --------------------------------------------------------------------------------------------
# Saves: a new folder appears complete; errors name the file, not the staging folder
# --------------------------------------------------------------------------------------------


def test_a_new_folder_appears_in_one_piece(tmp_path, monkeypatch):
    ds = small()
    out = tmp_path / "new"
    seen = []
    real = formats.write_idx

    def spy(path, array):
        seen.append(out.exists())  # the destination must not exist while files are written
        real(path, array)

    monkeypatch.setattr(formats, "write_idx", spy)
    mnistlab.save(ds, out, "idx")
    assert seen and not any(seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]  # no staging folder left
    assert mnistlab.load(out).classes == ds.classes


@pytest.mark.parametrize("existing", [False, True])
def test_disk_full_names_the_file_being_written(tmp_path, monkeypatch, existing):
    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    out = tmp_path / "out"
    if existing:
        out.mkdir()
    monkeypatch.setattr(formats, "write_image_folder", full)
    with pytest.raises(OSError, match="No space left") as caught:
        mnistlab.save(small(), out, "png")
    assert caught.value.filename == str(out / "train")
    assert ".mnistlab-save" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out"] if existing else [])


# --------------------------------------------------------------------------------------------
# Values, labels and layouts people have
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int64])
def test_binary_images_of_0_and_1_become_0_and_255(tmp_path, dtype):
    x, y = make_arrays(12, 2, shape=(5, 5))
    binary = (x > 100).astype(dtype)
    np.savez(tmp_path / "b.npz", x_train=binary, y_train=y)
    with pytest.warns(UserWarning, match="only the values 0 and 1"):
        ds = mnistlab.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(ds.train.images, (x > 100) * 255)


def test_binary_float_csv_and_whole_float_labels(tmp_path):
    rows = ["5.0," + ",".join(["0.0"] * 3 + ["1.0"]), "3.0," + ",".join(["1.0"] * 4)]
    (tmp_path / "f.csv").write_text("\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match="only the values 0 and 1"):
        images, labels = formats.read_csv(tmp_path / "f.csv")
    assert labels.tolist() == [5, 3]
    assert images.reshape(2, -1).tolist() == [[0, 0, 0, 255], [255] * 4]
    (tmp_path / "g.csv").write_text("5.5,1,2,3,4\n")
    with pytest.raises(FormatError, match="labels must be whole numbers"):
        formats.read_csv(tmp_path / "g.csv")


def test_a_trailing_delimiter_is_not_a_pixel_column(tmp_path):
    (tmp_path / "t.csv").write_text("1,0,10,20,30,\n0,5,6,7,8,\n")
    images, labels = formats.read_csv(tmp_path / "t.csv")
    assert labels.tolist() == [1, 0] and images.shape == (2, 2, 2)


def test_values_just_above_one_are_shown_exactly(tmp_path):
    np.savez(tmp_path / "f.npz", x_train=np.array([[[0.5, 1.0000001]]] * 2), y_train=[0, 1])
    with pytest.raises(FormatError, match=r"max 1\.0000001"):
        mnistlab.load(tmp_path / "f.npz")


def test_class_names_that_are_not_utf8_are_refused(tmp_path):
    x, y = make_arrays(4, 2, shape=(4, 4))
    np.savez(tmp_path / "c.npz", x_train=x, y_train=y, classes=np.array([b"caf\xe9", b"tea"]))
    with pytest.raises(FormatError, match="not UTF-8"):
        mnistlab.load(tmp_path / "c.npz")


def test_noise_has_no_polarity(tmp_path):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (20, 8, 8), dtype=np.uint8)
    polarity = Polarity.of(noise)
    assert polarity.kind == "undetermined" and not polarity.inverted
    assert "neither light nor dark" in polarity.description
    assert Polarity.of(np.full((2, 4, 4), 250, np.uint8)).kind == "dark-on-light"
    assert Polarity.of(np.full((2, 4, 4), 12, np.uint8)).kind == "light-on-dark"
    # Nothing to advise: an image file meeting undetermined data loads without a warning.
    query = tmp_path / "q.npy"
    np.save(query, np.full((8, 8), 255, np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_image(query, polarity="undetermined")


# --------------------------------------------------------------------------------------------
# Folders and file names
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("one", "other"), [("val", "valid"), ("train", "training"), ("test", "Test")])
def test_two_folders_for_one_split_are_refused(tmp_path, one, other):
    from PIL import Image

    for split in {"train", one, other}:
        for k in ("a", "b"):
            (tmp_path / "d" / split / k).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "d" / split / k / "0.png")
    with pytest.raises(FormatError, match=rf"{one}/, {other}/|{other}/, {one}/"):
        mnistlab.load(tmp_path / "d")


@pytest.mark.parametrize(
    ("path", "name"),
    [("x/fall.csv", "fall"), ("x/latest.npz", "latest"), ("x/mnisttrain.csv", "mnisttrain")],
)
def test_generic_words_are_cut_only_as_words(path, name):
    assert default_name(path) == name


def test_save_into_a_dangling_link_is_refused(tmp_path):
    os.symlink(tmp_path / "nowhere", tmp_path / "link")
    with pytest.raises(FileExistsError, match="not a folder"):
        mnistlab.save(small(), tmp_path / "link", "idx")
    assert not (tmp_path / "nowhere").exists()


# --------------------------------------------------------------------------------------------
# Found by review: names that contain a split word, string-keyed mappings, odd digit folders
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["contest", "latest", "my test", "trainset"])
def test_csv_saves_of_names_holding_a_split_word_load_back(tmp_path, name):
    x, y = make_arrays(20, 2, shape=(4, 4))
    xt, yt = make_arrays(10, 2, shape=(4, 4), seed=5)
    ds = Dataset.from_arrays(name, (x, y), (xt, yt), source="generated")
    mnistlab.save(ds, tmp_path / "out", "csv")
    back = mnistlab.load(tmp_path / "out")
    np.testing.assert_array_equal(back.train.images, x)
    np.testing.assert_array_equal(back.test.labels, yt)


def test_a_mapping_with_string_keys_is_read_as_labels():
    x, y = make_arrays(8, 2, shape=(4, 4))
    ds = Dataset.from_arrays("d", (x, y + 1), classes={"1": "one", "2": "two"}, source="api")
    assert ds.classes == ("one", "two") and ds.train.labels.tolist() == y.tolist()


def test_a_folder_named_by_a_superscript_is_a_class_name(tmp_path):
    from PIL import Image

    for folder in ("²", "3"):
        (tmp_path / "d" / folder).mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "d" / folder / "a.png")
    assert mnistlab.load(tmp_path / "d").classes == ("3", "²")


def test_a_label_mapping_in_a_split_folder_is_read_as_beside_any_dataset(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for label in ("1", "2"):
            (tmp_path / "d" / split / label).mkdir(parents=True)
            Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "d" / split / label / "a.png")
        (tmp_path / "d" / split / "classes.txt").write_text("1 one\n2 two\n")
    ds = mnistlab.load(tmp_path / "d")
    assert ds.classes == ("one", "two") and ds.test.labels.tolist() == [0, 1]
    # Two split folders naming their classes differently would relabel one of them: refused.
    (tmp_path / "d" / "test" / "classes.txt").write_text("1 two\n2 one\n")
    with pytest.raises(FormatError, match="differ from those of"):
        mnistlab.load(tmp_path / "d")


# --------------------------------------------------------------------------------------------
# Third fault-injection pass
# --------------------------------------------------------------------------------------------


def test_a_loaded_idx_dataset_does_not_follow_its_file(tmp_path):
    """Uncompressed IDX was memory-mapped: rewriting the file changed the loaded images, and
    truncating it killed the process with a bus error."""
    x, y = make_arrays(20, 2, shape=(4, 4))
    formats.write_idx(tmp_path / "train-images-idx3-ubyte", x, compress=False)
    formats.write_idx(tmp_path / "train-labels-idx1-ubyte", y.astype(np.uint8), compress=False)
    ds = mnistlab.load(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    with open(path, "r+b") as f:  # rewritten in place, as a plain (non-atomic) writer does
        f.seek(16)
        f.write(bytes(x.size))
    os.truncate(path, 16)
    np.testing.assert_array_equal(ds.train.images, x)


def test_new_output_folders_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        mnistlab.save(small(), tmp_path / "new", "npz")
    finally:
        os.umask(mask)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("name", ["train-test", "test-train", "train-val"])
def test_names_made_of_split_words_load_back_from_csv(tmp_path, name):
    x, y = make_arrays(20, 2, shape=(4, 4))
    xt, yt = make_arrays(10, 2, shape=(4, 4), seed=5)
    mnistlab.save(Dataset.from_arrays(name, (x, y), (xt, yt), source="g"), tmp_path / "o", "csv")
    back = mnistlab.load(tmp_path / "o")
    np.testing.assert_array_equal(back.train.labels, y)
    np.testing.assert_array_equal(back.test.labels, yt)


def test_a_query_npy_with_a_lying_header_is_refused_before_allocating(tmp_path):
    import io

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
    )
    (tmp_path / "huge.npy").write_bytes(header.getvalue())
    with pytest.raises(FormatError, match=r"huge\.npy: .*declares more data than the file holds"):
        load_image(str(tmp_path / "huge.npy"))
    np.save(tmp_path / "wide.npy", np.zeros((5000, 5000), np.uint8))
    with pytest.raises(FormatError, match=r"shape \(5000, 5000\)"):
        load_image(str(tmp_path / "wide.npy"))


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".tiff", ".png"])
def test_animated_and_multi_page_images_are_refused_alike(tmp_path, suffix):
    from PIL import Image

    frames = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (0, 128, 255)]
    path = tmp_path / f"anim{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(FormatError, match="3 frames"):
        formats.read_image_file(path)
    with pytest.raises(FormatError, match="3 frames"):
        load_image(str(path))


def test_an_idx_item_too_large_to_shape_is_a_format_error(tmp_path):
    import struct

    (tmp_path / "x-idx3-ubyte").write_bytes(
        b"\x00\x00\x08\x03" + struct.pack(">3I", 0, 4 * 10**9, 4 * 10**9)
    )
    with pytest.raises(FormatError, match=r"x-idx3-ubyte: .*bytes per item"):
        formats.read_idx(tmp_path / "x-idx3-ubyte")


def test_an_output_folder_that_cannot_be_made_is_named(tmp_path):
    with pytest.raises(OSError) as caught:
        mnistlab.save(small(), "/proc/mnistlab-test-out", "npz")
    assert caught.value.filename == "/proc/mnistlab-test-out"


@pytest.mark.parametrize("to", ["csv", "csv-kaggle"])
def test_csv_refuses_images_it_could_not_read_back(tmp_path, five_class, to):
    """12x10 images were written as rows of 120 pixels that load then refused (not square)."""
    with pytest.raises(FormatError, match=r"12x10 pixels; a CSV row holds a square image"):
        mnistlab.save(five_class, tmp_path / "out", to)
    assert not (tmp_path / "out").exists()


def test_an_image_folder_too_large_for_memory_is_refused_before_decoding(tmp_path, monkeypatch):
    from PIL import Image

    from mnistlab.data.formats import folders

    for k in ("a", "b"):
        (tmp_path / "d" / k).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.zeros((40, 30), np.uint8)).save(tmp_path / "d" / k / f"{i}.png")
    monkeypatch.setattr(folders, "MAX_FOLDER_PIXELS", 6 * 40 * 30 - 1)
    decoded = []
    monkeypatch.setattr(folders, "read_image_file", lambda f: decoded.append(f))
    with pytest.raises(FormatError, match=r"6 images of 30x40 pixels"):
        mnistlab.load(tmp_path / "d")
    assert decoded == []


def test_a_failed_report_leaves_no_empty_folder(tmp_path, monkeypatch):
    from mnistlab.report import builder

    def full(files):
        path = next(iter(files))
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(builder, "atomic_write_files", full)
    ds = mnistlab.load("digits").subset(40)
    with pytest.raises(OSError) as caught:
        builder.build_report([ds], tmp_path / "new" / "rep", sections=["overview"], progress=False)
    assert caught.value.filename == str(tmp_path / "new" / "rep" / "index.html")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_holding_one_npz_loads_as_save_wrote_it(tmp_path):
    ds = small()
    mnistlab.save(ds, tmp_path / "o", "npz")
    back = mnistlab.load(tmp_path / "o")
    assert back.classes == ds.classes and back.name == "tiny"


def test_the_api_refuses_what_it_cannot_take_in_its_own_terms(five_class):
    train = five_class.train
    with pytest.raises(TypeError, match="save writes a Dataset, not Split"):
        mnistlab.save(train, "x", "npz")
    with pytest.raises(ValueError, match="folder is empty"):
        mnistlab.save(five_class, "", "npz")
    with pytest.raises(TypeError, match="find_duplicates searches a Dataset"):
        mnistlab.find_duplicates(train)
    for key in (True, None):
        with pytest.raises(TypeError, match="indexed by a position"):
            train[key]
    for label in (3.0, True):
        with pytest.raises(ValueError, match="label must be a class index"):
            train.subset(label=label)
    for seed in (-1, 1.5, "x"):
        with pytest.raises(ValueError, match="seed must be a whole number"):
            train.subset(sample=10, seed=seed)
    with pytest.raises(TypeError, match="the name comes first"):
        Dataset.from_arrays(train.images, train.labels)
    with pytest.raises(ValueError, match="must be an \\(images, labels\\) pair"):
        Dataset.from_arrays("x", (train.images, train.labels, "junk"))
    with pytest.raises(ValueError, match="files for splits"):
        Dataset.from_arrays("x", (train.images, train.labels), files={"foo": []})
    with pytest.raises(ValueError, match="a Split of 2 images"):
        mnistlab.compare(train[0:2], train[2:3])
    assert mnistlab.compare(train[0:1], train[1:2]) == mnistlab.compare(train[0], train[1])
    with pytest.raises(ValueError, match="no images"):
        mnistlab.NearestImages().fit(train[0:0])
    assert mnistlab.centroids(train[0:0]).closest_pair() is None
    by_labels = mnistlab.centroids(train.images, train.labels)  # classes "0".."4"
    assert by_labels.classes == ("0", "1", "2", "3", "4")
