"""The wheel a user installs carries the dashboards and the batch notebook, and finds them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from flowray.runners import voila as serve

ROOT = Path(__file__).resolve().parents[1]


def _uv() -> str:
    local = ROOT / ".tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        pytest.skip("uv is not installed (./dev installs it into .tools/bin)")
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [_uv(), "build", "--wheel", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (built,) = out.glob("flowray-*.whl")
    return built


def test_wheel_carries_the_dashboards_and_the_batch_notebook(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for page in sorted(p.name for p in (ROOT / "dashboards").glob("*.ipynb")):
        assert f"flowray/bundled/dashboards/{page}" in names
    assert "flowray/bundled/notebooks/batch_forecast.ipynb" in names
    assert any(n.startswith("flowray/data/demo/weekly/") for n in names)  # the demo data


def test_installed_wheel_finds_its_dashboards_and_notebook(wheel, tmp_path):
    venv = tmp_path / "venv"
    uv = _uv()
    subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True, timeout=120)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(wheel)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    code = (
        "from flowray.runners.voila import find_dashboards_dir; from flowray.runners.papermill import DEFAULT_NOTEBOOK;"
        "d = find_dashboards_dir(); print(d); print(sorted(p.name for p in d.glob('*.ipynb')));"
        "print(DEFAULT_NOTEBOOK.is_file())"
    )
    done = subprocess.run(  # run outside the repository, as a user would
        [str(venv / "bin" / "python"), "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    where, pages, notebook = done.stdout.strip().splitlines()
    assert "site-packages/flowray/bundled/dashboards" in where
    assert "forecast.ipynb" in pages and "portfolio.ipynb" in pages
    assert notebook == "True"


def test_dashboards_fall_back_to_the_bundled_copy(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "flowray"
    (package / "bundled" / "dashboards").mkdir(parents=True)
    monkeypatch.setattr(serve, "_PACKAGE_DIR", package)
    assert serve.find_dashboards_dir() == package / "bundled" / "dashboards"
    (package / "bundled" / "dashboards").rmdir()
    with pytest.raises(ValueError, match="pass --dashboards DIR"):
        serve.find_dashboards_dir()
