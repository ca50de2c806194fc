"""The scheduled batch: re-forecast every active project from its stored history, score, alert;
then every stored portfolio (pipeline.portfolio), alerting on features that leave the cut line."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowray.core import validation
from flowray.core.limits import EARLIEST_DATE, LATEST_DATE, MAX_RUNS, MAX_SEED
from flowray.core.methods import ALL_HISTORY, DEFAULT, ForecastMethod, resolve_method
from flowray.core.results import ForecastResult, HowManyResult, Result
from flowray.exceptions import InputError, NotEnoughData
from flowray.pipeline.forecast import ForecastRequest, run_forecast
from flowray.pipeline.ledger import list_projects, result_dict, save_plan
from flowray.pipeline.sync import sync_before_batch
from flowray.pipeline.workspace import Where, workspace_of
from flowray.text import format_probability


class NothingToForecast(InputError):
    """A project the batch skips for a stated reason: no history before as_of (or, asked to
    re-make a plan, no plan)."""


SKIP_REASONS = (NothingToForecast, NotEnoughData)
"""Why a project is skipped rather than failed; any other error fails the batch."""


@dataclass
class BatchReport:
    summary: Any  # DataFrame: one row per project re-forecast
    alerts: Any  # DataFrame: projects whose P(deadline) fell below the threshold or dropped
    scored: list[int]  # forecasts newly scored against actuals
    skipped: list[
        str
    ]  # "project: reason" for projects with no or too little history (not a failure)
    failed: list[str] = field(default_factory=list)  # "project: error" for projects that broke
    portfolios: list[str] = field(default_factory=list)  # stored portfolios re-forecast and saved

    def to_summary(self) -> dict[str, Any]:
        """The outcome per project as plain JSON-ready data (what `flowray batch` reads back)."""
        forecast = [] if self.summary.empty else [str(p) for p in self.summary["project"]]
        outlook = (
            []
            if self.summary.empty
            else [str(r["project"]) for _, r in self.summary.iterrows() if r["backlog"] is None]
        )
        alerts = [
            f"{row['project']}: {row['why']}" for row in self.alerts.to_dict(orient="records")
        ]
        return {
            "forecast": forecast,
            "outlook": outlook,  # forecast without a plan: how many items (see outlook_project)
            "skipped": list(self.skipped),
            "failed": list(self.failed),
            "alerts": alerts,
            "portfolios": list(self.portfolios),
            "scored": [int(i) for i in self.scored],
        }

    def write_summary(self, path: str | Path) -> None:
        """Write `to_summary()` as JSON to `path` (nothing when path is empty): the runner reads it."""
        if path:
            Path(path).write_text(json.dumps(self.to_summary(), indent=2), encoding="utf-8")


def check_ledger(db_path: Where) -> None:
    """Refuse a ledger path with no file there: the batch re-forecasts, it never creates a ledger."""
    if db_path is not None and not isinstance(db_path, (str, Path)):
        return  # an open workspace or store
    from flowray.config import load_settings
    from flowray.store import require_ledger

    require_ledger(Path(db_path) if db_path else load_settings().db_path)


def check_batch_parameters(
    values: Mapping[str, Any], today: dt.date | None = None
) -> dict[str, Any]:
    """The batch's parameters checked before any project is touched; the others pass unchanged.

    runs from 1 to MAX_RUNS, seed from 0 to MAX_SEED, as_of a date from
    EARLIEST_DATE to today (and never after LATEST_DATE), alert_threshold a
    probability from 0 to 1, drop_alert from 0 to 1, method and window a known
    method (empty texts mean the defaults).
    """
    out = dict(values)
    if "runs" in out:
        out["runs"] = validation.whole_number("runs", out["runs"], 1, MAX_RUNS)
    if "seed" in out:
        out["seed"] = validation.whole_number("seed", out["seed"], 0, MAX_SEED)
    if out.get("as_of") not in (None, ""):
        day = validation.parse_date("as_of", out["as_of"])
        latest = min(today or dt.date.today(), LATEST_DATE)
        if day is None or not EARLIEST_DATE <= day <= latest:
            raise InputError(
                "as_of",
                out["as_of"],
                f"must be a date from {EARLIEST_DATE.isoformat()} to {latest.isoformat()} (today)",
            )
    for name in ("alert_threshold", "drop_alert"):
        if name in out:
            out[name] = validation.finite_number(name, out[name], 0.0, 1.0)
    method = out.get("method")
    window = out.get("window") or None
    if method not in (None, ""):
        if not isinstance(method, ForecastMethod):
            resolve_method(method) if window is None else resolve_method(method, window)
    return out


OUTLOOK_PERIODS = 8
"""The horizon of a project without a plan whose target date is not ahead: the next 8 periods."""


def _plan_of(store: Any, project: str) -> Any | None:
    """The project's plan in force as a whole ledger record, or None: it has no plan."""
    plan = store.get_plan(project)
    return None if plan is None else store.get_forecast(plan.forecast_id)


