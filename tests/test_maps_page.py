"""The interactive map page (mnistlab.maps.page) and the CSP hashes of inline scripts
(mnistlab._utils.csp): input checks, the figure's structure, and the page in headless Chromium
(hover shows the right image, the legend hides a class, the policy is enforced)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import re
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pytest

import mnistlab
from mnistlab._utils.csp import PAGE_POLICY, content_security_policy, csp_script_hashes
from mnistlab.maps.page import (
    map_caption,
    map_components,
    map_figure,
    map_page,
    png_data_uris,
    write_map_page,
)


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def decode_png(uri: str) -> np.ndarray:
    from PIL import Image

    assert uri.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
        assert image.format == "PNG" and image.mode == "L"
        return np.asarray(image)


@pytest.fixture
def digits():
    return mnistlab.load("digits")


@pytest.fixture
def placed_map(digits):
    """PCA of the first 90 training digits, the first 90 test digits placed into it."""
    m = mnistlab.embed(digits, "pca", place="test", first=90, k=5)
    return m, digits.train.images[:90], digits.test.images[:90]


def small_map(classes=("zero", "<b>one</b>", "two & three"), n=60):
    """A PCA map of generated 9x7 images in three well separated groups, with awkward names."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % len(classes)
    centres = rng.integers(0, 256, (len(classes), 9, 7))
    images = np.clip(centres[labels] + rng.integers(-20, 21, (n, 9, 7)), 0, 255).astype(np.uint8)
    return mnistlab.embed(images, "pca", labels=labels, classes=classes, measure=False), images


# --------------------------------------------------------------------------------------------
# csp_script_hashes
# --------------------------------------------------------------------------------------------


def test_hashes_every_executable_inline_script_and_nothing_else():
    html = (
        "<script>alert(1)</script>"
        '<script type="application/json">{"a": 1}</script>'  # a data block: never run
        "<script type='text/template'><p>x</p></script>"
        '<script src="x.js"></script>'  # not inline: allowed (or not) by its URL
        '<SCRIPT TYPE="Text/JavaScript">b()</SCRIPT>'
        '<script type="module">c()</script>'
        "<script>alert(1)</script>"  # the same text: one source
        "<script></script>"
    )
    assert csp_script_hashes(html) == [
        sha256_source("alert(1)"),
        sha256_source("b()"),
        sha256_source("c()"),
        sha256_source(""),
    ]


def test_hash_is_of_the_text_the_browser_runs():
    # The script ends at the first "</script"; entities are not decoded; CR LF becomes LF.
    html = "<script>if (a < b) x = '&amp;';\r\ny()\r</script ><p>after</p>"
    assert csp_script_hashes(html) == [sha256_source("if (a < b) x = '&amp;';\ny()\n")]
    assert csp_script_hashes("<p>no script</p>") == []


def test_content_security_policy():
    assert content_security_policy("<p>x</p>") == f"{PAGE_POLICY}; script-src 'none'"
    policy = content_security_policy("<script>a()</script><script>b()</script>")
    assert policy == f"{PAGE_POLICY}; script-src {sha256_source('a()')} {sha256_source('b()')}"
    with pytest.raises(ValueError, match="script-src"):
        content_security_policy("", base="default-src 'none'; script-src 'self'")


# --------------------------------------------------------------------------------------------
# PNG data URIs
# --------------------------------------------------------------------------------------------


def test_png_data_uris_draw_ink_dark_on_paper():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 5, 7), dtype=np.uint8)  # not square, every value
    images[0] = 0
    images[1] = 255
    uris = png_data_uris(images)
    for image, uri in zip(images, uris, strict=True):
        np.testing.assert_array_equal(decode_png(uri), 255 - image)


@pytest.mark.slow
def test_png_data_uris_are_small_for_mnist(real_cache):
    images = mnistlab.load("mnist").test.images[:500]
    uris = png_data_uris(images)
    np.testing.assert_array_equal(decode_png(uris[7]), 255 - images[7])
    mean = np.mean([len(u) for u in uris])
    assert 250 < mean < 380  # measured: 359 characters per MNIST digit (a 246-byte PNG)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((3, 8, 8), np.float32), "uint8"),
        (np.zeros((3, 64), np.uint8), r"shape \(n, h, w\)"),
        ([[1, 2], [3, 4]], "uint8"),
        (np.zeros((2, 0, 8), np.uint8), "rows and columns"),
    ],
)
def test_png_data_uris_refuse_what_is_not_images(images, message):
    with pytest.raises(ValueError, match=message):
        png_data_uris(images)


