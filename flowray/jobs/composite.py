"""A method forecast as one job: the simulation's chunks, then the calibration map.

Written once on the job interface, so it runs on the serial engine and on Ray
alike, and its result equals `core.methods.method_forecast` for the same inputs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from flowray.core import backtest, live_calibration
from flowray.core.engine import Question
from flowray.core.methods import (
    ForecastMethod,
    MethodReport,
    calibrated,
    calibration_horizon,
    default_method,
    method_scenario,
    with_report,
)
from flowray.core.results import Result
from flowray.core.scenario import Scenario
from flowray.exceptions import JobCancelled
from flowray.jobs.forecast import submit_forecast
from flowray.jobs.state import (
    ChunkTask,
    Engine,
    Job,
    JobState,
    JobTimeout,
    Progress,
    identity,
    last,
)

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
        return (1.0 - CALIBRATION_SHARE) * simulated + (
            CALIBRATION_SHARE if self.calibration_done else 0.0
        )


class MethodJob:
    """The job of a method forecast, on either engine: the job interface over two jobs.

    First the forecast's chunks run as `submit_forecast` runs them (partial
    results are the raw simulation so far, marked pending). A '+cal' method then
    learns its calibration map as a second, one-task job
    (`live_calibration.live_calibration`); how-many knows its horizon up front, so its map
    is learned while the chunks run. The final result is `method_forecast`'s for the same
    inputs and seed. The job moves on to the calibration when polled (every
    method but cancel polls), so a caller that only waits on `result()` is served.
    """

    def __init__(
        self,
        engine: Engine,
        simulation: Job,
        method: ForecastMethod,
        history: Sequence[float],
        question: Question,
        seed: int,
        report: MethodReport,
    ) -> None:
        self.engine = engine
        self.simulation = simulation
        self.calibration_job: Job | None = None
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
        self.kind = simulation.kind
        if method.calibrated and question.kind == "how_many":
            assert question.periods is not None  # Question.__post_init__ requires it for how_many
            self._start_calibration(int(question.periods))

    # -- moving on ---------------------------------------------------------------------------
    def _start_calibration(self, horizon: int) -> None:
        self._horizon = horizon
        task = ChunkTask(
            fn=live_calibration.live_calibration,
            args=(
                self._history,
                self.question.kind,
                horizon,
                self.method.base,
                self.method.window,
                backtest.DEFAULT_RUNS,
                self._seed,
            ),
            chunks=1,
            label=f"calibration of {self.method.name} on {len(self._history)} periods, horizon {horizon}",
        )
        self.calibration_job = self.engine.submit("calibration", [task], last, identity)

    def _advance(self) -> None:
        """Start the calibration once the simulation is done (for "when" its horizon is the raw median)."""
        if not self.method.calibrated or self.calibration_job is not None:
            return
        with self._lock:
            if self._cancelled or self.calibration_job is not None:
                return
            if str(self.simulation.state) == "DONE":
                self._start_calibration(
                    calibration_horizon(self.question, self.simulation.result())
                )

    # -- the job interface -------------------------------------------------------------------
    @property
    def state(self) -> JobState:
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
        state = self.state
        sim = self.simulation.progress()
        calibrating = self.method.calibrated
        cal_done = (
            calibrating
            and self.calibration_job is not None
            and str(self.calibration_job.state) == "DONE"
        )
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
        """Wait for the calibrated (or plain) result; raises as the simulation's job does."""
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
                    raise JobTimeout(
                        f"{self.kind} forecast: calibration not started after {timeout} s"
                    )
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
    engine: Engine,
    scenario: Scenario,
    question: Question,
    runs: int = 100_000,
    seed: int = 0,
    history: Sequence[float] | None = None,
    method: ForecastMethod | None = None,
    project: str | None = None,
) -> MethodJob:
    """`method_forecast` as a job; returns at once. `job.result()` equals `method_forecast` for the same inputs."""
    method = method or default_method()
    forecast_scenario, past = method_scenario(scenario, history, method)
    simulation = submit_forecast(engine, forecast_scenario, runs=runs, seed=seed, question=question)
    report = MethodReport(method, len(past), scenario.period_days, project)
    return MethodJob(engine, simulation, method, past, question, seed, report)
