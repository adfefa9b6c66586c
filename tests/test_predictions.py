"""predict_top: a model's class and the classes it ranks next, per image."""

from __future__ import annotations

import numpy as np
import pytest

from mnistlab.models import predict_top, train


def test_predict_top_ranks_the_scores_of_each_image(five_class):
    trained = train(five_class, "logreg", progress=False)
    images = five_class.test.images[:7]
    labels, scores = trained.predict_scores(images)
    found = predict_top(trained, images, top=3)
    assert [p.label for p in found] == labels.tolist()
    for p, row in zip(found, scores, strict=True):
        assert p.class_name == trained.classes[p.label] and p.score == row[p.label]
        assert [t[0] for t in p.top] == np.argsort(-row, kind="stable")[:3].tolist()
        assert [t[2] for t in p.top] == sorted((t[2] for t in p.top), reverse=True)
        assert p.top[0][0] == p.label  # the predicted class is the best scored
        assert p.to_dict()["top"][1] == {
            "label": p.top[1][0],
            "class": p.top[1][1],
            "score": p.top[1][2],
        }
    everything = predict_top(trained, images[:1], top=100)[0]
    assert len(everything.top) == len(trained.classes)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="top must be a positive whole number"):
            predict_top(trained, images, top=bad)