# --------------------------------------------------------------------------------------------
# map_figure: structure and input checks
# --------------------------------------------------------------------------------------------


def test_figure_has_one_renderer_per_class_and_split_and_a_toggling_legend(placed_map):
    from bokeh.models import HoverTool

    m, images, placed = placed_map
    fig = map_figure(m, images, placed_images=placed)
    [legend] = fig.legend
    labels = [item.label.value for item in legend.items]
    assert labels == ["train (90, mapped)", "test (90, placed)", *m.classes]
    assert legend.click_policy == "hide"
    assert fig.output_backend == "webgl"
    hovers = [t for t in fig.tools if isinstance(t, HoverTool)]
    assert len(hovers) == 2 and all(t.limit == 1 for t in hovers)
    hovered = [r for t in hovers for r in t.renderers]
    points = sum(len(r.data_source.data["x"]) for r in hovered)
    assert points == 90 + 90
    # A class entry hides that class in both splits; a split entry, all of its points.
    three = legend.items[2 + 3].renderers
    assert {r.data_source.data["split"][0] for r in three} == {"train", "test"}
    assert all(set(r.data_source.data["class"]) == {"3"} for r in three)
    placed_entry = [r for r in legend.items[1].renderers if r in hovered]
    assert sum(len(r.data_source.data["x"]) for r in placed_entry) == 90
    # The colours are those of the static figures.
    from mnistlab.plots._style import class_colours

    assert three[0].glyph.fill_color == class_colours(10)[3]
    # Every point's image, index and coordinates are where they belong.
    r = next(r for r in hovered if r.data_source.data["split"][0] == "train")
    data = r.data_source.data
    j = int(data["index"][0])
    np.testing.assert_array_equal(decode_png(data["image"][0]), 255 - images[j])
    np.testing.assert_allclose([data["x"][0], data["y"][0]], m.coordinates[j])


def test_scores_and_files_are_shown_on_hover(placed_map):
    from bokeh.models import HoverTool

    m, images, placed = placed_map
    mapped_only = {"typicality": np.linspace(0, 1, 90)}
    both = {"<score> & co": np.arange(180.0)}
    files = [f"train/{i}.png" for i in range(90)]
    fig = map_figure(m, images, placed_images=placed, scores=mapped_only | both, files=files)
    train_tip, test_tip = (t.tooltips for t in fig.tools if isinstance(t, HoverTool))
    assert "typicality: @score0" in train_tip and "&lt;score&gt; &amp; co: @score1" in train_tip
    assert "@file" in train_tip and "@file" not in test_tip  # files cover the mapped points only
    assert "typicality" not in test_tip and "@score1" in test_tip
    test_hover = [t for t in fig.tools if isinstance(t, HoverTool)][1]
    data = test_hover.renderers[0].data_source.data
    assert data["split"][0] == "test"
    assert "score0" not in data
    # Scores of length n + p follow Map.to_frame(): the placed points' rows come after.
    np.testing.assert_array_equal(data["score1"], 90 + np.asarray(data["index"]))


def test_unlabelled_points_are_drawn_in_one_group():
    images = np.random.default_rng(1).integers(0, 256, (30, 6, 6), dtype=np.uint8)
    m = mnistlab.embed(images, "pca", measure=False)
    m = dataclasses.replace(m, labels=None)
    fig = map_figure(m, images)
    assert [item.label.value for item in fig.legend[0].items] == ["images (30, mapped)"]


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"images": np.zeros((89, 8, 8), np.uint8)},
            r"holds 89 images but the map has 90 points \(len\(m\)\)",
        ),
        ({"images": np.zeros((90, 8, 8), np.float64)}, "uint8"),
        ({"images": np.zeros((90, 64), np.uint8)}, r"shape \(n, h, w\)"),
        ({"placed_images": None}, "90 placed points .*placed_images"),
        (
            {"placed_images": np.zeros((89, 8, 8), np.uint8)},
            r"holds 89 images but the map has 90 placed points",
        ),
        ({"placed_images": np.zeros((90, 8, 9), np.uint8)}, "same dataset"),
        (
            {"scores": {"s": np.zeros(89)}},
            r"scores\['s'\] has shape \(89,\); expected length 90 .* or 180",
        ),
        (
            {"scores": {"s": np.r_[np.zeros(89), np.nan]}},
            r"scores\['s'\] has 1 values that are not finite",
        ),
        ({"scores": {"s": np.r_[np.inf, np.zeros(89)]}}, "not finite .* position 0"),
        ({"scores": {"s": ["a"] * 90}}, "must be numbers"),
        ({"scores": np.zeros(90)}, "dict of name -> array"),
        ({"scores": {"": np.zeros(90)}}, "non-empty strings"),
        ({"files": ["f"] * 10}, "files holds 10 names"),
        ({"files": "one.png"}, "sequence of file names"),
        ({"size": 20}, "size must be"),
        ({"size": True}, "size must be"),
    ],
)
def test_map_figure_refuses_bad_input(placed_map, change, message):
    m, images, placed = placed_map
    arguments = {"images": images, "placed_images": placed} | change
    with pytest.raises(ValueError, match=message):
        map_figure(m, **arguments)


