"""Quick, Draw! bitmaps: folders of .npy files, hostile files, and downloads verified against the
md5 a (local, 127.0.0.1) server states in x-goog-hash, cached and checked again on every use."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import mnistlab
from mnistlab.cli import app
from mnistlab.data import quickdraw
from mnistlab.data.formats import QuickDrawBitmaps, quickdraw_folder_files
from mnistlab.data.registry import QUICKDRAW_CLASSES, get_spec
from mnistlab.errors import DatasetNotFoundError, FormatError, IntegrityError, UnknownDatasetError

runner = CliRunner()


def run(*args, code=0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output + str(result.exception)
    return result


def bitmaps(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 784), dtype=np.uint8)


def npy_bytes(array: np.ndarray) -> bytes:
    import io

    sink = io.BytesIO()
    np.save(sink, array)
    return sink.getvalue()


@pytest.fixture
def folder(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    """Three classes as Google and its console name them: one prefixed, one with spaces."""
    arrays = {"cat": bitmaps(5, 1), "The Eiffel Tower": bitmaps(3, 2), "dog": bitmaps(4, 3)}
    path = tmp_path / "drawings"
    path.mkdir()
    np.save(path / "full_numpy_bitmap_cat.npy", arrays["cat"])
    np.save(path / "The Eiffel Tower.npy", arrays["The Eiffel Tower"])
    np.save(path / "dog.npy", arrays["dog"])
    return path, arrays


def expected(arrays: dict[str, np.ndarray], names, per_class=None):
    images = np.concatenate([arrays[c][:per_class] for c in names]).reshape(-1, 28, 28)
    labels = np.concatenate([np.full(len(arrays[c][:per_class]), k) for k, c in enumerate(names)])
    return images, labels


# --------------------------------------------------------------------------------------------
# Folders of bitmap files
# --------------------------------------------------------------------------------------------


def test_a_folder_loads_with_classes_sorted_by_name(folder):
    path, arrays = folder
    ds = mnistlab.load(path)
    # Sorted by name: upper case first, the console's prefix removed.
    assert ds.classes == ("The Eiffel Tower", "cat", "dog")
    assert ds.test is None and ds.train.images.dtype == np.uint8
    images, labels = expected(arrays, ds.classes)
    np.testing.assert_array_equal(ds.train.images, images)
    np.testing.assert_array_equal(ds.train.labels, labels)
    assert ds.name == "drawings"


def test_first_images_of_each_class(folder):
    path, arrays = folder
    ds = mnistlab.data.load_quickdraw(path, per_class=4)
    images, labels = expected(arrays, ds.classes, per_class=4)
    assert ds.train.class_counts() == {"The Eiffel Tower": 3, "cat": 4, "dog": 4}
    np.testing.assert_array_equal(ds.train.images, images)
    np.testing.assert_array_equal(ds.train.labels, labels)


def test_every_slice_crosses_file_boundaries_exactly(folder):
    path, arrays = folder
    opened = mnistlab.data.open_quickdraw(path)
    images, labels = expected(arrays, opened.classes)
    assert opened.images.shape == (12, 28, 28) and len(opened) == 12
    assert opened.images.dtype == np.uint8 and opened.labels.dtype == np.int32
    for a in range(13):
        for b in range(a, 14):
            np.testing.assert_array_equal(opened.images[a:b], images[a:b])
            np.testing.assert_array_equal(opened.labels[a:b], labels[a:b])
    np.testing.assert_array_equal(opened.images[-3:], images[-3:])


def test_the_files_are_memory_mapped_not_read(folder):
    path, _ = folder
    opened = mnistlab.data.open_quickdraw(path)
    opened.images[0:1]
    assert all(
        isinstance(m, np.memmap) or isinstance(m.base, np.memmap) for m in opened.images._maps.values()
    )


def test_images_stored_as_28x28_load_too(tmp_path):
    np.save(tmp_path / "cat.npy", bitmaps(2, 5).reshape(2, 28, 28))
    ds = mnistlab.load(tmp_path)
    np.testing.assert_array_equal(ds.train.images, bitmaps(2, 5).reshape(2, 28, 28))


def test_files_other_than_npy_are_ignored(folder):
    path, _ = folder
    (path / "README.txt").write_text("not data")
    (path / "._cat.npy").write_bytes(b"AppleDouble")  # hidden: never data
    assert mnistlab.load(path).classes == ("The Eiffel Tower", "cat", "dog")


def test_the_same_class_twice_is_refused(folder):
    path, arrays = folder
    np.save(path / "cat.npy", arrays["cat"])
    with pytest.raises(FormatError, match="both class 'cat'"):
        mnistlab.load(path)


def test_class_names_cannot_be_given_for_a_folder(folder):
    with pytest.raises(ValueError, match="named by their files"):
        mnistlab.load(folder[0], classes=["a", "b", "c"])


def test_too_many_images_for_memory_are_refused_with_the_way_out(folder, monkeypatch):
    monkeypatch.setattr(quickdraw, "MAX_IN_MEMORY_BYTES", 10 * 784)
    with pytest.raises(ValueError, match="12 images") as info:
        mnistlab.load(folder[0])
    assert f"mnistlab convert {folder[0]} --to zarr" in str(info.value)
    assert "--per-class N" in str(info.value)
    assert len(mnistlab.data.load_quickdraw(folder[0], per_class=3).train) == 9


def test_a_folder_streams_into_a_zarr_store(folder, monkeypatch, tmp_path):
    path, arrays = folder
    monkeypatch.setattr(quickdraw, "MAX_IN_MEMORY_BYTES", 784)  # loading it whole is refused
    run("convert", path, "--to", "zarr", "-o", tmp_path / "qd.zarr")
    store = mnistlab.load(tmp_path / "qd.zarr")
    assert store.classes == ("The Eiffel Tower", "cat", "dog") and store.name == "drawings"
    images, labels = expected(arrays, store.classes)
    np.testing.assert_array_equal(np.asarray(store.train.arrays.images[:]), images)
    np.testing.assert_array_equal(np.asarray(store.train.arrays.labels[:]), labels)
    assert store.test is None


def test_cli_first_per_class_into_npz(folder, tmp_path):
    path, arrays = folder
    run("convert", path, "--per-class", "2", "--to", "npz", "-o", tmp_path / "out", "--name", "qd")
    ds = mnistlab.load(tmp_path / "out" / "qd.npz")
    images, labels = expected(arrays, ds.classes, per_class=2)
    np.testing.assert_array_equal(ds.train.images, images)
    np.testing.assert_array_equal(ds.train.labels, labels)


def test_cli_per_class_is_only_for_quickdraw(five_class, tmp_path):
    mnistlab.save(five_class, tmp_path / "five", "npz")
    result = run(
        "convert", tmp_path / "five", "--per-class", "2", "--to", "csv", "-o", tmp_path / "o", code=2
    )
    assert "--per-class applies to Quick, Draw!" in result.stderr


def test_cli_refuses_options_that_do_not_apply(folder, tmp_path):
    result = run("convert", folder[0], "--invert", "--to", "zarr", "-o", tmp_path / "q.zarr", code=2)
    assert "--invert" in result.stderr and not (tmp_path / "q.zarr").exists()


# --------------------------------------------------------------------------------------------
# Hostile files: each refused from its header and size, naming the file
# --------------------------------------------------------------------------------------------


class Marker:
    """Unpickling this creates a file: the proof that a pickle was (not) loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def hostile(tmp_path: Path, kind: str) -> Path:
    folder = tmp_path / kind
    folder.mkdir()
    np.save(folder / "dog.npy", bitmaps(3, 0))  # a good class beside the bad one
    bad = folder / "cat.npy"
    good = npy_bytes(bitmaps(5, 1))
    if kind == "float64":
        np.save(bad, bitmaps(5, 1).astype(np.float64))
    elif kind == "783 columns":
        np.save(bad, bitmaps(5, 1)[:, :783])
    elif kind == "fortran":
        np.save(bad, np.asfortranarray(bitmaps(5, 1)))
    elif kind == "truncated":
        bad.write_bytes(good[:-100])
    elif kind == "lying header":
        bad.write_bytes(good.replace(b"(5, 784)", b"(9, 784)"))
    elif kind == "too long":
        bad.write_bytes(good + b"\0" * 784)
    elif kind == "pickle":
        np.save(bad, np.array([Marker(tmp_path / "unpickled")], dtype=object), allow_pickle=True)
    elif kind == "junk":
        bad.write_bytes(np.random.default_rng(0).bytes(2000))
    return folder


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("float64", "dtype float64; Quick, Draw! bitmaps are uint8"),
        ("783 columns", r"shape \(5, 783\); Quick, Draw! bitmaps are \(n, 784\)"),
        ("fortran", "Fortran order"),
        ("truncated", r"declares 5 images, 4,048 bytes .* but the file has 3,948 bytes"),
        ("lying header", r"declares 9 images, 7,184 bytes .* but the file has 4,048 bytes"),
        ("too long", r"declares 5 images, 4,048 bytes .* but the file has 4,832 bytes"),
        ("pickle", "holds Python objects; refused"),
        ("junk", "is not a .npy array"),
    ],
)
def test_hostile_files_are_refused_naming_the_file(tmp_path, kind, message):
    folder = hostile(tmp_path, kind)
    with pytest.raises(FormatError, match=message) as info:
        mnistlab.load(folder)
    assert str(info.value).startswith(str(folder / "cat.npy"))
    assert not (tmp_path / "unpickled").exists()


