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
from flowray.core.engine import Question
from flowray.core.forecast import horizon_periods, run_local
from flowray.core.methods import (  # noqa: F401 - re-exported for front ends
    ALL_HISTORY,
    DEFAULT,
    DOMAIN_MODEL,
    ForecastMethod,
    calibrated_forecast,
    MethodReport,
    apply_window,
    calibrated,
    calibration_horizon,
    default_method,
    method_forecast,
    resolve_method,
    with_report,
)
from flowray.core.results import ForecastResult, HowManyResult
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError, NotEnoughData
from flowray.tasks import Progress
from flowray.text import format_probability

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
    # None: the fields' sampler (bootstrap unless set) on `window` (None = all), not calibrated: the
    # plain model, the CLI's default. "default" or a method name ("recency+cal", "block", ...), or
    # a ForecastMethod: that method, with `window` as its window (None = the method's own default:
    # flowray's chosen window for "default", all the history otherwise). See resolve_method.
    method: str | ForecastMethod | None = None


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


def load_history(project: str, db_path: str | Path | None = None) -> list[Any]:
    """A project's stored throughput periods (period_start, items), oldest first."""
    rows = list(open_store(db_path).get_throughput(project))
    if not rows:
        raise InputError("project", project, "has no throughput history; import items or add throughput first")
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
        raise NotEnoughData("throughput", f"{len(history)} periods", message + " (force to override)")
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
        from flowray.core.samplers import SAMPLERS

        sampler = request.fields.get("sampler") or "bootstrap"
        if sampler not in SAMPLERS:
            raise InputError("sampler", sampler, f"must be one of {', '.join(SAMPLERS)}")
        return ForecastMethod(str(sampler), request.window)
    if request.window is None:
        return resolve_method(request.method)
    return resolve_method(request.method, request.window)


def prepare(request: ForecastRequest) -> PreparedForecast:
    """Load the history, apply the method's window, check it, and build the scenario."""
    method = request_method(request)
    history = request.throughput
    periods = None
    if history is None:
        if not request.project:
            raise InputError("throughput", None, "give throughput values, a file, or a project")
        periods = list(load_history(request.project, request.db_path))
        history = [float(p.items) for p in periods]
    history = list(history)
    window = apply_window(history, method.window)
    warnings = guard_history(window, request.force)
    fields = dict(request.fields)
    if request.method is not None:
        fields["sampler"] = method.base
    scenario = Scenario(throughput=window, **fields)
    warnings.extend(w for w in scenario_warnings(scenario) if w not in warnings)
    return PreparedForecast(scenario, warnings, history, periods, method)


def _build_scenario(request: ForecastRequest) -> tuple[Scenario, list[str], list[Any] | None]:
    """The scenario, its warnings, and the stored periods it used (None for pasted values)."""
    prepared = prepare(request)
    return prepared.scenario, prepared.warnings, prepared.periods


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
    """Load history, build the scenario, simulate with the request's method (locally or on Ray), save if asked."""
    prepared = prepare(request)
    scenario, warnings, periods = prepared.scenario, prepared.warnings, prepared.periods
    question = question_for(request, scenario)
    if request.use_ray:
        from flowray import tasks

        tasks.ensure_connected()
        result = submit_method_forecast(
            scenario, question, request.runs, request.seed, prepared.history, prepared.method, request.project
        ).result()
    else:
        result = method_forecast(
            scenario, question, request.runs, request.seed, prepared.history, prepared.method, request.project
        )
    if not isinstance(result, HowManyResult) and result.not_done:
        warnings.append(
            f"{result.not_done_share:.1%} of runs were not done within {scenario.max_periods} periods"
        )
    outcome = ForecastOutcome(result, scenario, warnings)
    if request.save:
        if not request.project:
            raise InputError("project", None, "saving a forecast needs a project")
        outcome.forecast_id = save_forecast(request.project, result, request.db_path, history_periods=periods)
    return outcome


def save_result(project: str, result: Result, db_path: str | Path | None = None, **extra: Any) -> int:
    """Write a result to the immutable ledger; returns its id.

    A result made by a method (it carries `method_report`) keeps the method,
    window and calibration in the row's result JSON, key "method".
    """
    return open_store(db_path).save_forecast(project, result_dict(result), **extra)


def result_dict(result: Result, *args: Any) -> dict[str, Any]:
    """`result.to_dict(*args)` plus "method" (name, window, calibration, description) when known."""
    data = result.to_dict(*args)
    report = result.method_report
    if report is not None:
        data["method"] = report.to_dict()
    return data


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
        lines.extend(_method_lines(result))
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
    lines.extend(_method_lines(result))
    return "\n".join(lines)


def _method_lines(result: Result) -> list[str]:
    report = result.method_report
    return [] if report is None else [f"  Method: {report.describe()}"]


# ---------------------------------------------------------------------------------------
# Jobs for interactive front ends (widgets, dashboards): start, poll, cancel, save.
# ---------------------------------------------------------------------------------------