def test_map_figure_refuses_placed_images_without_placed_points_and_bad_labels():
    m, images = small_map()
    with pytest.raises(ValueError, match="no placed points"):
        map_figure(m, images, placed_images=images)
    broken = dataclasses.replace(m, labels=m.labels + 1)
    with pytest.raises(ValueError, match=r"class numbers in 0..2 .* got 1..3"):
        map_figure(broken, images)


def test_map_page_and_components_refuse_bad_input(tmp_path):
    m, images = small_map()
    with pytest.raises(ValueError, match="non-empty sequence of Map"):
        map_page([], images)
    with pytest.raises(ValueError, match="2 arrays for 1 maps"):
        map_page(m, [images, images])
    with pytest.raises(ValueError, match="images are required"):
        map_page([m, m])
    with pytest.raises(ValueError, match="carry their images"):
        map_page([(m, images)], images)
    with pytest.raises(ValueError, match=r"\(map, images\) or \(map, images, placed_images\)"):
        map_page([(m,)])
    with pytest.raises(ValueError, match="got Map, ndarray"):
        map_page([m, images])
    with pytest.raises(ValueError, match="Bokeh figures"):
        map_components(["not a figure"])
    with pytest.raises(ValueError, match="must be a str"):
        write_map_page(tmp_path / "map.html", b"<html>")


# --------------------------------------------------------------------------------------------
# map_page: self-contained, its policy computed
# --------------------------------------------------------------------------------------------


def test_map_page_is_self_contained_with_its_policy(tmp_path, placed_map):
    m, images, placed = placed_map
    html = map_page([m, m], images, placed_images=placed, title="Two <maps>")
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)[1]
    assert policy.startswith(PAGE_POLICY + "; script-src 'sha256-")
    assert policy.split("script-src ")[1].split() == csp_script_hashes(html)
    assert "unsafe-eval" not in policy and "unsafe-inline" not in policy.split("script-src")[1]
    scripts = re.findall(r"<script[^>]*>", html)
    assert all(tag == "<script>" for tag in scripts)  # inline only: no src, no external file
    assert len(scripts) == 2 + 2  # BokehJS and its log level once, one script per map
    assert html.count('<figure class="map">') == 2 and "<h1>Two &lt;maps&gt;</h1>" in html
    assert html.count(map_caption(m).split(".")[0]) == 2
    path = tmp_path / "maps" / "map.html"
    write_map_page(path, html)
    assert path.read_text(encoding="utf-8") == html
    assert [p.name for p in path.parent.iterdir()] == ["map.html"]  # no temporary left


def test_map_page_takes_maps_with_their_images(placed_map):
    m, images, placed = placed_map
    other, other_images = small_map()
    html = map_page([(m, images, placed), (other, other_images)], title="tuples")
    assert html.count('<figure class="map">') == 2
    assert map_caption(m) in html.replace("&#x27;", "'") and "PCA of images, 60 images." in html
    same = map_page([m], images, placed_images=placed)
    assert same.count('<figure class="map">') == 1


def test_map_components_inlines_bokehjs_once_for_many_figures(placed_map):
    m, images, placed = placed_map
    figures = [map_figure(m, images, placed_images=placed) for _ in range(3)]
    head, fragments = map_components(figures)
    assert head.count("BEGIN bokeh.min.js") == 1 and head.count("<script>") == 2  # + its log level
    assert "bokeh-gl" not in head  # see the module's note on WebGL
    assert len(fragments) == 3 and all(f.count("<script>") == 1 for f in fragments)
    ids = [re.search(r'<div id="([^"]+)"', f)[1] for f in fragments]
    assert len(set(ids)) == 3


def test_map_caption(placed_map):
    m, _, _ = placed_map
    caption = map_caption(m)
    assert caption.startswith("PCA of digits train, 90 images (+ 90 test images placed). ")
    assert "5-nearest-neighbour accuracy" in caption and "Placed test images:" in caption
    unmeasured, _ = small_map()
    assert map_caption(unmeasured) == "PCA of images, 60 images."


