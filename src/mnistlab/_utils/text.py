"""Numbers as people read them, the same in the terminal and in the report."""

from __future__ import annotations

import math


def percent(value: float | None, missing: str = "n/a") -> str:
    """``0.8123`` as ``"81.2%"``; ``missing`` for None or NaN (no test split, no images).

    >>> percent(0.8123), percent(None), percent(float("nan"), missing="-")
    ('81.2%', 'n/a', '-')
    """
    if value is None or not math.isfinite(value):
        return missing
    return f"{value:.1%}"
