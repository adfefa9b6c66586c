"""Report sections: each one shows every dataset side by side.

Adding a section is one function: decorate it with ``@section(...)``; it receives a Dataset and
returns a :class:`Panel` (figures, tables, a note). Sections appear in the order they are
registered; ``SECTIONS`` holds them. For example::

    @section("sizes", "Sizes", "What the reader should look at.")
    def sizes(ds: Dataset) -> Panel:
        return Panel(tables=[Table(["train images"], [[len(ds.train)]])])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from matplotlib.figure import Figure

from mnistlab import plots, stats
from mnistlab.data.dataset import Dataset


@dataclass
class Table:
    """A small table: column names and rows of already formatted cells."""

    columns: list[str]
    rows: list[list[object]]


@dataclass
class Picture:
    """A figure rendered for embedding, with its alt text."""

    uri: str
    alt: str

    @classmethod
    def from_figure(cls, fig: Figure, alt: str) -> Picture:
        return cls(plots.to_data_uri(fig), alt)


@dataclass
class Panel:
    """What one section shows for one dataset."""

    pictures: list[Picture] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Section:
    """A report section: an anchor id, a title, a sentence or two on what to look at."""

    id: str
    title: str
    intro: str
    panel: Callable[[Dataset], Panel]


SECTIONS: list[Section] = []


def section(id: str, title: str, intro: str) -> Callable[[Callable[[Dataset], Panel]], Callable]:
    """Register a function ``Dataset -> Panel`` as a report section."""

    def register(func: Callable[[Dataset], Panel]) -> Callable[[Dataset], Panel]:
        if any(s.id == id for s in SECTIONS):
            raise ValueError(f"a report section with id {id!r} already exists.")
        SECTIONS.append(Section(id, title, intro, func))
        return func

    return register


# --------------------------------------------------------------------------------------------


@section(
    "overview",
    "Sizes and classes",
    "How many images each split holds and how they spread over the classes. In a balanced "
    "dataset every class has the same count; an imbalance changes what 'accuracy' means later.",
)
def overview(ds: Dataset) -> Panel:
    facts = Table(
        ["", ""],
        [
            ["image shape", f"{ds.image_shape[0]} x {ds.image_shape[1]} pixels, uint8"],
            *[[f"{name} images", f"{len(split):,}"] for name, split in ds.splits.items()],
            ["classes", str(len(ds.classes))],
        ],
    )
    counts = {name: split.class_counts() for name, split in ds.splits.items()}
    per_class = Table(
        ["label", "class", *counts],
        [[k, name, *[f"{counts[s][name]:,}" for s in counts]] for k, name in enumerate(ds.classes)],
    )
    return Panel(tables=[facts, per_class], note=f"Loaded from {ds.source}.")


@section(
    "first-images",
    "The first training images",
    "The first 12 training images with their index and class: what one example of each kind "
    "looks like, drawn with white = 0 and black = 255 for every dataset.",
)
def first_images(ds: Dataset) -> Panel:
    n = min(12, len(ds.train))
    fig = plots.image_grid(ds.train, range(n), columns=6)
    return Panel(pictures=[Picture.from_figure(fig, f"first {n} training images of {ds.name}")])


@section(
    "pixel-values",
    "Pixel values",
    "The share of pixels taking each value 0..255 in the training images (log scale). Most "
    "pixels are background (0); how much of the rest sits at full ink (255) or in between tells "
    "how close to black-and-white the images are.",
)
def pixel_values(ds: Dataset) -> Panel:
    counts = stats.pixel_value_counts(ds.train.images)
    shares = stats.PixelShares.from_counts(counts)
    fig = plots.pixel_histogram(counts)
    table = Table(
        ["pixels equal to 0", "in 1..254", "equal to 255"],
        [[f"{shares.zero:.1%}", f"{shares.between:.1%}", f"{shares.full:.1%}"]],
    )
    return Panel(
        pictures=[Picture.from_figure(fig, f"histogram of pixel values in {ds.name}")],
        tables=[table],
    )
