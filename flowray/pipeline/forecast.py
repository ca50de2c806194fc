"""Forecasts: a request in, a checked scenario, a job on the chosen engine, a result (saved if asked).

Reads like the script an analyst would write: load the history, apply the
method's window, check it, build the scenario, submit, wait, save. The CLI,
the widgets, the notebooks and the batch all come here, so a forecast made
anywhere is made the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowray.core.checks import MIN_PERIODS, check_history, stale_history_warning
from flowray.core.engine import Question
from flowray.core.forecast import horizon_periods
from flowray.core.methods import ForecastMethod, apply_window, resolve_method
from flowray.core.results import DEFAULT_PERCENTILES, HowManyResult, Result
from flowray.core.samplers import SAMPLERS
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError, NotEnoughData
from flowray.jobs import ForecastProgress, MethodJob, submit_method_forecast
from flowray.pipeline.ledger import save_forecast, save_plan
from flowray.pipeline.workspace import Where, Workspace, workspace_of
from flowray.text import format_probability


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
    engine: str | None = None  # "serial" (this process) or "ray"; None: the use case's default
    force: bool = True
    save: bool = False
    # Save it as the project's plan (implies save), in the same transaction as the save;
    # `plan_how` says who set it ("cli", "page", "api").
    plan: bool = False
    plan_how: str = "api"
    db_path: str | Path | None = None
    # None: the fields' sampler (bootstrap unless set) on `window` (None = all), not calibrated: the
    # plain model, the CLI's default. "default" or a method name ("recency+cal", "block", ...), or
    # a ForecastMethod: that method, with `window` as its window (None = the method's own default:
    # flowray's chosen window for "default", all the history otherwise). See resolve_method.
    method: str | ForecastMethod | None = None
    # The day after the last period of a history given as `throughput` values (a project's
    # stored history knows its own end): with a start, a long gap gets a warning.
    history_ends: dt.date | None = None


@dataclass
class ForecastOutcome:
    result: Result
    scenario: Scenario
    warnings: list[str]
    forecast_id: int | None = None


def load_history(project: str, where: Where = None) -> list[Any]:
    """A project's stored throughput periods (period_start, items), oldest first."""
    rows = list(workspace_of(where).store.get_throughput(project))
    if not rows:
        raise InputError(
            "project", project, "has no throughput history; import items or add throughput first"
        )
    return rows


def guard_history(history: Sequence[float], force: bool) -> list[str]:
    """Refuse (or, when forced, warn about) forecasts from very short history."""
    if len(history) >= MIN_PERIODS:
        return []
    message = (
        f"only {len(history)} periods of history; forecasts need at least {MIN_PERIODS} "
        "to be trustworthy"
    )
    if not force:
        raise NotEnoughData(
            "throughput", f"{len(history)} periods", message + " (force to override)"
        )
    return [message]


def build_scenario(request: ForecastRequest) -> tuple[Scenario, list[str]]:
    """The scenario the forecast simulates (its throughput is the method's window) and its warnings."""
    prepared = prepare(request)
    return prepared.scenario, prepared.warnings


@dataclass
class PreparedForecast:
    """A checked request: the scenario to simulate, the whole history and the method that reads it."""

    scenario: Scenario  # throughput = the method's window of the history, sampler = the method's
    warnings: list[str]
    history: list[float]  # every period given (the calibration learns from all of them)
    periods: list[Any] | None  # the stored periods (None for pasted values)
    method: ForecastMethod


def request_method(request: ForecastRequest) -> ForecastMethod:
    """The method a request asks for (see ForecastRequest.method)."""
    if request.method is None:
        if request.window is not None:
            apply_window([], request.window)  # the same error as ever for a bad window
        sampler = request.fields.get("sampler") or "bootstrap"
        if sampler not in SAMPLERS:
            raise InputError("sampler", sampler, f"must be one of {', '.join(SAMPLERS)}")
        return ForecastMethod(str(sampler), request.window)
    if request.window is None:
        return resolve_method(request.method)
    return resolve_method(request.method, request.window)


def prepare(request: ForecastRequest, workspace: Workspace | None = None) -> PreparedForecast:
    """Load the history, apply the method's window, check it, and build the scenario."""
    method = request_method(request)
    history = request.throughput
    periods = None
    if history is None:
        if not request.project:
            raise InputError("throughput", None, "give throughput values, a file, or a project")
        periods = list(load_history(request.project, workspace or request.db_path))
        history = [float(p.items) for p in periods]
    history = list(history)
    window = apply_window(history, method.window)
    warnings = guard_history(window, request.force)
    fields = dict(request.fields)
    if request.method is not None:
        fields["sampler"] = method.base
    scenario = Scenario(throughput=window, **fields)
    warnings.extend(w for w in scenario_warnings(scenario) if w not in warnings)
    stale = _stale_warning(scenario, request.history_ends, periods)
    if stale:
        warnings.append(stale)
    return PreparedForecast(scenario, warnings, history, periods, method)


def _stale_warning(
    scenario: Scenario, history_ends: dt.date | None, periods: Sequence[Any] | None
) -> str | None:
    """The gap warning when the history's end is known and the scenario has a start."""
    if history_ends is None and periods:
        last = periods[-1]
        history_ends = last.period_start + dt.timedelta(days=last.period_days)
    if history_ends is None or scenario.start is None:
        return None
    return stale_history_warning(history_ends, scenario.start, scenario.period_days)