@dataclass
class RunningForecast:
    """A forecast running as a Ray job (a MethodJob); every method returns at once except `result`."""

    job: Any
    scenario: Scenario
    request: ForecastRequest
    warnings: list[str]
    method: ForecastMethod | None = None

    @property
    def state(self) -> str:
        return str(self.job.state)

    def progress(self) -> Any:
        return self.job.progress()

    def partial(self) -> Result | None:
        return self.job.partial()

    def result(self, timeout: float | None = None) -> Result:
        return self.job.result(timeout=timeout)

    def cancel(self) -> bool:
        return self.job.cancel()


def start_forecast(request: ForecastRequest) -> RunningForecast:
    """Validate, then submit the forecast (with its method's calibration step) as a Ray job; returns at once."""
    from flowray import tasks

    prepared = prepare(request)
    question = question_for(request, prepared.scenario)
    tasks.ensure_connected()
    job = submit_method_forecast(
        prepared.scenario, question, request.runs, request.seed, prepared.history, prepared.method, request.project
    )
    return RunningForecast(job, prepared.scenario, request, prepared.warnings, prepared.method)


# ---------------------------------------------------------------------------------------
# A method forecast as a Ray job: the simulation's chunks, then the calibration map.
# ---------------------------------------------------------------------------------------

CALIBRATION_SHARE = 0.05
"""Share of the progress bar for learning the calibration map (about 0.05-0.3 s of one task; see docs/model.md)."""


@dataclass(frozen=True)
class ForecastProgress(Progress):
    """A method job's progress: the simulation's counts, plus the calibration step when there is one.

    runs_done / runs_total are the simulated futures of the forecast itself;
    `stage` is "simulating", "calibrating" or the final state; `fraction`
    gives the calibration step CALIBRATION_SHARE of the bar.
    """

    stage: str = "simulating"
    calibrating: bool = False  # the method has a calibration step
    calibration_done: bool = False

    @property
    def fraction(self) -> float:
        simulated = self.runs_done / self.runs_total if self.runs_total else 1.0
        if not self.calibrating:
            return simulated
        return (1.0 - CALIBRATION_SHARE) * simulated + (CALIBRATION_SHARE if self.calibration_done else 0.0)


def _first(parts: list[Any]) -> Any:
    return parts[-1]


def _same(value: Any) -> Any:
    return value


