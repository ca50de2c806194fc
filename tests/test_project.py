"""Project set-up: pins, the conda environment and the lock agree."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CONDA_TO_PYPI = {"ray-default": "ray[default]", "python-duckdb": "duckdb"}


def _normalise(spec: str) -> str:
    return ",".join(sorted(s.strip() for s in spec.split(",") if s.strip()))


def _pyproject_requirements() -> dict[str, str]:
    reqs = PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"]
    out = {}
    for text in reqs:
        req = Requirement(text)
        name = req.name.lower() + (f"[{','.join(sorted(req.extras))}]" if req.extras else "")
        out[name] = _normalise(str(req.specifier))
    return out


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for item in env["dependencies"]:
        if not isinstance(item, str) or item.split()[0] in ("python", "pip"):
            continue
        match = re.match(r"^(\S+)\s*(.*)$", item)
        name = CONDA_TO_PYPI.get(match.group(1), match.group(1))
        out[name.lower()] = _normalise(match.group(2))
    return out


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    assert _conda_requirements() == _pyproject_requirements()


def test_environment_yml_python_matches():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python ")]
    assert python and _normalise(python[0].split(" ", 1)[1]) == _normalise(
        PYPROJECT["requires-python"]
    )


def test_installed_versions_satisfy_the_pins():
    for text in PYPROJECT["dependencies"]:
        req = Requirement(text)
        assert req.specifier.contains(version(req.name), prereleases=True), (
            req.name,
            version(req.name),
        )


def test_lock_names_every_dependency():
    lock = (ROOT / "uv.lock").read_text()
    for text in PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"]:
        name = Requirement(text).name.lower().replace("_", "-")
        assert f'name = "{name}"' in lock, name
