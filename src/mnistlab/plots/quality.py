"""Figures of label issues: the estimated noise matrix and a gallery of the issues."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from mnistlab.plots._style import _literal_text
from mnistlab.plots.images import titled_images
from mnistlab.plots.models import confusion_matrix


def noise_matrix(issues, split: str | None = None, *, title: str | None = None) -> Figure:
    """Confident learning's estimated counts of given (rows) and true (columns) labels: off the
    diagonal, the estimated label errors; colour, the share of the given class.

    Parameters
    ----------
    issues : mnistlab.quality.LabelIssues
        :func:`mnistlab.quality.label_issues`'s result.
    split : str, optional
        Its split to draw (default: the first).
    title : str, optional
        A title above the matrix.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from mnistlab.models.evaluation import Evaluation

    counts = issues.estimated_counts(split).to_numpy()
    matrix = Evaluation.from_confusion(counts, issues.classes)
    return confusion_matrix(matrix, title=title, rows="given label", columns="true label (estimated)")


@_literal_text
def issue_gallery(split, table: pd.DataFrame, n: int = 18, *, title: str | None = None) -> Figure:
    """The first ``n`` issues of ``table`` (rows of ``LabelIssues.table``), each titled with its
    index, its given and suggested class and its score.

    Parameters
    ----------
    split : Split
        The split the issues' positions refer to (images uint8, 0..255).
    table : DataFrame
        Rows of :attr:`mnistlab.quality.LabelIssues.table` of that split, in the order to draw.
    n : int, default 18
        At most this many images.
    title : str, optional
        A title above the grid.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If there is no issue to draw.
    """
    shown = table.head(n)
    if not len(shown):
        raise ValueError("no issue to draw.")
    images = [split.images[p] for p in shown["position"]]
    titles = [
        f"#{r.index} {r[4]} -> {r.suggested_class}\n{r.score:.2f}" for r in shown.itertuples(index=False)
    ]
    return titled_images(images, titles, columns=6, title=title)