def scenario_warnings(scenario: Scenario) -> list[str]:
    """The history checks worth a warning (the short-history one is said by guard_history)."""
    return [w for w in check_history(scenario.throughput).warnings if not w.startswith("Only ")]


def question_for(request: ForecastRequest, scenario: Scenario) -> Question:
    if request.kind == "how_many":
        return Question("how_many", horizon_periods(scenario, request.periods, request.end))
    if request.kind not in ("when", "deadline"):
        raise InputError("kind", request.kind, "must be 'when', 'deadline' or 'how_many'")
    return Question("when")


@dataclass
class RunningForecast:
    """A forecast running as a job (a MethodJob); every method returns at once except `result`."""

    job: MethodJob
    scenario: Scenario
    request: ForecastRequest
    warnings: list[str]
    method: ForecastMethod | None = None
    periods: list[Any] | None = (
        None  # the stored periods the forecast read (None for pasted values)
    )

    @property
    def state(self) -> str:
        return str(self.job.state)

    def progress(self) -> ForecastProgress:
        return self.job.progress()

    def partial(self) -> Result | None:
        return self.job.partial()

    def result(self, timeout: float | None = None) -> Result:
        return self.job.result(timeout=timeout)

    def cancel(self) -> bool:
        return self.job.cancel()


def submit(request: ForecastRequest, workspace: Workspace | None = None) -> RunningForecast:
    """Validate, then start the forecast (with its method's calibration step) as a job; returns at once.

    The engine is the request's (default: this process), unless a workspace is given.
    """
    ws = workspace or Workspace(request.db_path, request.engine)
    prepared = prepare(request, ws)
    question = question_for(request, prepared.scenario)
    job = submit_method_forecast(
        ws.engine,
        prepared.scenario,
        question,
        request.runs,
        request.seed,
        prepared.history,
        prepared.method,
        request.project,
    )
    return RunningForecast(
        job, prepared.scenario, request, prepared.warnings, prepared.method, prepared.periods
    )


def start_forecast(request: ForecastRequest) -> RunningForecast:
    """`submit` for the pages: on Ray once this process has joined it, in this process until
    then (`page_engine`), unless the request names an engine."""
    from flowray.pipeline.cluster import page_engine

    return submit(request, Workspace(request.db_path, request.engine or page_engine()))


def run_forecast(request: ForecastRequest, workspace: Workspace | None = None) -> ForecastOutcome:
    """Load history, build the scenario, forecast with the request's method, save if asked."""
    ws = workspace or Workspace(request.db_path, request.engine)
    running = submit(request, ws)
    scenario, warnings, periods = running.scenario, running.warnings, running.periods
    result = running.result()
    if not isinstance(result, HowManyResult) and result.not_done:
        warnings.append(
            f"{result.not_done_share:.1%} of runs were not done within {scenario.max_periods} periods"
        )
    outcome = ForecastOutcome(result, scenario, warnings)
    if request.save or request.plan:
        if not request.project:
            raise InputError("project", None, "saving a forecast needs a project")
        if request.plan:  # one transaction: a plan that is refused leaves nothing saved
            outcome.forecast_id = save_plan(
                request.project, result, ws, how=request.plan_how, history_periods=periods
            )
        else:
            outcome.forecast_id = save_forecast(
                request.project, result, ws, history_periods=periods
            )
    return outcome


def describe(result: Result, levels: Sequence[float] = DEFAULT_PERCENTILES) -> str:
    """A readable table with dates, for terminals and logs, at the given levels."""
    lines: list[str] = []
    if isinstance(result, HowManyResult):
        end = result.end_date
        horizon = f"{result.periods} periods" + (f" (until {end.isoformat()})" if end else "")
        lines.append(f"How many items in {horizon}? {result.runs:,} simulated futures")
        for level, items in result.at_least_table(levels).items():
            err = result.at_least_error(float(level))["plus_minus"]
            lines.append(f"  {level:>3}% likely: at least {items} items  (±{err} from sampling)")
        lines.extend(_method_lines(result))
        return "\n".join(lines)
    scenario = result.scenario
    lines.append(f"When will it be done? {result.runs:,} simulated futures")
    lines.append(f"  {'likely':>7}  {'periods':>7}  {'date':<10}  MC error")
    for level, periods in result.percentiles(levels).items():
        error = result.percentile_error(float(level))["plus_minus"]
        if periods is None:
            lines.append(
                f"  {level:>6}%  {'>' + str(scenario.max_periods):>7}  not within the horizon"
            )
            continue
        date = scenario.date_of(periods)
        lines.append(
            f"  {level:>6}%  {periods:>7}  {date.isoformat() if date else '-':<10}  ±{error} periods"
        )
    prob = result.probability_by_deadline
    if prob is not None:
        assert scenario.deadline is not None  # there is no probability without a deadline
        lines.append(
            f"  Deadline {scenario.deadline.isoformat()}: {format_probability(prob)} likely to be met; "
            f"85% likely to have at least {result.items_by_deadline(85)} items done by then"
        )
    if result.not_done:
        lines.append(
            f"  {result.not_done_share:.1%} of runs not done within {scenario.max_periods} periods"
        )
    lines.extend(_method_lines(result))
    return "\n".join(lines)


def _method_lines(result: Result) -> list[str]:
    report = result.method_report
    return [] if report is None else [f"  Method: {report.describe()}"]
