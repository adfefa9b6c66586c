"""What the reductions over large datasets give back: small results with the same tables as
their in-memory counterparts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mnistlab.data.dataset import Split
from mnistlab.data.lazy import LazySplit
from mnistlab.scale.reductions import DISTANCE_BIN, Extremes
from mnistlab.stats import Typicality


@dataclass(frozen=True, repr=False)
class TypicalityExtremes:
    """The least and most typical images of each class (see
    :func:`mnistlab.scale.typicality_extremes`)."""

    classes: tuple[str, ...]
    counts: np.ndarray
    extremes: Extremes

    def __repr__(self) -> str:
        return (
            f"TypicalityExtremes(classes={len(self.classes)}, images={int(self.counts.sum())}, "
            f"per_class={self.extremes.per_class})"
        )

    def _table(self, ends) -> pd.DataFrame:
        rows = []
        for k, (distances, positions) in enumerate(ends):
            for rank, (d, p) in enumerate(zip(distances, positions, strict=True)):
                rows.append((k, self.classes[k], rank, int(p), int(p), float(d)))
        columns = ["label", "class", "rank", "index", "position", "distance"]
        return pd.DataFrame(rows, columns=columns)

    def least_typical(self) -> pd.DataFrame:
        """``label, class, rank_in_class, index, position, distance``, as
        :meth:`mnistlab.stats.Typicality.least_typical` gives them (rank 1 = least typical)."""
        table = self._table(self.extremes.least)
        table["rank"] += 1
        return table.rename(columns={"rank": "rank_in_class"})

    def most_typical(self) -> pd.DataFrame:
        """As :meth:`mnistlab.stats.Typicality.most_typical`: the nearest to their centroid first;
        ``rank_in_class`` counts from the least typical, as there."""
        table = self._table(self.extremes.most)
        table["rank"] = self.counts[table["label"]] - table["rank"]
        return table.rename(columns={"rank": "rank_in_class"})

    def summary(self) -> pd.DataFrame:
        """Per class: ``n``, ``median`` (to within half a ``DISTANCE_BIN``), ``p90`` (the 90th
        percentile's bin) and ``max``."""
        rows = []
        for k, histogram in enumerate(self.extremes.histogram):
            n = int(histogram.sum())
            if n == 0:
                rows.append((k, self.classes[k], 0, np.nan, np.nan, np.nan))
                continue
            cumulative = np.cumsum(histogram)
            # The mean of the two middle values (one value for odd n), as pandas' median.
            middle = np.searchsorted(cumulative, [(n + 1) // 2, n // 2 + 1]).mean()
            median = float(middle) * DISTANCE_BIN
            p90 = np.searchsorted(cumulative, 0.9 * n) * DISTANCE_BIN
            rows.append((k, self.classes[k], n, median, p90, float(self.extremes.least[k][0][0])))
        return pd.DataFrame(rows, columns=["label", "class", "n", "median", "p90", "max"])

    def gallery(self, split) -> tuple[Split, Typicality]:
        """The images of the least and most typical tables read from ``split`` (the split the
        extremes were found in: a Zarr store's split is read only where they lie), and their
        :class:`~mnistlab.stats.Typicality` with their true ranks in their classes: what
        :func:`mnistlab.plots.typicality_gallery` draws."""
        least, most = self.least_typical(), self.most_typical()
        table = pd.concat([least, most]).drop_duplicates("position").sort_values("position")
        positions = table["position"].to_numpy(np.int64)
        read = split.take(positions) if isinstance(split, LazySplit) else split[positions]
        found = Typicality(
            indices=np.asarray(read.indices),
            labels=table["label"].to_numpy(np.int64),
            distances=table["distance"].to_numpy(np.float64),
            rank_in_class=table["rank_in_class"].to_numpy(np.int64),
            classes=self.classes,
        )
        return read, found
