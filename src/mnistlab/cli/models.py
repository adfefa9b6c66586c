"""Commands about models: benchmark, train, predict."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mnistlab import plots
from mnistlab.cli._app import app
from mnistlab.cli._options import (
    AsJson,
    FirstEach,
    NameArg,
    NoDownload,
    _dataset,
    _load_data,
    _loads_data,
)
from mnistlab.cli._output import (
    Result,
    _check_folder,
    _check_outputs,
    _check_writable,
    _csv_bytes,
    _fail,
    _input,
    _refuse_inputs_as_outputs,
    _write_files,
)


def _benchmark_files(loaded, results) -> dict[str, bytes]:
    import pandas as pd

    from mnistlab._utils.files import safe_filename
    from mnistlab.models import results_table

    by_name = {ds.name: ds for ds in loaded}
    files: dict[str, bytes] = {"results.csv": _csv_bytes(results_table(results))}
    per_class = [r.evaluation.table().assign(dataset=r.dataset, model=r.model) for r in results]
    table = pd.concat(per_class, ignore_index=True)
    columns = ["dataset", "model", "label", "class", "n", "correct", "accuracy"]
    files["per-class.csv"] = _csv_bytes(table[columns])
    for r in results:
        stem = f"{safe_filename(r.dataset)}-{r.model}"
        title = f"{r.dataset} · {r.model}: {r.evaluation.accuracy:.1%}"
        files[f"confusion-{stem}.png"] = plots.to_png_bytes(
            plots.confusion_matrix(r.evaluation, title=title)
        )
        mistakes = plots.confident_mistakes(by_name[r.dataset], r)
        if mistakes is not None:
            files[f"mistakes-{stem}.png"] = plots.to_png_bytes(mistakes)
    return files


@app.command("benchmark")
@_loads_data()
def benchmark_command(
    names: Annotated[list[str], typer.Argument(help="Datasets (names or paths), side by side.")],
    models: Annotated[
        str,
        typer.Option(
            help="Comma-separated model names (centroid, knn, logreg, linear-svm, tree, forest, "
            "boosting, rbf-svm, mlp, cnn) or a set: quick, default, classic, all."
        ),
    ] = "default",
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Seed of every random choice.")] = 0,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Folder for results.csv, per-class.csv, and per dataset and model "
            "confusion-DATASET-MODEL.png and mistakes-DATASET-MODEL.png.",
        ),
    ] = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Train models on each dataset's train split; accuracy and time on its test split.

    The classic models are scikit-learn pipelines (StandardScaler, then the classifier) with
    configurations from the Fashion-MNIST benchmark, whose published accuracies are shown beside
    ours. The default set leaves out the slow linear-svm and rbf-svm; quick (centroid, knn, tree,
    mlp) takes about a minute per dataset. Example:
    [bold]mnistlab benchmark mnist fashion-mnist --models quick -o bench/[/]
    """
    from mnistlab._utils.files import safe_filename
    from mnistlab.models import benchmark, resolve_models
    from mnistlab.models.trained import require_train_and_test

    chosen = resolve_models(models)
    loaded = _load_data(names, no_download)
    if output is not None:
        figures = [
            f"{kind}-{safe_filename(ds.name)}-{m}.png"
            for ds in loaded
            for m in chosen
            for kind in ("confusion", "mistakes")
        ]
        _check_folder(output, ["results.csv", "per-class.csv", *figures])
    labels = [ds.name for ds in loaded]
    if len(set(labels)) != len(labels):
        _fail(f"the datasets are named {labels}: each may appear once, as it labels the results.")
    for ds in loaded:  # every dataset before the first model is trained
        require_train_and_test(ds)
    results: list = []
    failed: list[dict[str, str]] = []
    for ds in loaded:
        found = benchmark(ds, chosen, seed=seed)
        results.extend(found)
        failed += [{"dataset": ds.name, "model": m, "reason": why} for m, why in found.failed.items()]
    for f in failed:
        warnings.warn(f"{f['model']} on {f['dataset']} failed: {f['reason']}", stacklevel=1)
    if not results:
        _fail("no model could be trained and tested (the reasons are above).")
    if output is not None:
        files = _benchmark_files(loaded, results)
        _write_files(files, output)
    result = Result({"results": [r.row() for r in results], "failed": failed})
    result.show(*_benchmark_shown(labels, chosen, results))
    if output is not None:
        result.show(f"wrote {output / 'results.csv'}, per-class.csv and figures in {output}")
    return result


def _benchmark_shown(datasets: list[str], models: tuple[str, ...], results) -> list:
    from mnistlab.models import MODELS

    found = {(r.dataset, r.model): r for r in results}
    columns = [c for name in datasets for c in (name, "paper", "fit / predict s")]
    table = Table("model", *columns, title="Test accuracy", title_justify="left")
    for model in models:
        published = MODELS[model].published
        cells = []
        for name in datasets:
            r = found.get((name, model))
            paper = published.accuracy.get(name) if published else None
            mark = "" if published is None or published.same else "~"
            cells += [
                "failed" if r is None else f"{r.evaluation.accuracy:.2%}",
                "-" if paper is None else f"{mark}{paper:.1%}",
                "-" if r is None else f"{r.trained.fit_seconds:.1f} / {r.predict_seconds:.1f}",
            ]
        table.add_row(model, *cells)
    papers = (MODELS[m].published for m in models)
    shown = [p for p in papers if p is not None and any(name in p.accuracy for name in datasets)]
    if not shown:
        return [table]
    note = "paper: Fashion-MNIST benchmark (arXiv:1708.07747, Table 3), the same configuration"
    if not all(p.same for p in shown):
        note += "; ~: the closest published configuration, a different model"
    return [table, note + "."]


