"""Every notebook runs end to end (papermill, small parameters, a seeded temporary database).

Kernels are separate processes. FLOWRAY_DB points them at a temporary demo
database. The what-if sweep of 02_scenarios fans out on Ray: its kernel joins
the test session's Ray (FLOWRAY_RAY_ADDRESS) instead of starting its own,
which would cost 10-20 s more per run; the other notebooks forecast locally.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import papermill
import pytest

from flowray import pipeline

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

# Small parameters, so the whole file runs in a couple of minutes on 2 cores.
PARAMETERS: dict[str, dict[str, Any]] = {
    "01_quickstart.ipynb": {"runs": 3000, "horizon_weeks": 4},
    "02_scenarios.ipynb": {
        "runs": 3000,
        "sweep_runs": 1000,
        "team_sizes": [3, 5],
        "split_rates": [1.0, 1.4],
    },
    "03_backtest.ipynb": {"methods": ["bootstrap", "bootstrap+cal"], "step": 13, "runs": 300},
    "04_ml.ipynb": {"n_paths": 200, "runs": 3000, "cv_methods": ["linear"], "horizon": 6},
    "05_portfolio.ipynb": {"runs": 4000, "seed": 5},
    "batch_forecast.ipynb": {"runs": 2000, "seed": 3},
    "06_cycle_time.ipynb": {"project": "Mockito items", "today": "2026-04-01"},
}


@pytest.fixture
def demo_db(demo_template, tmp_path, monkeypatch) -> Path:
    path = tmp_path / "flowray.duckdb"
    shutil.copyfile(demo_template, path)
    monkeypatch.setenv("FLOWRAY_DB", str(path))
    return path


def execute(name: str, tmp_path: Path, **overrides: Any) -> nbformat.NotebookNode:
    """Run a notebook in tmp_path with its small parameters; fail with the failing cell's error."""
    parameters = {**PARAMETERS[name], **overrides}
    output = tmp_path / name
    papermill.execute_notebook(
        str(NOTEBOOKS / name),
        str(output),
        parameters=parameters,
        cwd=str(tmp_path),
        progress_bar=False,
        kernel_name="python3",
    )
    return nbformat.read(output, as_version=4)


def texts(nb: nbformat.NotebookNode) -> str:
    """Every plain-text output of the executed notebook."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output["text"])
            elif "text/plain" in output.get("data", {}):
                parts.append(output["data"]["text/plain"])
    return "\n".join(parts)


def plotly_figures(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    return [
        output["data"]["application/vnd.plotly.v1+json"]
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if "application/vnd.plotly.v1+json" in output.get("data", {})
    ]


def widget_views(nb: nbformat.NotebookNode) -> int:
    return sum(
        "application/vnd.jupyter.widget-view+json" in output.get("data", {})
        for cell in nb.cells
        for output in cell.get("outputs", [])
    )


def plotly_array(value: Any) -> np.ndarray:
    """A plotly JSON array: a list, or plotly's typed-array form {"bdata", "dtype", "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = [int(n) for n in str(value.get("shape", flat.size)).split(",")]
        return flat.reshape(shape)
    return np.asarray(value)


def test_every_notebook_has_small_test_parameters_it_declares():
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == sorted(PARAMETERS), "add the new notebook to PARAMETERS with small values"
    for name, values in PARAMETERS.items():
        declared = papermill.inspect_notebook(str(NOTEBOOKS / name))
        assert set(values) <= set(declared), (
            f"{name}: unknown parameters {set(values) - set(declared)}"
        )
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name} needs exactly one cell tagged 'parameters'"
        assert nb.cells[0].cell_type == "markdown", f"{name} starts by saying what it is for"


def test_01_quickstart(demo_db, tmp_path):
    nb = execute("01_quickstart.ipynb", tmp_path)
    out = texts(nb)
    from flowray.data import last_full_week

    start = last_full_week(dt.date.today()) + dt.timedelta(weeks=1)  # the history ends last week
    deadline = start + dt.timedelta(weeks=12)  # the notebook's weeks_to_deadline
    assert f"P(done by {deadline.isoformat()}):" in out and "85% likely: at least" in out
    assert "flowray's default" in out and "plain model" in out  # the method, then the comparison
    assert "plus_minus" in out and "at_least" in out
    assert len(plotly_figures(nb)) >= 4  # history, completion, burn-down, how many, XmR
    assert widget_views(nb) == 1  # the forecast panel