def test_hostile_file_in_the_cli_is_one_line(tmp_path):
    folder = hostile(tmp_path, "lying header")
    result = run("info", folder, code=1)
    assert "cat.npy" in result.stderr and "declares 9 images" in result.stderr
    assert "Traceback" not in result.output


def test_an_empty_folder_is_no_dataset(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="found no dataset here"):
        mnistlab.load(tmp_path / "empty")
    with pytest.raises(FormatError, match=r"no \.npy files"):
        quickdraw_folder_files(tmp_path / "empty")
    with pytest.raises(FormatError, match=r"neither a folder of Quick, Draw! \.npy files"):
        mnistlab.data.open_quickdraw(tmp_path / "empty")


def test_a_folder_named_npy_is_refused(folder):
    (folder[0] / "sub.npy").mkdir()
    with pytest.raises(FormatError, match=r"sub\.npy: not a regular file"):
        mnistlab.load(folder[0])


@pytest.mark.parametrize("per_class", [0, -1, True])
def test_per_class_must_be_positive(folder, per_class):
    with pytest.raises(ValueError, match="per_class must be a positive"):
        QuickDrawBitmaps(quickdraw_folder_files(folder[0]), per_class=per_class)


# --------------------------------------------------------------------------------------------
# The registry entry
# --------------------------------------------------------------------------------------------


