"""The docs' examples run as doctests (``--doctest-glob='*.md'``), each page in a fresh folder.

A page whose examples load a real dataset (MNIST, Fashion-MNIST, KMNIST) is a real-data test:
marked ``slow`` like tests/test_real_data.py, so ``make test-fast`` leaves it out.
"""

from __future__ import annotations

import re

import pytest

_REAL_DATA = re.compile(r"""load\(["'](mnist|fashion-mnist|kmnist)["']""")


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.suffix == ".md" and _REAL_DATA.search(item.path.read_text()):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group("real-data"))


@pytest.fixture(autouse=True)
def in_a_fresh_folder(tmp_path, monkeypatch):
    """Files an example writes land in a temporary folder, and the cache is a temporary one too
    (as in tests/conftest.py); a report section an example registers is removed afterwards."""
    from mnistlab.report import SECTIONS

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNISTLAB_HOME", str(tmp_path / "mnistlab-home"))
    sections = list(SECTIONS)
    yield
    SECTIONS[:] = sections
