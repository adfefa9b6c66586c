"""Open a local HTML file in Debian's headless Chromium and report everything that went wrong."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise RuntimeError(
            "Debian's chromium is not installed; `make test` (make setup-test) installs it as root."
        )
    return path


@dataclass
class PageCheck:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    images: int = 0
    section_ids: list[str] = field(default_factory=list)


def check_page(html: Path, screenshot: Path | None = None) -> PageCheck:
    """Load ``html`` from disk; record console errors, failed images and any request off the file."""
    from playwright.sync_api import sync_playwright

    result = PageCheck()
    url = html.resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: m.type == "error" and result.console_errors.append(m.text))
            page.on("pageerror", lambda e: result.page_errors.append(str(e)))

            def route(r):
                if r.request.url == url or r.request.url.startswith("data:"):
                    r.continue_()
                else:
                    result.outside_requests.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(url, wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.alt, e.complete && e.naturalWidth > 0])"
            )
            result.images = len(images)
            result.broken_images = [alt for alt, ok in images if not ok]
            result.section_ids = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return result
