"""What-if sweeps: one forecast per grid cell, as a job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flowray.core import sweep
from flowray.core.engine import validate_runs
from flowray.core.scenario import Scenario
from flowray.jobs import ChunkTask, Engine, Job
from flowray.pipeline.workspace import engine_named

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd


def submit_sweep(
    base: Scenario,
    axes: dict[str, Sequence[Any]],
    runs: int = 20_000,
    seed: int = 0,
    *,
    engine: str | Engine | None = "ray",
) -> Job:
    """A what-if sweep as a job (one task per cell); `job.result()` is the sweep frame.

    Cells are validated before anything is submitted; `job.partial()` is the
    frame of the cells finished so far.
    """
    runs, seed = validate_runs(runs, seed)
    cells = sweep.sweep_cells(base, axes)
    job_tasks = [
        ChunkTask(
            fn=sweep.forecast_cells,
            args=([cell], runs, seed),
            chunks=1,
            runs=runs,
            label=", ".join(f"{k}={v}" for k, v in cell.values.items()),
        )
        for cell in cells
    ]
    return engine_named(engine).submit("sweep", job_tasks, sweep.merge_rows, sweep.sweep_frame)


def run_sweep(
    base: Scenario,
    axes: dict[str, Sequence[Any]],
    runs: int = 20_000,
    seed: int = 0,
    *,
    engine: str | Engine | None = "serial",
) -> pd.DataFrame:
    """P50/P85/P95, the P85 date and P(deadline) for every combination of the axis values.

    axes: {"team_size": [3, 4, 5], "split_rate": [1.0, 1.2]} (team_size, or any
    Scenario field). Every cell uses the same seed (common random numbers), so
    on either engine the frame is identical.
    """
    frame: pd.DataFrame = submit_sweep(base, axes, runs, seed, engine=engine).result()
    return frame
