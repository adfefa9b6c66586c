"""An InfiMNIST-like dataset: any number of deformed MNIST training digits, made on the fly.

In the spirit of InfiMNIST (Loosli, Canu and Bottou, "Training invariant support vector machines
using selective sampling", 2007), which numbers its images so that 0..9,999 are the MNIST test
set, 10,000..69,999 the training set, and an index ``i >= 70,000`` is a deformation of training
image ``10,000 + (i - 10,000) mod 60,000``. MNIST8M is indices 10,000..8,109,999. Here the
training split of ``n`` images is indices ``10,000 .. 10,000 + n - 1``: the 60,000 training
digits, then their deformations; the test split is MNIST's test set.

A deformation is a random affine map (rotation within +-10 degrees, scale 0.9..1.1, shear within
+-0.15, shift within +-1.5 pixels) composed with an elastic displacement field (Simard, Steinkraus
and Platt 2003: uniform random displacements smoothed by a Gaussian of sigma 4 pixels, times
alpha 34; the Gaussian is cut at 2 sigma), resampled bilinearly. Image ``i``'s deformation
depends only on ``seed`` and ``i``, so any range is made independently, in any order, on any
number of threads, with the same result.
This is "InfiMNIST-like": the same numbering and the same kinds of deformation, not bit-identical
to Bottou's tool (which uses precomputed deformation fields).
"""

from __future__ import annotations

import numpy as np

#: InfiMNIST's numbering: the first index of the training digits, and how many there are.
FIRST_TRAIN = 10_000
N_TRAIN = 60_000
#: Deformation parameters (see the module docstring).
ROTATION_DEGREES = 10.0
SCALE = 0.1
SHEAR = 0.15
SHIFT = 1.5
ELASTIC_SIGMA = 4.0
ELASTIC_ALPHA = 34.0
#: Images deformed at once: float64 work arrays of a few MB.
BATCH = 1024