class MethodJob:
    """The Ray job of a method forecast: same interface as tasks.Job (state, progress, partial, result, cancel).

    First the forecast's chunks run as tasks.submit does (partial results are
    the raw simulation so far, marked pending). A '+cal' method then learns its
    calibration map as a second, one-task job (`backtest.live_calibration` on a
    worker); how-many knows its horizon up front, so its map is learned while
    the chunks run. The final result is `method_forecast`'s for the same
    inputs and seed. The job moves on to the calibration when polled (every
    method but cancel polls), so a caller that only waits on `result()` is served.
    """

    def __init__(
        self,
        simulation: Any,
        method: ForecastMethod,
        history: Sequence[float],
        question: Question,
        seed: int,
        report: MethodReport,
    ) -> None:
        import threading
        import time

        self.simulation = simulation
        self.calibration_job: Any = None
        self.method = method
        self.question = question
        self._history = list(history)
        self._seed = int(seed)
        self._report = report
        self._lock = threading.RLock()
        self._cancelled = False
        self._final: Result | None = None
        self._horizon: int | None = None
        self._started = time.monotonic()
        self._ended: float | None = None
        self.kind = getattr(simulation, "kind", "forecast")
        if method.calibrated and question.kind == "how_many":
            self._start_calibration(int(question.periods))

    # -- moving on ---------------------------------------------------------------------------
    def _start_calibration(self, horizon: int) -> None:
        from flowray import tasks
        from flowray.core import backtest

        self._horizon = horizon
        task = tasks.ChunkTask(
            fn=backtest.live_calibration,
            args=(self._history, self.question.kind, horizon, self.method.base, self.method.window,
                  backtest.DEFAULT_RUNS, self._seed),
            chunks=1,
            label=f"calibration of {self.method.name} on {len(self._history)} periods, horizon {horizon}",
        )
        self.calibration_job = tasks.submit_job("calibration", [task], _first, _same)

    def _advance(self) -> None:
        """Start the calibration once the simulation is done (for "when" its horizon is the raw median)."""
        if not self.method.calibrated or self.calibration_job is not None:
            return
        with self._lock:
            if self._cancelled or self.calibration_job is not None:
                return
            if str(self.simulation.state) == "DONE":
                self._start_calibration(calibration_horizon(self.question, self.simulation.result()))

    # -- the tasks.Job interface -----------------------------------------------------------------
    @property
    def state(self) -> Any:
        from flowray.tasks import JobState

        self._advance()
        if self._cancelled:
            return JobState.CANCELLED
        sim = self.simulation.state
        if sim in (JobState.FAILED, JobState.CANCELLED) or not self.method.calibrated:
            return sim
        cal = None if self.calibration_job is None else self.calibration_job.state
        if cal in (JobState.FAILED, JobState.CANCELLED):
            return cal
        if sim is JobState.DONE and cal is JobState.DONE:
            return JobState.DONE
        return JobState.PENDING if sim is JobState.PENDING else JobState.RUNNING

    @property
    def error(self) -> str | None:
        for job in (self.simulation, self.calibration_job):
            if job is not None and job.error:
                return job.error
        return None

    def done(self) -> bool:
        return self.state.finished

    def progress(self) -> ForecastProgress:
        import time

        state = self.state
        sim = self.simulation.progress()
        calibrating = self.method.calibrated
        cal_done = calibrating and self.calibration_job is not None and str(self.calibration_job.state) == "DONE"
        if state.finished and self._ended is None:
            self._ended = time.monotonic()
        if not state.finished and str(sim.state) == "DONE" and calibrating:
            stage = "calibrating"
        elif state.finished:
            stage = str(state).lower()
        else:
            stage = "simulating"
        extra = 1 if calibrating else 0
        return ForecastProgress(
            state=state,
            stage=stage,
            chunks_done=sim.chunks_done + (1 if cal_done else 0),
            chunks_total=sim.chunks_total + extra,
            runs_done=sim.runs_done,
            runs_total=sim.runs_total,
            tasks_done=sim.tasks_done + (1 if cal_done else 0),
            tasks_total=sim.tasks_total + extra,
            tasks_submitted=sim.tasks_submitted + (0 if self.calibration_job is None else 1),
            elapsed_s=(self._ended or time.monotonic()) - self._started,
            calibrating=calibrating,
            calibration_done=cal_done,
        )

    def partial(self) -> Result | None:
        """The final result when done; else the raw simulation so far (its report says: pending)."""

        if str(self.state) == "DONE":
            return self.result()
        raw = self.simulation.partial()
        if raw is None:
            return None
        return with_report(raw, self._report, pending=self.method.calibrated)

    def result(self, timeout: float | None = None) -> Result:
        """Wait for the calibrated (or plain) result; raises as tasks.Job.result does."""
        import time

        from flowray.exceptions import JobCancelled
        from flowray.tasks import JobTimeout

        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        with self._lock:
            if self._final is not None:
                return self._final
        if self._cancelled:
            raise JobCancelled(f"{self.kind} forecast was cancelled")
        raw = self.simulation.result(timeout=left())
        if not self.method.calibrated:
            final = with_report(raw, self._report)
        else:
            while True:
                self._advance()
                if self._cancelled:
                    raise JobCancelled(f"{self.kind} forecast was cancelled")
                if self.calibration_job is not None:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise JobTimeout(f"{self.kind} forecast: calibration not started after {timeout} s")
                time.sleep(0.01)
            cmap = self.calibration_job.result(timeout=left())
            assert self._horizon is not None
            final = calibrated(raw, cmap, self._horizon, self._report)
        with self._lock:
            if self._final is None:
                self._final = final
            return self._final

    def cancel(self, wait: float | None = None) -> bool:
        """Stop the simulation and the calibration; False when the forecast had already finished."""
        with self._lock:
            if self.state.finished:
                return False
            self._cancelled = True
            jobs = [job for job in (self.simulation, self.calibration_job) if job is not None]
        for job in jobs:
            if wait is None:
                job.cancel()
            else:
                job.cancel(wait=wait)
        return True

    def __repr__(self) -> str:
        p = self.progress()
        return f"<MethodJob {self.method.label()} {p.stage} {p.fraction:.0%}>"


def submit_method_forecast(
    scenario: Scenario,
    question: Question,
    runs: int = 100_000,
    seed: int = 0,
    history: Sequence[float] | None = None,
    method: ForecastMethod | None = None,
    project: str | None = None,
) -> MethodJob:
    """`method_forecast` as a Ray job; returns at once. `job.result()` equals `method_forecast` for the same inputs."""
    from flowray import tasks

    method = method or default_method()
    past = list(scenario.throughput if history is None else history)
    forecast_scenario = scenario.replace(throughput=apply_window(past, method.window), sampler=method.base)
    tasks.ensure_connected()
    simulation = tasks.submit(forecast_scenario, runs=runs, seed=seed, question=question)
    report = MethodReport(method, len(past), scenario.period_days, project)
    return MethodJob(simulation, method, past, question, seed, report)


def connect_cluster() -> dict[str, Any]:
    """Start (or join) the Ray cluster explicitly; returns what was connected to."""
    from flowray import tasks

    return tasks.ensure_connected().to_dict()


def cluster_status() -> dict[str, Any]:
    from flowray import tasks

    tasks.ensure_connected()
    status = tasks.cluster_status()
    return status.to_dict() if hasattr(status, "to_dict") else dict(status)


