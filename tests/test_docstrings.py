"""Every public function carries a numpydoc docstring: a summary, Parameters and Returns."""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC = [
    "mnistlab",
    "mnistlab.data",
    "mnistlab.stats",
    "mnistlab.tidy",
    "mnistlab.similarity",
    "mnistlab.onepixel",
    "mnistlab.models",
    "mnistlab.plots",
    "mnistlab.report",
    "mnistlab.scale",
    "mnistlab.quality",
    "mnistlab.maps",
]


def _public_objects():
    seen = {}
    for module_name in PUBLIC:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and id(obj) not in seen:
                seen[id(obj)] = (f"{module_name}.{name}", obj)
    return sorted(seen.values(), key=lambda item: item[0])


@pytest.mark.parametrize(
    ("name", "obj"), [pytest.param(name, obj, id=name) for name, obj in _public_objects()]
)
def test_public_api_is_documented_in_numpydoc(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert doc and doc.splitlines()[0].strip(), f"{name}: no summary line"
    if inspect.isclass(obj):
        return
    signature = inspect.signature(obj)
    if signature.parameters:
        assert "\nParameters\n----------\n" in doc, f"{name}: no Parameters section"
        documented = doc.split("\nParameters\n----------\n", 1)[1]
        for parameter in signature.parameters:
            assert parameter in documented, f"{name}: parameter {parameter!r} is not documented"
    if signature.return_annotation not in (None, "None"):
        assert "\nReturns\n-------\n" in doc or "\nYields\n------\n" in doc, f"{name}: no Returns"


def test_the_docs_site_shows_sphinx_roles_as_code():
    from docs.hooks import on_page_content

    html = (
        "<p>see :func:<code>~mnistlab.stats.centroids</code> and :class:<code>NearestImages</code>, "
        "not :meth:<code>mnistlab.Split.subset</code></p>"
    )
    assert on_page_content(html) == (
        "<p>see <code>centroids</code> and <code>NearestImages</code>, "
        "not <code>mnistlab.Split.subset</code></p>"
    )
