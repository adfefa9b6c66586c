"""The report as a place to work: scripts under a strict policy, sortable tables, CSV downloads,
enlarged figures and the class-by-class view, checked in the page and in headless Chromium."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

import mnistlab
from browser import CHROMIUM_ARGS, chromium_path
from mnistlab.data.dataset import Dataset
from mnistlab.report import SECTIONS, Panel, Table, build_report
from mnistlab.report.analyses import Analyses
from mnistlab.report.builder import _class_maps, csv_uri, image_uri
from mnistlab.report.sections import Section
from mnistlab.report.workspace import class_views, section_data

# One worker builds the module's shared fixtures once (not once per worker).
pytestmark = pytest.mark.xdist_group("report-workspace")

#: A table whose cells the page must sort as a reader would: (label, value) per row.
TRICKY = [
    ["class 10", "12.3%"],
    ["class 2", "1,234"],
    ["class 1", "n/a"],
    ["Class 3", "-5"],
    ["class 21", "2 (0.5%)"],
    ["class 4", "0.25 s"],
    ["class 30", "+1.5 pts"],
    ["class 5", "100"],
]
#: Its rows sorted by value, ascending then descending: "n/a" last both ways.
BY_VALUE = ["Class 3", "class 4", "class 30", "class 21", "class 10", "class 5", "class 2", "class 1"]
BY_VALUE_REVERSED = [*BY_VALUE[-2::-1], "class 1"]
#: Its rows sorted by label: the numbers in the text in numeric order, case ignored.
BY_LABEL = ["class 1", "class 2", "Class 3", "class 4", "class 5", "class 10", "class 21", "class 30"]


def folder_dataset() -> Dataset:
    """A generated 5-class dataset 'read from image files': every image has a file name."""
    rng = np.random.default_rng(3)

    def split(n: int, offset: int):
        labels = np.arange(n) % 5
        base = (labels[:, None, None] * 45).astype(np.int16)
        images = (base + rng.integers(0, 60, size=(n, 8, 8))).clip(0, 255).astype(np.uint8)
        return images, labels

    train, test = split(60, 0), split(30, 60)
    classes = ["zero", "one", "two", "three", "four"]
    files = {
        name: [f"{name}/{classes[y]}/{i:03d}.png" for i, y in enumerate(pair[1])]
        for name, pair in (("train", train), ("test", test))
    }
    return Dataset.from_arrays("folders", train, test, classes=classes, source="generated", files=files)


def tricky(a: Analyses) -> Panel:
    return Panel(tables=[Table(["label", "value"], TRICKY)])


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """One small report for the module: digits and a dataset with file names, the centroid
    model only, a PCA map (seconds instead of t-SNE's), and a section of tricky numbers."""
    out = tmp_path_factory.mktemp("workspace-report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNISTLAB_HOME", str(out / "home"))
        patch.setattr("mnistlab.report.analyses.MAP_METHOD", "pca")
        sections = [*SECTIONS, Section("tricky", "Tricky numbers", "Cells to sort.", tricky)]
        patch.setattr("mnistlab.report.builder.SECTIONS", sections)
        return build_report(
            [mnistlab.load("digits"), folder_dataset()],
            out / "report",
            models=("centroid",),
            progress=False,
        )


def policy_of(html: str) -> dict[str, list[str]]:
    """The page's Content-Security-Policy, directive -> sources."""
    found = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html)
    assert found is not None
    directives = [d.split() for d in found.group(1).split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def executable_scripts(html: str) -> list[str]:
    """The text of every inline script the browser runs (not the JSON data blocks)."""
    scripts = re.findall(r"<script(\b[^>]*)>(.*?)</script>", html, flags=re.S | re.I)
    return [text for attrs, text in scripts if "application/json" not in attrs and "src=" not in attrs]


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def decoded_csv(href: str) -> list[list[str]]:
    assert href.startswith("data:text/csv;charset=utf-8;base64,")
    text = base64.b64decode(href.split(",", 1)[1]).decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


# --------------------------------------------------------------------------------------------
# The page as written
# --------------------------------------------------------------------------------------------


def test_the_policy_lists_exactly_the_page_scripts(report):
    html = report.read_text()
    policy = policy_of(html)
    assert policy["default-src"] == ["'none'"]
    assert policy["img-src"] == ["data:"]
    scripts = executable_scripts(html)
    assert sum("sortTable" in s for s in scripts) == 1  # the report's own (and the maps' scripts)
    assert sorted(policy["script-src"]) == sorted({sha256_source(s) for s in scripts})
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    # Nothing to fetch: no address in the markup or a style (scripts are checked in the browser:
    # BokehJS's code names a CDN for MathJax, which the policy would refuse and the map never uses).
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", html, flags=re.S)
    assert "http://" not in markup and "https://" not in markup


def test_interactive_fragments_are_inserted_and_allowed(tmp_path, monkeypatch):
    """A section's ready-made HTML (markup and inline scripts) lands in its panel after the
    pictures; the policy allows its scripts (once each) and not its JSON data blocks."""
    ran = '<script type="text/javascript">document.getElementById("frag").textContent = "ran";</script>'
    data = '<script type="application/json" id="frag-data">{"points": [1, 2]}</script>'

    def interactive(a: Analyses) -> Panel:
        return Panel(html=[f'<div id="frag">not run</div>{data}{ran}'], note="interactive")

    section = Section("interactive", "Interactive", "A fragment.", interactive)
    monkeypatch.setattr("mnistlab.report.builder.SECTIONS", [section])
    path = build_report([folder_dataset()], tmp_path, sections=["interactive"], progress=False)
    html = path.read_text()
    assert f'<div class="interactive"><div id="frag">not run</div>{data}{ran}</div>' in html
    sources = policy_of(html)["script-src"]
    text = ran.split(">", 1)[1].rsplit("<", 1)[0]
    assert sha256_source(text) in sources and len(sources) == 2  # the fragment's and report.js
    assert sha256_source('{"points": [1, 2]}') not in sources


@pytest.mark.parametrize(
    ("table", "rows"),
    [
        (
            Table(["a", "b"], [["1,234", "n/a"], [np.int64(3), 'x, "y"']]),
            [["a", "b"], ["1,234", "n/a"], ["3", 'x, "y"']],
        ),
        (Table(["", ""], [["image shape", "8 x 8"]]), [["", ""], ["image shape", "8 x 8"]]),
    ],
)
def test_a_table_as_csv_holds_its_cells_as_shown(table, rows):
    assert decoded_csv(csv_uri(table)) == rows


def test_an_image_is_drawn_pixel_for_pixel_white_for_zero():
    from PIL import Image

    uri = image_uri(np.array([[0, 255], [128, np.nan]]))
    picture = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert picture.size == (2, 2) and picture.mode == "L"
    assert np.asarray(picture).tolist() == [[255, 0], [127, 255]]


# --------------------------------------------------------------------------------------------
# The class-by-class view and the sections' data, as data
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def analysed() -> Analyses:
    """The folder dataset's analyses after every section, with a PCA map."""
    a = Analyses(folder_dataset(), models=("centroid",))
    for s in SECTIONS:
        if s.id != "maps":
            s.panel(a)
    a.__dict__["map"] = mnistlab.embed(a.ds, "pca", split="test")
    return a


def test_each_class_view_gathers_what_the_sections_found(analysed):
    a = analysed
    workspace = class_views(a)
    test, train = a.ds.test, a.ds.train
    assert [v.name for v in workspace.views] == list(a.ds.classes)
    pairs = a.closest_pairs
    for v in workspace.views:
        assert v.images == int(np.sum(train.labels == v.label))
        np.testing.assert_array_equal(v.centroid, a.centroids.means[v.label])
        least = [float(r.detail.split()[-1]) for r in v.least_typical]
        most = [float(r.detail.split()[-1]) for r in v.most_typical]
        assert len(least) == len(most) == 4
        assert least == sorted(least, reverse=True) and most == sorted(most) and least[-1] >= most[-1]
        for r in v.least_typical + v.most_typical:
            assert r.label == v.label and r.split == "train"
            assert r.file == train.files[r.index] and f"file {r.file}" in r.caption
            np.testing.assert_array_equal(r.image, train.images[r.index])
            assert r.caption.startswith(f"train #{r.index}, class {v.name}, ")
        mine = pairs[(pairs.class_a == v.label) | (pairs.class_b == v.label)].head(3)
        assert [c.rms for c in v.closest] == pytest.approx(mine.rms.tolist())
        assert v.label not in [c.label for c in v.closest]
        table = a.label_issues.table
        given = table[(table.split == "test") & (table.label == v.label)]
        assert v.issues.counts == {k: int((given.kind == k).sum()) for k in v.issues.counts}
        for r in v.issues.shown:
            assert r.split == "test" and r.file == test.files[r.index]
    assert sum(v.on_map for v in workspace.views) == len(workspace.map) == len(test)
    frame = workspace.table()
    assert frame["class"].tolist() == list(a.ds.classes)
    assert frame["points on the map"].sum() == len(test)


def test_each_class_is_a_layer_over_one_small_map(analysed):
    from matplotlib.colors import to_hex
    from PIL import Image

    from mnistlab.plots._style import class_colours

    def png(uri: str) -> Image.Image:
        return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))

    workspace = class_views(analysed)
    base, layers = _class_maps(workspace)
    assert base is not None and len(layers) == len(workspace.views) and all(layers)
    size = png(base).size
    assert max(size) <= 300 and len(base) < 20_000
    assert len(set(layers)) == len(layers)  # a different class in each
    drawn = []
    for view, layer in zip(workspace.views, layers, strict=True):
        picture = png(layer).convert("RGBA")
        assert picture.size == size  # laid exactly over the map
        rgba = np.asarray(picture)
        drawn.append(rgba[..., 3] > 0)
        assert 0 < drawn[-1].mean() < 0.5  # the class's points, the rest transparent
        colour = class_colours(len(workspace.views))[view.label]
        assert {to_hex(c / 255) for c in rgba[drawn[-1]][:, :3]} == {colour}  # in its colour
    # Each layer's points lie where that class's points are: different classes, different pixels.
    assert all(not np.array_equal(drawn[0], d) for d in drawn[1:])
    without = class_views(analysed, with_map=False)
    assert _class_maps(without) == (None, [None] * len(without.views))


