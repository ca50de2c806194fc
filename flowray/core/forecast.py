"""The plain model's forecasts, in this process: scenario in, result object out.

`simulate` ("when?") and `how_many` ("how many in H periods?") run every chunk
of the engine one after another and read the merged histograms into a result.
They are the model of docs/model.md as it stands (the scenario's sampler on
all of its throughput, not calibrated), which the reference checks compare
against; flowray's calibrated default method wraps them (core.methods).
"""

from __future__ import annotations

from flowray.core.engine import (
    Question,
    cannot_finish,
    check_horizon,
    not_done_histograms,
    plan_chunks,
    simulate_chunks,
    simulate_until_deadline,
    validate_runs,
)
from flowray.core.histograms import Histograms
from flowray.core.results import ForecastResult, HowManyResult, Result
from flowray.core.samplers import SamplerTable, build_sampler
from flowray.core.scenario import Scenario, parse_date
from flowray.exceptions import InputError


def summarize(
    scenario: Scenario, question: Question, histograms: Histograms, seed: int, runs_requested: int
) -> Result:
    """Turn merged histograms into the result object for the question asked."""
    if question.kind == "how_many":
        assert question.periods is not None
        return HowManyResult(scenario, histograms, int(question.periods), seed, runs_requested)
    return ForecastResult(scenario, histograms, seed, runs_requested)


def run_local(
    scenario: Scenario,
    question: Question,
    runs: int,
    seed: int,
    sampler: SamplerTable | None = None,
) -> Result:
    """Every chunk in this process, one after another: the reference for the job engines.

    Work no run can finish within the horizon is not simulated: its answer,
    every run "not done", is known at once (engine.not_done_histograms); with
    a deadline, runs are simulated up to the deadline only, for the items done
    by then (engine.simulate_until_deadline).
    """
    runs, seed = validate_runs(runs, seed)
    table = sampler if sampler is not None else build_sampler(scenario.throughput, scenario.sampler)
    if question.kind == "when":
        check_horizon(scenario)
        if cannot_finish(scenario, table):
            if scenario.periods_to_deadline is None:
                histograms = not_done_histograms(scenario, runs)
            else:
                histograms = simulate_until_deadline(
                    scenario, seed, plan_chunks(runs), question, table
                )
            return summarize(scenario, question, histograms, seed, runs)
    histograms = simulate_chunks(scenario, seed, plan_chunks(runs), question, table)
    return summarize(scenario, question, histograms, seed, runs)


def simulate(scenario: Scenario, runs: int = 100_000, seed: int = 0) -> ForecastResult:
    """When will the backlog be done? (with P(deadline) when the scenario has a deadline)."""
    result = run_local(scenario, Question("when"), runs, seed)
    assert isinstance(result, ForecastResult)
    return result


def horizon_periods(scenario: Scenario, periods: int | None, end: object | None) -> int:
    """The how-many horizon in whole periods, from `periods` or from the start and an end date."""
    if periods is not None and end is not None:
        raise InputError("periods", periods, "give either periods or an end date, not both")
    if end is not None:
        end_date = parse_date("end", end)
        assert end_date is not None
        if scenario.start is None:
            raise InputError("end", end_date.isoformat(), "needs a start date")
        if end_date <= scenario.start:
            raise InputError(
                "end", end_date.isoformat(), f"must be after the start ({scenario.start})"
            )
        periods = (end_date - scenario.start).days // scenario.period_days
        if periods < 1:
            raise InputError(
                "end", end_date.isoformat(), "must be at least one whole period after the start"
            )
    if periods is None:
        raise InputError("periods", None, "give the number of periods or an end date")
    checked = Question("how_many", periods).periods
    assert checked is not None
    return checked


def how_many(
    scenario: Scenario,
    periods: int | None = None,
    runs: int = 100_000,
    seed: int = 0,
    end: object | None = None,
) -> HowManyResult:
    """How many items in `periods` periods (or until `end`)?"""
    question = Question("how_many", horizon_periods(scenario, periods, end))
    result = run_local(scenario, question, runs, seed)
    assert isinstance(result, HowManyResult)
    return result
