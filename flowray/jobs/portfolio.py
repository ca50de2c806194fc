"""Portfolio forecasts as jobs: the engine's chunks grouped into tasks, on either engine.

The chunks come from `plan_chunks(runs)` and are grouped as forecast jobs group
them (`plan_task_groups`); each task simulates its chunks and returns integer
histograms, which merge by addition. So a portfolio job gives the same numbers
bit for bit on the serial engine and on Ray, with progress, partial results
(the runs so far) and cancel like every other job.
"""

from __future__ import annotations

from typing import Any

from flowray.core.engine import plan_chunks, validate_runs
from flowray.core.portfolio import Portfolio
from flowray.core.portfolio_engine import portfolio_arrays, simulate_portfolio_chunks
from flowray.core.portfolio_results import (
    PortfolioHistograms,
    PortfolioResult,
    merge_portfolio_histograms,
)
from flowray.exceptions import InputError
from flowray.jobs.forecast import plan_task_groups
from flowray.jobs.state import DEFAULT_MAX_RETRIES, ChunkTask, Engine, Job


def portfolio_tasks(arrays_ref: Any, seed: int, runs: int) -> list[ChunkTask]:
    """The tasks of a portfolio job: groups of whole chunks, depending on `runs` alone."""
    chunks = plan_chunks(runs)
    tasks = []
    start = 0
    for size in plan_task_groups(len(chunks)):
        group = chunks[start : start + size]
        start += size
        first, last = group[0].index, group[-1].index
        tasks.append(
            ChunkTask(
                fn=simulate_portfolio_chunks,
                args=(arrays_ref, seed, group),
                chunks=len(group),
                runs=sum(c.runs for c in group),
                label=f"chunk {first}" if first == last else f"chunks {first}-{last}",
            )
        )
    return tasks


def submit_portfolio(
    engine: Engine,
    portfolio: Portfolio,
    runs: int = 100_000,
    seed: int = 0,
    *,
    max_retries: int = DEFAULT_MAX_RETRIES,
    max_in_flight: int | None = None,
) -> Job:
    """Start a portfolio forecast; `job.result()` equals `forecast_portfolio` bit for bit.

    Bad input is refused here, before anything is submitted.
    """
    if not isinstance(portfolio, Portfolio):
        raise InputError("portfolio", type(portfolio).__name__, "must be a flowray Portfolio")
    runs, seed = validate_runs(runs, seed)
    arrays = portfolio_arrays(portfolio)
    arrays_ref = engine.share(arrays)

    def finalize(histograms: PortfolioHistograms) -> PortfolioResult:
        return PortfolioResult(portfolio, histograms, seed=seed, runs_asked=runs)

    return engine.submit(
        "portfolio",
        portfolio_tasks(arrays_ref, seed, runs),
        merge_portfolio_histograms,
        finalize,
        max_retries=max_retries,
        max_in_flight=max_in_flight,
        keep=(arrays_ref,),
    )