def _history_before(store: Any, project: str, cut: dt.date | None) -> list[Any]:
    """The stored periods that ended by `cut` (all of them without one); none is a skip."""
    periods = store.get_throughput(project)
    if cut is not None:
        periods = [p for p in periods if p.period_start + dt.timedelta(days=p.period_days) <= cut]
    if not periods:
        where = f"before as_of {cut.isoformat()}" if cut is not None else "yet"
        raise NothingToForecast(
            "project",
            project,
            f"has no throughput history {where}; import items or add throughput first",
        )
    return list(periods)


def _method(method: str | ForecastMethod | None, window: int | str | None) -> Any:
    if method is None:
        return None
    return resolve_method(method) if window is None else resolve_method(method, window)


def reforecast_project(
    project: str,
    *,
    db_path: Where = None,
    as_of: str | dt.date | None = None,
    runs: int = 50_000,
    seed: int = 0,
    window: int | str | None = None,
    engine: str | None = None,
    method: str | ForecastMethod | None = DEFAULT,
) -> tuple[int, Result, Any]:
    """Re-make a project's plan from its stored history up to `as_of`, save it as the new plan.

    The plan is the one set on purpose (`pipeline.make_plan`, `flowray when --plan`,
    `flowray forecasts plan`); saved what-ifs are never followed. The remaining
    backlog is the plan's backlog less the items completed since its start (from
    the stored history), and the re-made forecast becomes the plan (set "batch"),
    so each run moves the plan forward and the plan history says which plan each
    run followed. `method` and `window` as in `resolve_method` (default: flowray's
    chosen method and window); method=None keeps the plan's sampler, uncalibrated.
    Returns (new forecast id, result, the plan it re-made as a ForecastRecord).
    """
    workspace = workspace_of(db_path, engine)
    store = workspace.store
    plan = _plan_of(store, project)
    if plan is None:
        raise NothingToForecast(
            "project",
            project,
            "has no plan to re-make; make one with `flowray forecasts plan ID` "
            "(the batch forecasts such a project as an outlook instead)",
        )
    cut = dt.date.fromisoformat(str(as_of)) if as_of else None
    periods = _history_before(store, project, cut)
    inputs = dict(plan.inputs or {})
    old_start = dt.date.fromisoformat(inputs["start"]) if inputs.get("start") else None
    done_since = sum(p.items for p in periods if old_start and p.period_start >= old_start)
    backlog = inputs.get("backlog", 0)
    if isinstance(backlog, dict):
        backlog = {
            "low": max(0, backlog["low"] - done_since),
            "high": max(0, backlog["high"] - done_since),
        }
    else:
        backlog = max(0, int(backlog) - done_since)
    last = periods[-1]
    history_ends = last.period_start + dt.timedelta(days=last.period_days)
    # As the pages and the CLI do: the forecast starts today (or as_of), never before the history ends.
    start = cut or max(dt.date.today(), history_ends)
    inputs.update(backlog=backlog, start=start.isoformat())
    inputs.pop("throughput", None)
    if inputs.get("deadline") and dt.date.fromisoformat(inputs["deadline"]) <= start:
        inputs["deadline"] = None  # the deadline has passed: forecast the completion only
    chosen = _method(method, window)
    # Passed on as given: the request refuses anything but a whole number of periods >= 1.
    legacy_window: Any = None if window in (None, ALL_HISTORY) else window
    request = ForecastRequest(
        kind="when",
        throughput=[p.items for p in periods],
        window=legacy_window if chosen is None else None,
        fields=inputs,
        runs=runs,
        seed=seed,
        force=False,
        method=chosen,
        project=project,  # for the method's words ("this project's past errors"); the history is given
        history_ends=history_ends,
    )
    outcome = run_forecast(request, workspace)
    fid = save_plan(
        project,
        outcome.result,
        workspace,
        how="batch",
        name=f"batch as of {start.isoformat()}",
        history_periods=periods,
    )
    return fid, outcome.result, plan


