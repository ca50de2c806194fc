"""The ledger for front ends: projects, history, saving forecasts, and the tables pages show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowray.core.results import Result
from flowray.pipeline.workspace import Where, workspace_of

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd


def open_store(where: Where = None) -> Any:
    """The project's database (FLOWRAY_DB or ./flowray.duckdb unless a path is given)."""
    return workspace_of(where).store


def save_result(project: str, result: Result, where: Where = None, **extra: Any) -> int:
    """Write a result to the immutable ledger; returns its id.

    A result made by a method (it carries `method_report`) keeps the method,
    window and calibration in the row's result JSON, key "method".
    """
    return workspace_of(where).store.save_forecast(project, result_dict(result), **extra)


def result_dict(result: Result, *args: Any) -> dict[str, Any]:
    """`result.to_dict(*args)` plus "method" (name, window, calibration, description) when known."""
    data = result.to_dict(*args)
    report = result.method_report
    if report is not None:
        data["method"] = report.to_dict()
    return data


def list_projects(where: Where = None, *, active_only: bool = False) -> list[Any]:
    """The ledger's projects by name (only the active ones if asked)."""
    projects = workspace_of(where).store.list_projects()
    return [p for p in projects if p.status == "active"] if active_only else projects


def project_history(project: str, where: Where = None) -> list[Any]:
    """The project's throughput periods (period_start, items), oldest first."""
    return list(workspace_of(where).store.get_throughput(project))


def save_forecast(
    project: str,
    result: Result,
    where: Where = None,
    *,
    name: str | None = None,
    history_periods: Sequence[Any] | None = None,
) -> int:
    """Save a result to the ledger, with the data window it used when known."""
    extra: dict[str, Any] = {"name": name, "data_periods": len(result.scenario.throughput)}
    if history_periods:
        used = list(history_periods)[-len(result.scenario.throughput) :]
        extra["data_window"] = (used[0].period_start, used[-1].period_start)
    return save_result(project, result, where, **extra)


def save_plan(
    project: str,
    result: Result,
    where: Where = None,
    *,
    how: str = "api",
    name: str | None = None,
    history_periods: Sequence[Any] | None = None,
) -> int:
    """Save a "when" / "deadline" result and make it the project's plan, in one transaction.

    `how` says who set it: "cli", "page", "api" or "batch" (the batch's re-made plan).
    """
    extra: dict[str, Any] = {"name": name, "data_periods": len(result.scenario.throughput)}
    if history_periods:
        used = list(history_periods)[-len(result.scenario.throughput) :]
        extra["data_window"] = (used[0].period_start, used[-1].period_start)
    return workspace_of(where).store.save_plan(project, result_dict(result), how=how, **extra)


def make_plan(project: str, forecast_id: int, where: Where = None, *, how: str = "page") -> Any:
    """Make a saved forecast the project's plan ("Make this the plan"); returns its PlanRecord.

    The plan is what the portfolio, the batch and its alerts follow; every other
    saved forecast is a what-if and changes neither. The choice is appended to the
    project's plan history (who, when, how), never rewritten. Refused by name
    (InputError, field "forecast_id"): an unknown id, a forecast of another project,
    a forecast that is not a "when"/"deadline" forecast of a backlog (say, how-many).
    """
    return workspace_of(where).store.set_plan(project, forecast_id, how=how)


def project_plan(project: str, where: Where = None) -> Any | None:
    """The project's plan in force as a whole ledger record (ForecastRecord), or None."""
    store = workspace_of(where).store
    plan = store.get_plan(project)
    return None if plan is None else store.get_forecast(plan.forecast_id)


def plan_history(project: str | None = None, where: Where = None) -> pd.DataFrame:
    """Who set which forecast as the plan, when and how, oldest first (the plan in force last)."""
    import pandas as pd

    plans = workspace_of(where).store.list_plans(project)
    columns = ["plan_id", "project", "forecast_id", "set_at", "set_by", "how"]
    return pd.DataFrame([p.to_dict() for p in plans], columns=columns).assign(
        set_at=lambda f: pd.to_datetime(f["set_at"])
    )


def forecast_ledger(project: str | None = None, where: Where = None) -> pd.DataFrame:
    """The ledger as a DataFrame, oldest first: how each project's P85 date moved."""
    return _ledger_frame(workspace_of(where).store.list_forecasts(project))