def health_check() -> dict[str, Any]:
    from flowray import tasks

    tasks.ensure_connected()
    report = tasks.health_check()
    return report.to_dict() if hasattr(report, "to_dict") else dict(report)


# ---------------------------------------------------------------------------------------
# Projects, history and the ledger, for front ends.
# ---------------------------------------------------------------------------------------


def list_projects(db_path: str | Path | None = None, *, active_only: bool = False) -> list[Any]:
    projects = open_store(db_path).list_projects()
    return [p for p in projects if p.status == "active"] if active_only else projects


def project_history(project: str, db_path: str | Path | None = None) -> list[Any]:
    """The project's throughput periods (period_start, items), oldest first."""
    return list(open_store(db_path).get_throughput(project))


def save_forecast(
    project: str,
    result: Result,
    db_path: str | Path | None = None,
    *,
    name: str | None = None,
    history_periods: Sequence[Any] | None = None,
) -> int:
    """Save a result to the ledger, with the data window it used when known."""
    extra: dict[str, Any] = {"name": name, "data_periods": len(result.scenario.throughput)}
    if history_periods:
        used = list(history_periods)[-len(result.scenario.throughput) :]
        extra["data_window"] = (used[0].period_start, used[-1].period_start)
    return save_result(project, result, db_path, **extra)


def forecast_ledger(project: str | None = None, db_path: str | Path | None = None):
    """The ledger as a DataFrame, oldest first: how each project's P85 date moved."""
    import pandas as pd

    rows = []
    for f in open_store(db_path).list_forecasts(project):
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
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values(["project", "created_at", "id"]).reset_index(drop=True)
    return frame


def forecasts_vs_actuals(project: str | None = None, db_path: str | Path | None = None):
    """Every scored forecast next to what happened."""
    import pandas as pd

    store = open_store(db_path)
    rows = []
    for f in store.list_forecasts(project):
        if not f.scored:
            continue
        score = store.get_score(f.forecast_id)
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


def calibration_table(project: str | None = None, db_path: str | Path | None = None):
    """Share of resolved forecasts met at 50/70/85/95 (overall or for one project)."""
    import pandas as pd

    levels = open_store(db_path).calibration(project)
    return pd.DataFrame([c.to_dict() for c in levels])


def portfolio(db_path: str | Path | None = None):
    """Every active project's latest forecast, its trend since the previous one, riskiest first."""
    import pandas as pd

    ledger = forecast_ledger(None, db_path)
    rows = []
    for project in list_projects(db_path, active_only=True):
        mine = ledger[ledger["project"] == project.name] if not ledger.empty else ledger
        mine = mine[mine["kind"].isin(["when", "deadline"])] if not mine.empty else mine
        latest = mine.iloc[-1] if len(mine) else None
        previous = mine.iloc[-2] if len(mine) > 1 else None
        p_now = None if latest is None else latest["p_deadline"]
        p_before = None if previous is None else previous["p_deadline"]
        trend = None
        if p_now is not None and p_before is not None and pd.notna(p_now) and pd.notna(p_before):
            trend = float(p_now) - float(p_before)
        shift = None
        if latest is not None and previous is not None and latest["p85_date"] and previous["p85_date"]:
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
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["_risk"] = frame["p_deadline"].fillna(2.0)
        frame = frame.sort_values(["_risk", "project"]).drop(columns="_risk").reset_index(drop=True)
    return frame


# ---------------------------------------------------------------------------------------
# Demo database: real demo series, scored past forecasts, a live project per series.
# ---------------------------------------------------------------------------------------

DEMO_PROJECTS = (
    # (demo series, project name, team size, scope as weeks of recent mean throughput, weeks to target)
    ("pytest-dev/pytest", "Pytest Core", 5, 20, 18),
    ("fastapi/fastapi", "FastAPI Platform", 4, 16, 20),
    ("Homebrew/brew", "Homebrew Formulae", 8, 16, 14),
    ("mockito/mockito", "Mockito Release", 3, 24, 22),
)
DEMO_RUNS = 20_000


def _completion_week(items: Sequence[int], start: int, backlog: int) -> int | None:
    """Index of the week in which the cumulative items from `start` reach `backlog`."""
    done = 0
    for index in range(start, len(items)):
        done += items[index]
        if done >= backlog:
            return index
    return None


