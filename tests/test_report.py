"""The HTML report: self-contained, every section for every dataset, clean in a real browser."""

from __future__ import annotations

import json
import re

import pytest

import mnistlab
from browser import check_page
from mnistlab.report import SECTIONS, Panel, Table, build_report
from mnistlab.report.analyses import Analyses


def test_report_structure(tmp_path, five_class):
    # One quick model: the structure is the same with any (the browser test trains the default).
    datasets = [mnistlab.load("digits"), five_class]
    path = build_report(datasets, tmp_path, models="centroid", progress=False)
    html = path.read_text()
    for s in SECTIONS:
        assert f'id="{s.id}"' in html
    assert html.count('<article class="panel">') == 2 * len(SECTIONS)
    assert "two/II" in html  # class names are shown (and escaped)
    # No address outside the file in the markup (BokehJS's code quotes some it never requests:
    # the browser tests check that nothing is requested).
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", html, flags=re.S)
    assert "http://" not in markup and "https://" not in markup
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["datasets"][1]["splits"]["train"]["n"] == 60


def test_adding_a_section_is_one_function(tmp_path, five_class, monkeypatch):
    monkeypatch.setattr("mnistlab.report.sections.SECTIONS", list(SECTIONS))
    from mnistlab.report import sections as module

    @module.section("extra", "Extra", "A test section.")
    def extra(a):
        return Panel(tables=[Table(["n"], [[len(a.ds.train)]])], note=f"note for {a.ds.name}")

    monkeypatch.setattr("mnistlab.report.builder.SECTIONS", module.SECTIONS)
    html = build_report([five_class], tmp_path, sections=["extra"], progress=False).read_text()
    assert 'id="extra"' in html and "note for five" in html
    with pytest.raises(ValueError, match="already exists"):
        module.section("extra", "Again", "")(extra)


def test_report_refuses_duplicates_and_empty(tmp_path, five_class):
    with pytest.raises(ValueError, match="once"):
        build_report([five_class, five_class], tmp_path)
    with pytest.raises(ValueError, match="at least one"):
        build_report([], tmp_path)


def test_chosen_sections_alone_are_written_and_run(tmp_path, five_class, monkeypatch):
    """sections=[...]: those sections in the report's order, no class-by-class view unless
    asked, and none of the other sections' analyses (no model trained, no map made)."""

    def refuse(self, *args):
        raise AssertionError("an analysis of a section not chosen was run")

    for name in ("models", "map", "label_issues"):
        monkeypatch.setattr(Analyses, name, property(refuse))
    monkeypatch.setattr(Analyses, "prefetch_map", refuse)
    path = build_report([five_class], tmp_path, sections=["similarity", "overview"], progress=False)
    html = path.read_text()
    assert re.findall(r'<section id="([^"]+)"', html) == ["overview", "similarity"]
    assert 'href="#per-class"' not in html and 'href="#pixel-values"' not in html
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["sections"] == ["overview", "similarity"] and summary["models"] == []
    assert [t["section"] for t in summary["timings"]] == ["overview", "similarity"]


def test_unknown_or_no_sections_are_refused_before_anything_is_written(tmp_path, five_class):
    with pytest.raises(ValueError, match=r"unknown report section\(s\) \['Overview'\]; choose from"):
        build_report([five_class], tmp_path / "r", sections=["Overview"])
    with pytest.raises(ValueError, match="no report section chosen"):
        build_report([five_class], tmp_path / "r", sections=[])
    assert not (tmp_path / "r").exists()