# --------------------------------------------------------------------------------------------
# In headless Chromium
# --------------------------------------------------------------------------------------------

#: The screen position of data coordinates, from the plot's own scales (BokehJS's view).
SCREEN_POSITION = """([id, points]) => {
  const view = [...Bokeh.index].find((v) => v.model.id == id);
  const r = view.canvas_view.el.getBoundingClientRect();
  const { x_scale, y_scale } = view.frame;
  return points.map(([x, y]) => [r.left + x_scale.compute(x), r.top + y_scale.compute(y)]);
}"""
#: Is a figure's view drawn and idle?
DRAWN = """(id) => window.Bokeh !== undefined
  && [...Bokeh.index].some((v) => v.model.id == id && v.is_idle)"""


@dataclass
class Browsed:
    page: object
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    violations: list[list[str]] = field(default_factory=list)

    def policy_violations(self) -> list[list[str]]:
        return self.page.evaluate("() => window.__violations")


@contextmanager
def browse(path):
    """Open ``path`` in headless Chromium, recording errors, requests and policy violations."""
    from playwright.sync_api import sync_playwright

    from browser import CHROMIUM_ARGS, chromium_path

    url = path.resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            seen = Browsed(page)
            page.on("console", lambda m: m.type == "error" and seen.console_errors.append(m.text))
            page.on("pageerror", lambda e: seen.page_errors.append(str(e)))

            def route(r):
                if r.request.url == url or r.request.url.startswith("data:"):
                    r.continue_()
                else:
                    seen.outside_requests.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            # Runs before the page's scripts (and is not subject to its policy).
            page.add_init_script(
                "window.__violations = []; document.addEventListener('securitypolicyviolation', "
                "(e) => window.__violations.push([e.violatedDirective, e.blockedURI]));"
            )
            page.goto(url, wait_until="load")
            yield seen
        finally:
            browser.close()


def written(tmp_path, html, name="map.html"):
    path = tmp_path / name
    write_map_page(path, html)
    return path


def isolated_point(m, placed: bool = False) -> int:
    """The mapped (or placed) point farthest from every other point: alone under the pointer,
    so that its hover card is the only one."""
    xy = m.coordinates if m.placed is None else np.vstack([m.coordinates, m.placed.coordinates])
    distance = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(distance, np.inf)
    nearest = distance.min(axis=1)
    return int(np.argmax(nearest[len(m) :])) if placed else int(np.argmax(nearest[: len(m)]))


def hover_cards(page) -> list[tuple[str, str]]:
    """(image src, text) of every hover card shown (inside Bokeh's shadow roots)."""
    cards = page.locator("div:has(> img[src^='data:image/png'])")
    return [
        (c.locator("img").get_attribute("src"), c.inner_text()) for c in cards.all() if c.is_visible()
    ]


@pytest.mark.browser
def test_page_loads_clean_and_hover_shows_the_right_image(tmp_path, placed_map):
    m, images, placed = placed_map
    html = map_page(m, images, placed_images=placed, scores={"typicality": np.linspace(0, 1, 90)})
    path = written(tmp_path, html)
    with browse(path) as seen:
        page = seen.page
        page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length == 1")
        [figure_id] = page.evaluate("() => Bokeh.documents[0].roots().map((r) => r.id)")
        page.wait_for_function(DRAWN, arg=figure_id)
        i = isolated_point(m)
        [(sx, sy)] = page.evaluate(SCREEN_POSITION, [figure_id, [m.coordinates[i].tolist()]])
        page.mouse.move(sx, sy)
        page.wait_for_selector("img[src^='data:image/png']", state="visible")
        [(src, text)] = hover_cards(page)
        assert src == png_data_uris(images[i : i + 1])[0]
        np.testing.assert_array_equal(decode_png(src), 255 - images[i])
        assert f"train #{m.indices[i]}" in text and m.classes[m.labels[i]] in text
        assert f"typicality: {np.linspace(0, 1, 90)[i]:.4g}" in text
        # A placed point shows its own image.
        j = isolated_point(m, placed=True)
        [(sx, sy)] = page.evaluate(SCREEN_POSITION, [figure_id, [m.placed.coordinates[j].tolist()]])
        page.mouse.move(sx, sy)
        page.wait_for_selector(f"text=test #{m.placed.indices[j]}", state="visible")
        [(src, text)] = hover_cards(page)
        assert src == png_data_uris(placed[j : j + 1])[0]
        assert f"test #{m.placed.indices[j]}" in text and "typicality" not in text
        page.screenshot(path=tmp_path / "map.png")
        assert seen.console_errors == []
        assert seen.page_errors == []
        assert seen.outside_requests == []
        assert seen.policy_violations() == []  # nothing refused: not even an eval (no WebGL bundle)
    assert (tmp_path / "map.png").stat().st_size > 20_000