def seed_demo(db_path: str | Path, *, seed: int = 2026) -> dict[str, Any]:
    """Fill an empty database with the bundled demo series: projects, history, forecasts, actuals.

    Past forecasts are made at real past origins from the history before them,
    and scored against the completion actually observed afterwards; the live
    forecasts of each project are re-made every four weeks of its run, so the
    portfolio shows how they moved.
    """
    import datetime as _dt

    from flowray.data import load_demo_series

    store = open_store(db_path)
    if store.list_projects():
        return {"seeded": False, "projects": len(store.list_projects())}
    made = 0
    for series, name, team_size, scope_weeks, target_weeks in DEMO_PROJECTS:
        weeks = load_demo_series(series)
        dates = [d for d, _ in weeks]
        items = [int(v) for _, v in weeks]
        n = len(items)
        run_start = n - 8  # the project started eight weeks before the data ends
        recent_mean = sum(items[run_start - 26 : run_start]) / 26
        backlog = max(10, round(recent_mean * scope_weeks))
        start_date = dates[run_start]
        target = start_date + _dt.timedelta(weeks=target_weeks)
        store.add_project(
            name,
            description=f"Demo: weekly merged pull requests of {series} (real data)",
            team_size=team_size,
            start_date=start_date,
            target_date=target,
        )
        store.set_throughput(name, [(d, v) for d, v in zip(dates, items, strict=True)])
        # two past forecasts at real origins, scored against what happened next
        for origin in (n - 40, n - 26):
            history = items[origin - 52 : origin]
            observed = sum(items[origin : origin + 12])
            done_week = _completion_week(items, origin, observed)
            scenario = Scenario(throughput=history, backlog=observed, start=dates[origin])
            result = run_local(scenario, Question("when"), DEMO_RUNS, seed + origin)
            fid = save_result(
                name, result, db_path, name="Backtest origin (demo)",
                data_window=(dates[origin - 52], dates[origin - 1]), data_periods=52,
            )
            completed_on = dates[done_week] + _dt.timedelta(days=6)
            store.add_actual(name, completed_on, observed, forecast_id=fid, notes="observed in the series")
            made += 1
        # the live project, re-forecast every four weeks
        for as_of in (run_start, run_start + 4, n):
            remaining = backlog - sum(items[run_start:as_of])
            start = dates[as_of] if as_of < n else dates[-1] + _dt.timedelta(days=7)
            scenario = Scenario(
                throughput=items[as_of - 52 : as_of], backlog=max(0, remaining),
                split_rate=(1.0, 1.2), start=start, deadline=target,
            )
            result = run_local(scenario, Question("when"), DEMO_RUNS, seed + as_of)
            save_result(
                name, result, db_path, name=f"{name} as of {start.isoformat()}",
                data_window=(dates[as_of - 52], dates[as_of - 1]), data_periods=52,
            )
            made += 1
    return {"seeded": True, "projects": len(DEMO_PROJECTS), "forecasts": made}


# ---------------------------------------------------------------------------------------
# The scheduled batch: re-forecast every active project, score, alert.
# ---------------------------------------------------------------------------------------


@dataclass
class BatchReport:
    summary: Any  # DataFrame: one row per project re-forecast
    alerts: Any  # DataFrame: projects whose P(deadline) fell below the threshold or dropped
    scored: list[int]  # forecasts newly scored against actuals
    skipped: list[str]


def _latest_plan(store: Any, project: str) -> Any | None:
    plans = [f for f in store.list_forecasts(project) if f.kind in ("when", "deadline") and f.source == "flowray"]
    return store.get_forecast(plans[-1].forecast_id) if plans else None


def reforecast_project(
    project: str,
    *,
    db_path: str | Path | None = None,
    as_of: str | dt.date | None = None,
    runs: int = 50_000,
    seed: int = 0,
    window: int | str | None = None,
    use_ray: bool = False,
    method: str | ForecastMethod | None = DEFAULT,
) -> tuple[int, Result, Any]:
    """Re-make a project's latest plan from its stored history up to `as_of` and save it.

    The remaining backlog is the plan's backlog less the items completed since
    its start (from the stored history), so each run moves the plan forward.
    `method` and `window` as in `resolve_method` (default: flowray's chosen
    method and window); method=None keeps the plan's sampler, uncalibrated.
    """
    import datetime as _dt

    store = open_store(db_path)
    plan = _latest_plan(store, project)
    if plan is None:
        raise InputError("project", project, "has no when/deadline forecast to re-make; make one first")
    periods = store.get_throughput(project)
    cut = _dt.date.fromisoformat(str(as_of)) if as_of else None
    if cut is not None:
        periods = [p for p in periods if p.period_start + _dt.timedelta(days=p.period_days) <= cut]
    if not periods:
        raise InputError("project", project, "has no throughput history before as_of")
    inputs = dict(plan.inputs or {})
    old_start = _dt.date.fromisoformat(inputs["start"]) if inputs.get("start") else None
    done_since = sum(p.items for p in periods if old_start and p.period_start >= old_start)
    backlog = inputs.get("backlog", 0)
    if isinstance(backlog, dict):
        backlog = {"low": max(0, backlog["low"] - done_since), "high": max(0, backlog["high"] - done_since)}
    else:
        backlog = max(0, int(backlog) - done_since)
    last = periods[-1]
    start = cut or (last.period_start + _dt.timedelta(days=last.period_days))
    inputs.update(backlog=backlog, start=start.isoformat())
    inputs.pop("throughput", None)
    if inputs.get("deadline") and _dt.date.fromisoformat(inputs["deadline"]) <= start:
        inputs["deadline"] = None  # the deadline has passed: forecast the completion only
    chosen = None if method is None else (
        resolve_method(method) if window is None else resolve_method(method, window)
    )
    legacy_window = None if window in (None, ALL_HISTORY) else window
    request = ForecastRequest(
        kind="when", throughput=[p.items for p in periods], window=legacy_window if chosen is None else None,
        fields=inputs, runs=runs, seed=seed, use_ray=use_ray, force=False, method=chosen,
        project=project,  # for the method's words ("this project's past errors"); the history is given
    )
    outcome = run_forecast(request)
    fid = save_forecast(project, outcome.result, db_path, name=f"batch as of {start.isoformat()}",
                        history_periods=periods)
    return fid, outcome.result, plan


