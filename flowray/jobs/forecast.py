"""Forecast jobs: the engine's chunks grouped into tasks, on whichever engine runs them.

Chunking comes from the engine (`plan_chunks(runs)`, a fixed chunk size); this
module only groups whole chunks into tasks. The grouping depends on the number
of runs alone and results merge by exact integer addition, so a job gives the
same numbers bit for bit on the serial engine, on 1 core or on 100.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from flowray.core.engine import (
    CHUNK_RUNS,
    Chunk,
    Question,
    cannot_finish,
    check_horizon,
    deadline_scenario,
    estimate_seconds,
    not_done_histograms,
    plan_chunks,
    simulate_chunk,
    simulate_chunks,
    simulate_until_deadline,
    validate_runs,
)
from flowray.core.forecast import summarize
from flowray.core.histograms import Histograms, merge_histograms
from flowray.core.results import Result
from flowray.core.samplers import SamplerTable, build_sampler
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError
from flowray.jobs.state import DEFAULT_MAX_RETRIES, ChunkTask, Engine, Job

MAX_CHUNKS_PER_TASK = 8
"""Largest group of engine chunks in one task (8 x 65,536 runs, ~0.15 s of the simple scenario)."""

MIN_TASKS_PER_JOB = 24
"""Groups shrink below the maximum until a job has this many tasks (progress steps, balance)."""


ESTIMATE_FIRST_RUNS = 256
"""Runs of the first timed sample of `estimate_forecast_seconds`."""

ESTIMATE_SAMPLE_S = 0.05
"""A timed sample this long (or a whole chunk) is long enough to read the rate from."""

ESTIMATE_SURE_S = 1.0
"""Below this, an estimate is not refined: a small sample only overstates the time."""


def estimate_forecast_seconds(
    scenario: Scenario,
    question: Question,
    runs: int,
    sampler: SamplerTable | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds the forecast's simulation should take on one core, from a short timed sample.

    Times chunks of the same scenario, starting at ESTIMATE_FIRST_RUNS runs and
    growing eightfold until a sample lasts ESTIMATE_SAMPLE_S or is a whole
    chunk, then scales linearly (`estimate_seconds`). A sample's fixed cost per
    chunk only makes the estimate too high, so one below ESTIMATE_SURE_S stops
    early; measuring costs a fraction of a second at most. Work no run can
    finish is not simulated (`submit_forecast`), so its estimate is 0 and
    nothing is timed; with a deadline, it is simulated up to the deadline, and
    that is what is timed. The kernel is compiled (or loaded) before timing.
    """
    runs, _ = validate_runs(runs, 0)
    table = sampler if sampler is not None else build_sampler(scenario.throughput, scenario.sampler)
    if question.kind == "when":
        check_horizon(scenario)
        if cannot_finish(scenario, table):
            if scenario.periods_to_deadline is None:
                return 0.0
            scenario = deadline_scenario(scenario)
    simulate_chunk(scenario, 0, Chunk(0, 1), question, table)  # compiles the kernel on first use
    sample = min(runs, ESTIMATE_FIRST_RUNS)
    while True:
        start = clock()
        simulate_chunk(scenario, 0, Chunk(0, sample), question, table)
        seconds = max(0.0, clock() - start)
        estimate = estimate_seconds(runs, sample, seconds)
        if estimate < ESTIMATE_SURE_S or seconds >= ESTIMATE_SAMPLE_S:
            return estimate
        if sample >= min(runs, CHUNK_RUNS):
            return estimate
        sample = min(runs, CHUNK_RUNS, sample * 8)


