"""Image checks: planted blank, nearly blank, inverted, cut-off and few-level images are found with
their scores; clean generated images are not flagged; image folders refuse odd sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from mnistlab.data import Dataset, Split
from mnistlab.errors import FormatError
from mnistlab.quality.images import CHECKS, image_issues


def strokes(n: int, seed: int = 0, shift: int = 0, thickness: float = 1.2):
    """Anti-aliased rings and bars on 28x28, light on dark, inside the central 20x20; labels 0..2
    (ring, bar, both). ``shift`` moves them down, ``thickness`` widens the strokes."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    y, x = np.mgrid[0:28, 0:28].astype(np.float64)
    cy = 14 + shift + rng.uniform(-1.5, 1.5, n)[:, None, None]
    cx = 14 + rng.uniform(-1.5, 1.5, n)[:, None, None]
    radius = rng.uniform(5, 7.5, n)[:, None, None]
    ring = np.abs(np.hypot(y - cy, x - cx) - radius)
    slope = rng.uniform(-0.4, 0.4, n)[:, None, None]
    length = rng.uniform(6, 9, n)[:, None, None]
    bar = np.abs((x - cx) - slope * (y - cy)) + np.where(np.abs(y - cy) > length, 99.0, 0.0)
    distance = np.where(labels[:, None, None] == 0, ring, bar)
    distance = np.where(labels[:, None, None] == 2, np.minimum(ring, bar), distance)
    # Pen pressure varies a little from pixel to pixel, as in scanned ink.
    width = thickness * rng.uniform(0.8, 1.25, n)[:, None, None]
    ink = 255 * np.exp(-((distance / width) ** 2)) * rng.uniform(0.85, 1, distance.shape)
    return ink.round().clip(0, 255).astype(np.uint8), labels


PLANTED = {"blank": 0, "nearly_blank": 1, "inverted": 2, "cut_off": 3, "few_levels": 4}


@pytest.fixture(scope="module")
def planted():
    images, labels = strokes(600, seed=1)
    images[0] = 0
    images[1] = 0
    images[1, 13:15, 14] = 200
    images[2] = 255 - images[2]
    images[3] = np.roll(images[3], 12, axis=0)  # the lower part wraps: ink on the top and bottom rows
    images[3, :2] = 0
    images[3, 26:] = images[3, 24:26]
    images[4] = np.where(images[4] > 128, 255, 0)
    test = strokes(300, seed=2)
    return Dataset.from_arrays("planted", (images, labels), test, classes=["ring", "bar", "both"])


def test_every_planted_issue_is_found_with_its_score(planted):
    issues = image_issues(planted)
    table = issues.table.set_index(["split", "index", "check"])
    train = lambda i, check: table.loc[("train", i, check)]  # noqa: E731
    assert train(0, "blank")["flagged"] and train(0, "blank")["score"] == 0
    assert train(1, "blank")["flagged"] and train(1, "blank")["score"] == 2
    assert train(0, "low_information")["score"] == 0 and train(0, "low_information")["flagged"]
    assert train(4, "low_information")["flagged"] and train(4, "low_information")["score"] <= 1
    assert train(2, "polarity")["flagged"] and train(2, "polarity")["score"] < 0
    assert train(3, "cut_off")["flagged"] and train(3, "cut_off")["score"] > 0
    assert not train(3, "polarity")["flagged"] and not train(2, "blank")["flagged"]
    flagged = issues.flagged
    assert set(flagged.columns) >= {"split", "index", "class", "check", "score", "threshold"}
    assert flagged["flagged"].all() and list(dict.fromkeys(flagged["check"])) == [
        c for c in CHECKS if c in set(flagged["check"])
    ]


def test_clean_images_are_not_flagged(planted):
    """False positives are bounded: of 900 clean images, at most 1% per check (none expected)."""
    issues = image_issues(planted)
    rows = issues.table[
        ~issues.table["index"].isin(PLANTED.values()) | (issues.table["split"] == "test")
    ]
    per_check = rows.groupby("check")["flagged"].mean()
    assert (per_check <= 0.01).all(), per_check
    clean = Dataset.from_arrays("clean", strokes(600, 3), strokes(300, 4))
    assert image_issues(clean).table["flagged"].sum() <= 5


def test_counts_thresholds_and_their_derivation(planted):
    issues = image_issues(planted)
    counts = issues.counts()
    assert counts["check"].unique().tolist() == list(CHECKS)
    assert set(counts["split"]) == {"train", "test"}
    assert counts.set_index(["check", "split"]).loc[("blank", "train"), "flagged"] >= 2
    fences = issues.thresholds
    assert len(fences) == len(CHECKS) * 3 and set(fences["direction"]) == {"below", "above"}
    assert (fences.loc[fences["check"] == "polarity", "threshold"] <= 0).all()
    assert 0 < issues.ink_level < 255 and issues.background == 0
    summary = issues.to_dict()
    json.dumps(summary)
    assert summary["checks"]["cut_off"]["flagged"]["train"] >= 1
    assert "Tukey" in summary["checks"]["blank"]["derivation"]
    # A wider whisker flags fewer images, never more.
    assert image_issues(planted, whisker=6).table["flagged"].sum() <= issues.table["flagged"].sum()