def run_batch(
    db_path: str | Path | None = None,
    *,
    project_filter: str = "",
    runs: int = 50_000,
    seed: int = 0,
    as_of: str | dt.date | None = None,
    alert_threshold: float = 0.7,
    drop_alert: float = 0.10,
    use_ray: bool = False,
    method: str | ForecastMethod | None = DEFAULT,
    window: int | str | None = None,
) -> BatchReport:
    """Re-forecast every active project (name containing `project_filter`), score, alert.

    Every project is forecast with `method` on `window` (default: flowray's
    chosen method and window, see resolve_method); the summary names it.
    """
    import pandas as pd

    if method is not None:  # a bad method or window stops the batch before any project
        method = resolve_method(method) if window is None else resolve_method(method, window)
        window = None
    store = open_store(db_path)
    rows, alerts, skipped = [], [], []
    for project in list_projects(db_path, active_only=True):
        if project_filter and project_filter.lower() not in project.name.lower():
            continue
        try:
            fid, result, plan = reforecast_project(
                project.name, db_path=db_path, as_of=as_of, runs=runs, seed=seed, use_ray=use_ray,
                method=method, window=window,
            )
        except InputError as exc:
            skipped.append(f"{project.name}: {exc}")
            continue
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
                "method": result.method_report.method.label(),
                "calibrated": result.method_report.calibrated,
            }
        )
        reasons = []
        if p_now is not None and p_now < alert_threshold:
            reasons.append(f"P(deadline) {format_probability(p_now)} is below {alert_threshold:.0%}")
        if p_now is not None and p_before is not None and p_before - p_now > drop_alert:
            reasons.append(f"P(deadline) dropped {100 * (p_before - p_now):.0f} points since the last run")
        if reasons:
            alerts.append({"project": project.name, "forecast_id": fid, "why": "; ".join(reasons)})
    scored = store.score_pending()
    return BatchReport(pd.DataFrame(rows), pd.DataFrame(alerts, columns=["project", "forecast_id", "why"]),
                       scored, skipped)


# =====================================================================================
# Backtests, calibrated forecasts and the ML deadline analysis (issue 5).
# Added by the backtests engineer; the functions above are untouched.
# =====================================================================================


def load_series(path: str | Path) -> dict[str, list[float]]:
    """Weekly series from a folder of `week_start,throughput` CSVs, or from one such file.

    Names are the file stems (`owner__name`), sorted; values oldest first.
    """
    from flowray.importers import read_throughput_file

    source = Path(path)
    if source.is_dir():
        files = sorted(source.glob("*.csv"), key=lambda p: p.name.lower())
        if not files:
            raise InputError("data", str(path), "folder holds no .csv files")
    elif source.is_file():
        files = [source]
    else:
        raise InputError("data", str(path), "must be a folder of CSV files or one CSV file")
    return {f.stem: [float(v) for _, v in read_throughput_file(f)] for f in files}


