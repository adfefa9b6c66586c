"""What a trained model says about images: the predicted class and the classes it ranks next."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """One image's prediction: its class, that class's score, and the ``top`` classes with
    their scores, best first (``(label, class name, score)``)."""

    label: int
    class_name: str
    score: float
    top: tuple[tuple[int, str, float], ...]

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "class": self.class_name,
            "score": self.score,
            "top": [{"label": k, "class": name, "score": s} for k, name, s in self.top],
        }


def predict_top(model, images, top: int = 3) -> list[Prediction]:
    """Classify ``images`` with a :class:`~mnistlab.models.TrainedModel`; keep the ``top``
    best-scored classes of each (ties in class order).

    Parameters
    ----------
    model : TrainedModel
        A trained (or loaded) model.
    images : array of shape (n, height, width)
        Images of the model's size, values 0..255.
    top : int, default 3
        How many classes to keep per image (at most the number of classes).

    Returns
    -------
    list of Prediction
        One per image, in order.
    """
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive whole number, got {top!r}.")
    labels, scores = model.predict_scores(images)
    k = min(int(top), len(model.classes))
    found = []
    for label, row in zip(labels.tolist(), scores, strict=True):
        best = np.argsort(-row, kind="stable")[:k]
        ranked = tuple((int(j), model.classes[j], float(row[j])) for j in best)
        found.append(Prediction(label, model.classes[label], float(row[label]), ranked))
    return found
