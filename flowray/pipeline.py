"""Use cases: load history, run a forecast (locally or on Ray), save it. Where tasks and store meet.

Each function reads like the script an analyst would write by hand; the CLI,
the widgets, the notebooks and the batch job all call these, so a forecast
made anywhere is made the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowray.core.checks import MIN_PERIODS
from flowray.core.engine import Question, horizon_periods, run_local
from flowray.core.results import ForecastResult, HowManyResult, format_probability
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError, NotEnoughData

Result = ForecastResult | HowManyResult


@dataclass
class ForecastRequest:
    """Everything needed to make (and optionally save) one forecast."""

    kind: str = "when"  # "when" (a deadline in fields makes it a deadline forecast) or "how_many"
    throughput: Sequence[float] | None = None
    project: str | None = None
    window: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    runs: int = 100_000
    seed: int = 0
    periods: int | None = None
    end: str | dt.date | None = None
    use_ray: bool = False
    force: bool = True
    save: bool = False
    db_path: str | Path | None = None


@dataclass
class ForecastOutcome:
    result: Result
    scenario: Scenario
    warnings: list[str]
    forecast_id: int | None = None


def open_store(db_path: str | Path | None = None):
    """The project's database (FLOWRAY_DB or ./flowray.duckdb unless a path is given)."""
    from flowray import store
    from flowray.config import load_settings

    return store.Store(Path(db_path) if db_path else load_settings().db_path)


def load_history(project: str, db_path: str | Path | None = None) -> list[float]:
    """A project's stored throughput, oldest period first."""
    rows = open_store(db_path).get_throughput(project)
    if not rows:
        raise InputError("project", project, "has no throughput history; import items or add throughput first")
    return [float(r[1]) if isinstance(r, (tuple, list)) else float(r["items"]) for r in rows]


def apply_window(history: Sequence[float], window: int | None) -> list[float]:
    if window is None:
        return list(history)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise InputError("window", window, "must be a whole number of periods >= 1")
    return list(history)[-window:]


def guard_history(history: Sequence[float], force: bool) -> list[str]:
    """Refuse (or, when forced, warn about) forecasts from very short history."""
    if len(history) >= MIN_PERIODS:
        return []
    message = (
        f"only {len(history)} periods of history; forecasts need at least {MIN_PERIODS} "
        "to be trustworthy"
    )
    if not force:
        raise NotEnoughData("throughput", f"{len(history)} periods", message + " (force to override)")
    return [message]


def build_scenario(request: ForecastRequest) -> tuple[Scenario, list[str]]:
    history = request.throughput
    if history is None:
        if not request.project:
            raise InputError("throughput", None, "give throughput values, a file, or a project")
        history = load_history(request.project, request.db_path)
    history = apply_window(history, request.window)
    warnings = guard_history(history, request.force)
    scenario = Scenario(throughput=history, **request.fields)
    warnings.extend(w for w in scenario_warnings(scenario) if w not in warnings)
    return scenario, warnings


def scenario_warnings(scenario: Scenario) -> list[str]:
    from flowray.core.checks import check_history

    return [w for w in check_history(scenario.throughput).warnings if not w.startswith("Only ")]


def question_for(request: ForecastRequest, scenario: Scenario) -> Question:
    if request.kind == "how_many":
        return Question("how_many", horizon_periods(scenario, request.periods, request.end))
    if request.kind not in ("when", "deadline"):
        raise InputError("kind", request.kind, "must be 'when', 'deadline' or 'how_many'")
    return Question("when")


def run_forecast(request: ForecastRequest) -> ForecastOutcome:
    """Load history, build the scenario, simulate (locally or on Ray), save if asked."""
    scenario, warnings = build_scenario(request)
    question = question_for(request, scenario)
    if request.use_ray:
        from flowray import tasks

        tasks.ensure_connected()
        result = tasks.submit(scenario, runs=request.runs, seed=request.seed, question=question).result()
    else:
        result = run_local(scenario, question, request.runs, request.seed)
    if not isinstance(result, HowManyResult) and result.not_done:
        warnings.append(
            f"{result.not_done_share:.1%} of runs were not done within {scenario.max_periods} periods"
        )
    outcome = ForecastOutcome(result, scenario, warnings)
    if request.save:
        if not request.project:
            raise InputError("project", None, "saving a forecast needs a project")
        outcome.forecast_id = save_result(request.project, result, request.db_path)
    return outcome


def save_result(project: str, result: Result, db_path: str | Path | None = None, **extra: Any) -> int:
    """Write a result to the immutable ledger; returns its id."""
    return open_store(db_path).save_forecast(project, result.to_dict(), **extra)


def describe(result: Result) -> str:
    """A readable table with dates, for terminals and logs."""
    lines: list[str] = []
    if isinstance(result, HowManyResult):
        end = result.end_date
        horizon = f"{result.periods} periods" + (f" (until {end.isoformat()})" if end else "")
        lines.append(f"How many items in {horizon}? {result.runs:,} simulated futures")
        for level, items in result.at_least_table().items():
            err = result.at_least_error(float(level))["plus_minus"]
            lines.append(f"  {level:>3}% likely: at least {items} items  (±{err} from sampling)")
        return "\n".join(lines)
    scenario = result.scenario
    lines.append(f"When will it be done? {result.runs:,} simulated futures")
    lines.append(f"  {'likely':>7}  {'periods':>7}  {'date':<10}  MC error")
    for level, periods in result.percentiles().items():
        err = result.percentile_error(float(level))["plus_minus"]
        if periods is None:
            lines.append(f"  {level:>6}%  {'>' + str(scenario.max_periods):>7}  not within the horizon")
            continue
        date = scenario.date_of(periods)
        lines.append(
            f"  {level:>6}%  {periods:>7}  {date.isoformat() if date else '-':<10}  ±{err} periods"
        )
    prob = result.probability_by_deadline
    if prob is not None:
        lines.append(
            f"  Deadline {scenario.deadline.isoformat()}: {format_probability(prob)} likely to be met; "
            f"85% likely to have at least {result.items_by_deadline(85)} items done by then"
        )
    if result.not_done:
        lines.append(f"  {result.not_done_share:.1%} of runs not done within {scenario.max_periods} periods")
    return "\n".join(lines)
