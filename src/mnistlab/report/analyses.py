"""Results several report sections share, computed once per dataset per report."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from mnistlab import stats
from mnistlab.data.dataset import Dataset
from mnistlab.errors import MnistlabError
from mnistlab.models.evaluation import Evaluation, evaluate

#: Training images the binarisation check fits its models on (logistic regression dominates
#: the report's running time; 10,000 images keep it to seconds and the comparison fair).
BINARISATION_TRAIN = 10_000


#: The models the report trains by default. k-NN is not among them: the report already finds
#: every test image's nearest training images (similarity section) and reports that k-NN as
#: "knn-pixels" instead of searching again; the named "knn" (standardised pixels, the paper's
#: configuration) runs when asked for (``--models quick`` or ``knn``).
REPORT_MODELS = ("centroid", "tree", "mlp")
#: The name of the k-NN row the report takes from its shared neighbour search.
PIXEL_KNN = "knn-pixels"


class Analyses:
    """Lazily computed analyses of one dataset (training split unless said otherwise)."""

    def __init__(self, ds: Dataset, models: str | tuple[str, ...] = REPORT_MODELS) -> None:
        self.ds = ds
        self.model_names = models
        #: Why the models section could not train its models, when it could not.
        self.models_error: str | None = None
        #: Models that could not be trained or tested, with the reason (the others were).
        self.models_failed: dict[str, str] = {}

    @cached_property
    def pixel_counts(self) -> np.ndarray:
        return stats.pixel_value_counts(self.ds.train.images)

    @cached_property
    def pixel_counts_by_class(self) -> np.ndarray:
        train = self.ds.train
        return stats.pixel_value_counts_by_class(train.images, train.labels, len(train.classes))

    @cached_property
    def centroids(self) -> stats.Centroids:
        return stats.centroids(self.ds.train)

    @cached_property
    def closest_pairs(self) -> pd.DataFrame:
        """Every pair of classes by the RMS difference of their centroids, closest first."""
        return self.centroids.closest_pairs()

    @cached_property
    def typicality(self) -> stats.Typicality:
        train = self.ds.train
        return stats.typicality(
            train.images, train.labels, train.classes, train.indices, self.centroids.means
        )

    @cached_property
    def one_pixel(self):
        from mnistlab.onepixel import one_pixel_separability

        return one_pixel_separability(self.ds, scale="unit", progress=False)

    @cached_property
    def train_index(self):
        """The exact neighbour index of the training images, built once for every section."""
        from mnistlab.similarity import NearestImages

        return NearestImages().fit(self.ds.train.images)

    @cached_property
    def test_neighbours(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Distances and indices of the 5 nearest training images of every test image."""
        if self.ds.test is None or len(self.ds.train) < 5:
            return None
        return self.train_index.kneighbors(self.ds.test.images, 5)

    @cached_property
    def pixel_knn(self) -> dict[int, Evaluation] | None:
        """k-NN test evaluation on the raw pixels for k = 1, 3, 5 (majority vote), from the
        shared neighbour search: the models section's "knn-pixels" row and the similarity
        section's table, with no search of their own."""
        from mnistlab.similarity import vote

        train, test = self.ds.train, self.ds.test
        if self.test_neighbours is None or test is None:  # no neighbours without a test split
            return None
        found = self.test_neighbours[1]
        return {
            k: evaluate(
                test.labels, vote(train.labels[found[:, :k]], len(self.ds.classes)), self.ds.classes
            )
            for k in (1, 3, 5)
        }

    @cached_property
    def duplicates(self):
        from mnistlab.similarity import find_duplicates

        return find_duplicates(self.ds, index=self.train_index, neighbours=self.test_neighbours)

    @cached_property
    def nearest_centroid(self) -> Evaluation | None:
        from mnistlab.models import NearestCentroidClassifier

        if self.ds.test is None or len(np.unique(self.ds.train.labels)) < 2:
            return None
        model = NearestCentroidClassifier().fit(self.ds.train.images, self.ds.train.labels)
        return evaluate(self.ds.test.labels, model.predict(self.ds.test.images), self.ds.classes)

    @cached_property
    def binarisation(self) -> pd.DataFrame | None:
        from mnistlab.models.binarisation import binarisation_effect

        if self.ds.test is None or len(np.unique(self.ds.train.labels)) < 2:
            return None
        return binarisation_effect(self.ds, max_train=BINARISATION_TRAIN)

    @cached_property
    def models(self):
        """The named models trained on train and tested on test (ModelResult list), or None."""
        from mnistlab.models import benchmark

        if self.ds.test is None or len(np.unique(self.ds.train.labels)) < 2:
            return None
        try:
            results = benchmark(self.ds, self.model_names, progress=False)
        except (ValueError, MnistlabError) as exc:
            self.models_error = str(exc)
            return None
        self.models_failed = results.failed
        if not results:  # e.g. all-black images: no variance to scale
            self.models_error = "; ".join(f"{m}: {why}" for m, why in results.failed.items())
            return None
        return results
