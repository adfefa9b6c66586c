"""The named models mnistlab trains, with the published Fashion-MNIST benchmark row each mirrors.

The classic models are scikit-learn pipelines ``StandardScaler -> classifier`` on the flattened
pixels, as in Fashion-MNIST's ``benchmark/runner.py`` (the scaler is fitted on the training split),
with parameters taken from that benchmark's grid (``benchmark/baselines.json``). The published test
accuracies are Table 3 of Xiao, Rasul and Vollgraf (2017), "Fashion-MNIST: a Novel Image Dataset
for Benchmarking Machine Learning Algorithms", arXiv:1708.07747 (mean of 5 runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAPER = "arXiv:1708.07747, Table 3"


@dataclass(frozen=True)
class Published:
    """A published benchmark row: the configuration and its test accuracy per dataset."""

    config: str
    accuracy: dict[str, float]
    #: True when mnistlab's model is that configuration; False when it is only the closest row.
    same: bool = True
    source: str = PAPER


@dataclass(frozen=True)
class ModelSpec:
    """One named model: what it is, its parameters, and whether the default sets include it."""

    name: str
    family: str
    description: str
    estimator: str
    params: dict = field(default_factory=dict)
    neural: bool = False
    quick: bool = False
    default: bool = True
    published: Published | None = None

    def describe_params(self) -> str:
        """``StandardScaler + LogisticRegression(C=1.0)``: the configuration as one line."""
        inside = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        prefix = "" if self.neural else "StandardScaler + "
        return f"{prefix}{self.estimator}({inside})"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "centroid",
            "prototype",
            "nearest centroid: the class whose mean image is closest",
            "NearestCentroid",
            quick=True,
        ),
        ModelSpec(
            "knn",
            "neighbours",
            "k-nearest neighbours (5, distance-weighted, Euclidean)",
            "KNeighborsClassifier",
            {"n_neighbors": 5, "weights": "distance", "p": 2},
            quick=True,
            published=Published(
                "KNeighborsClassifier n_neighbors=5 p=2 weights=distance",
                {"fashion-mnist": 0.852, "mnist": 0.945},
            ),
        ),
        ModelSpec(
            "logreg",
            "linear",
            "logistic regression, one vs rest",
            "OneVsRestClassifier(LogisticRegression)",
            {"C": 1.0, "max_iter": 100},
            published=Published(
                "LogisticRegression C=1 multi_class=ovr penalty=l2",
                {"fashion-mnist": 0.841, "mnist": 0.917},
            ),
        ),
        ModelSpec(
            "linear-svm",
            "linear",
            "linear support vector machine, one vs rest (slow: about 10 minutes per dataset)",
            "LinearSVC",
            {"C": 1.0, "loss": "hinge"},
            default=False,
            published=Published(
                "LinearSVC C=1 loss=hinge multi_class=ovr penalty=l2",
                {"fashion-mnist": 0.836, "mnist": 0.917},
            ),
        ),
        ModelSpec(
            "tree",
            "trees",
            "decision tree (entropy, depth 10)",
            "DecisionTreeClassifier",
            {"criterion": "entropy", "max_depth": 10},
            quick=True,
            published=Published(
                "DecisionTreeClassifier criterion=entropy max_depth=10 splitter=best",
                {"fashion-mnist": 0.798, "mnist": 0.873},
            ),
        ),
        ModelSpec(
            "forest",
            "trees",
            "random forest (100 trees, entropy, depth 100)",
            "RandomForestClassifier",
            {"n_estimators": 100, "criterion": "entropy", "max_depth": 100},
            published=Published(
                "RandomForestClassifier criterion=entropy max_depth=100 n_estimators=100",
                {"fashion-mnist": 0.873, "mnist": 0.970},
            ),
        ),
        ModelSpec(
            "boosting",
            "trees",
            "histogram gradient boosting (100 rounds)",
            "HistGradientBoostingClassifier",
            {"max_iter": 100},
            published=Published(
                "GradientBoostingClassifier loss=deviance max_depth=10 n_estimators=100",
                {"fashion-mnist": 0.880, "mnist": 0.969},
                same=False,
            ),
        ),
        ModelSpec(
            "rbf-svm",
            "kernel",
            "support vector machine, RBF kernel (slow: minutes per dataset)",
            "SVC",
            {"C": 10.0, "kernel": "rbf"},
            default=False,
            published=Published("SVC C=10 kernel=rbf", {"fashion-mnist": 0.897, "mnist": 0.973}),
        ),
        ModelSpec(
            "mlp",
            "neural",
            "multilayer perceptron: Flatten -> Dense(128, ReLU) -> Dense",
            "NeuralNetClassifier",
            {"architecture": "mlp", "epochs": 10},
            neural=True,
            quick=True,
            published=Published(
                "MLPClassifier activation=relu hidden_layer_sizes=[100]",
                {"fashion-mnist": 0.871, "mnist": 0.972},
                same=False,
            ),
        ),
        ModelSpec(
            "cnn",
            "neural",
            "convolutional network: 2 conv blocks (32, 64) -> Dense(128) -> Dense",
            "NeuralNetClassifier",
            {"architecture": "cnn", "epochs": 6},
            neural=True,
            published=Published(
                "2 Conv+pooling (TensorFlow tutorial, benchmark/convnet.py)",
                {"fashion-mnist": 0.916},
                same=False,
                source="github.com/zalandoresearch/fashion-mnist README",
            ),
        ),
    ]
}

#: Model sets by name, for ``--models``.
MODEL_SETS: dict[str, tuple[str, ...]] = {
    "quick": tuple(n for n, s in MODELS.items() if s.quick),
    "default": tuple(n for n, s in MODELS.items() if s.default),
    "classic": tuple(n for n, s in MODELS.items() if not s.neural),
    "all": tuple(MODELS),
}


def resolve_models(selection: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Model names from ``"quick"``, ``"all"``, ``"knn,logreg"`` or a list; unknown names raise.

    Parameters
    ----------
    selection : str, list of str or tuple of str
        Model names (:data:`MODELS`) and set names (:data:`MODEL_SETS`: quick, default, classic,
        all), in a list or comma-separated in one string; ``"quick,logreg"`` mixes both.

    Returns
    -------
    tuple of str
        Model names, each once, in the order given (a set's models in the set's order).

    Raises
    ------
    ValueError
        If a name is neither a model nor a set, or no name is given.
    """
    items = selection.split(",") if isinstance(selection, str) else list(selection)
    names: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item in MODEL_SETS:
            names.extend(MODEL_SETS[item])
        elif item in MODELS:
            names.append(item)
        else:
            raise ValueError(
                f"unknown model {item!r}; choose from {', '.join(MODELS)} or a set: "
                f"{', '.join(MODEL_SETS)}."
            )
    if not names:
        raise ValueError("no models given.")
    return tuple(dict.fromkeys(names))


