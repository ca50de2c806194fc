"""The scheduled batch: re-forecast every active project from its stored history, score, alert."""

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
from flowray.core.results import ForecastResult, Result
from flowray.exceptions import InputError, NotEnoughData
from flowray.pipeline.forecast import ForecastRequest, run_forecast
from flowray.pipeline.ledger import list_projects, save_forecast
from flowray.pipeline.workspace import Where, workspace_of
from flowray.text import format_probability


class NothingToForecast(InputError):
    """A project the batch skips for a stated reason: no plan to re-make, or no history before as_of."""


SKIP_REASONS = (NothingToForecast, NotEnoughData)
"""Why a project is skipped rather than failed; any other error fails the batch."""


@dataclass
class BatchReport:
    summary: Any  # DataFrame: one row per project re-forecast
    alerts: Any  # DataFrame: projects whose P(deadline) fell below the threshold or dropped
    scored: list[int]  # forecasts newly scored against actuals
    skipped: list[str]  # "project: reason" for projects with no plan or no history (not a failure)
    failed: list[str] = field(default_factory=list)  # "project: error" for projects that broke

    def to_summary(self) -> dict[str, Any]:
        """The outcome per project as plain JSON-ready data (what `flowray batch` reads back)."""
        forecast = [] if self.summary.empty else [str(p) for p in self.summary["project"]]
        alerts = [
            f"{row['project']}: {row['why']}" for row in self.alerts.to_dict(orient="records")
        ]
        return {
            "forecast": forecast,
            "skipped": list(self.skipped),
            "failed": list(self.failed),
            "alerts": alerts,
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


def _latest_plan(store: Any, project: str) -> Any | None:
    plans = [
        f
        for f in store.list_forecasts(project)
        if f.kind in ("when", "deadline") and f.source == "flowray"
    ]
    return store.get_forecast(plans[-1].forecast_id) if plans else None


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
    """Re-make a project's latest plan from its stored history up to `as_of` and save it.

    The remaining backlog is the plan's backlog less the items completed since
    its start (from the stored history), so each run moves the plan forward.
    `method` and `window` as in `resolve_method` (default: flowray's chosen
    method and window); method=None keeps the plan's sampler, uncalibrated.
    """
    workspace = workspace_of(db_path, engine)
    store = workspace.store
    plan = _latest_plan(store, project)
    if plan is None:
        raise NothingToForecast(
            "project", project, "has no when/deadline forecast to re-make; make one first"
        )
    periods = store.get_throughput(project)
    cut = dt.date.fromisoformat(str(as_of)) if as_of else None
    if cut is not None:
        periods = [p for p in periods if p.period_start + dt.timedelta(days=p.period_days) <= cut]
    if not periods:
        raise NothingToForecast("project", project, "has no throughput history before as_of")
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
    chosen = (
        None
        if method is None
        else (resolve_method(method) if window is None else resolve_method(method, window))
    )
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
    fid = save_forecast(
        project,
        outcome.result,
        workspace,
        name=f"batch as of {start.isoformat()}",
        history_periods=periods,
    )
    return fid, outcome.result, plan


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
) -> BatchReport:
    """Re-forecast every active project (name containing `project_filter`), score, alert.

    Every project is forecast with `method` on `window` (default: flowray's
    chosen method and window, see resolve_method); the summary names it.
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
    for project in list_projects(workspace, active_only=True):
        if project_filter and project_filter.lower() not in project.name.lower():
            continue
        try:
            fid, result, plan = reforecast_project(
                project.name,
                db_path=workspace,
                as_of=as_of,
                runs=runs,
                seed=seed,
                method=method,
                window=window,
            )
        except SKIP_REASONS as exc:  # no plan, no or too little history: a documented skip
            skipped.append(f"{project.name}: {exc}")
            continue
        except Exception as exc:  # anything else is a failure the batch must report
            failed.append(f"{project.name}: {type(exc).__name__}: {exc}")
            continue
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
                "start": result.scenario.start,
                "backlog": result.scenario.backlog,
                "p50_date": result.date_at(50),
                "p85_date": p85,
                "deadline": result.scenario.deadline,
                "p_deadline": p_now,
                "previous_p_deadline": p_before,
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
    scored = store.score_pending()
    return BatchReport(
        pd.DataFrame(rows),
        pd.DataFrame(alerts, columns=["project", "forecast_id", "why"]),
        scored,
        skipped,
        failed,
    )
