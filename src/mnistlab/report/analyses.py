"""Results several report sections share, computed once per dataset per report."""

from __future__ import annotations

from concurrent.futures import Future
from functools import cached_property

import numpy as np
import pandas as pd

from mnistlab import stats
from mnistlab.data.dataset import Dataset
from mnistlab.data.lazy import LazyDataset
from mnistlab.errors import MnistlabError
from mnistlab.models.evaluation import Evaluation, evaluate

#: Training images the binarisation check fits its models on (logistic regression dominates
#: the report's running time; 10,000 images keep it to seconds and the comparison fair).
BINARISATION_TRAIN = 10_000


#: Least and most typical images per class in the atypical section's gallery.
GALLERY_PER_CLASS = 4
#: Test images whose nearest training images the similarity section shows.
NEIGHBOUR_QUERIES = 3

#: The models the report trains by default. k-NN is not among them: the report already finds
#: every test image's nearest training images (similarity section) and reports that k-NN as
#: "knn-pixels" instead of searching again; the named "knn" (standardised pixels, the paper's
#: configuration) runs when asked for (``--models quick`` or ``knn``).
REPORT_MODELS = ("centroid", "mlp")
#: The name of the k-NN row the report takes from its shared neighbour search.
PIXEL_KNN = "knn-pixels"
#: The report's map: its method, and how many images of the test split it maps (a stratified
#: sample beyond; the training split's when there is no test split). On 2 cores t-SNE takes
#: 14 s for 5,000 MNIST images (Barnes-Hut) but 48-58 s for all 10,000 (FFT), and UMAP
#: compiles its numba code for about 40 s in every new process: 5,000 keeps the report within
#: its 3 minutes, and the interactive map's hover images within 2-3 MB per dataset.
MAP_METHOD = "tsne"
MAP_POINTS = 5_000
#: The points the map's faithfulness is measured on (trustworthiness holds n x n distances).
MAP_MEASURED = 2_000
#: t-SNE's threads for the report's maps: the same on every machine, so that a report's map is
#: the same everywhere (openTSNE's map depends on its thread count). Two finish a 5,000-point map
#: in 17 s instead of 23 on one; at the lowest priority, they take a core only while it is idle.
MAP_THREADS = 2