@pytest.mark.browser
def test_report_in_headless_chromium(tmp_path, five_class):
    path = build_report([mnistlab.load("digits"), five_class], tmp_path, progress=False)
    check = check_page(path, screenshot=tmp_path / "report.png")
    assert check.console_errors == []
    assert check.page_errors == []
    assert check.outside_requests == []
    assert check.broken_images == []
    # Every picture the sections made is in the page and loaded: eleven per dataset from the
    # first sections, plus the similarity galleries that the data calls for.
    # (the same analyses again, once per dataset for the four sections: same seeds, same data)
    analyses = [Analyses(d) for d in (mnistlab.load("digits"), five_class)]
    similarity = next(s for s in SECTIONS if s.id == "similarity")
    galleries = sum(len(similarity.panel(a).pictures) for a in analyses)
    assert galleries >= 2 * 1  # neighbours of test images at least
    models = next(s for s in SECTIONS if s.id == "models")
    model_pictures = sum(len(models.panel(a).pictures) for a in analyses)
    assert model_pictures >= 2  # a confusion matrix per dataset, mistakes where there are some
    issues = next(s for s in SECTIONS if s.id == "label-issues")
    issue_pictures = sum(len(issues.panel(a).pictures) for a in analyses)
    assert issue_pictures >= 2  # a noise matrix per dataset, a gallery where errors are found
    # The class-by-class view after the sections: a centroid and thumbnails per class.
    per_class = path.read_text().split('<section id="per-class">')[1].count("<img ")
    assert per_class >= (10 + 5) * 9  # every class: its centroid, 4 least and 4 most typical
    maps_section = next(s for s in SECTIONS if s.id == "maps")
    maps = sum(len(maps_section.panel(a).pictures) for a in analyses)
    assert maps == 2 * 2  # each dataset's scatter and thumbnail map
    assert check.images == 2 * 11 + galleries + model_pictures + issue_pictures + maps + per_class
    assert check.section_ids == [s.id for s in SECTIONS] + ["per-class"]
    assert (tmp_path / "report.png").stat().st_size > 10_000


@pytest.mark.browser
def test_browser_check_catches_a_broken_page(tmp_path):
    # The checker itself must be able to fail: a page with a broken image, a script error
    # and a request to the network.
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body><img alt="gone" src="missing.png">'
        '<img alt="remote" src="http://example.invalid/x.png">'
        "<script>undefinedFunction()</script></body></html>"
    )
    check = check_page(page)
    assert "gone" in check.broken_images
    assert any("example.invalid" in u for u in check.outside_requests)
    assert check.page_errors


def test_report_says_where_its_time_goes(tmp_path, five_class, capsys):
    """A line per section as it finishes (with the elapsed time), the same times in the page's
    footer and in summary.json; nothing printed with progress=False."""
    chosen = ["per-class", "pairs", "overview"]  # in any order; the report's order is kept
    path = build_report([five_class], tmp_path, sections=chosen, progress=None)
    printed = capsys.readouterr().err
    lines = [line for line in printed.splitlines() if line.startswith("[")]
    # Each section, then the class-by-class view made from their results.
    steps = [(s.id, s.title) for s in SECTIONS if s.id in chosen] + [("per-class", "Class by class")]
    assert len(lines) == len(steps)
    for number, (line, (_, title)) in enumerate(zip(lines, steps, strict=True), 1):
        assert line.startswith(f"[{number:2d}/{len(steps)}] {title}: five ")
        assert line.endswith(" s)") and "(elapsed " in line
    summary = json.loads((tmp_path / "summary.json").read_text())
    timings = summary["timings"]
    assert [(t["section"], t["dataset"]) for t in timings] == [(step, "five") for step, _ in steps]
    assert all(t["seconds"] >= 0 for t in timings)
    html = path.read_text()
    assert "Where the time went" in html and "all sections" in html
    build_report([five_class], tmp_path / "quiet", sections=["overview"], progress=False)
    assert "elapsed" not in capsys.readouterr().err


def test_the_report_takes_knn_from_its_shared_neighbour_search(five_class, monkeypatch):
    """One neighbour search per dataset: the models table's knn-pixels row and the similarity
    section's k-NN table come from it, and the duplicates reuse its index."""
    from mnistlab import similarity
    from mnistlab.report.analyses import PIXEL_KNN, REPORT_MODELS

    fits = []
    original = similarity.NearestImages.fit

    def counting_fit(self, X):
        fits.append(len(X))
        return original(self, X)

    monkeypatch.setattr(similarity.NearestImages, "fit", counting_fit)
    a = Analyses(five_class, models="centroid")
    for s in SECTIONS:
        s.panel(a)
    assert fits.count(len(five_class.train)) == 1  # the training index, built once
    knn = similarity.KNearestImagesClassifier(5).fit(five_class.train.images, five_class.train.labels)
    assert a.pixel_knn[5].accuracy == knn.score(five_class.test.images, five_class.test.labels)
    summary = next(s for s in SECTIONS if s.id == "models").summary([a])
    assert [row[0] for row in summary.tables[0].rows] == ["centroid", PIXEL_KNN]
    assert "knn" not in REPORT_MODELS
    import inspect

    from mnistlab.cli.report import report

    assert inspect.signature(report).parameters["models"].default == ",".join(REPORT_MODELS)