def outlook_project(
    project: str,
    *,
    db_path: Where = None,
    as_of: str | dt.date | None = None,
    runs: int = 50_000,
    seed: int = 0,
    window: int | str | None = None,
    engine: str | None = None,
    method: str | ForecastMethod | None = DEFAULT,
) -> tuple[int, HowManyResult, str]:
    """Forecast a project without a plan: how many items by its target date, or in the next 8 periods.

    A project with history but no plan (say, just imported from a tracker) still
    gets a forecast: how many items will be done by its target date when that is
    at least one period after the start, else in the next OUTLOOK_PERIODS periods,
    with `method` on `window` (default: flowray's chosen method). It is saved as an
    "outlook" (the row's result JSON has {"batch": {"role": "outlook", ...}}): not a
    plan, since it has no backlog, and not a what-if. No or too little history is
    a skip (NothingToForecast, NotEnoughData). Returns (forecast id, result, the
    question it answers in words).
    """
    workspace = workspace_of(db_path, engine)
    store = workspace.store
    cut = dt.date.fromisoformat(str(as_of)) if as_of else None
    periods = _history_before(store, project, cut)
    last = periods[-1]
    history_ends = last.period_start + dt.timedelta(days=last.period_days)
    start = cut or max(dt.date.today(), history_ends)
    target = store.get_project(project).target_date
    horizon: dict[str, Any]
    if target is not None and target >= start + dt.timedelta(days=last.period_days):
        horizon = {"end": target}
        question = f"how many items by the target date {target.isoformat()}"
    else:
        horizon = {"periods": OUTLOOK_PERIODS}
        question = f"how many items in the next {OUTLOOK_PERIODS} periods"
    chosen = _method(method, window)
    legacy_window: Any = None if window in (None, ALL_HISTORY) else window
    request = ForecastRequest(
        kind="how_many",
        throughput=[p.items for p in periods],
        window=legacy_window if chosen is None else None,
        fields={"start": start.isoformat(), "period_days": last.period_days},
        runs=runs,
        seed=seed,
        force=False,
        method=chosen,
        project=project,
        history_ends=history_ends,
        **horizon,
    )
    outcome = run_forecast(request, workspace)
    result = outcome.result
    assert isinstance(result, HowManyResult)
    data = result_dict(result)
    data["batch"] = {"role": "outlook", "question": question}
    used = periods[-len(result.scenario.throughput) :]
    fid = store.save_forecast(
        project,
        data,
        name=f"batch outlook as of {start.isoformat()}",
        data_window=(used[0].period_start, used[-1].period_start),
        data_periods=len(result.scenario.throughput),
    )
    return fid, result, question


def _outlook_row(project: str, fid: int, result: HowManyResult, question: str) -> dict[str, Any]:
    """The summary row of an outlook: items at least by the horizon, no dates, no deadline."""
    report = result.method_report
    assert report is not None  # a method made it
    return {
        "project": project,
        "forecast_id": fid,
        "question": question,
        "start": result.scenario.start,
        "backlog": None,
        "p50_date": None,
        "p85_date": None,
        "deadline": None,
        "p_deadline": None,
        "previous_p_deadline": None,
        "items_p50": result.at_least(50),
        "items_p85": result.at_least(85),
        "method": report.method.label(),
        "calibrated": report.calibrated,
    }


