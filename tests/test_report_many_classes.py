"""The report with many classes: every section gives its numbers, every figure keeps its size.

The issue: with more than 30 classes the report dropped the pair and one-pixel sections (even
the one-pixel summary table) and the models' confusion matrix, and a 200-class dataset of 800
tiny images gave a 9449x9405 px confusion matrix and a 16,769 px tall gallery (4 min 34 s,
4.7 GB).
"""

from __future__ import annotations

import base64
import re
import struct

import numpy as np
import pytest

import mnistlab
from mnistlab import plots
from mnistlab.report import SECTIONS, build_report
from mnistlab.report.analyses import Analyses

# One worker builds the module's shared fixtures once (not once per worker).
pytestmark = pytest.mark.xdist_group("report-many-classes")

K = 200


@pytest.fixture(scope="module")
def panels():
    """Every section's panel for 200 classes of 4 tiny training images each (2 test)."""
    rng = np.random.default_rng(0)
    n = 4 * K
    x = rng.integers(0, 256, (n, 6, 6), dtype=np.uint8)
    y = np.arange(n) % K
    ds = mnistlab.Dataset.from_arrays("many", (x, y), (x[: n // 2], y[: n // 2]))
    a = Analyses(ds, models="centroid")
    return ds, {s.id: s.panel(a) for s in SECTIONS}


def png_size(uri: str) -> tuple[int, int]:
    data = base64.b64decode(uri.removeprefix("data:image/png;base64,"))
    return struct.unpack(">II", data[16:24])


def test_every_section_shows_its_figures_and_tables(panels):
    _, found = panels
    for id, panel in found.items():
        assert "too many" not in panel.note, id
        assert panel.pictures or panel.tables, id
    for id in ("pairs", "one-pixel", "nearest-centroid", "models"):
        assert found[id].pictures, id  # no longer dropped beyond 30 classes
    limit = plots.MAX_FIGURE_INCHES * plots.DPI
    for id, panel in found.items():
        for picture in panel.pictures:
            width, height = png_size(picture.uri)
            assert width <= limit and height <= limit, (id, picture.alt, width, height)


def test_tables_have_numbers_for_every_class(panels):
    """Per-class tables list all 200 classes with a number in each row; the sections whose
    figures show a subset say so."""
    ds, found = panels
    names = list(ds.classes)
    per_class = {
        "overview": 1,
        "pixel-values": 1,
        "centroids": 0,
        "atypical": 0,
        "one-pixel": 2,
        "nearest-centroid": 1,
        "models": 1,
    }
    for id, index in per_class.items():
        table = found[id].tables[index]
        first = 1 if id == "overview" else 0  # the overview's first column is the label
        assert [row[first] for row in table.rows] == names, id
        for row in table.rows:
            assert any(re.search(r"\d", str(cell)) for cell in row[first + 1 :]), (id, row)
    for id in ("pixel-values", "centroids", "atypical", "one-pixel", "nearest-centroid", "models"):
        assert f"{K} classes" in found[id].note, id


def test_pair_sections_summarise_instead_of_dropping(panels):
    _, found = panels
    pairs = found["pairs"]
    assert pairs.tables[0].columns[0] == "closest pairs (10 of 19,900)"
    assert len(pairs.tables[0].rows) == 10 and "Closest centroids" in pairs.note
    one_pixel = found["one-pixel"]
    summary, hardest, _ = one_pixel.tables
    assert summary.rows[0][3].endswith("of 19,900")
    assert hardest.columns[0] == "hardest pairs (10 of 19,900)" and len(hardest.rows) == 10
    assert all(row[2].endswith("%") for row in hardest.rows)


def test_long_tables_scroll_in_the_page(tmp_path, five_class, monkeypatch):
    """A table of more than 20 rows sits in a scrolling box; short ones stay as they were."""
    from mnistlab.report import Panel, Table
    from mnistlab.report import sections as module

    monkeypatch.setattr(module, "SECTIONS", [])
    monkeypatch.setattr("mnistlab.report.builder.SECTIONS", module.SECTIONS)

    @module.section("rows", "Rows", "Tables of every length.")
    def rows(a):
        return Panel(tables=[Table(["n"], [[i] for i in range(n)]) for n in (20, 21, 200)])

    html = build_report([five_class], tmp_path, sections=["rows"], progress=False).read_text()
    assert html.count('<div class="long"') == 2 and "200 rows: scroll for more" in html