def test_02_scenarios_sweeps_on_ray(demo_db, tmp_path, ray_session, monkeypatch):
    monkeypatch.setenv("FLOWRAY_RAY_ADDRESS", ray_session.address)
    if ray_session.auth_mode == "disabled":
        monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    nb = execute("02_scenarios.ipynb", tmp_path)
    out = texts(nb)
    assert "'started_locally': False" in out  # the kernel joined the session's Ray
    assert "DONE: 4 forecasts of 1,000 futures" in out
    assert out.count("When will it be done?") >= 4  # one described forecast per step
    heatmaps = [f for f in plotly_figures(nb) if f["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 2
    p85 = plotly_array(heatmaps[0]["data"][0]["z"])
    assert p85.shape == (2, 2)  # team sizes x split rates
    assert (
        p85[1, 0] <= p85[0, 0] and p85[0, 1] >= p85[0, 0]
    )  # more people earlier, more split later


def test_03_backtest(demo_db, tmp_path):
    nb = execute("03_backtest.ipynb", tmp_path)
    out = texts(nb)
    assert "bootstrap+cal" in out and "calibration_gap" in out
    assert len(plotly_figures(nb)) == 2  # coverage, PIT
    assert widget_views(nb) == 1  # the backtest panel


def test_04_ml(demo_db, tmp_path):
    nb = execute("04_ml.ipynb", tmp_path)
    out = texts(nb)
    assert "ML (gbm)" in out and "Monte Carlo" in out and "pinball loss" in out
    assert "ML and Monte Carlo" in out  # the consensus note


def test_06_cycle_time(demo_db, tmp_path):
    """On the Mockito export of the tests imported into the demo ledger, as the notebook says."""
    from flowray.importers import read_work_items
    from flowray.store import Store

    export = ROOT / "tests" / "fixtures" / "tracker_exports" / "generic_items.csv"
    items = read_work_items(export).items
    Store(demo_db).import_work_items("Mockito items", items, today=dt.date(2026, 4, 1))
    expected = pipeline.cycle_time_report("Mockito items", demo_db, "2026-04-01")

    nb = execute("06_cycle_time.ipynb", tmp_path)
    out = texts(nb)
    assert f"Mockito items: {expected.finished} finished items" in out
    oldest = expected.in_progress[0]
    assert f"{oldest.item_id} ({oldest.age} days old): " in out
    assert "cannot be said reliably" in out or "likely done by" in out
    figures = plotly_figures(nb)
    assert len(figures) == 2  # the scatter, the ageing chart
    lines = sorted(shape["y0"] for shape in figures[0]["layout"]["shapes"])
    assert lines == sorted(expected.percentiles.values())


def test_05_portfolio(tmp_path):
    nb = execute("05_portfolio.ipynb", tmp_path)
    out = texts(nb)
    cut = re.search(
        r"Feature(?:s 1-(\d) are all| 1 is) done by \S+ with (>99|\d+)% ±\d+\.\d pt", out
    )
    assert cut, out[-3000:]
    k = int(cut.group(1) or 1)
    assert re.search(r"Cut line: plan \d features, what-if \d features", out)
    assert "Above the cut line: Login" in out
    # the joint curve: never rises with k, and crosses the level right after the cut line
    curve = next(f for f in plotly_figures(nb) if len(f["data"]) == 2)
    joint = [p for p in plotly_array(curve["data"][1]["y"]).tolist() if p is not None]
    assert joint == sorted(joint, reverse=True)
    assert joint[k - 1] >= 85.0 and (k == len(joint) or joint[k] < 85.0)
    alone = plotly_array(curve["data"][0]["y"]).tolist()
    assert all(
        a >= j - 1e-9 for a, j in zip(alone, joint, strict=False)
    )  # one alone >= all together
    assert len(plotly_figures(nb)) == 2  # the joint curve, how many by the target


def test_batch_forecast_writes_the_ledger(demo_db, tmp_path):
    before = pipeline.forecast_ledger(None, demo_db)
    active = sorted(p.name for p in pipeline.list_projects(demo_db, active_only=True))
    nb = execute(
        "batch_forecast.ipynb", tmp_path, db_path=""
    )  # "" = FLOWRAY_DB, set by the fixture

    after = pipeline.forecast_ledger(None, demo_db)
    new = after[~after["id"].isin(before["id"])]
    assert sorted(new["project"]) == active  # one new forecast per active project
    assert (new["runs"] == PARAMETERS["batch_forecast.ipynb"]["runs"]).all()
    assert (new["source"] == "flowray").all() and new["p85_date"].notna().all()
    out = texts(nb)
    for forecast_id in new["id"]:
        assert str(int(forecast_id)) in out  # the summary lists every forecast it saved
    # each re-forecast starts after the previous plan's start, from the remaining backlog
    for _, row in new.iterrows():
        previous = before[before["project"] == row["project"]].iloc[-1]
        assert row["start"] >= previous["start"]
    assert "Scored" in out and "Skipped 0 project(s)" in out


def test_notebooks_in_the_repository_have_no_outputs():
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), path.name