def test_dark_on_light_datasets_are_checked_in_their_own_polarity(planted):
    inverted = planted.inverted()
    assert inverted.polarity().kind == "dark-on-light"
    issues = image_issues(inverted)
    table = issues.table.set_index(["split", "index", "check"])
    assert table.loc[("train", 2, "polarity"), "flagged"]  # the one light-on-dark image
    assert table.loc[("train", 0, "blank"), "flagged"]


def test_a_split_alone_and_small_images(planted):
    issues = image_issues(planted.test)
    assert set(issues.table["split"]) == {"test"}
    tiny = Split(np.zeros((4, 1, 1), np.uint8), np.array([0, 0, 1, 1]), ("a", "b"))
    assert len(image_issues(tiny).table) == 4 * len(CHECKS)


@pytest.mark.parametrize(
    ("data", "whisker", "message"),
    [
        ("mnist", 3, "Dataset or a Split"),
        (None, 0, "whisker must be a positive"),
        (None, True, "whisker must be a positive"),
    ],
)
def test_bad_inputs_are_refused(planted, data, whisker, message):
    with pytest.raises((TypeError, ValueError), match=message):
        image_issues(planted if data is None else data, whisker=whisker)


def test_image_folders_refuse_odd_sizes_and_read_any_depth_as_uint8(tmp_path):
    """Odd sizes never reach the checks: the folder reader refuses them; 16-bit, colour and 1-bit
    files are read as uint8 0..255 (scaled by their bit depth)."""
    import imageio.v3 as iio

    from mnistlab.data.formats.folders import read_image_folder

    images, _ = strokes(3)
    (tmp_path / "a").mkdir()
    iio.imwrite(tmp_path / "a" / "0.png", images[0])
    iio.imwrite(tmp_path / "a" / "1.png", (images[1].astype(np.uint16) * 257))
    iio.imwrite(tmp_path / "a" / "2.png", np.stack([images[2]] * 3, axis=-1))
    read = read_image_folder(tmp_path)
    assert read.images.dtype == np.uint8 and read.images.shape == (3, 28, 28)
    np.testing.assert_array_equal(read.images[1], images[1])
    iio.imwrite(tmp_path / "a" / "3.png", images[0][:20, :20])
    with pytest.raises(FormatError, match="same size"):
        read_image_folder(tmp_path)


@pytest.fixture
def cli_app():
    """The app with the health command registered and wrapped as mnistlab.cli does it."""
    import mnistlab.cli.health  # noqa: F401
    from mnistlab.cli import _reflow, app
    from mnistlab.cli._output import command

    wrapped = command(lambda: None).__code__
    for registered in app.registered_commands:
        callback = registered.callback
        if callback is not None and callback.__name__ == "health" and callback.__code__ is not wrapped:
            registered.help = _reflow(callback.__doc__ or "")
            registered.callback = command(callback)
    return app


def test_health_command_writes_the_table_drift_and_galleries(cli_app, planted, tmp_path):
    from mnistlab import save

    save(planted, tmp_path / "data", "npz")
    data = str(tmp_path / "data" / "planted.npz")
    runner = CliRunner()
    result = runner.invoke(cli_app, ["health", data, "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "image checks" in result.stdout and "blank" in result.stdout and "drift" in result.stdout
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"image-issues.csv", "drift.json", "issues-blank.png", "issues-polarity.png"} <= written
    import pandas as pd

    csv = pd.read_csv(tmp_path / "out" / "image-issues.csv")
    assert csv["flagged"].all() and {0, 1, 2, 3, 4} <= set(csv.loc[csv["split"] == "train", "index"])
    drift = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert drift["classifier"]["chance"] == 0.5
    payload = json.loads(runner.invoke(cli_app, ["health", data, "--first", "200", "--json"]).stdout)
    assert payload["images"]["checks"]["blank"]["flagged"]["train"] >= 2
    assert payload["drift"]["dataset"] == payload["dataset"]
    help_text = runner.invoke(cli_app, ["health", "--help"]).stdout
    assert "Example" in help_text and "health" in help_text


def test_health_without_a_test_split_checks_the_images_only(cli_app, planted, tmp_path):
    np.savez(tmp_path / "train.npz", x_train=planted.train.images, y_train=planted.train.labels)
    result = CliRunner().invoke(cli_app, ["health", str(tmp_path / "train.npz"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["drift"] is None and payload["images"]["checks"]["polarity"]["flagged"]["train"] >= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_datasets(name, real_cache):
    """MNIST: no blank or inverted image, its binarised and 5-level images and the 7s cut at the
    bottom border; Fashion-MNIST: a few dozen flat images, one on a light background."""
    import time

    import mnistlab

    ds = mnistlab.load(name, download=False, progress=False)
    start = time.perf_counter()
    issues = image_issues(ds)
    assert time.perf_counter() - start < 15
    flagged = issues.counts().groupby("check")["flagged"].sum()
    assert flagged["blank"] == 0
    if name == "mnist":
        assert flagged["polarity"] == 0 and 1_000 < flagged["low_information"] < 3_000
        assert 500 < flagged["cut_off"] < 1_200
        cut = issues.flagged[issues.flagged["check"] == "cut_off"]
        assert (cut["class"] == "7").mean() > 0.8
    else:
        assert flagged["polarity"] <= 3 and flagged["cut_off"] <= 3 and flagged["low_information"] < 200
