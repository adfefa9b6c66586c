"""What a model gets wrong: the confusion matrix and its most confident mistakes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mnistlab.plots._style import DPI, MAX_CONFUSION_CLASSES, _literal_text, _subset
from mnistlab.plots.images import titled_images


@_literal_text
def confusion_matrix(
    evaluation,
    *,
    title: str | None = None,
    rows: str = "true class",
    columns: str = "predicted class",
) -> Figure:
    """Confusion matrix: rows are true classes, columns predictions; share of the row, with counts.

    Beyond ``MAX_CONFUSION_CLASSES`` classes: the most confused ones (in label order), each row
    still the share of all that class's test images; the title says so.

    Parameters
    ----------
    evaluation : models.Evaluation
        A model's predictions on the test split compared with the truth
        (:class:`mnistlab.models.evaluation.Evaluation`, e.g. ``ModelResult.evaluation``).
    title : str, optional
        A title above the matrix.
    rows, columns : str
        What the rows and the columns count (another matrix of counts, such as confident
        learning's estimated given and true labels, says so here).

    Returns
    -------
    matplotlib.figure.Figure
    """
    total = len(evaluation.classes)
    shown = np.arange(total)
    if total > MAX_CONFUSION_CLASSES:
        shown = np.sort(evaluation.most_confused_classes(MAX_CONFUSION_CLASSES))
    names = [evaluation.classes[c] for c in shown]
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = evaluation.confusion / evaluation.confusion.sum(axis=1, keepdims=True)
    confusion, rates = evaluation.confusion[np.ix_(shown, shown)], rates[np.ix_(shown, shown)]
    k = len(shown)
    cell = min(0.42, 12 / k)
    fig, ax = plt.subplots(figsize=(cell * k + 1.9, cell * k + 1.5), dpi=DPI)
    ax.imshow(np.nan_to_num(rates), cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if confusion[i, j]:
                dark = rates[i, j] > 0.55
                ax.text(
                    j,
                    i,
                    f"{confusion[i, j]}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if dark else "#1d2330",
                )
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel(columns, fontsize=8)
    ax.set_ylabel(rows, fontsize=8)
    subset = _subset(k, total, "the most confused (colour: share of the row's test images)")
    title = "\n".join(t for t in (title, subset) if t)
    if title:
        ax.set_title(title, fontsize=9 if not subset else 8)
    fig.tight_layout()
    return fig


@_literal_text
def confident_mistakes(ds, result, top: int = 12) -> Figure | None:
    """The test images a model got wrong with the highest score (a ``ModelResult``); None if none.

    Parameters
    ----------
    ds : Dataset
        The dataset the model was tested on; it needs a test split (images uint8, 0..255).
    result : models.ModelResult
        The model's predictions and scores on ``ds.test`` (:func:`mnistlab.models.run_model`).
    top : int, default 12
        At most this many mistakes, the most confident first.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the model got every test image right.
    """
    found = result.confident_mistakes(ds.test.labels, top)
    if not len(found):
        return None
    images = [ds.test.images[i] for i in found]
    titles = [
        f"#{ds.test.indices[i]} {ds.classes[ds.test.labels[i]]}\n→ {ds.classes[result.predictions[i]]} "
        f"{result.confidence[i]:.0%}"
        for i in found
    ]
    title = f"{ds.name} · {result.model}: most confident mistakes (true → predicted, score)"
    scores = result.confidence[found]
    if len(found) > 1 and scores.min() == scores.max():
        title = (
            f"{ds.name} · {result.model}: mistakes, all scored {scores[0]:.0%}, so in test-set order "
            "(true → predicted)"
        )
    return titled_images(images, titles, columns=6, title=title)
