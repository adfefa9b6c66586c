"""Figures as bytes and files: PNG bytes, ``data:`` URIs for HTML, files written atomically."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from mnistlab.plots._style import _literal_text


@_literal_text
def to_png_bytes(fig: Figure) -> bytes:
    """Render a figure to PNG bytes and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, rendered at its own ``dpi``, then closed.

    Returns
    -------
    bytes
        The PNG file's content.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    plt.close(fig)
    return buffer.getvalue()


@_literal_text
def to_data_uri(fig: Figure) -> str:
    """Render a figure to a ``data:image/png;base64,...`` URI (for self-contained HTML).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, rendered at its own ``dpi``, then closed.

    Returns
    -------
    str
        The URI, ready for an ``<img src=...>``.
    """
    return "data:image/png;base64," + base64.b64encode(to_png_bytes(fig)).decode("ascii")


#: File formats ``save`` writes, by suffix.
FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg"}


@_literal_text
def figure_bytes(fig: Figure, path: str | Path) -> bytes:
    """The figure rendered in the format ``path``'s suffix names (PNG, SVG, PDF or JPEG); closes it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, rendered at its own ``dpi``; closed even when the suffix is refused.
    path : str or Path
        Only its suffix is read (one of ``FIGURE_FORMATS``, any case); nothing is written.

    Returns
    -------
    bytes
        The file's content.

    Raises
    ------
    ValueError
        If the suffix is not one of ``FIGURE_FORMATS``.
    """
    path = Path(path)
    fmt = FIGURE_FORMATS.get(path.suffix.lower())
    try:
        if fmt is None:
            raise ValueError(
                f"{path}: figures are written as {', '.join(FIGURE_FORMATS)}; "
                f"got {path.suffix or 'no suffix'!r}."
            )
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=fig.dpi)
        return buffer.getvalue()
    finally:
        plt.close(fig)


def save(fig: Figure, path: str | Path) -> Path:
    """Write a figure (format from the suffix: PNG, SVG, PDF or JPEG) atomically; close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, rendered at its own ``dpi``, then closed (also when the suffix is refused).
    path : str or Path
        Where to write it; its suffix (one of ``FIGURE_FORMATS``) names the format.

    Returns
    -------
    Path
        ``path``, as a :class:`~pathlib.Path`.

    Raises
    ------
    ValueError
        If the suffix is not one of ``FIGURE_FORMATS`` (nothing is written).
    """
    from mnistlab._utils.files import atomic_write_bytes

    atomic_write_bytes(path, figure_bytes(fig, path))
    return Path(path)