def test_section_data_never_starts_an_analysis(analysed):
    fresh = Analyses(folder_dataset(), models=("centroid",))
    before = set(vars(fresh))
    assert section_data(fresh) == {}
    assert set(vars(fresh)) == before
    found = section_data(analysed)
    assert {"pairs", "atypical", "one-pixel", "nearest-centroid", "models", "label-issues"} <= set(found)
    assert len(found["pairs"][0].frame) == 10  # every pair of the 5 classes
    issues = found["label-issues"][0].frame
    assert len(issues) == len(analysed.label_issues.table)


# --------------------------------------------------------------------------------------------
# In the browser
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Opened:
    """A page of the report, with everything that went wrong while it was open."""

    def __init__(self, browser, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.context = browser.new_context(
            viewport={"width": 1400, "height": 900}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # Injected by the browser's debugging protocol, outside the page's policy.
        self.page.add_init_script(
            "window.violations = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.violations.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        self.page.route("**/*", self._route)
        self.page.goto(self.url, wait_until="load")

    def _route(self, route) -> None:
        if route.request.url == self.url or route.request.url.startswith("data:"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def violations(self) -> list[str]:
        return self.page.evaluate("window.violations")

    def rows(self, table, column: int = 0) -> list[str]:
        return table.evaluate(f"t => Array.from(t.tBodies[0].rows, r => r.cells[{column}].textContent)")


@pytest.fixture
def opened(browser, report):
    page = Opened(browser, report)
    yield page
    assert page.errors == []
    assert page.violations() == []
    assert page.outside == []
    page.context.close()


@pytest.mark.browser
def test_the_page_runs_its_script_and_nothing_else(opened, report, tmp_path, browser):
    page = opened.page
    assert page.locator(".class-choice").first.is_visible()  # made visible by report.js
    assert page.locator("button.sort").count() > 20
    # A script the policy does not list is refused, and the refusal is seen.
    bad = tmp_path / "bad.html"
    bad.write_text(
        report.read_text().replace("</body>", "<script>document.title = 'injected';</script></body>")
    )
    other = Opened(browser, bad)
    try:
        assert other.page.title() != "injected"
        assert any("script-src" in v for v in other.violations())
        assert any("Content Security Policy" in e for e in other.errors)
    finally:
        other.context.close()


@pytest.mark.browser
def test_clicking_a_header_sorts_the_rows(opened):
    page = opened.page
    table = page.locator("#tricky .panel").first.locator("table")
    headers = table.locator("th")
    assert opened.rows(table) == [r[0] for r in TRICKY]
    headers.nth(1).locator("button").click()
    assert opened.rows(table) == BY_VALUE
    assert headers.nth(1).get_attribute("aria-sort") == "ascending"
    headers.nth(1).locator("button").click()
    assert opened.rows(table) == BY_VALUE_REVERSED
    assert headers.nth(1).get_attribute("aria-sort") == "descending"
    # By keyboard: the header is a button; sorting by another column clears the first's state.
    headers.nth(0).locator("button").focus()
    page.keyboard.press("Enter")
    assert opened.rows(table) == BY_LABEL
    assert headers.nth(0).get_attribute("aria-sort") == "ascending"
    assert headers.nth(1).get_attribute("aria-sort") is None
    # A real section's table: percentages sorted as numbers.
    shares = page.locator("#pixel-values .panel").first.locator("table").nth(1)
    shares.locator("th").nth(1).locator("button").click()
    values = [float(v.rstrip("%")) for v in opened.rows(shares, 1)]
    assert values == sorted(values) and len(values) == 10


@pytest.mark.browser
def test_every_csv_link_holds_its_table(opened):
    page = opened.page
    tables = page.evaluate(
        """() => Array.from(document.querySelectorAll("a.csv"), a => {
            const before = a.closest("p").previousElementSibling;
            const table = before.tagName === "TABLE" ? before : before.querySelector("table");
            if (!table) return {name: a.download, href: a.href, rows: null};
            const head = table.tHead ? [Array.from(table.tHead.rows[0].cells, c => c.textContent)] : [];
            const body = Array.from(table.tBodies[0].rows, r => Array.from(r.cells, c => c.textContent));
            return {name: a.download, href: a.href, rows: head.concat(body), head: head.length};
        })"""
    )
    names = [t["name"] for t in tables]
    assert len(set(names)) == len(names) and len(names) > 30
    for name in ("centroids-digits-1.csv", "overview-folders-2.csv", "models-all-1.csv", "timings.csv"):
        assert name in names
    for t in tables:
        assert re.fullmatch(r"[a-z-]+-(digits|folders|all)-\d+\.csv|timings\.csv", t["name"]), t["name"]
        rows = decoded_csv(t["href"])
        if t["rows"] is None:  # the class-by-class view's table: one row per class
            assert t["name"].startswith("per-class-") and len(rows) == 1 + (
                10 if "digits" in t["name"] else 5
            )
            assert rows[0][:3] == ["label", "class", "training images"]
        elif t["head"]:
            assert rows == t["rows"], t["name"]
        else:  # a table without column names: the CSV's first row is empty
            assert all(c == "" for c in rows[0]) and rows[1:] == t["rows"], t["name"]
    # The link downloads the file, fetched from nowhere.
    link = page.locator("#tricky .panel").first.locator("a.csv")
    with page.expect_download() as download:
        link.click()
    saved = Path(download.value.path()).read_text()
    assert download.value.suggested_filename == "tricky-digits-1.csv"
    assert list(csv.reader(io.StringIO(saved))) == [["label", "value"], *TRICKY]
    # The richer data of a section: every pair of classes.
    pairs = page.locator("#pairs .panel").first.locator("p.data a").first
    assert pairs.get_attribute("download") == "pairs-digits-closest-pairs.csv"
    rows = decoded_csv(pairs.get_attribute("href"))
    assert rows[0] == ["class_a", "class_b", "name_a", "name_b", "rms"] and len(rows) == 1 + 45


@pytest.mark.browser
def test_clicking_an_image_enlarges_it_with_its_caption(opened):
    page = opened.page
    figure = page.locator("#atypical .panel img").first
    shown_width = figure.bounding_box()["width"]
    figure.click()
    dialog = page.locator("dialog.zoom")
    assert dialog.is_visible()
    big = dialog.locator("img")
    assert big.get_attribute("src") == figure.get_attribute("src")
    assert dialog.locator("figcaption").text_content() == figure.get_attribute("alt")
    assert big.bounding_box()["width"] > shown_width
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    # A dataset image, by keyboard: its caption names it (split, index, class, file).
    thumb = (
        page.locator("#per-class .panel").nth(1).locator(".class-view:not([hidden]) .thumbs img").first
    )
    thumb.focus()
    page.keyboard.press("Enter")
    caption = dialog.locator("figcaption").text_content()
    assert re.fullmatch(
        r"folders: train #\d+, class zero, file train/zero/\d{3}\.png, distance [\d.]+", caption
    )
    assert big.bounding_box()["width"] >= 8 * 20  # 8 pixels, each drawn large
    dialog.click()  # anywhere closes it
    assert not dialog.is_visible()


@pytest.mark.browser
def test_the_class_choice_switches_the_class_shown(opened, tmp_path):
    page = opened.page
    panel = page.locator("#per-class .panel").nth(1)
    views = panel.locator(".class-view")
    visible = panel.locator(".class-view:not([hidden])")
    assert views.count() == 5 and visible.count() == 1
    assert visible.get_attribute("data-label") == "0"
    panel.locator("select").select_option(label="three")
    assert visible.count() == 1 and visible.get_attribute("data-label") == "3"
    assert visible.locator("h4").text_content().startswith("three")
    assert visible.locator("img.centroid").is_visible() and visible.locator("img.map").is_visible()
    alts = visible.locator(".thumbs img").evaluate_all("els => els.map(e => e.alt)")
    assert len(alts) >= 8 and all("class three" in alt and "file " in alt for alt in alts[:8])
    # A closest class's name switches to it.
    goto = visible.locator("button.goto").first
    target = goto.get_attribute("data-label")
    goto.click()
    assert visible.get_attribute("data-label") == target
    assert panel.locator("select").input_value() == target
    page.locator("#per-class").screenshot(path=str(tmp_path / "per-class.png"))
    assert (tmp_path / "per-class.png").stat().st_size > 10_000


@pytest.mark.browser
def test_a_bokeh_figure_runs_under_the_policy(tmp_path, monkeypatch, browser):
    """An interactive figure as the maps section makes one (BokehJS inline, the figure's markup
    and script from bokeh.embed.components) draws without any script the policy refuses."""
    from bokeh.embed import components
    from bokeh.plotting import figure
    from bokeh.resources import Resources

    library = Resources(mode="inline", components=["bokeh"]).render_js()

    def interactive(a: Analyses) -> Panel:
        plot = figure(width=300, height=300, tools="pan,wheel_zoom,hover,reset")
        plot.scatter(np.arange(10), np.arange(10) ** 2)
        script, div = components(plot)
        return Panel(html=[library + div + script])

    section = Section("interactive", "Interactive", "A Bokeh figure.", interactive)
    monkeypatch.setattr("mnistlab.report.builder.SECTIONS", [section])
    path = build_report([folder_dataset()], tmp_path, sections=["interactive"], progress=False)
    html = path.read_text()
    scripts = executable_scripts(html)
    assert len(scripts) > 2  # BokehJS, the figure's, the report's
    assert sorted(policy_of(html)["script-src"]) == sorted({sha256_source(s) for s in scripts})
    page = Opened(browser, path)
    try:
        page.page.locator(".interactive canvas").first.wait_for()
        assert page.errors == [] and page.violations() == [] and page.outside == []
    finally:
        page.context.close()
