"""What-if sweeps: the same forecast over a grid of changed inputs (team size x split rate, ...).

Each cell of the grid is one ordinary forecast of the base scenario with a
few fields changed. Every cell uses the same seed, so the cells share their
random draws run by run (common random numbers, docs/model.md): the
differences between cells come from the inputs, not from sampling noise.

Pure (numpy/pandas and flowray.core): `forecast_cells` is what a Ray task
runs; `flowray.pipeline` fans the cells out as a job.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowray.core.engine import Question
from flowray.core.forecast import run_local
from flowray.core.scenario import Scenario, Team
from flowray.exceptions import InputError

TEAM_SIZE = "team_size"  # the axis that sets the active contributors (scales throughput)
SCENARIO_FIELDS = (
    "backlog",
    "split_rate",
    "risks",
    "team",
    "focus",
    "lead_time_days",
    "start",
    "deadline",
    "max_periods",
    "sampler",
    "period_days",
)
OUTPUT_COLUMNS = ("p50", "p85", "p95", "p85_plus_minus", "p85_date", "p_deadline", "not_done_share")
MAX_CELLS = 400  # a sweep is for comparing a handful of options, not a search


@dataclass(frozen=True)
class SweepCell:
    """One forecast of the grid: its position, the axis values, and the changed scenario."""

    index: int
    values: dict[str, Any]
    scenario: Scenario


def with_team_size(scenario: Scenario, size: float) -> Scenario:
    """The scenario with `size` people active (throughput x size / history_size).

    An S-curve keeps its shape: the minimum scales with the maximum.
    """
    team = scenario.team
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size <= 0:
        raise InputError(TEAM_SIZE, size, "must be a number of people > 0")
    # Team.__post_init__ fills both contributor bounds in, so they are never None here.
    assert team.min_contributors is not None and team.max_contributors is not None
    low = team.min_contributors * size / team.max_contributors
    return scenario.replace(
        team=Team(
            history_size=team.history_size,
            min_contributors=low,
            max_contributors=size,
            s_curve=team.s_curve,
        )
    )


def apply_value(scenario: Scenario, axis: str, value: Any) -> Scenario:
    """The scenario with one axis set: `team_size`, or any scenario field by name."""
    if axis == TEAM_SIZE:
        return with_team_size(scenario, value)
    if axis not in SCENARIO_FIELDS:
        raise InputError(
            "axis", axis, f"must be {TEAM_SIZE!r} or one of {', '.join(SCENARIO_FIELDS)}"
        )
    return scenario.replace(**{axis: value})


def sweep_cells(base: Scenario, axes: Mapping[str, Sequence[Any]]) -> list[SweepCell]:
    """Every combination of the axis values (first axis slowest), validated before any simulation."""
    if not isinstance(base, Scenario):
        raise InputError("scenario", type(base).__name__, "must be a flowray Scenario")
    if not axes:
        raise InputError("axes", axes, "give at least one axis, e.g. {'team_size': [3, 4, 5]}")
    names = list(axes)
    lists = []
    for name in names:
        values = axes[name]
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise InputError(name, values, "must be a list of values to try")
        values = list(values)
        if not values:
            raise InputError(name, values, "needs at least one value")
        lists.append(values)
    total = 1
    for values in lists:
        total *= len(values)
    if total > MAX_CELLS:
        raise InputError(
            "axes",
            {n: len(v) for n, v in zip(names, lists, strict=True)},
            f"make {total} cells; at most {MAX_CELLS}",
        )
    cells = []
    for index, combo in enumerate(itertools.product(*lists)):
        scenario = base
        for name, value in zip(names, combo, strict=True):
            scenario = apply_value(scenario, name, value)
        cells.append(SweepCell(index, dict(zip(names, combo, strict=True)), scenario))
    return cells


def cell_row(cell: SweepCell, result: Any) -> dict[str, Any]:
    """The numbers a sweep table shows for one cell."""
    row: dict[str, Any] = {"cell": cell.index, **cell.values}
    for level in (50, 85, 95):
        row[f"p{level}"] = result.percentile(level)
    row["p85_plus_minus"] = result.percentile_error(85)["plus_minus"]
    row["p85_date"] = result.date_at(85)
    row["p_deadline"] = result.probability_by_deadline
    row["not_done_share"] = result.not_done_share
    return row


def forecast_cells(cells: Sequence[SweepCell], runs: int, seed: int) -> list[dict[str, Any]]:
    """Forecast each cell with the same seed (one Ray task runs this on a few cells)."""
    return [cell_row(c, run_local(c.scenario, Question("when"), runs, seed)) for c in cells]


def merge_rows(parts: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Fold task results; order does not matter (the frame sorts by cell)."""
    return [row for part in parts for row in part]


def sweep_frame(rows: Iterable[Mapping[str, Any]] | None):
    """One row per cell, in grid order (partial sweeps hold the cells finished so far)."""
    import pandas as pd

    frame = pd.DataFrame(list(rows or []))
    if frame.empty:
        return frame
    return frame.sort_values("cell").reset_index(drop=True)


def sweep_table(frame, rows: str, columns: str, value: str = "p85"):
    """A rows x columns pivot of one measure, ready for a heatmap (e.g. P85 by team and split)."""
    axes = [c for c in frame.columns if c != "cell" and c not in OUTPUT_COLUMNS]
    if rows not in axes or columns not in axes or rows == columns:
        raise InputError(
            "rows/columns", (rows, columns), f"must be two different axes of the sweep: {axes}"
        )
    if value not in OUTPUT_COLUMNS:
        raise InputError("value", value, f"must be one of {', '.join(OUTPUT_COLUMNS)}")
    others = [a for a in axes if a not in (rows, columns)]
    if others:
        raise InputError(
            "axes", others, "the sweep has more axes: filter the frame to one value of each first"
        )
    return frame.pivot(index=rows, columns=columns, values=value)
