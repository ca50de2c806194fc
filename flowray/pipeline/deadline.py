"""The ML deadline analysis: ML, Monte Carlo or both for one scenario, as a job."""

from __future__ import annotations

from typing import Any

from flowray.core import ml_deadline
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError, NotEnoughData
from flowray.jobs import ChunkTask, Engine, Job
from flowray.pipeline.workspace import engine_named


def submit_deadline_comparison(
    scenario: Scenario,
    method: str = "both",
    runs: int = 100_000,
    seed: int = 0,
    ml_method: str = "gbm",
    n_paths: int = 2000,
    *,
    engine: str | Engine | None = "ray",
) -> Job:
    """One task for ML (fit, paths, kernel), one for Monte Carlo; the result is a DeadlineComparison."""
    if method not in ml_deadline.METHODS:
        raise InputError("method", method, f"must be one of {', '.join(ml_deadline.METHODS)}")
    kinds = {"ml": ["ml"], "mc": ["mc"], "both": ["mc", "ml"]}[method]
    job_tasks = [
        ChunkTask(
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

    def finalize(merged: dict[str, Any] | None) -> ml_deadline.DeadlineComparison:
        return ml_deadline.build_comparison(scenario, merged or {}, ml_method)

    return engine_named(engine).submit("deadline", job_tasks, merge, finalize)


def run_deadline_comparison(
    scenario: Scenario,
    method: str = "both",
    runs: int = 100_000,
    seed: int = 0,
    ml_method: str = "gbm",
    n_paths: int = 2000,
    *,
    engine: str | Engine | None = "serial",
) -> ml_deadline.DeadlineComparison:
    """ML, Monte Carlo or both, side by side with a consensus note; ML alone refuses short history."""
    comparison: ml_deadline.DeadlineComparison = submit_deadline_comparison(
        scenario, method, runs, seed, ml_method, n_paths, engine=engine
    ).result()
    if method == "ml" and comparison.ml is None:
        raise NotEnoughData(
            "throughput", f"{len(scenario.throughput)} periods", comparison.notes[0]
        )
    return comparison
