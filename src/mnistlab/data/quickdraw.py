"""Quick, Draw! by class: downloads verified against the bucket's md5, cached, checked on every use.

Quick, Draw! is 345 classes, one ``.npy`` file each, 39.5 GB in all, so it is loaded by the
classes one names: ``quickdraw:cat,dog`` (``load``, every command) or
``open_quickdraw(["cat", "dog"])``. Each class file is downloaded once into the mnistlab cache,
``<cache>/quickdraw/<class>.npy``, and verified before it gets there:

1. a HEAD request asks the bucket for the object's hashes: Google Cloud Storage states them in
   ``x-goog-hash: crc32c=<base64>,md5=<base64>``, and its size in ``Content-Length``;
2. the file is downloaded with pooch into a hidden staging folder in the cache;
3. its size must equal that ``Content-Length``, its md5 that stated md5 (and its sha256 the
   user's pin, when there is one, see below); its ``.npy`` header must declare uint8 bitmaps of
   784 pixels that fill the file exactly;
4. only then is it renamed into the cache, and its sha256 recorded in ``verified.json`` beside it.

Every later use hashes the cached file again and compares it with that record: a file changed on
disk is caught (and downloaded again, with a warning, unless ``download=False``).

No sha256 of the official files could be computed offline, so by default a download is as good
as the md5 the bucket states over HTTPS. Users who have the files' sha256 pin them, in a
``sha256sum`` file (``<sha256>  cat.npy`` per line; ``full_numpy_bitmap_cat.npy`` works too):
``<cache>/quickdraw/SHA256SUMS``, or ``hashes=`` here. A pinned file must match its pin, both
when downloaded and in the cache. A server that states no md5 (no ``x-goog-hash``, or one with
only a crc32c, as composite objects have) is refused unless the file is pinned: mnistlab never
uses unverified data. The bucket's address is ``$MNISTLAB_QUICKDRAW_URL`` when set (tests).
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import json
import os
import re
import shutil
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote

from mnistlab._utils.files import atomic_write_bytes, staging_folder
from mnistlab.data import formats
from mnistlab.data.dataset import Dataset
from mnistlab.data.formats.quickdraw import QuickDrawBitmaps
from mnistlab.data.registry import QUICKDRAW, QUICKDRAW_CLASSES, QUICKDRAW_NAMES
from mnistlab.data.sources import _short, cache_home
from mnistlab.errors import DatasetNotFoundError, FormatError, IntegrityError, UnknownDatasetError
from mnistlab.progress import DownloadBar, want_progress

#: The environment variable that replaces the bucket's address (a local server in tests).
QUICKDRAW_URL_ENV = "MNISTLAB_QUICKDRAW_URL"
#: ``load`` keeps at most this many bytes of pixels in memory (2 GiB: 2.7 million drawings);
#: larger selections are converted to a Zarr store, which streams.
MAX_IN_MEMORY_BYTES = 2 << 30
#: The user's sha256 pins, in the cache folder (``sha256sum`` format).
PINS_FILE = "SHA256SUMS"
#: The sha256 of every verified file in the cache folder, checked on every use.
RECORD_FILE = "verified.json"

#: What names Quick, Draw! bitmaps: a folder, ``"quickdraw:cat,dog"``, or class names.
Source = str | os.PathLike | Iterable[str]
#: sha256 pins: a ``sha256sum`` file, or ``{"cat.npy": sha256}``.
Pins = str | os.PathLike | Mapping[str, str]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_TIMEOUT = 60.0


def quickdraw_url() -> str:
    """The address of the class files: ``$MNISTLAB_QUICKDRAW_URL``, else Google's bucket."""
    url = os.environ.get(QUICKDRAW_URL_ENV) or QUICKDRAW.mirrors[0]
    return url if url.endswith("/") else url + "/"


