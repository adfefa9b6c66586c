"""Shared fixtures: generated datasets, an isolated cache, a local HTTP mirror."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import threading
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest

from mnistlab._utils.files import sha256_hex
from mnistlab.data.dataset import Dataset
from mnistlab.data.formats import idx_bytes
from mnistlab.data.registry import ROLES, DatasetSpec, FileSpec


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache; nothing touches ~/.cache."""
    home = tmp_path / "mnistlab-home"
    monkeypatch.setenv("MNISTLAB_HOME", str(home))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return home


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One cache per real-data test module: the real datasets are copied into it once."""
    return tmp_path_factory.mktemp("real-cache")


@pytest.fixture
def real_cache(shared_cache, monkeypatch):
    monkeypatch.setenv("MNISTLAB_HOME", str(shared_cache))
    return shared_cache


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Measure the peak of Python and numpy allocations inside the block: ``peak[0]`` after it."""
    peak = [0]
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def make_arrays(n: int, n_classes: int, shape=(28, 28), seed: int = 0):
    """Random uint8 images whose mean brightness depends on the class, and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    base = (labels[:, None, None] * (200 // max(n_classes - 1, 1))).astype(np.int16)
    noise = rng.integers(0, 56, size=(n, *shape))
    return (base + noise).clip(0, 255).astype(np.uint8), labels.astype(np.int64)


@pytest.fixture
def five_class() -> Dataset:
    """A generated 5-class dataset of 12x10 (non-square) images: 60 train, 25 test."""
    train = make_arrays(60, 5, shape=(12, 10), seed=1)
    test = make_arrays(25, 5, shape=(12, 10), seed=2)
    return Dataset.from_arrays(
        "five", train, test, classes=["zero", "one", "two/II", "three", "four"], source="generated"
    )


# --------------------------------------------------------------------------------------------
# A local mirror on 127.0.0.1
# --------------------------------------------------------------------------------------------


@dataclass
class Route:
    body: bytes
    mode: str = "ok"  # ok | truncate (promise the full length, send half, hang up) | 404


@dataclass
class LocalMirror:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def url(self, prefix: str) -> str:
        return f"{self.base}/{prefix}/"


@pytest.fixture
def mirror() -> Iterator[LocalMirror]:
    """An HTTP server on 127.0.0.1 serving ``routes``: {"/prefix/file": Route}."""
    state = LocalMirror(base="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            state.hits.append(self.path)
            route = state.routes.get(self.path)
            if route is None or route.mode == "404":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if route.mode == "truncate":
                self.wfile.write(route.body[: len(route.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(route.body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class FakeIDXDataset:
    """Generated IDX files, their contents and a DatasetSpec pinning them."""

    spec: DatasetSpec
    contents: dict[str, bytes]
    gz: dict[str, bytes]
    arrays: dict[str, np.ndarray]


def fake_idx_dataset(
    name: str = "fake", *, mirrors=(), system_dirs=(), pin_content: bool = True, seed: int = 0
) -> FakeIDXDataset:
    """A small 3-class IDX dataset (40 train / 12 test images of 28x28) and its spec."""
    x_tr, y_tr = make_arrays(40, 3, seed=seed)
    x_te, y_te = make_arrays(12, 3, seed=seed + 1)
    arrays = {
        "train_images": x_tr,
        "train_labels": y_tr.astype(np.uint8),
        "test_images": x_te,
        "test_labels": y_te.astype(np.uint8),
    }
    names = {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    }
    contents = {r: idx_bytes(arrays[r]) for r in ROLES}
    gz = {r: gzip.compress(contents[r], mtime=0) for r in ROLES}
    files = {
        r: FileSpec(
            name=names[r],
            archive=names[r] + ".gz",
            sha256=sha256_hex(contents[r]) if pin_content else None,
            archive_hash=None if pin_content else "sha256:" + sha256_hex(gz[r]),
            size=len(contents[r]),
        )
        for r in ROLES
    }
    spec = DatasetSpec(
        name=name,
        description="generated for tests",
        classes=("a", "b", "c"),
        image_shape=(28, 28),
        files=files,
        mirrors=tuple(mirrors),
        system_dirs=tuple(system_dirs),
    )
    return FakeIDXDataset(spec, contents, gz, arrays)


def serve(mirror: LocalMirror, prefix: str, fake: FakeIDXDataset, mode: str = "ok", body=None):
    """Put ``fake``'s gz files on the local mirror under ``/prefix/``."""
    for role, fspec in fake.spec.files.items():
        data = fake.gz[role] if body is None else body(role)
        mirror.routes[f"/{prefix}/{fspec.archive}"] = Route(data, mode)
