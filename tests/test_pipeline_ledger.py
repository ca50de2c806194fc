"""The ledger use cases read the database once per page, whatever the number of forecasts."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from flowray import pipeline
from flowray import store as store_module
from flowray.core.forecast import simulate
from flowray.core.scenario import Scenario


@pytest.fixture
def demo_db(demo_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_template, path)
    return path


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every DuckDB connection the store opens, by mode."""
    opened: list[str] = []
    real = store_module.duckdb.connect

    def counting(path: str, read_only: bool = False, **kwargs: object) -> object:
        opened.append("read" if read_only else "write")
        return real(path, read_only=read_only, **kwargs)

    monkeypatch.setattr(store_module.duckdb, "connect", counting)
    return opened


def test_a_portfolio_refresh_opens_the_database_once(demo_db, connections):
    from flowray.widgets.portfolio import PortfolioPanel

    panel = PortfolioPanel(demo_db)  # opening the ledger checks its schema: one read
    assert panel.last_error is None and len(panel.frame) == len(pipeline.DEMO_PROJECTS)
    connections.clear()
    panel.refresh()
    assert connections == ["read"]


def test_forecasts_vs_actuals_reads_once_however_many_forecasts(demo_db, connections):
    workspace = pipeline.Workspace(demo_db)
    workspace.store  # noqa: B018 - open (and check) the ledger first
    connections.clear()
    frame = pipeline.forecasts_vs_actuals(None, workspace)
    assert len(frame) >= 2 * len(pipeline.DEMO_PROJECTS)  # every demo project has scored forecasts
    assert connections == ["read"]


def test_the_view_agrees_with_the_single_tables(demo_db):
    view = pipeline.ledger_view(None, demo_db)
    assert view.portfolio.equals(pipeline.portfolio(demo_db))
    assert view.ledger.equals(pipeline.forecast_ledger(None, demo_db))
    assert view.vs_actuals.equals(pipeline.forecasts_vs_actuals(None, demo_db))
    assert view.calibration.equals(pipeline.calibration_table(None, demo_db))


def test_a_ledger_page_refresh_opens_the_database_once(demo_db, connections):
    from flowray.widgets.ledger import LedgerPanel

    panel = LedgerPanel(demo_db, project=pipeline.DEMO_PROJECTS[0][1])
    assert panel.last_error is None and len(panel.ledger) > 0
    connections.clear()
    panel.refresh()
    assert connections == ["read"]


def test_the_portfolio_follows_each_projects_plan_and_the_ledger_marks_it(demo_db):
    store = pipeline.open_store(demo_db)
    portfolio = pipeline.portfolio(demo_db)
    ledger = pipeline.forecast_ledger(None, demo_db)
    for row in portfolio.to_dict(orient="records"):
        plan = store.get_plan(row["project"])
        assert plan is not None and row["latest_forecast"] == plan.forecast_id
        assert row["plan_set_by"] == plan.set_by and row["forecasts"] == len(
            store.list_plans(row["project"])
        )
        mine = ledger[ledger["project"] == row["project"]]
        assert list(mine.loc[mine["role"] == "plan", "id"]) == [plan.forecast_id]
    # a newer forecast saved later is a what-if: the portfolio stays as it was
    project = str(portfolio["project"].iloc[0])
    items = [float(p.items) for p in store.get_throughput(project)]
    trial = simulate(Scenario(throughput=items, backlog=150, start=dt.date.today()), 2000, 1)
    assert pipeline.save_forecast(project, trial, demo_db) > max(ledger["id"])
    assert pipeline.portfolio(demo_db).equals(portfolio)
