"""Class names: the lists and label mappings in text files (``classes.txt``, EMNIST's
``mapping.txt``), and the checks every class or dataset name passes."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from mnistlab._utils.files import atomic_write_bytes
from mnistlab.data.formats.arrays import MAX_LABEL
from mnistlab.errors import FormatError

#: First line of the class lists mnistlab writes: every line below it is one name, literally,
#: so that names such as "9 cat" or "# 1" are never read as a label mapping or a comment.
CLASS_LIST_HEADER = "# mnistlab class names: one per line, for labels 0, 1, 2, ..."


def write_class_names(path: str | os.PathLike, classes: Iterable[str]) -> None:
    """Write class names one per line (UTF-8), in label order, under ``CLASS_LIST_HEADER``."""
    text = "\n".join([CLASS_LIST_HEADER, *classes]) + "\n"
    atomic_write_bytes(Path(path), text.encode("utf-8"))


#: Larger class files are not class lists.
MAX_CLASS_FILE = 16 << 20
#: ``LABEL NAME``: ASCII digits only (``\d`` would take "²" and other Unicode digits).
_MAPPING_LINE = re.compile(r"([0-9]+)[ \t,:;]+(\S.*)")


def read_classes(path: str | os.PathLike) -> list[str] | dict[int, str]:
    """Class names from a text file: the names in label order, or a label mapping.

    Three layouts are understood (UTF-8, blank lines ignored):

    - one name per line, for labels 0, 1, 2, ... (``classes.txt``); a first line
      ``CLASS_LIST_HEADER`` (mnistlab writes it) makes every following line a name as it is;
    - ``LABEL NAME`` on every line (``1 cat``), mapping the labels in the data to names;
    - EMNIST's ``mapping.txt``, ``LABEL CODE [CODE...]`` with character codes (``10 65 97``):
      the class is named by its characters (``A/a``).

    A file mixing the layouts (a ``# label name`` header above a mapping, a ``-1 neg`` line),
    or a list holding a line that starts with ``#``, is refused rather than guessed: read the
    wrong way, it would shift or rename classes. A mapping renumbers the labels 0..K-1 in
    label order when the dataset is built.

    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "mapping.txt"
    >>> _ = f.write_text("1 65 97\\n2 66 98\\n")
    >>> read_classes(f)
    {1: 'A/a', 2: 'B/b'}
    """
    source = str(path)
    lines = _class_file_lines(path)
    if lines and lines[0] == CLASS_LIST_HEADER:
        names = lines[1:]
        check_class_names(names, source=source)
        return names
    matches = [_MAPPING_LINE.fullmatch(line) for line in lines]
    if not any(matches):
        comment = next((line for line in lines if line.startswith("#")), None)
        if comment is not None:
            raise FormatError(
                f"{source}: line {comment!r} looks like a comment; a class list has one name per "
                f"line and no comments. To keep it as a class name, make the first line "
                f"{CLASS_LIST_HEADER!r}."
            )
        check_class_names(lines, source=source)
        return lines
    if not all(matches):
        odd = next(line for line, match in zip(lines, matches, strict=True) if not match)
        example = next(line for line, match in zip(lines, matches, strict=True) if match)
        raise FormatError(
            f"{source}: mixes LABEL NAME lines ({example!r}) with other lines ({odd!r}); a class "
            "file is either a label mapping, every line LABEL NAME with a label 0 or above, or a "
            f"list of names, one per line (then make the first line {CLASS_LIST_HEADER!r})."
        )
    mapping: dict[int, str] = {}
    for line, match in zip(lines, matches, strict=True):
        assert match is not None  # every line matched: checked above
        if len(match[1].lstrip("0")) > len(str(MAX_LABEL)) or int(match[1]) > MAX_LABEL:
            raise FormatError(f"{source}: {line!r}: the label is above {MAX_LABEL}.")
        label, rest = int(match[1]), match[2].strip()
        if label in mapping:
            raise FormatError(f"{source}: label {label} is mapped twice ({line!r}).")
        codes = rest.split()
        if all(re.fullmatch("[0-9]+", c) for c in codes):  # EMNIST: character codes
            if any(len(c) > 7 or not 32 < int(c) < 0x110000 for c in codes):
                raise FormatError(f"{source}: {line!r}: not printable character codes.")
            chars = dict.fromkeys(chr(int(c)) for c in codes)
            rest = "/".join(chars)
        mapping[label] = rest
    check_class_names(mapping.values(), source=source)
    return mapping


def _class_file_lines(path: str | os.PathLike) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such class-name file.")
    if path.stat().st_size > MAX_CLASS_FILE:
        raise FormatError(f"{path}: {path.stat().st_size:,} bytes is too large for a class list.")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # bytes: no newline translation of "\r"
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: class names must be UTF-8 text ({exc}).") from exc
    # Only line feeds end lines here: a "\r" or U+2028 inside a name is refused, not a new name.
    return [line.strip(" \t\r") for line in text.split("\n") if line.strip(" \t\r")]


#: The longest class name accepted (as for model files).
MAX_CLASS_NAME = 200


def check_class_names(names: Iterable[str], *, source: str) -> None:
    """Refuse class names that could not survive every format and every terminal unchanged.

    Duplicates and empty names would silently merge counts; a line break, tab or other control
    character (``"cat\\ndog"``, ``"\\x1b[2J"``, U+2028) would split a name into two in
    the one-name-per-line formats, relabelling images, or reach the terminal as an escape
    sequence; leading or trailing spaces do not survive folder names and text files.
    """
    names = [str(n) for n in names]
    duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicates:
        raise FormatError(f"{source}: duplicate class names {duplicates}.")
    for n in names:
        check_name(n, source=source)


def check_name(name: str, *, source: str, what: str = "class name") -> None:
    """Refuse a name (of a class or a dataset) that is not one line of printable text without
    edge spaces, of at most ``MAX_CLASS_NAME`` characters."""
    if not name.strip():
        raise FormatError(f"{source}: empty {what}.")
    if not name.isprintable():
        raise FormatError(
            f"{source}: {what} {name!r} holds a line break, tab or other control character; "
            f"a {what} must be one line of printable text."
        )
    if name != name.strip():
        raise FormatError(f"{source}: {what} {name!r} starts or ends with a space; remove it.")
    if len(name) > MAX_CLASS_NAME:
        raise FormatError(f"{source}: a {what} is {len(name)} characters, at most {MAX_CLASS_NAME}.")
