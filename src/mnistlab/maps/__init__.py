"""Dataset maps: PCA, t-SNE and UMAP embeddings in two dimensions, and how faithful they are.

>>> import mnistlab
>>> m = mnistlab.embed(mnistlab.load("digits"), "pca")
>>> m.title, m.coordinates.shape, m.faithfulness.knn_pixels > m.faithfulness.knn_map
('PCA', (1347, 2), True)
"""

from __future__ import annotations

from mnistlab.maps.embedding import METHODS, PCA_FIRST, Map, Placed, embed
from mnistlab.maps.faithfulness import Faithfulness, faithfulness, mixed_pairs
from mnistlab.maps.page import (
    bokeh_script,
    map_caption,
    map_components,
    map_figure,
    map_page,
    png_data_uris,
    write_map_page,
)

__all__ = [
    "METHODS",
    "PCA_FIRST",
    "Faithfulness",
    "Map",
    "Placed",
    "bokeh_script",
    "embed",
    "faithfulness",
    "map_caption",
    "map_components",
    "map_figure",
    "map_page",
    "mixed_pairs",
    "png_data_uris",
    "write_map_page",
]