def quickdraw_classes(names: str | Iterable[str]) -> tuple[str, ...]:
    """Official class names for ``names`` (any case), in the official order, or an error.

    ``names`` is a list or a comma-separated text (``"cat,The Eiffel Tower"``). Unknown names
    raise UnknownDatasetError suggesting the closest official names.
    """
    given = names.split(",") if isinstance(names, str) else list(names)
    given = [str(n).strip() for n in given if str(n).strip()]
    if not given:
        raise ValueError(NAME_THE_CLASSES)
    official = {c.lower(): c for c in QUICKDRAW_CLASSES}
    for name in given:
        if name.lower() not in official:
            close = difflib.get_close_matches(name.lower(), list(official), n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(official[c]) for c in close)}?" if close else ""
            raise UnknownDatasetError(
                f"{name!r} is not a Quick, Draw! class.{hint} The 345 classes are listed in "
                "mnistlab.data.registry.QUICKDRAW_CLASSES (and docs/how-to/quickdraw.md)."
            )
    chosen = {official[n.lower()] for n in given}
    return tuple(c for c in QUICKDRAW_CLASSES if c in chosen)


NAME_THE_CLASSES = (
    "Quick, Draw! has 345 classes, 39.5 GB in all: name the classes you want, e.g. "
    "quickdraw:cat,dog (mnistlab convert quickdraw:cat,dog --to zarr -o qd.zarr)."
)


def quickdraw_source(ref: str | os.PathLike) -> Path | tuple[str, ...] | None:
    """What ``ref`` names in Quick, Draw! terms: a folder of ``.npy`` files (its Path), classes
    (``quickdraw:cat,dog``, as a tuple), or None for anything else. A bare ``quickdraw`` raises
    ValueError saying to name the classes."""
    if formats.is_quickdraw_folder(ref):
        return Path(ref)
    head, colon, tail = str(ref).partition(":")
    if head.strip().lower() not in QUICKDRAW_NAMES or Path(ref).exists():
        return None
    if not colon:
        raise ValueError(NAME_THE_CLASSES)
    return quickdraw_classes(tail)


def open_quickdraw(
    source: Source,
    *,
    per_class: int | None = None,
    download: bool = True,
    progress: bool | None = None,
    hashes: Pins | None = None,
) -> QuickDrawBitmaps:
    """Open Quick, Draw! bitmaps without reading them: a folder, or classes fetched by name.

    Parameters
    ----------
    source : path, str or list of str
        A folder of bitmap files (classes sorted by name), ``"quickdraw:cat,dog"``, or class
        names (``["cat", "dog"]``; labels then follow the official order of the 345 classes).
    per_class : int, optional
        Only the first ``per_class`` images of each class.
    download : bool
        Download the classes missing from the cache (verified as the module docstring says).
    progress : bool or None
        Show download bars on stderr; None shows them only when stderr is a terminal.
    hashes : path or mapping, optional
        sha256 pins of class files: a ``sha256sum`` file or ``{"cat.npy": sha256}``; default
        ``<cache>/quickdraw/SHA256SUMS`` when it exists.

    Returns
    -------
    QuickDrawBitmaps
        The classes, and the images and labels as array-likes read slice by slice.

    Examples
    --------
    >>> import numpy as np, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(folder / "full_numpy_bitmap_cat.npy", np.zeros((3, 784), np.uint8))
    >>> np.save(folder / "dog.npy", np.full((2, 784), 255, np.uint8))
    >>> bitmaps = open_quickdraw(folder)
    >>> bitmaps.classes, bitmaps.images[2:4].shape, bitmaps.labels[2:4].tolist()
    (('cat', 'dog'), (2, 28, 28), [0, 1])
    """
    where = _resolve(source)
    if isinstance(where, Path):
        if hashes is not None:
            raise ValueError("hashes= pins downloaded classes; a folder's files are read as they are.")
        return QuickDrawBitmaps(formats.quickdraw_folder_files(where), per_class=per_class)
    files = fetch_quickdraw(where, download=download, progress=progress, hashes=hashes)
    return QuickDrawBitmaps(files, per_class=per_class)