def test_the_345_official_classes_in_the_order_of_categories_txt():
    # sha256 of categories.txt in googlecreativelab/quickdraw-dataset (commit ea7fd22).
    text = "\n".join(QUICKDRAW_CLASSES) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert digest == "6326fde883ce71b53153bdf50b3671dc6652c8c14e67c7d07d23c1af6d103f4b"
    assert len(QUICKDRAW_CLASSES) == len(set(QUICKDRAW_CLASSES)) == 345
    assert (
        QUICKDRAW_CLASSES[:2] == ("aircraft carrier", "airplane") and QUICKDRAW_CLASSES[-1] == "zigzag"
    )


@pytest.mark.parametrize("alias", ["quickdraw", "Quick-Draw", "quickdraw-bitmap"])
def test_aliases_name_the_registry_entry(alias):
    assert get_spec(alias).name == "quickdraw"
    assert get_spec(alias).classes == QUICKDRAW_CLASSES


def test_the_whole_collection_is_not_loaded_at_once():
    with pytest.raises(ValueError, match=r"name the classes you want, e\.g\. quickdraw:cat,dog"):
        mnistlab.load("quickdraw")
    with pytest.raises(ValueError, match="name the classes"):
        mnistlab.load(get_spec("quick-draw"))


def test_unknown_classes_are_refused_with_suggestions(qd_server):
    with pytest.raises(
        UnknownDatasetError, match=r"'catt' is not a Quick, Draw! class\. Did you mean 'cat'"
    ):
        mnistlab.load("quickdraw:dog,catt", progress=False)
    assert qd_server.hits == []


def test_class_names_are_matched_in_any_case_and_ordered_officially():
    assert quickdraw.quickdraw_classes("the eiffel tower, CAT,cat") == ("cat", "The Eiffel Tower")


# --------------------------------------------------------------------------------------------
# Downloads from a server on 127.0.0.1 that states hashes as Google Cloud Storage does
# --------------------------------------------------------------------------------------------


def goog_md5(body: bytes) -> str:
    return "md5=" + base64.b64encode(hashlib.md5(body).digest()).decode()


@dataclass
class Served:
    body: bytes
    hash_header: str | None = None  # default: the body's true md5
    served: bytes | None = None  # bytes sent instead of body (a corruption in transit)


@dataclass
class Bucket:
    base: str
    files: dict[str, Served] = field(default_factory=dict)
    hits: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, array: np.ndarray, **kw) -> bytes:
        body = npy_bytes(array)
        self.files["/" + name.replace(" ", "%20") + ".npy"] = Served(body, **kw)
        return body


