"""ipywidgets panels for JupyterLab and the Voila dashboards; they call flowray.pipeline only.

Each builder returns a panel that displays itself, so a dashboard is two lines:

    from flowray.widgets import forecast_app
    forecast_app()

- `forecast_app(db_path=None)`: pick a stored project or paste throughput, set the
  scenario (backlog or range, split, risks, team and its ramp-up, focus, dates, runs,
  repeatable-run number), each field checked as typed (Run stays off until all are
  valid; a change retires the last answer), Run on Ray with live progress and
  partial percentiles, Cancel, read the
  answer ("85% likely by 14 March 2026", histogram, burn-down fan, likelihood
  table, P(deadline), data checks), Save to the ledger. Also "how many by a date".
  A project with dated work items gets a folded "Items in progress" (`in_progress.py`):
  cycle-time percentiles, each open item's age and 85% date, scatter and ageing charts.
- `features_app(db_path=None)`: pick a stored release plan (teams and an ordered list of
  features), move features, change sizes, teams, features at once, the target and the level
  (each field checked), Run with live progress and Cancel: per feature its 50% and 85% dates
  and chance by the target, the cut line (the features all done by the target, jointly),
  what moved since the last run, Save.
- `ledger_app(db_path=None, project=None)`: one project's forecasts over time, how the
  85% date moved, forecasts against actuals, calibration.
- `portfolio_app(db_path=None)`: every active project, at-risk first, with the trend
  since the previous forecast, actuals and calibration across projects.
- `cluster_app()`: health check, nodes, CPUs in use, flowray tasks, Ray's dashboard.
- `backtest_app(db_path=None)`: backtest a method on demo series or stored projects on
  Ray (progress, Cancel), coverage and PIT.

The database is FLOWRAY_DB (through flowray.config) unless `db_path` is given.
"""

from flowray.widgets.apps import (
    backtest_app,
    cluster_app,
    features_app,
    forecast_app,
    ledger_app,
    portfolio_app,
)

__all__ = [
    "backtest_app",
    "cluster_app",
    "features_app",
    "forecast_app",
    "ledger_app",
    "portfolio_app",
]