def _resolve(source: Source) -> Path | tuple[str, ...]:
    """A folder, or official class names, from what :func:`open_quickdraw` takes."""
    if not isinstance(source, (str, os.PathLike)):
        return quickdraw_classes(source)
    where = quickdraw_source(source)
    if where is None:
        raise FormatError(
            f"{source}: neither a folder of Quick, Draw! .npy files nor quickdraw:CLASS,CLASS."
        )
    return where


def load_quickdraw(
    source: Source,
    *,
    per_class: int | None = None,
    name: str | None = None,
    download: bool = True,
    progress: bool | None = None,
    hashes: Pins | None = None,
) -> Dataset:
    """Quick, Draw! bitmaps in memory, as a Dataset with a train split only.

    Parameters
    ----------
    source : path, str or list of str
        As for :func:`open_quickdraw`.
    per_class : int, optional
        Only the first ``per_class`` images of each class.
    name : str, optional
        The dataset's name (default: the folder's name, or ``quickdraw``).
    download, progress, hashes
        As for :func:`open_quickdraw`.

    Returns
    -------
    Dataset
        uint8 images (n, 28, 28), white on black, labelled in class order.

    Raises
    ------
    ValueError
        If the images would take more than ``MAX_IN_MEMORY_BYTES`` (2 GiB): the message says
        how to convert them to a Zarr store instead, or to take the first N of each class.
    """
    where = _resolve(source)
    bitmaps = open_quickdraw(
        where if isinstance(where, Path) else list(where),
        per_class=per_class,
        download=download,
        progress=progress,
        hashes=hashes,
    )
    if isinstance(where, Path):
        return quickdraw_dataset(bitmaps, name or where.resolve().name, str(where))
    return quickdraw_dataset(bitmaps, name or QUICKDRAW.name, f"{QUICKDRAW.name}:{','.join(where)}")


def quickdraw_dataset(bitmaps: QuickDrawBitmaps, name: str, ref: str) -> Dataset:
    """Read ``bitmaps`` into a Dataset named ``name`` (``ref``: what the user named them), or
    refuse with advice if they exceed ``MAX_IN_MEMORY_BYTES``."""
    if bitmaps.nbytes > MAX_IN_MEMORY_BYTES:
        shown = f'"{ref}"' if " " in ref else ref
        raise ValueError(
            f"{ref}: {len(bitmaps):,} images ({bitmaps.nbytes / 2**30:.1f} GiB of pixels) are more "
            f"than mnistlab reads into memory ({MAX_IN_MEMORY_BYTES / 2**30:.0f} GiB). Convert them "
            f"to a Zarr store, which streams: mnistlab convert {shown} --to zarr -o quickdraw.zarr; "
            f"or take the first N images of each class: mnistlab convert {shown} --per-class N "
            "--to npz -o FOLDER (in Python: mnistlab.data.load_quickdraw(..., per_class=N))."
        )
    return Dataset.from_arrays(
        name, (bitmaps.images[:], bitmaps.labels[:]), classes=bitmaps.classes, source=ref
    )


def write_quickdraw_zarr(
    bitmaps: QuickDrawBitmaps, path: str | os.PathLike, name: str, *, progress: bool | None = None
) -> Path:
    """Stream ``bitmaps`` into the new Zarr store ``path`` (a train split), chunk by chunk.

    Memory stays bounded by a few chunks whatever the number of images: each chunk is read from
    the memory-mapped class files as it is written (see :func:`mnistlab.data.formats.write_zarr`).

    Parameters
    ----------
    bitmaps : QuickDrawBitmaps
        From :func:`open_quickdraw`.
    path : str or PathLike
        The store to write; it must not exist.
    name : str
        The dataset's name in the store.
    progress : bool or None
        Show a progress bar on stderr; None shows it only when stderr is a terminal.

    Returns
    -------
    Path
        The store.
    """
    path = formats.check_new_store(path)
    splits = {"train": (bitmaps.images, bitmaps.labels)}
    formats.write_zarr(
        path, name, bitmaps.classes, formats.QUICKDRAW_IMAGE_SHAPE, splits, progress=progress
    )
    return path