@pytest.fixture
def qd_server(monkeypatch) -> Iterator[Bucket]:
    """A bucket on 127.0.0.1: HEAD and GET, with ``x-goog-hash`` headers as GCS sends them."""
    bucket = Bucket(base="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, with_body: bool) -> None:
            bucket.hits.append((self.command, self.path))
            served = bucket.files.get(self.path)
            if served is None:
                self.send_error(404)
                return
            body = served.body if served.served is None else served.served
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-goog-hash", "crc32c=n03x6A==")  # GCS sends two such headers
            hash_header = goog_md5(served.body) if served.hash_header is None else served.hash_header
            if hash_header:
                self.send_header("x-goog-hash", hash_header)
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_HEAD(self):
            self._answer(with_body=False)

        def do_GET(self):
            self._answer(with_body=True)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    bucket.base = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.setenv(quickdraw.QUICKDRAW_URL_ENV, bucket.base)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield bucket
    server.shutdown()
    server.server_close()


def cache_files(home: Path) -> list[str]:
    return sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file())


def test_download_verifies_caches_and_then_uses_the_cache(qd_server, isolated_cache):
    cat, tower = bitmaps(6, 1), bitmaps(4, 2)
    bodies = {
        "cat": qd_server.add("cat", cat),
        "The Eiffel Tower": qd_server.add("The Eiffel Tower", tower),
    }
    ds = mnistlab.load("quickdraw:The Eiffel Tower,cat", progress=False)
    assert ds.classes == ("cat", "The Eiffel Tower")  # the official order, not the order asked
    np.testing.assert_array_equal(ds.train.images, np.concatenate([cat, tower]).reshape(-1, 28, 28))
    np.testing.assert_array_equal(ds.train.labels, [0] * 6 + [1] * 4)
    assert ("GET", "/The%20Eiffel%20Tower.npy") in qd_server.hits
    assert cache_files(isolated_cache) == [
        "quickdraw/The Eiffel Tower.npy",
        "quickdraw/cat.npy",
        "quickdraw/verified.json",
    ]
    record = json.loads((isolated_cache / "quickdraw" / "verified.json").read_text())
    for name, body in bodies.items():
        assert record[name]["sha256"] == hashlib.sha256(body).hexdigest()
        assert record[name]["md5"] == hashlib.md5(body).hexdigest()
    hits = len(qd_server.hits)
    again = mnistlab.load("quickdraw:cat,The Eiffel Tower", progress=False, download=False)
    assert len(qd_server.hits) == hits
    np.testing.assert_array_equal(again.train.images, ds.train.images)


def test_bytes_corrupted_in_transit_are_refused_and_nothing_cached(qd_server, isolated_cache):
    good = npy_bytes(bitmaps(6, 1))
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    qd_server.add("cat", bitmaps(6, 1), served=bytes(bad))
    with pytest.raises(
        IntegrityError, match=r"md5 of the received bytes \w+ differs from the md5 the server"
    ):
        mnistlab.load("quickdraw:cat", progress=False)
    assert cache_files(isolated_cache) == []


@pytest.mark.parametrize("header", ["", "crc32c=n03x6A=="])
def test_no_stated_md5_is_refused_unless_pinned(qd_server, isolated_cache, header):
    body = qd_server.add("cat", bitmaps(6, 1), hash_header=header)
    with pytest.raises(IntegrityError, match="states no md5") as info:
        mnistlab.load("quickdraw:cat", progress=False)
    assert "SHA256SUMS" in str(info.value)
    assert not any(method == "GET" for method, _ in qd_server.hits)  # nothing downloaded
    assert cache_files(isolated_cache) == []
    pins = isolated_cache / "quickdraw" / "SHA256SUMS"
    pins.parent.mkdir(parents=True, exist_ok=True)
    pins.write_text(f"{hashlib.sha256(body).hexdigest()}  full_numpy_bitmap_cat.npy\n")
    ds = mnistlab.load("quickdraw:cat", progress=False)
    np.testing.assert_array_equal(ds.train.images, bitmaps(6, 1).reshape(-1, 28, 28))


def test_a_pin_that_does_not_match_is_refused(qd_server, isolated_cache):
    qd_server.add("cat", bitmaps(6, 1))
    wrong = {"cat.npy": hashlib.sha256(b"another file").hexdigest()}
    with pytest.raises(IntegrityError, match="differs from the pinned"):
        mnistlab.data.open_quickdraw(["cat"], progress=False, hashes=wrong)
    assert cache_files(isolated_cache) == []


