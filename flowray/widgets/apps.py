"""App builders: what a dashboard notebook displays, in one call each.

Each returns a panel object that displays itself (or use `.widget`). The
database is FLOWRAY_DB (via flowray.config) unless `db_path` is given, so
dashboards pass nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowray.widgets.forecast import ForecastPanel


def forecast_app(db_path: str | Path | None = None, **options: Any) -> ForecastPanel:
    """Pick a project or paste throughput, set the scenario, Run (live progress, Cancel), Save."""
    return ForecastPanel(db_path, **options)


def ledger_app(db_path: str | Path | None = None, project: str | None = None) -> Any:
    from flowray.widgets.ledger import LedgerPanel

    return LedgerPanel(db_path, project=project)


def portfolio_app(db_path: str | Path | None = None) -> Any:
    from flowray.widgets.portfolio import PortfolioPanel

    return PortfolioPanel(db_path)


def cluster_app(**options: Any) -> Any:
    from flowray.widgets.cluster import ClusterPanel

    return ClusterPanel(**options)


def backtest_app(db_path: str | Path | None = None, **options: Any) -> Any:
    from flowray.widgets.backtest import BacktestPanel

    return BacktestPanel(db_path, **options)
