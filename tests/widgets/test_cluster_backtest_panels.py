"""Cluster and backtest panels against the shared test Ray: refresh, health, run, cancel."""

from __future__ import annotations

import asyncio
import time

import pytest
from widget_helpers import drive, press_and_wait

from flowray import pipeline
from flowray.core import backtest as core_backtest
from flowray.data import load_demo_series
from flowray.widgets import backtest_app, cluster_app
from flowray.widgets.backtest import BacktestPanel


def test_cluster_panel_refreshes_on_display_and_shows_nodes_and_cpus(ray_session):
    async def open_page() -> object:
        panel = cluster_app()  # built inside a running loop, as in a kernel: refreshes by itself
        assert panel.busy and panel.refresh_button.disabled
        await panel.wait()
        return panel

    panel = drive(open_page)

    assert panel.last_error is None, panel.status.value
    status = panel.status_data
    assert status["nodes_alive"] >= 1
    assert panel.cpu_bar.max == status["cpus_total"]
    assert f"of {status['cpus_total']:g} CPUs" in panel.cpu_text.value
    assert f"{status['nodes_alive']} alive" in panel.summary.value
    assert "flowray tasks" in panel.summary.value
    assert panel.nodes.value.count("alive") >= status["nodes_alive"]
    assert "dashboard" in panel.ray_dashboard.value
    assert not panel.busy and not panel.refresh_button.disabled


def test_cluster_panel_health_check_reports_versions_and_latency(ray_session):
    panel = cluster_app(auto_refresh=False)
    press_and_wait(panel, panel.health_button)

    assert panel.health_data["versions_match"], panel.health.value
    assert "Healthy." in panel.health.value and " ms." in panel.health.value
    assert "Health check passed" in panel.status.value
    assert not panel.health_button.disabled


def test_cluster_panel_shows_errors_in_the_status_line(monkeypatch):
    def unreachable():
        raise ConnectionError("no cluster at 10.0.0.9:6379")

    monkeypatch.setattr(pipeline, "cluster_status", unreachable)
    panel = cluster_app(auto_refresh=False)
    press_and_wait(panel, panel.refresh_button)
    assert "no cluster at 10.0.0.9:6379" in panel.status.value
    assert not panel.refresh_button.disabled and not panel.busy


def small_backtest(**options) -> BacktestPanel:
    panel = backtest_app(**options)
    panel.series.value = (("demo", "mockito/mockito"), ("demo", "fastapi/fastapi"))
    panel.runs.value = 500
    panel.step.value = 8
    return panel


def test_backtest_panel_runs_on_ray_and_shows_coverage_and_pit(ray_session, tmp_path):
    panel = small_backtest(db_path=tmp_path / "none.duckdb")
    panel.method.value = "block"
    panel.window.value = "26"
    press_and_wait(panel, panel.run_button)

    assert str(panel.job.state) == "DONE", panel.status.value
    series = {
        n: [float(v) for _, v in load_demo_series(n)]
        for n in ("mockito/mockito", "fastapi/fastapi")
    }
    expected = pipeline.run_backtest(
        series,
        methods=["block", "block+cal"],
        windows=[26],
        horizons=(8,),
        step=8,
        runs=500,
        seed=0,
    )
    calibrated = expected.report("block+cal", 26, 8)
    when85 = calibrated["pooled"]["when"]["coverage"]["85"]
    origins = calibrated["pooled"]["when"]["origins"]
    assert f"the 85% answer was met at {when85:.0%} of {origins} past dates" in panel.headline.value
    assert panel.reports["block"]["pooled"] == expected.report("block", 26, 8)["pooled"]
    assert panel.reports["block+cal"]["pooled"] == calibrated["pooled"]
    assert "calibrated" in panel.coverage.value
    # PIT: one histogram per question and variant, each adding up to 100% of its origins
    assert len(panel.pit.data) == 4
    for trace in panel.pit.data:
        assert sum(trace.y) == pytest.approx(100.0, abs=0.01)
    assert (
        "mockito/mockito" in panel.per_series.value and "fastapi/fastapi" in panel.per_series.value
    )
    assert panel.progress.value == panel.progress.max
    assert not panel.busy and not panel.run_button.disabled and panel.cancel_button.disabled


def test_backtest_panel_cancel_stops_the_job(ray_session, tmp_path):
    panel = backtest_app(db_path=tmp_path / "none.duckdb", poll_seconds=0.05)
    panel.runs.value = 50_000  # slow enough to cancel mid-way
    panel.step.value = 1

    async def run_then_cancel() -> None:
        panel.run_button.click()
        deadline = time.monotonic() + 120
        while panel.job is None:
            assert time.monotonic() < deadline and not panel.task.done(), panel.status.value
            await asyncio.sleep(0.05)
        panel.cancel_button.click()
        await panel.wait()

    drive(run_then_cancel)

    progress = panel.job.progress()
    assert str(panel.job.state) == "CANCELLED"
    assert progress.chunks_done < progress.chunks_total, "cancelled, not finished"
    assert "Cancelled" in panel.status.value and panel.result is None
    assert not panel.busy and not panel.run_button.disabled


def test_backtest_panel_bad_input_names_the_field(tmp_path):
    panel = backtest_app(db_path=tmp_path / "none.duckdb")
    # the pickers start on flowray's default method and window
    assert panel.method.value == core_backtest.DEFAULT_BASE_METHOD and panel.calibrated.value
    assert core_backtest.parse_window(panel.window.value) == core_backtest.DEFAULT_WINDOW
    panel.series.value = ()
    panel.run_button.click()
    assert "Please check Series" in panel.status.value
    panel.series.value = (("demo", "mockito/mockito"),)
    panel.horizon.value = 60
    panel.run_button.click()
    assert "Please check Series" in panel.status.value and "weeks of history" in panel.status.value
    assert not panel.busy and not panel.run_button.disabled and panel.job is None