def backtest_tasks(
    series: dict[str, Sequence[float]],
    methods: Sequence[str],
    windows: Sequence[int | None],
    options: dict[str, Any],
) -> list[Any]:
    """One Ray task per (series, base method, window); its origins run in order inside it,
    because the calibration layer at each origin learns from the earlier origins' errors."""
    from flowray import tasks
    from flowray.core import backtest

    out = []
    for base in methods:
        for window in windows:
            for name, values in series.items():
                n_origins = max(1, len(values) - options.get("first_origin", backtest.DEFAULT_FIRST_ORIGIN))
                weight = n_origins * (backtest.ML_COST // options.get("step", 1) if base in backtest.ML_METHODS else 1)
                out.append(
                    tasks.ChunkTask(
                        fn=backtest.backtest_series_task,
                        args=(name, list(values), base, window, dict(options)),
                        chunks=int(weight),
                        label=f"{name} {base} W={backtest.window_label(window)}",
                    )
                )
    return out


def _backtest_bases(methods: Sequence[str]) -> list[str]:
    from flowray.core import backtest

    bases: list[str] = []
    for method in methods:
        base, _ = backtest.parse_method(method)
        if base not in bases:
            bases.append(base)
    return bases


def submit_backtest(
    series: dict[str, Sequence[float]],
    methods: Sequence[str] | None = None,
    windows: Sequence[int | None] | None = None,
    horizons: Sequence[int] = (8,),
    step: int = 4,
    runs: int = 2000,
    seed: int = 0,
    first_origin: int | None = None,
):
    """Backtests as a Ray job (progress, partial, cancel); `job.result()` is a core.backtest.Backtest
    equal to `run_backtest(..., use_ray=False)` for the same inputs."""
    from flowray import tasks
    from flowray.core import backtest

    methods = list(methods or [backtest.DEFAULT_METHOD])
    bases = _backtest_bases(methods)
    window_list = list(windows) if windows is not None else [backtest.DEFAULT_WINDOW]
    options = _backtest_options(horizons, step, runs, seed, first_origin, methods)
    job_tasks = backtest_tasks(series, bases, window_list, options)

    def finalize(merged: Any) -> Any:
        return _backtest_result(merged or {}, options)

    return tasks.submit_job("backtest", job_tasks, backtest.merge_series_results, finalize)


def _backtest_options(horizons, step, runs, seed, first_origin, methods=None) -> dict[str, Any]:
    """Options of backtest_series; the calibration layer runs only when a '+cal' method is asked."""
    from flowray.core import backtest

    calibrate = any(backtest.parse_method(m)[1] for m in methods or [backtest.DEFAULT_METHOD])
    return {
        "calibrate": calibrate,
        "horizons": tuple(int(h) for h in horizons),
        "step": int(step),
        "runs": int(runs),
        "seed": int(seed),
        "first_origin": int(backtest.DEFAULT_FIRST_ORIGIN if first_origin is None else first_origin),
    }


def _backtest_result(results: dict[Any, Any], options: dict[str, Any]):
    from flowray.core import backtest

    options = {k: v for k, v in options.items() if k != "calibrate"}
    return backtest.Backtest(
        results,
        horizons=options["horizons"],
        step=options["step"],
        runs=options["runs"],
        seed=options["seed"],
        first_origin=options["first_origin"],
    )


def run_backtest(
    series: dict[str, Sequence[float]],
    methods: Sequence[str] | None = None,  # e.g. ["block", "block+cal"]; default: DEFAULT_METHOD
    windows: Sequence[int | None] | None = None,
    horizons: Sequence[int] = (8,),
    step: int = 4,
    runs: int = 2000,
    seed: int = 0,
    first_origin: int | None = None,
    use_ray: bool = False,
):
    """Backtest methods (base names; '+cal' variants come with them) x windows on every series."""
    from flowray.core import backtest

    if use_ray:
        from flowray import tasks

        tasks.ensure_connected()
        return submit_backtest(series, methods, windows, horizons, step, runs, seed, first_origin).result()
    methods = list(methods or [backtest.DEFAULT_METHOD])
    bases = _backtest_bases(methods)
    window_list = list(windows) if windows is not None else [backtest.DEFAULT_WINDOW]
    options = _backtest_options(horizons, step, runs, seed, first_origin, methods)
    parts = [
        backtest.backtest_series_task(name, values, base, window, options)
        for base in bases
        for window in window_list
        for name, values in series.items()
    ]
    return _backtest_result(backtest.merge_series_results(parts), options)


def run_deadline_comparison(
    scenario: Scenario,
    method: str = "both",
    runs: int = 100_000,
    seed: int = 0,
    ml_method: str = "gbm",
    n_paths: int = 2000,
    use_ray: bool = False,
):
    """The ML deadline analysis: ML, Monte Carlo or both, side by side with a consensus note."""
    from flowray.core import ml_deadline

    if not use_ray:
        return ml_deadline.compare(scenario, method, runs, seed, ml_method, n_paths)
    from flowray import tasks

    tasks.ensure_connected()
    job = submit_deadline_comparison(scenario, method, runs, seed, ml_method, n_paths)
    comparison = job.result()
    if method == "ml" and comparison.ml is None:
        raise NotEnoughData("throughput", f"{len(scenario.throughput)} periods", comparison.notes[0])
    return comparison


def submit_deadline_comparison(
    scenario: Scenario,
    method: str = "both",
    runs: int = 100_000,
    seed: int = 0,
    ml_method: str = "gbm",
    n_paths: int = 2000,
):
    """The deadline analysis as a Ray job: one task for ML (fit, paths, kernel), one for Monte Carlo."""
    from flowray import tasks
    from flowray.core import ml_deadline

    if method not in ml_deadline.METHODS:
        raise InputError("method", method, f"must be one of {', '.join(ml_deadline.METHODS)}")
    kinds = {"ml": ["ml"], "mc": ["mc"], "both": ["mc", "ml"]}[method]
    job_tasks = [
        tasks.ChunkTask(
            fn=ml_deadline.forecast_task,
            args=(kind, scenario, runs, seed, ml_method, n_paths),
            chunks=ml_deadline.ML_TASK_WEIGHT if kind == "ml" else 1,
            label=f"{kind} deadline",
        )
        for kind in kinds
    ]

    def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for part in parts:
            merged.update(part)
        return merged

    def finalize(merged: Any) -> Any:
        return ml_deadline.build_comparison(scenario, merged or {}, ml_method)

    return tasks.submit_job("deadline", job_tasks, merge, finalize)


# =====================================================================================
# What-if sweeps (notebook 02): one forecast per grid cell, fanned out on Ray.
# Added by the notebooks engineer; the functions above are untouched.
# =====================================================================================


def submit_sweep(base: Scenario, axes: dict[str, Sequence[Any]], runs: int = 20_000, seed: int = 0):
    """A what-if sweep as a Ray job (one task per cell); `job.result()` is the sweep frame.

    Cells are validated before anything is submitted; `job.partial()` is the
    frame of the cells finished so far.
    """
    from flowray import tasks
    from flowray.core import sweep
    from flowray.core.engine import validate_runs

    runs, seed = validate_runs(runs, seed)
    cells = sweep.sweep_cells(base, axes)
    job_tasks = [
        tasks.ChunkTask(
            fn=sweep.forecast_cells,
            args=([cell], runs, seed),
            chunks=1,
            runs=runs,
            label=", ".join(f"{k}={v}" for k, v in cell.values.items()),
        )
        for cell in cells
    ]
    tasks.ensure_connected()
    return tasks.submit_job("sweep", job_tasks, sweep.merge_rows, sweep.sweep_frame)


def run_sweep(
    base: Scenario,
    axes: dict[str, Sequence[Any]],
    runs: int = 20_000,
    seed: int = 0,
    use_ray: bool = False,
):
    """P50/P85/P95, the P85 date and P(deadline) for every combination of the axis values.

    axes: {"team_size": [3, 4, 5], "split_rate": [1.0, 1.2]} (team_size, or any
    Scenario field). Every cell uses the same seed (common random numbers), so
    locally and on Ray the frame is identical.
    """
    from flowray.core import sweep
    from flowray.core.engine import validate_runs

    if use_ray:
        return submit_sweep(base, axes, runs, seed).result()
    runs, seed = validate_runs(runs, seed)
    return sweep.sweep_frame(sweep.forecast_cells(sweep.sweep_cells(base, axes), runs, seed))


def share_cluster_with_kernels(ray_dashboard: bool | None = None) -> dict[str, str]:
    """Environment for dashboard kernels so they all use one Ray cluster.

    With FLOWRAY_RAY_ADDRESS (or RAY_ADDRESS) set, kernels join that cluster
    themselves. Otherwise this process starts one local Ray (bound to this
    machine, token auth as Ray configures it) and hands its address to the
    kernels, so ten page views share two cores instead of starting ten Rays.
    The cluster lives as long as this process. `ray_dashboard` starts Ray's own
    dashboard with it (on 127.0.0.1; None: FLOWRAY_RAY_DASHBOARD): its state
    API is what lets a page count every page's tasks, not only its own.
    """
    from flowray import tasks
    from flowray.config import load_settings

    if load_settings().ray_address:
        return {}
    info = tasks.cluster_info() or tasks.connect(dashboard=ray_dashboard)
    env = {"FLOWRAY_RAY_ADDRESS": info.address}
    if info.auth_mode in ("token", "disabled"):
        env["RAY_AUTH_MODE"] = info.auth_mode  # join exactly as this cluster authenticates
    return env


def release_cluster() -> None:
    """Disconnect this process from Ray; a local Ray it started (see share_cluster_with_kernels) stops."""
    from flowray import tasks

    tasks.shutdown()


# ---------------------------------------------------------------------------------------
# Cluster commands (`flowray cluster status|health`): connect as asked, report, disconnect.
# ---------------------------------------------------------------------------------------


def open_cluster(address: str | None = None, *, local: bool = False, token_path: str | None = None) -> bool:
    """Connect for a one-off cluster command; True when this call made the connection."""
    from flowray import tasks
    from flowray.config import load_settings

    if tasks.is_connected():  # inside a session that is already connected: use it
        tasks.ensure_connected()
        return False
    if local:
        tasks.connect("local", dashboard=True)
        return True
    target = address or load_settings().ray_address
    if not target:
        raise InputError(
            "address", None,
            "no cluster address; set FLOWRAY_RAY_ADDRESS (or pass --address), or use --local "
            "to check a private local Ray",
        )
    tasks.connect(target, token_path=token_path)
    return True


def close_cluster() -> None:
    from flowray import tasks

    tasks.shutdown()


def cluster_report() -> tuple[Any, Any]:
    """(status, connection info) of the connected cluster, as tasks reports them."""
    from flowray import tasks

    return tasks.cluster_status(), tasks.cluster_info()


def health_check_nodes() -> list[Any]:
    from flowray import tasks

    return tasks.health_check_nodes()
