"""Files written atomically (a temporary beside the target, renamed over it), the clean-up of
what a killed process left, safe file names and content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    Whatever writes to the yielded path, readers see the old file or the whole new one: an
    exception or interruption removes the temporary file and leaves ``path`` untouched.
    """
    path = Path(path)
    tmp = _temporary_beside(path)
    try:
        yield tmp
        _finish(Path(tmp), path)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        name_the_target(exc, Path(tmp), path)
        raise


def _temporary_beside(path: Path) -> Path:
    """A new empty hidden file ``.NAME.PID.XXXXXXXX.tmp`` in ``path``'s folder (made if missing),
    to be renamed over ``path``; refuses a ``path`` that exists and is not a regular file. The
    temporaries a killed mnistlab left in that folder are removed first."""
    import tempfile

    if path.exists() and not path.is_file():
        raise FileExistsError(f"{path}: exists and is not a regular file; not replacing it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


#: The temporaries mnistlab makes beside its outputs, with the id of the process writing them:
#: files ``.NAME.PID.XXXXXXXX.tmp`` and staging folders ``.mnistlab-save-PID-XXXXXXXX``.
_TEMPORARY_FILE = re.compile(r"\..+\.(\d+)\.[A-Za-z0-9_]{8}\.tmp")
_STAGING_FOLDER = re.compile(r"\.mnistlab-save-(\d+)-[A-Za-z0-9_]{8}")


@contextlib.contextmanager
def staged(folder: Path) -> Iterator[Path]:
    """Yield an empty staging folder for what is to be written into ``folder``; when the block
    ends without error, it is in place: a new ``folder`` appears in one rename, complete even if
    the process is then killed; into an existing one, the staged entries are renamed one by one
    (a kill -9 between two renames leaves the new entries moved so far beside the old others).
    On an error or interruption nothing is left behind, neither the staging folder nor the
    folders made for it, and an OSError names the target rather than the staging path."""
    import shutil

    folder = Path(folder)
    new = not folder.exists()
    home = folder.parent if new else folder  # the staging folder's place: the same file system
    created = [p for p in (home, *home.parents) if not p.exists()]  # deepest first
    staging = None
    try:
        home.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(home)
        try:
            staging = staging_folder(home)
        except OSError as exc:
            exc.filename = str(folder)  # not the staging folder it could not make
            raise
        yield staging
        if new:
            os.rename(staging, folder)
        else:
            for entry in sorted(staging.iterdir()):
                os.replace(entry, folder / entry.name)
    except BaseException as exc:
        if staging is not None:
            name_the_target(exc, staging, folder)
            shutil.rmtree(staging, ignore_errors=True)
        for made in created:  # no empty folders left behind
            with contextlib.suppress(OSError):
                made.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)


def staging_folder(home: Path) -> Path:
    """A new hidden staging folder in ``home``, with the permissions a folder made by ``mkdir``
    would have (``mkdtemp`` makes 0700: renamed into place, the output would be private), named
    so that :func:`remove_stale_temporaries` can clean it up after a crash."""
    import tempfile

    staging = Path(tempfile.mkdtemp(dir=home, prefix=staging_prefix()))
    os.chmod(staging, 0o777 & ~_umask())
    return staging


def staging_prefix() -> str:
    """The prefix of a staging folder (``tempfile.mkdtemp(prefix=...)``) that
    :func:`remove_stale_temporaries` can recognise and clean up after a crash."""
    return f".mnistlab-save-{os.getpid()}-"


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove what a killed mnistlab left in ``folder``: only temporaries named as mnistlab names
    them, and only when the process that made them no longer runs. Returns what was removed.

    A write interrupted by kill -9 (or a power cut) cannot remove its own temporary file; the
    next write into the same folder does. Another user's, or a live process's, are left alone.
    """
    import shutil

    removed: list[Path] = []
    try:
        entries = [e for e in Path(folder).iterdir() if e.name.startswith(".")]
    except OSError:
        return removed
    for entry in entries:
        pattern = _STAGING_FOLDER if entry.is_dir() and not entry.is_symlink() else _TEMPORARY_FILE
        match = pattern.fullmatch(entry.name)
        if match is None or _process_alive(int(match[1])):
            continue
        try:
            shutil.rmtree(entry) if pattern is _STAGING_FOLDER else entry.unlink()
        except OSError:
            continue  # not ours to remove after all (permissions), or gone already
        removed.append(entry)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process (or an impossible id): leave its files alone
    return True


def _finish(tmp: Path, path: Path) -> None:
    """fsync a written temporary file and give it the usual permissions (mkstemp makes 0600)."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.chmod(tmp, 0o666 & ~_umask())


def name_the_target(exc: BaseException, tmp: Path, path: Path) -> None:
    """An error while writing a hidden temporary file (or folder) names what the user asked for
    ("report/index.html: No space left on device"), not the temporary one or nothing at all: a
    file name inside ``tmp`` becomes the same name inside ``path``."""
    if not isinstance(exc, OSError) or exc.errno is None or isinstance(exc.filename, bytes):
        return  # not an error of the system (an OSError raised with a message of our own)
    if exc.filename is None:
        exc.filename = str(path)
        return
    with contextlib.suppress(ValueError):
        exc.filename = str(path / Path(exc.filename).relative_to(tmp))


def atomic_write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_files(files: dict[Path, bytes]) -> None:
    """Write several files all or nothing, as far as a file system allows.

    Every file is first written in full (and fsynced) to a temporary file beside it; only when
    all are written are they renamed into place, one rename each. A full disk, an error or an
    interruption while writing leaves every old file as it was and no temporary file behind.
    """
    written: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            path = Path(path)
            tmp = _temporary_beside(path)
            written.append((tmp, path))
            try:
                tmp.write_bytes(data)
                _finish(tmp, path)
            except OSError as exc:
                name_the_target(exc, tmp, path)
                raise
        for tmp, path in written:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def safe_filename(name: str) -> str:
    """A class name usable as a folder name ('T-shirt/top' -> 'T-shirt_top', '..' -> '_..')."""
    safe = re.sub(r"[^\w.+-]+", "_", name).strip("_") or "_"
    return "_" + safe if safe.startswith(".") else safe  # never hidden, never '.' or '..'


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    """Return the hex sha256 of an in-memory buffer."""
    return hashlib.sha256(data).hexdigest()