class InfiMNIST:
    """``n`` InfiMNIST-like training images as a read-only array: ``images[a:b]`` makes images
    ``a..b-1`` (uint8, like the source); ``labels`` are their source digits' labels.

    Parameters
    ----------
    images : ndarray of shape (60000, h, w), uint8
        The source training images (MNIST's).
    labels : ndarray of shape (60000,)
        Their labels.
    n : int
        How many images (the first 60,000 are the sources themselves).
    seed : int, default 0
        Seed of every deformation.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, n: int, seed: int = 0) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive whole number of images, got {n!r}.")
        self.sources = np.asarray(images)
        self.source_labels = np.asarray(labels)
        if len(self.sources) != len(self.source_labels) or len(self.sources) == 0:
            raise ValueError("the source images and labels must be non-empty and as many.")
        self.n = int(n)
        self.seed = int(seed)
        self.shape = (self.n, *self.sources.shape[1:])
        self.dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return self.n

    def source_of(self, positions: np.ndarray) -> np.ndarray:
        """The source training image of each position (InfiMNIST's ``(i - 10,000) mod 60,000``)."""
        return np.asarray(positions) % len(self.sources)

    @property
    def labels(self) -> LabelsOf:
        return LabelsOf(self)

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, step = key.indices(self.n)
        if step != 1:
            raise TypeError("InfiMNIST images are made in ranges: images[a:b].")
        out = np.empty((max(stop - start, 0), *self.shape[1:]), dtype=np.uint8)
        for a in range(start, stop, BATCH):
            b = min(a + BATCH, stop)
            out[a - start : b - start] = self._make(np.arange(a, b))
        return out

    def _make(self, positions: np.ndarray) -> np.ndarray:
        images = self.sources[self.source_of(positions)]
        deformed = positions >= len(self.sources)
        if deformed.any():
            images = images.copy()
            images[deformed] = deform(images[deformed], positions[deformed], self.seed)
        return images


class LabelsOf:
    """The labels of an :class:`InfiMNIST`, as a read-only array (``labels[a:b]``)."""

    def __init__(self, data: InfiMNIST) -> None:
        self.data = data
        self.shape = (data.n,)

    def __len__(self) -> int:
        return self.data.n

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, _ = key.indices(self.data.n)
        return self.data.source_labels[self.data.source_of(np.arange(start, stop))]


def deform(images: np.ndarray, positions: np.ndarray, seed: int) -> np.ndarray:
    """Each image deformed by the random affine and elastic map of its position (see the module
    docstring); uint8 in, uint8 out."""
    from scipy import ndimage

    n, h, w = images.shape
    # Every random number of image i from its own generator: (seed, i) alone decide it.
    draws = np.empty((n, 2 * h * w + 6))
    for k, position in enumerate(positions):
        draws[k] = np.random.default_rng([seed, int(position)]).uniform(-1, 1, size=draws.shape[1])
    fields = draws[:, : 2 * h * w].reshape(n, 2, h, w)
    angle, scale_y, scale_x, shear, shift_y, shift_x = draws[:, 2 * h * w :].T
    angle = np.deg2rad(angle * ROTATION_DEGREES)
    cos, sin = np.cos(angle), np.sin(angle)
    sy, sx, shear = 1 + SCALE * scale_y, 1 + SCALE * scale_x, SHEAR * shear
    # rotation @ shear @ diag(scale), for every image at once
    affine = np.empty((n, 2, 3))
    affine[:, 0, 0] = cos * sy
    affine[:, 0, 1] = (cos * shear - sin) * sx
    affine[:, 1, 0] = sin * sy
    affine[:, 1, 1] = (sin * shear + cos) * sx
    affine[:, 0, 2] = SHIFT * shift_y
    affine[:, 1, 2] = SHIFT * shift_x
    # Smooth each displacement field over the image axes only (not across images or x/y).
    sigma = (0, 0, ELASTIC_SIGMA, ELASTIC_SIGMA)
    fields = ndimage.gaussian_filter(fields, sigma=sigma, truncate=2.0) * ELASTIC_ALPHA
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    grid = np.stack([yy - centre[0], xx - centre[1]])  # (2, h, w)
    # Where each output pixel samples the source: affine of the centred grid, plus the field.
    mapped = np.einsum("nij,jhw->nihw", affine[:, :, :2], grid) + affine[:, :, 2, None, None]
    mapped += centre[None, :, None, None] + fields
    return np.clip(np.rint(_bilinear(images, mapped[:, 0], mapped[:, 1])), 0, 255).astype(np.uint8)


def _bilinear(images: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``images[k]`` sampled at ``(y[k], x[k])`` (float pixel coordinates), bilinearly, 0 outside:
    scipy's ``map_coordinates(order=1, mode="grid-constant")`` per image, as one gather."""
    n, h, w = images.shape
    padded = np.zeros((n, h + 2, w + 2))
    padded[:, 1:-1, 1:-1] = images
    # Coordinates in the padded images; beyond the border they read zeros.
    y = np.clip(y + 1, 0, h + 1)
    x = np.clip(x + 1, 0, w + 1)
    y0 = np.minimum(np.floor(y).astype(np.int64), h)
    x0 = np.minimum(np.floor(x).astype(np.int64), w)
    dy, dx = y - y0, x - x0
    flat = padded.reshape(n, -1)
    base = y0 * (w + 2) + x0
    rows = np.arange(n)[:, None, None]

    def at(offset: np.ndarray) -> np.ndarray:
        return flat[rows, offset]

    top = at(base) * (1 - dx) + at(base + 1) * dx
    bottom = at(base + w + 2) * (1 - dx) + at(base + w + 3) * dx
    return top * (1 - dy) + bottom * dy


def generate_infimnist(
    n: int, out, *, seed: int = 0, progress: bool | None = None, download: bool = True
):
    """Write an InfiMNIST-like dataset of ``n`` training images (and MNIST's test set) to the
    new Zarr store ``out``, chunk by chunk on all cores, in bounded memory.

    Parameters
    ----------
    n : int
        Training images: MNIST's 60,000, then deformations (8,100,000 for MNIST8M's size).
    out : str or Path
        The store to write (a new folder, e.g. ``mnist8m.zarr``).
    seed : int, default 0
        Seed of every deformation: the same seed gives the same images.
    progress : bool, optional
        A bar over the chunks (default: when stderr is a terminal).
    download : bool, default True
        Whether MNIST may be downloaded if no local copy is found.

    Returns
    -------
    LazyDataset
        The store, opened.
    """
    from mnistlab.data.formats.zarr import check_new_store, write_zarr
    from mnistlab.data.lazy import load_zarr
    from mnistlab.data.loading import load

    out = check_new_store(out)  # before loading MNIST
    mnist = load("mnist", download=download, progress=progress)
    assert mnist.test is not None  # MNIST has its test split
    data = InfiMNIST(mnist.train.images, mnist.train.labels, n, seed=seed)
    splits = {"train": (data, data.labels), "test": (mnist.test.images, mnist.test.labels)}
    name = f"infimnist-{n}"
    write_zarr(out, name, mnist.classes, mnist.image_shape, splits, progress=progress)
    return load_zarr(out)