@pytest.mark.browser
def test_values_are_shown_as_text_not_markup(tmp_path):
    m, images = small_map()
    path = written(tmp_path, map_page(m, images, files=[f"<i>{k}</i>.png" for k in range(len(m))]))
    with browse(path) as seen:
        page = seen.page
        page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length == 1")
        [figure_id] = page.evaluate("() => Bokeh.documents[0].roots().map((r) => r.id)")
        page.wait_for_function(DRAWN, arg=figure_id)
        i = int(np.flatnonzero(m.labels == 1)[0])
        [(sx, sy)] = page.evaluate(SCREEN_POSITION, [figure_id, [m.coordinates[i].tolist()]])
        page.mouse.move(sx, sy)
        page.wait_for_selector("img[src^='data:image/png']", state="visible")
        [(_, text)] = hover_cards(page)  # a point of the group under the pointer (they overlap)
        k = int(re.search(r"images #(\d+)", text)[1])
        assert m.labels[k] == 1 and "<b>one</b>" in text and f"<i>{k}</i>.png" in text
        assert page.locator("b:text-is('one')").count() == 0  # neither in the card nor the legend
        assert seen.console_errors == [] and seen.page_errors == []


@pytest.mark.browser
def test_clicking_a_legend_entry_hides_its_points(tmp_path, placed_map):
    m, images, placed = placed_map
    path = written(tmp_path, map_page(m, images, placed_images=placed))
    visible = """([id, split]) => {
      const plot = Bokeh.documents[0].get_model_by_id(id);
      const shown = {};
      for (const r of plot.renderers) {
        const data = r.data_source.data;
        if (data.class === undefined || (split !== null && data.split[0] !== split)) continue;
        shown[data.class[0]] = (shown[data.class[0]] ?? true) && r.visible;
      }
      return shown;
    }"""
    with browse(path) as seen:
        page = seen.page
        page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length == 1")
        [figure_id] = page.evaluate("() => Bokeh.documents[0].roots().map((r) => r.id)")
        page.wait_for_function(DRAWN, arg=figure_id)
        everything = dict.fromkeys(m.classes, True)
        assert page.evaluate(visible, [figure_id, None]) == everything
        page.get_by_text("3", exact=True).click()
        assert page.evaluate(visible, [figure_id, None]) == everything | {"3": False}
        # A hidden point shows nothing on hover.
        i = int(np.flatnonzero(m.labels == 3)[0])
        [(sx, sy)] = page.evaluate(SCREEN_POSITION, [figure_id, [m.coordinates[i].tolist()]])
        page.mouse.move(sx, sy)
        page.wait_for_timeout(300)
        assert not any(f"train #{m.indices[i]}\n" in text for _, text in hover_cards(page))
        page.get_by_text("3", exact=True).click()
        assert page.evaluate(visible, [figure_id, None]) == everything
        page.get_by_text("test (90, placed)", exact=True).click()
        assert page.evaluate(visible, [figure_id, "test"]) == dict.fromkeys(m.classes, False)
        assert page.evaluate(visible, [figure_id, "train"]) == everything
        assert seen.console_errors == [] and seen.page_errors == []


@pytest.mark.browser
@pytest.mark.parametrize(
    "original, changed, what",
    [
        ("/* BEGIN bokeh.min.js */", "/* BEGIN bokeh.min.jS */", "BokehJS"),  # in a comment
        ("attempts > 100)", "attempts > 101)", "the map's script"),  # harmless, valid
    ],
)
def test_the_policy_refuses_a_script_changed_by_one_byte(tmp_path, original, changed, what):
    m, images = small_map()
    html = map_page(m, images)
    assert html.count(original) == 1 and len(original) == len(changed)
    tampered = html.replace(original, changed)
    assert sum(a != b for a, b in zip(html, tampered, strict=True)) == 1
    with browse(written(tmp_path, tampered)) as seen:
        page = seen.page
        page.wait_for_timeout(1500)  # the embedding script retries for a second
        violations = seen.policy_violations()
        drawn = page.evaluate("() => window.Bokeh !== undefined && Bokeh.documents.length")
    assert ["script-src-elem", "inline"] in violations
    assert any("Content Security Policy" in e for e in seen.console_errors)
    assert not drawn  # neither BokehJS nor the map, whichever was changed