def plan_task_groups(n_chunks: int) -> list[int]:
    """How many chunks each task takes: small first and last, MAX_CHUNKS_PER_TASK between.

    The first tasks are single chunks, so the first partial result arrives
    after one chunk's work; sizes then double up to the cap, and halve again
    towards the end so both cores finish together. Depends on the number of
    chunks only (never on the cluster), though results would not change if it
    did: merges are exact.
    """
    if n_chunks <= 0:
        return []
    cap = max(1, min(MAX_CHUNKS_PER_TASK, n_chunks // MIN_TASKS_PER_JOB))
    ramp: list[int] = []
    size = 1
    while size < cap:
        ramp.extend((size, size))
        size *= 2
    head, tail = list(ramp), list(reversed(ramp))  # at most 28 chunks, and n_chunks >= 24 * cap
    middle_total = n_chunks - sum(head) - sum(tail)
    full, rest = divmod(middle_total, cap)
    middle = [cap] * full + ([rest] if rest else [])
    return head + middle + tail


def forecast_tasks(
    scenario_ref: Any,
    sampler_ref: Any,
    seed: int,
    chunks: Sequence[Any],
    question: Question,
    fn: Callable[..., Histograms] = simulate_chunks,
) -> list[ChunkTask]:
    """The chunks grouped into tasks (plan_task_groups), each `fn(scenario, seed, group, ...)`."""
    tasks = []
    start = 0
    for size in plan_task_groups(len(chunks)):
        group = list(chunks[start : start + size])
        start += size
        first, last = group[0].index, group[-1].index
        tasks.append(
            ChunkTask(
                fn=fn,
                args=(scenario_ref, seed, group, question, sampler_ref),
                chunks=len(group),
                runs=sum(c.runs for c in group),
                label=f"chunk {first}" if first == last else f"chunks {first}-{last}",
            )
        )
    return tasks


def not_done_task(scenario_ref: Any, runs: int) -> ChunkTask:
    """The one task of a forecast no run can finish: its all-"not done" answer, nothing simulated.

    It covers every chunk and run of the plan, so the job's progress ends
    complete, and it runs on either engine like any other task.
    """
    return ChunkTask(
        fn=not_done_histograms,
        args=(scenario_ref, runs),
        chunks=len(plan_chunks(runs)),
        runs=runs,
        label="no run can finish within the horizon: not simulated",
    )


def submit_forecast(
    engine: Engine,
    scenario: Scenario,
    runs: int = 100_000,
    seed: int = 0,
    question: Question | None = None,
    *,
    max_retries: int = DEFAULT_MAX_RETRIES,
    max_in_flight: int | None = None,
) -> Job:
    """Start a forecast ("when", with P(deadline) if the scenario has one, or "how_many").

    Returns at once; `job.result()` equals the local `simulate` / `how_many`
    for the same inputs and seed, bit for bit, on either engine. Bad input is
    refused here, before anything is submitted. Work no run can finish within
    the horizon is one task that simulates nothing (`not_done_task`), or, with
    a deadline, is simulated up to the deadline only (`simulate_until_deadline`).
    """
    if not isinstance(scenario, Scenario):
        raise InputError("scenario", type(scenario).__name__, "must be a flowray Scenario")
    question = Question() if question is None else question
    if not isinstance(question, Question):
        raise InputError("question", question, "must be a flowray.core.engine.Question")
    runs, seed = validate_runs(runs, seed)
    if question.kind == "when":
        check_horizon(scenario)
    sampler = build_sampler(scenario.throughput, scenario.sampler)  # bad sampler: error now
    scenario_ref = engine.share(scenario)
    sampler_ref = engine.share(sampler)
    if question.kind == "when" and cannot_finish(scenario, sampler):
        if scenario.periods_to_deadline is None:
            tasks = [not_done_task(scenario_ref, runs)]
        else:  # the items done by the deadline: simulated up to the deadline only
            plan = plan_chunks(runs)
            tasks = forecast_tasks(
                scenario_ref, sampler_ref, seed, plan, question, simulate_until_deadline
            )
    else:
        tasks = forecast_tasks(scenario_ref, sampler_ref, seed, plan_chunks(runs), question)

    def finalize(histograms: Histograms) -> Result:
        return summarize(scenario, question, histograms, seed, runs)

    return engine.submit(
        "howmany" if question.kind == "how_many" else "when",
        tasks,
        merge_histograms,
        finalize,
        max_retries=max_retries,
        max_in_flight=max_in_flight,
        keep=(scenario_ref, sampler_ref),
    )


def submit_how_many(
    engine: Engine,
    scenario: Scenario,
    periods: int,
    runs: int = 100_000,
    seed: int = 0,
    **options: Any,
) -> Job:
    """How many items in `periods` periods, as a job (same result as the local `how_many`)."""
    return submit_forecast(engine, scenario, runs, seed, Question("how_many", periods), **options)