# --------------------------------------------------------------------------------------------
# Downloads and the cache
# --------------------------------------------------------------------------------------------


def read_pins(source: Pins) -> dict[str, str]:
    """sha256 pins by class name, from a ``sha256sum`` file or a mapping (names with or without
    ``.npy`` and the ``full_numpy_bitmap_`` prefix)."""
    if isinstance(source, Mapping):
        items = [(str(v).strip().lower(), str(k)) for k, v in source.items()]
        where = "hashes"
    else:
        where = str(source)
        items = []
        for number, line in enumerate(Path(source).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            digest, _, file = line.strip().partition(" ")
            items.append((digest.lower(), file.strip().lstrip("*") or f"(line {number})"))
    pins = {}
    for digest, file in items:
        if not _SHA256.fullmatch(digest):
            raise FormatError(f"{where}: {digest!r} for {file} is not a sha256 (64 hex digits).")
        name = formats.quickdraw_class_name(file) if file.lower().endswith(".npy") else file
        pins[name.removeprefix(formats.QUICKDRAW_PREFIX)] = digest
    return pins


class _QuickDrawCache:
    """``<cache>/quickdraw``: the class files, their record of sha256s, the user's pins."""

    def __init__(self, home: Path) -> None:
        self.folder = home / QUICKDRAW.name

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.npy"

    def records(self) -> dict[str, dict]:
        path = self.folder / RECORD_FILE
        if not path.is_file():
            return {}
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            warnings.warn(f"{path}: unreadable; every cached class is downloaded again.", stacklevel=4)
            return {}
        return records if isinstance(records, dict) else {}

    def record(self, name: str, entry: dict) -> None:
        records = self.records() | {name: entry}
        text = json.dumps(records, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        atomic_write_bytes(self.folder / RECORD_FILE, text.encode("utf-8"))

    def pins(self) -> dict[str, str]:
        path = self.folder / PINS_FILE
        return read_pins(path) if path.is_file() else {}


def fetch_quickdraw(
    classes: Iterable[str],
    *,
    download: bool = True,
    progress: bool | None = None,
    hashes: Pins | None = None,
) -> dict[str, Path]:
    """The verified cached file of each class (official names), downloading what is missing.

    A cached file is used only if its sha256 equals the pin or, without one, the record made
    when it was downloaded; otherwise it is downloaded again (with a warning) or, with
    ``download=False``, refused (IntegrityError). See the module docstring for what a download
    is verified against.
    """
    classes = quickdraw_classes(classes)
    cache = _QuickDrawCache(cache_home())
    pins = read_pins(hashes) if hashes is not None else cache.pins()
    records = cache.records()
    files = {}
    for number, name in enumerate(classes, 1):
        path = cache.path(name)
        entry = records.get(name)
        expected = pins.get(name) or (entry.get("sha256") if isinstance(entry, dict) else None)
        if path.is_file() and expected:
            found = _digests(path)["sha256"]
            if found == expected:
                files[name] = path
                continue
            problem = (
                f"{path}: its sha256 {found[:12]}... differs from the "
                f"{'pinned' if name in pins else 'recorded'} {expected[:12]}... (changed on disk)"
            )
            if not download:
                raise IntegrityError(f"{problem}; download=False, so it is not fetched again.")
            warnings.warn(f"{problem}; downloading it again.", stacklevel=2)
        elif not download:
            raise DatasetNotFoundError(
                f"Quick, Draw! class {name!r} is not in the mnistlab cache ({path}) and "
                "download=False (--no-download)."
            )
        bar = f"{name}.npy ({number}/{len(classes)})" if want_progress(progress) else None
        files[name] = _download(name, cache, pins.get(name), bar)
    return files


def _download(name: str, cache: _QuickDrawCache, pin: str | None, bar: str | None) -> Path:
    """Download one class file into the cache, verified (see the module docstring)."""
    import pooch
    import requests

    url = quickdraw_url() + quote(f"{name}.npy")
    try:
        head = requests.head(url, timeout=_TIMEOUT, allow_redirects=True)
        head.raise_for_status()
    except requests.RequestException as exc:
        raise DatasetNotFoundError(f"Quick, Draw! class {name!r}: {url}: {_short(exc)}") from exc
    md5 = stated_md5(head.headers.get("x-goog-hash"), url)
    if md5 is None and pin is None:
        raise IntegrityError(
            f"{url}: the server states no md5 for this file (no md5 in an x-goog-hash header), so "
            "its download could not be verified, and mnistlab uses no unverified data. If you "
            f"have its sha256, pin it with a line '<sha256>  {name}.npy' in "
            f"{cache.folder / PINS_FILE}."
        )
    size = head.headers.get("Content-Length")
    cache.folder.mkdir(parents=True, exist_ok=True)
    staging = staging_folder(cache.folder)  # an interrupted download leaves nothing in the cache
    try:
        pooch.get_logger().setLevel("WARNING")
        downloader = pooch.HTTPDownloader(
            progressbar=DownloadBar(bar) if bar else False, chunk_size=1 << 20, timeout=_TIMEOUT
        )
        try:
            fetched = pooch.retrieve(
                url, known_hash=None, fname="download.npy", path=staging, downloader=downloader
            )
        except (requests.RequestException, OSError) as exc:
            raise DatasetNotFoundError(f"Quick, Draw! class {name!r}: {url}: {_short(exc)}") from exc
        fetched = Path(fetched)
        digests = _digests(fetched)
        _verify(url, digests, size, md5, pin)
        formats.check_bitmap_file(fetched)
        os.replace(fetched, cache.path(name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    against = f"sha256 pinned by the user{' and md5 stated by the server' if md5 else ''}"
    cache.record(
        name,
        {
            "sha256": digests["sha256"],
            "md5": digests["md5"],
            "bytes": digests["bytes"],
            "url": url,
            "verified_against": against if pin else "md5 stated by the server (x-goog-hash)",
        },
    )
    return cache.path(name)


def _verify(url: str, digests: dict, size: str | None, md5: str | None, pin: str | None) -> None:
    """Raise IntegrityError unless the downloaded file has the stated size and md5, and the pin."""
    if size is not None and size.isdigit() and int(size) != digests["bytes"]:
        raise IntegrityError(
            f"{url}: received {digests['bytes']:,} bytes, the server stated {int(size):,} "
            "(Content-Length): an interrupted download; nothing was cached."
        )
    if md5 is not None and digests["md5"] != md5:
        raise IntegrityError(
            f"{url}: md5 of the received bytes {digests['md5']} differs from the md5 the server "
            f"states for the file ({md5}, x-goog-hash): corrupted in transit; nothing was cached."
        )
    if pin is not None and digests["sha256"] != pin:
        raise IntegrityError(
            f"{url}: sha256 of the received bytes {digests['sha256'][:12]}... differs from the "
            f"pinned {pin[:12]}...: not the file you pinned; nothing was cached."
        )


def stated_md5(header: str | None, url: str = "") -> str | None:
    """The md5 (hex) in an ``x-goog-hash`` header (``crc32c=<b64>,md5=<b64>``), or None."""
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() != "md5":
            continue
        try:
            digest = base64.b64decode(value.strip(), validate=True)
        except binascii.Error:
            digest = b""
        if len(digest) != 16:
            raise IntegrityError(f"{url}: x-goog-hash states md5={value!r}, which is not an md5.")
        return digest.hex()
    return None


def _digests(path: Path) -> dict:
    """md5 and sha256 (hex) and size of a file, read once in blocks."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            md5.update(block)
            sha256.update(block)
            size += len(block)
    return {"md5": md5.hexdigest(), "sha256": sha256.hexdigest(), "bytes": size}


def cached_quickdraw_classes() -> list[str]:
    """The Quick, Draw! classes with a file in the mnistlab cache (verified when used)."""
    folder = _QuickDrawCache(cache_home()).folder
    return [c for c in QUICKDRAW_CLASSES if (folder / f"{c}.npy").is_file()]
