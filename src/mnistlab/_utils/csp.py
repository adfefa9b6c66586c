"""Content-Security-Policy for self-contained pages: the hashes of their inline scripts.

A page written by mnistlab makes no request and runs only the scripts it carries. Its policy
(``default-src 'none'``) forbids every script unless ``script-src`` names it by the sha256 of
its text (CSP Level 2 hash sources); a script changed by one byte, or injected, is then refused
by the browser. This module finds a page's executable inline scripts and hashes them.
"""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

__all__ = ["PAGE_POLICY", "content_security_policy", "csp_script_hashes"]

#: ``type`` values that make a ``<script>`` executable (the HTML standard's JavaScript MIME type
#: essences, and "module"); a script without ``type`` (or with an empty one) runs too. Any other
#: type (``application/json``, ``text/template``) is a data block: never run, never hashed.
_JAVASCRIPT_TYPES = frozenset(
    {"module"}
    | {
        f"{prefix}/{name}"
        for prefix in ("application", "text")
        for name in ("ecmascript", "javascript", "x-ecmascript", "x-javascript")
    }
    | {f"text/javascript1.{v}" for v in range(6)}
    | {"text/jscript", "text/livescript"}
)


#: What a self-contained page may load besides its scripts: nothing but ``data:`` images and
#: inline styles.
PAGE_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


class _InlineScripts(HTMLParser):
    """The text of each executable inline ``<script>``, as the browser hashes it.

    Python's parser, like a browser's, ends a script's text at the first ``</script``, and
    hands it over raw (no entity decoding): the same characters the browser hashes.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "script":
            return
        attributes = dict(attrs)
        kind = (attributes.get("type") or "").strip().lower()
        executable = kind == "" or kind in _JAVASCRIPT_TYPES
        self._text = [] if executable and "src" not in attributes else None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._text is not None:
            self.scripts.append("".join(self._text))
        if tag == "script":
            self._text = None


def csp_script_hashes(html: str) -> list[str]:
    """The ``'sha256-...'`` sources that allow every executable inline script of ``html``.

    Parameters
    ----------
    html : str
        An HTML document or fragment.

    Returns
    -------
    list of str
        One ``'sha256-<base64>'`` source (quotes included, ready for ``script-src``) per distinct
        inline script, in the order of first appearance. Scripts with ``src`` and data blocks
        (``<script type="application/json">``, any type that is not JavaScript) are skipped.

    Examples
    --------
    >>> csp_script_hashes("<script>alert(1)</script><script type='application/json'>{}</script>")
    ["'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"]
    """
    parser = _InlineScripts()
    parser.feed(html)
    parser.close()
    hashes: dict[str, None] = {}
    for text in parser.scripts:
        # The browser hashes the script after its HTML parser has turned CR LF and CR into LF.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        digest = hashlib.sha256(text.encode("utf-8")).digest()
        hashes[f"'sha256-{base64.b64encode(digest).decode('ascii')}'"] = None
    return list(hashes)


def content_security_policy(html: str, base: str = PAGE_POLICY) -> str:
    """The Content-Security-Policy of a self-contained page: ``base`` and a ``script-src`` that
    allows exactly the inline scripts of ``html`` (``'none'`` when it has none).

    Parameters
    ----------
    html : str
        The page, or every part of it that holds scripts.
    base : str, default PAGE_POLICY
        The other directives.

    Returns
    -------
    str
        The policy, for a ``<meta http-equiv="Content-Security-Policy">`` (escape it as an
        attribute: it holds single quotes only).

    Raises
    ------
    ValueError
        If ``base`` sets ``script-src`` itself.

    Examples
    --------
    >>> content_security_policy("<p>no script</p>")
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'"
    """
    if "script-src" in base:
        raise ValueError(f"base must not set script-src (it is computed from the page), got {base!r}.")
    sources = " ".join(csp_script_hashes(html)) or "'none'"
    return f"{base}; script-src {sources}"