def test_a_verified_file_that_is_not_a_bitmap_file_is_refused(qd_server, isolated_cache):
    qd_server.add("cat", bitmaps(6, 1).astype(np.float64))  # its md5 is right
    with pytest.raises(FormatError, match="dtype float64"):
        mnistlab.load("quickdraw:cat", progress=False)
    assert cache_files(isolated_cache) == []


def test_a_missing_object_is_not_found(qd_server, isolated_cache):
    with pytest.raises(DatasetNotFoundError, match="404"):
        mnistlab.load("quickdraw:dog", progress=False)
    assert cache_files(isolated_cache) == []


def test_a_cached_file_changed_on_disk_is_caught(qd_server, isolated_cache):
    qd_server.add("cat", bitmaps(6, 1))
    mnistlab.load("quickdraw:cat", progress=False)
    cached = isolated_cache / "quickdraw" / "cat.npy"
    data = bytearray(cached.read_bytes())
    data[200] ^= 1  # one pixel: still a valid bitmap file
    cached.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="changed on disk"):
        mnistlab.load("quickdraw:cat", progress=False, download=False)
    hits = len(qd_server.hits)
    with pytest.warns(UserWarning, match="changed on disk.*downloading it again"):
        ds = mnistlab.load("quickdraw:cat", progress=False)
    assert len(qd_server.hits) > hits
    np.testing.assert_array_equal(ds.train.images, bitmaps(6, 1).reshape(-1, 28, 28))


def test_an_unreadable_record_means_downloading_again(qd_server, isolated_cache):
    qd_server.add("cat", bitmaps(6, 1))
    mnistlab.load("quickdraw:cat", progress=False)
    (isolated_cache / "quickdraw" / "verified.json").write_text('{"cat": "not a record"')
    hits = len(qd_server.hits)
    with pytest.warns(UserWarning, match="verified.json: unreadable"):
        mnistlab.load("quickdraw:cat", progress=False)
    assert len(qd_server.hits) > hits
    (isolated_cache / "quickdraw" / "verified.json").write_text('{"cat": "not a record"}')
    mnistlab.load("quickdraw:cat", progress=False)  # a record that is no record: fetched again
    assert json.loads((isolated_cache / "quickdraw" / "verified.json").read_text())["cat"]["sha256"]


def test_progress_bars_run_during_downloads(qd_server):
    qd_server.add("cat", bitmaps(3, 1))
    assert len(mnistlab.data.open_quickdraw(["cat"], progress=True)) == 3


def test_stated_md5_reads_gcs_headers():
    body = b"some bytes"
    md5 = hashlib.md5(body).hexdigest()
    assert quickdraw.stated_md5(f"crc32c=n03x6A==, {goog_md5(body)}") == md5
    assert quickdraw.stated_md5("crc32c=n03x6A==") is None
    assert quickdraw.stated_md5(None) is None
    with pytest.raises(IntegrityError, match="not an md5"):
        quickdraw.stated_md5("md5=AAAA")


def test_cli_converts_named_classes_into_a_store(qd_server, tmp_path):
    cat, dog = bitmaps(5, 1), bitmaps(7, 2)
    qd_server.add("cat", cat)
    qd_server.add("dog", dog)
    result = run("convert", "quickdraw:dog,cat", "--to", "zarr", "-o", tmp_path / "qd.zarr", "--json")
    assert json.loads(result.stdout)["dataset"] == "quickdraw"
    store = mnistlab.load(tmp_path / "qd.zarr")
    assert store.classes == ("cat", "dog")
    np.testing.assert_array_equal(
        np.asarray(store.train.arrays.images[:]), np.concatenate([cat, dog]).reshape(-1, 28, 28)
    )
    info = json.loads(run("info", "quickdraw:cat", "--json", "--no-download").stdout)
    assert info["source"] == "quickdraw:cat" and info["splits"]["train"]["class_counts"] == {"cat": 5}
    listed = json.loads(run("datasets", "--json").stdout)["by_class"][0]
    assert listed["name"] == "quickdraw" and listed["cached_classes"] == ["cat", "dog"]


def test_cli_unknown_class_suggests_and_fails(qd_server):
    result = run("info", "quickdraw:cat,zebraa", "--no-download", code=1)
    assert "Did you mean 'zebra'" in result.stderr