class Analyses:
    """Lazily computed analyses of one dataset (training split unless said otherwise).

    A Zarr store's dataset (:class:`~mnistlab.data.lazy.LazyDataset`) is analysed as reductions
    over its chunks (:mod:`mnistlab.scale`), on ``client`` if one is given: one pass gives the
    pixel values, the centroids and the nearest-centroid classifier's centroids; the analyses that
    need every image in memory are ``None`` for it, and :attr:`in_memory_only` says why.
    """

    def __init__(
        self, ds: Dataset | LazyDataset, models: str | tuple[str, ...] = REPORT_MODELS, client=None
    ) -> None:
        self.ds = ds
        self.model_names = models
        self.client = client if isinstance(ds, LazyDataset) else None
        #: Why the models section could not train its models, when it could not.
        self.models_error: str | None = None
        #: Models that could not be trained or tested, with the reason (the others were).
        self.models_failed: dict[str, str] = {}
        #: Why the map could not be made, when it could not.
        self.map_error: str | None = None
        self._map_future: Future | None = None

    @property
    def store(self) -> bool:
        """Whether the dataset is a Zarr store's, analysed chunk by chunk."""
        return isinstance(self.ds, LazyDataset)

    @property
    def memory(self) -> Dataset:
        """The dataset, for the analyses that need its images in memory (never run for a store:
        they check :attr:`store` first)."""
        assert isinstance(self.ds, Dataset), "a store's analyses run as reductions over its chunks"
        return self.ds

    @property
    def in_memory_only(self) -> str:
        """Why a section that needs every image in memory left this store out."""
        n = sum(len(s) for s in self.ds.splits.values())
        return (
            f"{self.ds.name} is a Zarr store of {n:,} images, analysed chunk by chunk; this "
            "analysis needs the images in memory, so it is left out (report the first N images "
            "of each split with mnistlab report STORE --first N)."
        )

    @cached_property
    def sums(self):
        """A store's training split reduced to class counts, pixel values and pixel sums."""
        from mnistlab.scale import image_sums

        return image_sums(self.ds.train, client=self.client, progress=False)

    @cached_property
    def pixel_counts(self) -> np.ndarray:
        if self.store:
            return self.sums.value_counts.sum(axis=0)
        return stats.pixel_value_counts(self.memory.train.images)

    @cached_property
    def pixel_counts_by_class(self) -> np.ndarray:
        if self.store:
            return self.sums.value_counts
        train = self.memory.train
        return stats.pixel_value_counts_by_class(train.images, train.labels, len(train.classes))

    @cached_property
    def centroids(self) -> stats.Centroids:
        train = self.ds.train
        if self.store:
            return stats.Centroids(self.sums.means(train.image_shape), self.sums.counts, train.classes)
        return stats.centroids(self.memory.train)

    @cached_property
    def closest_pairs(self) -> pd.DataFrame:
        """Every pair of classes by the RMS difference of their centroids, closest first."""
        return self.centroids.closest_pairs()

    @cached_property
    def typicality(self):
        """Every training image's distance to its centroid (``stats.Typicality``); a store's
        least and most typical images per class (``scale.TypicalityExtremes``)."""
        if self.store:
            from mnistlab.scale import typicality_extremes

            return typicality_extremes(
                self.ds.train, GALLERY_PER_CLASS, client=self.client, progress=False, sums=self.sums
            )
        train = self.memory.train
        return stats.typicality(
            train.images, train.labels, train.classes, train.indices, self.centroids.means
        )

    @cached_property
    def one_pixel(self):
        from mnistlab.onepixel import one_pixel_separability

        return one_pixel_separability(self.ds, scale="unit", progress=False, client=self.client)

    @cached_property
    def train_index(self):
        """The exact neighbour index of the training images, built once for every section."""
        from mnistlab.similarity import NearestImages

        return NearestImages().fit(self.memory.train.images)

    @cached_property
    def test_neighbours(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Distances and indices of the 5 nearest training images of every test image (none for a
        store: every test image against every training image costs their product)."""
        test = None if self.store else self.memory.test
        if test is None or len(self.ds.train) < 5:
            return None
        return self.train_index.kneighbors(test.images, 5)

    @cached_property
    def store_neighbours(self):
        """For a store with a test split: its first test images (a Split) and the positions of
        their 5 nearest training images, by an exact search over every chunk; else None."""
        from mnistlab.scale import nearest_training_images

        test = self.ds.test
        if not self.store or test is None or len(self.ds.train) < 5 or not len(test):
            return None
        queries = test[0:NEIGHBOUR_QUERIES]
        _, found = nearest_training_images(
            queries.images, self.ds.train, 5, client=self.client, progress=False
        )
        return queries, found

    @cached_property
    def pixel_knn(self) -> dict[int, Evaluation] | None:
        """k-NN test evaluation on the raw pixels for k = 1, 3, 5 (majority vote), from the
        shared neighbour search: the models section's "knn-pixels" row and the similarity
        section's table, with no search of their own."""
        from mnistlab.similarity import vote

        train, test = self.memory.train, self.memory.test
        if self.test_neighbours is None or test is None:  # no neighbours without a test split
            return None
        found = self.test_neighbours[1]
        return {
            k: evaluate(
                test.labels,
                vote(train.labels[found[:, :k]], len(self.memory.classes)),
                self.memory.classes,
            )
            for k in (1, 3, 5)
        }

    @cached_property
    def duplicates(self):
        """Exact and near duplicates; for a store, the exact ones (threshold 0), found from
        content fingerprints over its chunks."""
        if self.store:
            from mnistlab.scale import exact_duplicates

            return exact_duplicates(self.ds, client=self.client, progress=False)
        from mnistlab.similarity import find_duplicates

        return find_duplicates(self.memory, index=self.train_index, neighbours=self.test_neighbours)

    @cached_property
    def nearest_centroid(self) -> Evaluation | None:
        from mnistlab.models import NearestCentroidClassifier

        if self.store:
            from mnistlab.scale import nearest_centroid_evaluation

            test = self.ds.test
            if test is None or np.count_nonzero(self.sums.counts) < 2:
                return None
            train = self.ds.train
            return nearest_centroid_evaluation(
                train, test, client=self.client, progress=False, sums=self.sums
            )
        if self.memory.test is None or len(np.unique(self.memory.train.labels)) < 2:
            return None
        model = NearestCentroidClassifier().fit(self.memory.train.images, self.memory.train.labels)
        return evaluate(
            self.memory.test.labels, model.predict(self.memory.test.images), self.memory.classes
        )

    @cached_property
    def label_issues(self):
        """Label issues of the test split, from the probabilities of a model the models section
        trained (the MLP if it ran, else the most accurate that gives probabilities), and the
        duplicates the similarity section found: no model is trained for this."""
        from mnistlab.quality import Probabilities, label_issues

        if self.store or not self.models:
            return None
        test = self.memory.test
        assert test is not None  # the models were tested on it
        candidates = [r for r in self.models if r.trained.has_probabilities]
        if not candidates:
            return None
        mlp = [r for r in candidates if r.model == "mlp"]
        chosen = mlp[0] if mlp else max(candidates, key=lambda r: r.evaluation.accuracy)
        probabilities = Probabilities(
            self.ds.name,
            "test",
            chosen.model,
            None,
            0,
            tuple(self.ds.classes),
            np.asarray(test.indices),
            np.asarray(test.labels),
            chosen.trained.predict_proba(test.images),
        )
        return label_issues(self.memory, "test", probabilities=probabilities, duplicates=self.duplicates)

    @cached_property
    def binarisation(self) -> pd.DataFrame | None:
        from mnistlab.models.binarisation import binarisation_effect

        if self.store or self.ds.test is None or len(np.unique(self.memory.train.labels)) < 2:
            return None
        return binarisation_effect(self.memory, max_train=BINARISATION_TRAIN)

    @cached_property
    def models(self):
        """The named models trained on train and tested on test (ModelResult list), or None."""
        from mnistlab.models import benchmark

        if self.store or self.ds.test is None or len(np.unique(self.memory.train.labels)) < 2:
            return None
        try:
            results = benchmark(self.memory, self.model_names, progress=False)
        except (ValueError, MnistlabError) as exc:
            self.models_error = str(exc)
            return None
        self.models_failed = results.failed
        if not results:  # e.g. all-black images: no variance to scale
            self.models_error = "; ".join(f"{m}: {why}" for m, why in results.failed.items())
            return None
        return results

    def prefetch_map(self, pool) -> None:
        """Start making :attr:`map` on ``pool`` (a ``concurrent.futures`` executor), on a
        thread at the lowest priority (t-SNE on ``MAP_THREADS`` threads of it): t-SNE releases
        the GIL, so the map is made in the time the sections before it leave a core idle (drawing
        figures) without slowing them. Nothing is started for a store or a map already made."""
        if not self.store and "map" not in self.__dict__ and self._map_future is None:
            self._map_future = pool.submit(_in_spare_time, self._make_map)

    @cached_property
    def map(self):
        """A 2-D map (:class:`mnistlab.maps.Map`, ``MAP_METHOD``) of the test split (at most
        ``MAP_POINTS`` images, a stratified sample beyond), or of the training split without a
        test split; None for a store, or when the images cannot be mapped (``map_error``).
        Waits for the map :meth:`prefetch_map` started, if it did."""
        if self._map_future is not None:
            return self._map_future.result()
        return self._make_map()

    def _make_map(self):
        from mnistlab.maps import embed

        if self.store:
            return None
        split = "test" if self.memory.test is not None else "train"
        n = len(self.memory.split(split))
        try:
            return embed(
                self.memory,
                MAP_METHOD,
                split=split,
                sample=MAP_POINTS if n > MAP_POINTS else None,
                # A small split gets the largest perplexity it allows (t-SNE needs 3 x perplexity
                # neighbours), so that it has a map too.
                perplexity=min(30.0, (min(n, MAP_POINTS) - 1) / 3),
                # and the most neighbours its faithfulness can vote with (fewer than half of it)
                k=max(1, min(10, (min(n, MAP_MEASURED) - 1) // 2)),
                measure=n >= 3,
                measure_sample=MAP_MEASURED,
                threads=MAP_THREADS,
            )
        except ValueError as exc:
            self.map_error = str(exc)
            return None


def _in_spare_time(func, *args):
    """Run ``func(*args)`` with this thread at the lowest CPU priority (Linux gives each thread
    its own nice value; elsewhere the priority stays as it is)."""
    import contextlib
    import os
    import threading

    # Not Linux, or not allowed: the thread runs at the usual priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    return func(*args)
