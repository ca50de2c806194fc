"""Write environment.yml (conda) from pyproject.toml, so both list the same dependencies.

Usage: .venv/bin/python scripts/sync_environment.py [--check]
With --check, exit 1 when environment.yml is out of date (the tests run this).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {
    "ray[default]": "ray-default",
    "duckdb": "python-duckdb",
    "playwright": "playwright",
}


def conda_spec(requirement: str) -> str:
    match = re.match(r"^([A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)\s*(.*)$", requirement.strip())
    name, spec = match.group(1), match.group(2).replace(" ", "")
    return f"{CONDA_NAMES.get(name, name.lower())} {spec}".strip()


def render() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = project["requires-python"].replace(" ", "")
    lines = [
        "# Generated from pyproject.toml by scripts/sync_environment.py: do not edit by hand.",
        "# conda env create -f environment.yml && conda activate flowray",
        "name: flowray",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python {python}",
        "  - pip",
    ]
    for req in project["dependencies"]:
        lines.append(f"  - {conda_spec(req)}")
    lines.append("  # dev extras")
    for req in project["optional-dependencies"]["dev"]:
        lines.append(f"  - {conda_spec(req)}")
    lines += ["  - pip:", "      - --no-deps", "      - -e ."]
    return "\n".join(lines) + "\n"


def main() -> int:
    target = ROOT / "environment.yml"
    text = render()
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            print(
                "environment.yml is out of date: run scripts/sync_environment.py", file=sys.stderr
            )
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
