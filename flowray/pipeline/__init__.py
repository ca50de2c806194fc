"""Use cases: where the job engines and the ledger meet. Each reads like the script an analyst would write.

- `forecast`: a request in, a checked scenario, a job, a result (saved if asked);
- `ledger`: projects, history, saved forecasts, plans (`make_plan`) and the tables the pages show;
- `batch`: the nightly re-forecast of every active project's plan and stored portfolio, alerts;
- `portfolio`: stored portfolios, their saved forecasts, features marked done and their scores;
- `backtest`, `deadline`, `sweep`: backtests, the ML deadline analysis, what-if grids;
- `cycle_time`: cycle-time percentiles and the items in progress of a project's work items;
- `features`: a portfolio's features from a project's synced tracker items;
- `demo`: the demo database; `cluster`: the Ray cluster for front ends;
- `workspace`: the ledger and the engine a use case works with, chosen in one place.

Every use case is written once as a job and runs on the serial engine (this
process) or on Ray; `run_*` waits for the result, `submit_*` / `start_forecast`
return the job at once.
"""

from flowray.core.methods import (
    ALL_HISTORY,
    DEFAULT,
    DOMAIN_MODEL,
    ForecastMethod,
    MethodReport,
    calibrated_forecast,
    default_method,
    method_forecast,
    resolve_method,
)
from flowray.pipeline import ledger
from flowray.pipeline.backtest import load_series, run_backtest, submit_backtest
from flowray.pipeline.batch import BatchReport, outlook_project, reforecast_project, run_batch
from flowray.pipeline.cluster import (
    close_cluster,
    cluster_report,
    cluster_status,
    connect_cluster,
    health_check,
    health_check_nodes,
    keep_shared_cluster,
    open_cluster,
    page_engine,
    release_cluster,
    warm_up_engine,
)
from flowray.pipeline.cycle_time import CycleTimeReport, cycle_time_report
from flowray.pipeline.deadline import run_deadline_comparison, submit_deadline_comparison
from flowray.pipeline.demo import DEMO_PROJECTS, DemoStatus, demo_status, reset_demo, seed_demo
from flowray.pipeline.features import features_from_project
from flowray.pipeline.forecast import (
    ForecastOutcome,
    ForecastRequest,
    PreparedForecast,
    RunningForecast,
    build_scenario,
    describe,
    guard_history,
    load_history,
    prepare,
    question_for,
    run_forecast,
    start_forecast,
    submit,
)
from flowray.pipeline.ledger import (
    LedgerView,
    calibration_table,
    forecast_ledger,
    forecasts_vs_actuals,
    ledger_view,
    list_projects,
    make_plan,
    open_store,
    plan_history,
    project_history,
    project_plan,
    result_dict,
    save_forecast,
    save_plan,
    save_result,
)
from flowray.pipeline.portfolio import (
    forecast_stored_portfolio,
    list_portfolio_forecasts,
    list_portfolios,
    load_portfolio,
    mark_feature_done,
    save_portfolio,
    save_portfolio_forecast,
)
from flowray.pipeline.sweep import run_sweep, submit_sweep
from flowray.pipeline.workspace import ENGINES, Workspace, engine_named, workspace_of

# The package's `portfolio` is the projects' page (ledger.portfolio); importing the module
# flowray.pipeline.portfolio binds that name to the module, so it is bound here, after it.
portfolio = ledger.portfolio

__all__ = [
    "ALL_HISTORY",
    "DEFAULT",
    "DEMO_PROJECTS",
    "DemoStatus",
    "DOMAIN_MODEL",
    "ENGINES",
    "BatchReport",
    "CycleTimeReport",
    "ForecastMethod",
    "ForecastOutcome",
    "ForecastRequest",
    "LedgerView",
    "MethodReport",
    "PreparedForecast",
    "RunningForecast",
    "Workspace",
    "build_scenario",
    "calibrated_forecast",
    "calibration_table",
    "close_cluster",
    "cluster_report",
    "cluster_status",
    "connect_cluster",
    "cycle_time_report",
    "default_method",
    "describe",
    "engine_named",
    "features_from_project",
    "forecast_ledger",
    "forecast_stored_portfolio",
    "forecasts_vs_actuals",
    "guard_history",
    "health_check",
    "health_check_nodes",
    "list_portfolio_forecasts",
    "list_portfolios",
    "list_projects",
    "load_portfolio",
    "mark_feature_done",
    "ledger_view",
    "load_history",
    "load_series",
    "make_plan",
    "method_forecast",
    "open_cluster",
    "open_store",
    "outlook_project",
    "plan_history",
    "portfolio",
    "prepare",
    "project_history",
    "project_plan",
    "question_for",
    "reforecast_project",
    "release_cluster",
    "resolve_method",
    "result_dict",
    "run_backtest",
    "run_batch",
    "run_deadline_comparison",
    "run_forecast",
    "run_sweep",
    "save_forecast",
    "save_plan",
    "save_portfolio",
    "save_portfolio_forecast",
    "save_result",
    "demo_status",
    "reset_demo",
    "seed_demo",
    "keep_shared_cluster",
    "page_engine",
    "warm_up_engine",
    "start_forecast",
    "submit",
    "submit_backtest",
    "submit_deadline_comparison",
    "submit_sweep",
    "workspace_of",
]
