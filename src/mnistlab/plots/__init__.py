"""matplotlib figures, one function per figure, each returning a Figure (never showing it).

Images are drawn with white = 0 and black = 255 (``IMAGE_CMAP``), the same in every figure and for
every dataset, so ink is dark on paper whatever the dataset.

One module per subject:

- :mod:`~mnistlab.plots.images`: grids of images (:func:`image_grid`, :func:`titled_images`);
- :mod:`~mnistlab.plots.pixels`: pixel-value histograms, overall and per class;
- :mod:`~mnistlab.plots.centroids`: the mean image of every class, centroid differences of pairs;
- :mod:`~mnistlab.plots.typicality`: distances to the class centroid, least and most typical images;
- :mod:`~mnistlab.plots.onepixel`: the one-pixel separability heat map and best pixels;
- :mod:`~mnistlab.plots.similarity`: duplicate pairs, two images and their difference;
- :mod:`~mnistlab.plots.models`: a model's confusion matrix and most confident mistakes;
- :mod:`~mnistlab.plots.quality`: label issues' estimated noise matrix and gallery;
- :mod:`~mnistlab.plots.values`: an image as its matrix of values and as a row of features;
- :mod:`~mnistlab.plots.output`: figures as PNG bytes, ``data:`` URIs and files (``save``).

What every figure shares (colours, ``DPI``, the ``MAX_*`` caps that keep a figure within
``MAX_FIGURE_INCHES`` a side) is in ``_style``; the fixed -255..255 scale of differences in
``_differences``.
"""

from mnistlab.plots._differences import DIFFERENCE_CMAP, DIFFERENCE_LIMIT
from mnistlab.plots._style import (
    DPI,
    EXTREME_COLOUR,
    IMAGE_CMAP,
    MAX_BOX_CLASSES,
    MAX_CONFUSION_CLASSES,
    MAX_FIGURE_INCHES,
    MAX_GALLERY_CLASSES,
    MAX_GALLERY_PER_CLASS,
    MAX_GRID_CLASSES,
    MAX_HISTOGRAM_CLASSES,
    MAX_PAIR_CLASSES,
    MAX_PAIR_PANELS,
)
from mnistlab.plots.centroids import centroid_grid, pair_differences
from mnistlab.plots.images import image_grid, titled_images
from mnistlab.plots.maps import map_scatter, thumbnail_map, variance_curve
from mnistlab.plots.models import confident_mistakes, confusion_matrix
from mnistlab.plots.onepixel import SEPARABILITY_CMAP, best_pixels, separability_heatmap
from mnistlab.plots.output import FIGURE_FORMATS, figure_bytes, save, to_data_uri, to_png_bytes
from mnistlab.plots.pixels import pixel_histogram, pixel_histograms_by_class
from mnistlab.plots.quality import issue_gallery, noise_matrix
from mnistlab.plots.similarity import comparison, duplicate_pairs
from mnistlab.plots.typicality import DISTANCE_LIMIT, distance_boxplot, typicality_gallery
from mnistlab.plots.values import MAX_VALUE_SIDE, check_value_image, flattening, pixel_values

__all__ = [
    "DIFFERENCE_CMAP",
    "DIFFERENCE_LIMIT",
    "DISTANCE_LIMIT",
    "DPI",
    "EXTREME_COLOUR",
    "FIGURE_FORMATS",
    "IMAGE_CMAP",
    "MAX_BOX_CLASSES",
    "MAX_CONFUSION_CLASSES",
    "MAX_FIGURE_INCHES",
    "MAX_GALLERY_CLASSES",
    "MAX_GALLERY_PER_CLASS",
    "MAX_GRID_CLASSES",
    "MAX_HISTOGRAM_CLASSES",
    "MAX_PAIR_CLASSES",
    "MAX_PAIR_PANELS",
    "MAX_VALUE_SIDE",
    "SEPARABILITY_CMAP",
    "best_pixels",
    "centroid_grid",
    "check_value_image",
    "comparison",
    "confident_mistakes",
    "confusion_matrix",
    "distance_boxplot",
    "duplicate_pairs",
    "figure_bytes",
    "flattening",
    "image_grid",
    "issue_gallery",
    "map_scatter",
    "noise_matrix",
    "pair_differences",
    "pixel_histogram",
    "pixel_histograms_by_class",
    "pixel_values",
    "save",
    "separability_heatmap",
    "thumbnail_map",
    "titled_images",
    "to_data_uri",
    "to_png_bytes",
    "typicality_gallery",
    "variance_curve",
]