def _ledger_frame(forecasts: Sequence[Any]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for f in forecasts:
        rows.append(
            {
                "id": f.forecast_id,
                "project": f.project,
                "kind": f.kind,
                "created_at": f.created_at,
                "created_by": f.created_by,
                "source": f.source,
                "start": f.start_date,
                "deadline": f.deadline,
                "p50": f.percentiles.get(50),
                "p85": f.percentiles.get(85),
                "p85_date": f.dates.get(85),
                "p50_date": f.dates.get(50),
                "p_deadline": f.p_deadline,
                "runs": f.runs,
                "method": f.method,
                "scored": f.scored,
                "role": f.role,
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values(["project", "created_at", "id"]).reset_index(drop=True)
    return frame


def forecasts_vs_actuals(project: str | None = None, where: Where = None) -> pd.DataFrame:
    """Every scored forecast next to what happened (two queries, whatever the number of forecasts)."""

    with workspace_of(where).store.reading() as ledger:
        return _actuals_frame(ledger.list_forecasts(project), ledger.list_scores(project))


def _actuals_frame(forecasts: Sequence[Any], scores: dict[int, Any]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for f in forecasts:
        score = scores.get(f.forecast_id)
        if score is None:
            continue
        rows.append(
            {
                "id": f.forecast_id,
                "project": f.project,
                "kind": f.kind,
                "start": f.start_date,
                "p50": f.percentiles.get(50),
                "p85": f.percentiles.get(85),
                "actual": score.actual_value,
                "median_error": score.median_error,
                "pit": score.pit,
                "met_85": score.levels[85].met if 85 in score.levels else None,
            }
        )
    return pd.DataFrame(rows)


def calibration_table(project: str | None = None, where: Where = None) -> pd.DataFrame:
    """Share of resolved forecasts met at 50/70/85/95 (overall or for one project)."""

    return _calibration_frame(workspace_of(where).store.calibration(project))


def _calibration_frame(levels: Sequence[Any]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([c.to_dict() for c in levels])


def portfolio(where: Where = None) -> pd.DataFrame:
    """Every active project's plan in force, its trend since the previous plan, riskiest first.

    The portfolio follows plans only: a saved what-if changes no row. A project
    without a plan has an empty row (no forecast). One read of the database
    (projects, ledger and plans on one connection).
    """

    with workspace_of(where).store.reading() as reader:
        return _portfolio_frame(
            reader.list_projects(),
            _ledger_frame(reader.list_forecasts(None)),
            reader.list_plans(None),
        )


def _portfolio_frame(
    projects: Sequence[Any], ledger: pd.DataFrame, plans: Sequence[Any]
) -> pd.DataFrame:
    import pandas as pd

    by_id = {int(row["id"]): row for _, row in ledger.iterrows()}
    rows = []
    for project in (p for p in projects if p.status == "active"):
        mine = [p for p in plans if p.project == project.name]
        plan = mine[-1] if mine else None
        latest = by_id.get(plan.forecast_id) if plan is not None else None
        previous = by_id.get(mine[-2].forecast_id) if len(mine) > 1 else None
        p_now = None if latest is None else latest["p_deadline"]
        p_before = None if previous is None else previous["p_deadline"]
        trend = None
        if p_now is not None and p_before is not None and pd.notna(p_now) and pd.notna(p_before):
            trend = float(p_now) - float(p_before)
        shift = None
        if (
            latest is not None
            and previous is not None
            and latest["p85_date"]
            and previous["p85_date"]
        ):
            shift = (latest["p85_date"] - previous["p85_date"]).days
        rows.append(
            {
                "project": project.name,
                "owner": project.owner,
                "target_date": project.target_date,
                "latest_forecast": None if latest is None else int(latest["id"]),
                "forecast_on": None if latest is None else latest["created_at"],
                "p85_date": None if latest is None else latest["p85_date"],
                "p_deadline": None if p_now is None or pd.isna(p_now) else float(p_now),
                "p_deadline_change": trend,
                "p85_shift_days": shift,
                "forecasts": len(mine),
                "plan_set_at": None if plan is None else plan.set_at,
                "plan_set_by": None if plan is None else plan.set_by,
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["_risk"] = frame["p_deadline"].fillna(2.0)
        frame = frame.sort_values(["_risk", "project"]).drop(columns="_risk").reset_index(drop=True)
    return frame


@dataclass
class LedgerView:
    """What the portfolio and ledger pages show, read from the database in one go."""

    portfolio: pd.DataFrame  # every active project's plan in force, riskiest first
    ledger: pd.DataFrame  # the forecasts (of the project, or all), oldest first
    vs_actuals: pd.DataFrame  # the scored ones next to what happened
    calibration: pd.DataFrame  # share met at 50/70/85/95


def ledger_view(project: str | None = None, where: Where = None) -> LedgerView:
    """The portfolio, the ledger, the scored forecasts and calibration, on one connection."""
    with workspace_of(where).store.reading() as reader:
        projects = reader.list_projects()
        everything = reader.list_forecasts(None)
        mine = everything if project is None else reader.list_forecasts(project)
        scores = reader.list_scores(project)
        levels = reader.calibration(project)
        plans = reader.list_plans(None)
    return LedgerView(
        portfolio=_portfolio_frame(projects, _ledger_frame(everything), plans),
        ledger=_ledger_frame(mine),
        vs_actuals=_actuals_frame(mine, scores),
        calibration=_calibration_frame(levels),
    )
