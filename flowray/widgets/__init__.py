"""ipywidgets panels for JupyterLab and the Voila dashboards; they call flowray.pipeline only.

A dashboard notebook displays an app in two lines:

    from flowray.widgets import forecast_app
    forecast_app()
"""

from flowray.widgets.apps import backtest_app, cluster_app, forecast_app, ledger_app, portfolio_app

__all__ = ["backtest_app", "cluster_app", "forecast_app", "ledger_app", "portfolio_app"]
