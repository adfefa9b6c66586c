"""One-pixel separability: which pairs of classes a single pixel tells apart.

For each pair of classes (a < b) and each pixel, a logistic regression on that pixel alone is
fitted to the training images of a and b (target 1 for b), with the objective of scikit-learn's
``LogisticRegression(C=C)``: ``C * sum(log-loss) + coef**2 / 2``, the intercept unpenalised. The
best pixel of a pair is the one whose fit has the highest training accuracy (ties: the lowest
row-major pixel index); the table reports its position, training and test accuracy, coefficient
and intercept, and the best decision-stump accuracy of the pair.

How it is fast and exact
------------------------
Every fit is a problem in two unknowns, solved by Newton's method with a backtracking line
search, for all (pair, pixel) problems at once. A problem is a run of weighted points
``(x, weight of class a, weight of class b)``:

* with the ``unit`` and ``raw`` scales a pixel takes at most 256 values, so the per-class
  256-bin histogram of each pixel is a sufficient statistic: each fit is a weighted fit on at most
  256 points, and the histograms are a sum over chunks of images
  (:func:`mnistlab.stats.pixel_histograms`);
* with the ``l2`` scale values are continuous: the points are the images themselves, the zeros of
  a pixel collapsed into one weighted point.

Within a problem the points are sorted by value, so the best threshold rule (decision stump) is a
cumulative sum. A fitted logistic regression predicts with one threshold, so its training
accuracy never exceeds the stump's.

Modules: :mod:`~mnistlab.onepixel.solver` (the batched Newton solver),
:mod:`~mnistlab.onepixel.problems` (the problems of a dataset), :mod:`~mnistlab.onepixel.sweep`
(pairs and pixels, the result table), :mod:`~mnistlab.onepixel.estimator`
(:class:`OnePixelClassifier`).
"""

from mnistlab.onepixel.estimator import OnePixelClassifier
from mnistlab.onepixel.problems import SCALES, l2_normalise
from mnistlab.onepixel.solver import LogisticFits, Problems, fit_logistic
from mnistlab.onepixel.sweep import (
    PAIR_COLUMNS,
    OnePixelSeparability,
    one_pixel_separability,
)

__all__ = [
    "PAIR_COLUMNS",
    "SCALES",
    "LogisticFits",
    "OnePixelClassifier",
    "OnePixelSeparability",
    "Problems",
    "fit_logistic",
    "l2_normalise",
    "one_pixel_separability",
]