def build_estimator(name: str, *, seed: int = 0, progress: bool | None = None, **overrides):
    """A fresh, unfitted estimator for the named model (``overrides`` change its parameters).

    Classic models are ``Pipeline([("scale", StandardScaler()), ("model", ...)])`` taking flat
    float pixels; neural models take uint8 images (n, h, w).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}.")
    spec = MODELS[name]
    params = {**spec.params, **overrides}
    if spec.neural:
        from mnistlab.models.neural import NeuralNetClassifier

        return NeuralNetClassifier(**params, seed=seed, progress=progress)
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    makers = {
        "centroid": lambda: NearestCentroid(**params),
        "knn": lambda: KNeighborsClassifier(**params, algorithm="brute", n_jobs=-1),
        # One vs rest, as the benchmark's liblinear default; lbfgs minimises the same objective.
        "logreg": lambda: OneVsRestClassifier(LogisticRegression(**params)),
        "linear-svm": lambda: LinearSVC(**params, random_state=seed),
        "tree": lambda: DecisionTreeClassifier(**params, random_state=seed),
        "forest": lambda: RandomForestClassifier(**params, n_jobs=-1, random_state=seed),
        "boosting": lambda: HistGradientBoostingClassifier(**params, random_state=seed),
        "rbf-svm": lambda: SVC(**params, random_state=seed),
    }
    return Pipeline([("scale", StandardScaler()), ("model", makers[spec.name]())])
