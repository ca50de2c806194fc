"""App builders: what a dashboard notebook displays, in one call each.

Each returns a panel object that displays itself (or use `.widget`). The
database is FLOWRAY_DB (via flowray.config) unless `db_path` is given, so
dashboards pass nothing. Building an app never raises for a bad database or
cluster: the problem shows in the panel's status line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowray.widgets.backtest import BacktestPanel
from flowray.widgets.cluster import ClusterPanel
from flowray.widgets.features import FeaturesPanel
from flowray.widgets.forecast import ForecastPanel
from flowray.widgets.ledger import LedgerPanel
from flowray.widgets.portfolio import PortfolioPanel


def forecast_app(db_path: str | Path | None = None, **options: Any) -> ForecastPanel:
    """Pick a project or paste throughput, set the scenario, Run (live progress, Cancel), Save.

    options: runs (default 1,000,000), poll_seconds, today (the default start date),
    warm_up (load the engine and join Ray while the page is read: the dashboards do).
    """
    return ForecastPanel(db_path, **options)


def features_app(db_path: str | Path | None = None, **options: Any) -> FeaturesPanel:
    """Pick a stored release plan, edit its ordered list, Run (live progress, Cancel): which
    features make the target date at the level (the cut line), and what moved since the last run.

    options: source (where plans come from; default the ledger), plan (picked first),
    runs (default 100,000), seed, engine ("ray" or "serial"), poll_seconds, warm_up.
    """
    return FeaturesPanel(db_path, **options)


def ledger_app(db_path: str | Path | None = None, project: str | None = None) -> LedgerPanel:
    """One project's forecasts over time, against actuals, and its calibration."""
    return LedgerPanel(db_path, project=project)


def portfolio_app(db_path: str | Path | None = None) -> PortfolioPanel:
    """Every active project's latest forecast, at-risk first, with actuals and calibration."""
    return PortfolioPanel(db_path)


def cluster_app(*, auto_refresh: bool = True) -> ClusterPanel:
    """Health check, nodes, CPUs in use, flowray tasks; refreshes itself once shown in a kernel."""
    return ClusterPanel(auto_refresh=auto_refresh)


def backtest_app(db_path: str | Path | None = None, **options: Any) -> BacktestPanel:
    """Backtest a method on demo series or stored projects, on Ray; coverage and PIT.

    options: runs (per forecast, default 2000), poll_seconds.
    """
    return BacktestPanel(db_path, **options)