@app.command("train")
@_loads_data()
def train_command(
    name: NameArg,
    model: Annotated[
        str, typer.Option(help="Model name: cnn, mlp, logreg, knn, tree, forest, ...")
    ] = "cnn",
    output: Annotated[Path, typer.Option("-o", "--output", help="The model file (.mnistlab).")] = Path(
        "model.mnistlab"
    ),
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Maximum epochs (mlp and cnn; default 10 and 6).")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed: the same seed, data and machine give the same model.")
    ] = 0,
    first: FirstEach = None,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Train one model on a dataset's train split, test it, and save it (no pickle inside).

    Neural models show a progress bar per epoch and stop early when accuracy on a validation
    share of the training split stops improving. Example:
    [bold]mnistlab train fashion-mnist --model cnn --epochs 6 -o fashion-cnn.mnistlab[/]
    """
    from mnistlab.models import MODELS, train

    if model not in MODELS:
        _fail(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}.")
    if epochs is not None and not MODELS[model].neural:
        _fail(f"--epochs applies to the neural models (mlp, cnn), not to {model}.")
    _check_outputs((output, (".mnistlab",)))
    _check_writable(output)
    ds = _dataset(name, first, no_download)
    params: dict[str, Any] = {} if epochs is None else {"epochs": epochs}
    trained = train(ds, model, seed=seed, **params)
    _refuse_inputs_as_outputs(output)
    trained.save(output)
    return Result({"model_file": str(output), **trained.to_dict()}).show(
        f"{model} on {ds.name}: test accuracy {trained.test_accuracy:.2%}, trained in "
        f"{trained.fit_seconds:.1f} s",
        f"wrote {output}",
    )


@app.command()
def predict(
    model_file: Annotated[Path, typer.Argument(help="A model file written by mnistlab train.")],
    images: Annotated[
        list[str], typer.Argument(help="Images: PNG/JPEG files, .npy arrays or DATASET:SPLIT:INDEX.")
    ],
    top: Annotated[int, typer.Option(min=1, help="How many classes to list per image.")] = 3,
    resize: Annotated[
        bool,
        typer.Option(help="Stretch image files to the model's size (the aspect ratio is not kept)."),
    ] = False,
    invert: Annotated[
        bool, typer.Option(help="Invert image files (dark ink on a light background).")
    ] = False,
    any_dataset: Annotated[
        bool,
        typer.Option(help="Allow DATASET:SPLIT:INDEX images from a dataset other than the model's."),
    ] = False,
    ignore_versions: Annotated[
        bool, typer.Option(help="Load a model saved by another scikit-learn version anyway.")
    ] = False,
    no_download: NoDownload = False,
    as_json: AsJson = False,
) -> Result:
    """Classify images with a saved model: the class, its name and the top scores.

    Example: [bold]mnistlab predict fashion-cnn.mnistlab fashion-mnist:test:0 shoe.png --invert[/]
    """
    from mnistlab.data.images import fit_to_shape, load_image
    from mnistlab.models import load_model, predict_top

    trained = load_model(_input(str(model_file)), check_versions=not ignore_versions)
    refs = []
    for image in images:
        ref = load_image(_input(image), invert=invert, download=not no_download)
        origin = ref.source.rsplit(":", 2)[0] if ref.dataset is not None else None
        if origin is not None and origin != trained.dataset and not any_dataset:
            _fail(
                f"{ref.source} comes from {origin}, but the model was trained on {trained.dataset} "
                f"(classes {', '.join(trained.classes[:4])}...); its answer would be meaningless. "
                "Pass --any-dataset to predict anyway."
            )
        # Then the size, once the image is known to be one this model is meant for.
        refs.append(fit_to_shape(ref, trained.image_shape, resize=resize))
    import numpy as np

    found = predict_top(trained, np.stack([r.pixels for r in refs]), top)
    rows = [
        {"image": ref.source, **p.to_dict(), "true_label": ref.label, "true_class": ref.class_name}
        for ref, p in zip(refs, found, strict=True)
    ]
    data = {
        "model_file": str(model_file),
        "model": trained.model,
        "dataset": trained.dataset,
        "scores_are_probabilities": trained.has_probabilities,
        "predictions": rows,
    }
    what = "probabilities" if trained.has_probabilities else "scores"
    table = Table(
        "image", "predicted", f"top {what}", "true", title=f"{trained.model} ({trained.dataset})"
    )
    for r in rows:
        tops = ", ".join(f"{t['class']} {t['score']:.1%}" for t in r["top"])
        true = "" if r["true_class"] is None else r["true_class"]
        table.add_row(r["image"], f"{r['label']} {r['class']}", tops, true)
    return Result(data, [table])