def run_batch(
    db_path: Where = None,
    *,
    project_filter: str = "",
    runs: int = 50_000,
    seed: int = 0,
    as_of: str | dt.date | None = None,
    alert_threshold: float = 0.7,
    drop_alert: float = 0.10,
    engine: str | None = None,
    method: str | ForecastMethod | None = DEFAULT,
    window: int | str | None = None,
    sync: bool | None = None,
) -> BatchReport:
    """Re-forecast every active project (name containing `project_filter`), score, alert.

    First the projects' tracker sources are synced (`sync=None`: when there are
    any); a failed sync is reported in `failed` and its project is forecast on the
    items stored before.

    A project with a plan has its plan re-made (`reforecast_project`), and the
    re-made forecast becomes its plan; a project with history but no plan gets an
    outlook (`outlook_project`: how many items by its target date, or in the next
    8 periods). Saved what-ifs are never followed. Only a project with no or too
    little history is skipped. Every project is forecast with `method` on `window`
    (default: flowray's chosen method and window, see resolve_method); the summary
    names it. Alerts concern plans only (an outlook has no deadline). Then every
    stored portfolio (name containing `project_filter`) is re-forecast as it stands
    today and saved; a feature inside its previous forecast's cut line whose
    P(done by the target) fell below the level is an alert ("portfolio NAME"). A
    portfolio that fails is a failure like a project's; with `as_of` portfolios are
    skipped (they are forecast as of today only).
    """
    import pandas as pd

    check_batch_parameters(
        {
            "runs": runs,
            "seed": seed,
            "as_of": as_of,
            "alert_threshold": alert_threshold,
            "drop_alert": drop_alert,
        }
    )
    check_ledger(db_path)
    if method is not None:  # a bad method or window stops the batch before any project
        method = resolve_method(method) if window is None else resolve_method(method, window)
        window = None
    workspace = workspace_of(db_path, engine)
    store = workspace.store
    rows, alerts, skipped, failed = [], [], [], []
    failed.extend(sync_before_batch(workspace, sync, project_filter))
    for project in list_projects(workspace, active_only=True):
        if project_filter and project_filter.lower() not in project.name.lower():
            continue
        has_plan = store.get_plan(project.name) is not None
        make = reforecast_project if has_plan else outlook_project
        try:
            fid, answer, about = make(
                project.name,
                db_path=workspace,
                as_of=as_of,
                runs=runs,
                seed=seed,
                method=method,
                window=window,
            )
        except SKIP_REASONS as exc:  # no or too little history: a documented skip
            skipped.append(f"{project.name}: {exc}")
            continue
        except Exception as exc:  # anything else is a failure the batch must report
            failed.append(f"{project.name}: {type(exc).__name__}: {exc}")
            continue
        if not has_plan:
            assert isinstance(answer, HowManyResult) and isinstance(about, str)
            rows.append(_outlook_row(project.name, fid, answer, about))
            continue  # an outlook has no deadline: nothing to alert on
        result, plan = answer, about
        assert not isinstance(plan, str)  # the plan it re-made
        assert isinstance(result, ForecastResult)  # a re-made plan answers "when"
        report = result.method_report
        assert report is not None  # a method made it
        p_now = result.probability_by_deadline
        p_before = plan.p_deadline
        p85 = result.date_at(85)
        rows.append(
            {
                "project": project.name,
                "forecast_id": fid,
                "question": f"when is the plan's backlog done (plan {plan.forecast_id})",
                "start": result.scenario.start,
                "backlog": result.scenario.backlog,
                "p50_date": result.date_at(50),
                "p85_date": p85,
                "deadline": result.scenario.deadline,
                "p_deadline": p_now,
                "previous_p_deadline": p_before,
                "items_p50": None,
                "items_p85": None,
                "method": report.method.label(),
                "calibrated": report.calibrated,
            }
        )
        reasons = []
        if p_now is not None and p_now < alert_threshold:
            reasons.append(
                f"P(deadline) {format_probability(p_now)} is below {alert_threshold:.0%}"
            )
        if p_now is not None and p_before is not None and p_before - p_now > drop_alert:
            reasons.append(
                f"P(deadline) dropped {100 * (p_before - p_now):.0f} points since the last run"
            )
        if reasons:
            alerts.append({"project": project.name, "forecast_id": fid, "why": "; ".join(reasons)})
    portfolios = _batch_portfolios(workspace, project_filter, runs, seed, as_of, alerts)
    skipped += portfolios.skipped
    failed += portfolios.failed
    scored = store.score_pending()
    return BatchReport(
        pd.DataFrame(rows),
        pd.DataFrame(alerts, columns=["project", "forecast_id", "why"]),
        scored,
        skipped,
        failed,
        portfolios.forecast,
    )


@dataclass
class _PortfolioRun:
    forecast: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _batch_portfolios(
    workspace: Any, name_filter: str, runs: int, seed: int, as_of: Any, alerts: list[Any]
) -> _PortfolioRun:
    """Re-forecast every stored portfolio (name containing `name_filter`) as it stands today and
    save it; an alert row per feature that left its previous forecast's cut line level."""
    from flowray.pipeline.portfolio import NothingLeft, list_portfolios, reforecast_portfolio

    out = _PortfolioRun()
    for name in list_portfolios(workspace):
        if name_filter and name_filter.lower() not in name.lower():
            continue
        if as_of:  # a stored portfolio has no history cut: it is forecast as of today only
            out.skipped.append(f"portfolio {name}: forecast as of today only, not as_of {as_of}")
            continue
        try:
            fid, result, found = reforecast_portfolio(name, workspace, runs=runs, seed=seed)
        except NothingLeft as exc:
            out.skipped.append(f"portfolio {name}: {exc}")
            continue
        except Exception as exc:  # a failure the batch must report, like a project's
            out.failed.append(f"portfolio {name}: {type(exc).__name__}: {exc}")
            continue
        cut = result.cut_line() if result.portfolio.target is not None else None
        out.forecast.append(
            f"{name} (forecast {fid}"
            + ("" if cut is None else f", cut line {cut} of {len(result.feature_names)}")
            + ")"
        )
        alerts.extend(
            {"project": f"portfolio {name}", "forecast_id": fid, "why": why} for why in found
        )
    return out
