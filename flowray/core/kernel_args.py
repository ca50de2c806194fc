"""The kernel's inputs and outputs as typed structures (named tuples numba compiles as structs).

Grouping the compiled loop's arguments by what they mean keeps each call
readable and checked: a misplaced float can no longer land in another
parameter's slot. numba passes a named tuple by value and the kernel unpacks
it once per chunk, so the inner loop is the same machine code as with
positional arguments (benchmarks/engine.py). Keep the field types stable
(ints as int, floats as float): each distinct type signature is compiled once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

# Sampler kinds understood by the kernel.
UNIFORM = 0  # uniform column of the period's row (bootstrap; per-period samples for ML paths)
ALIAS = 1  # weighted column through Walker's alias table (recency weights)
BLOCK = 2  # block bootstrap: continue with the next period of history, restart with prob 1/L
PATH = 3  # ML paths: a run follows one column (one simulated path) row by row, then i.i.d.

NO_DEADLINE = -1


class WorkDraws(NamedTuple):
    """Steps 1-4 of a run: backlog, risks, split and lead time, as the kernel draws them."""

    backlog_low: int
    backlog_high: int
    risks: NDArray[np.float64]  # rows of (likelihood, low, mode, high)
    split_low: float
    split_high: float
    split_samples: NDArray[np.float64]  # empty unless the split is given as samples
    lead_choices: NDArray[np.int64]  # lead times in whole periods; empty: none


class SamplerArgs(NamedTuple):
    """Where each period's throughput is drawn from (core.samplers.SamplerTable)."""

    values: NDArray[np.float64]  # [row, column]: row = period (one row for i.i.d. samplers)
    alias_prob: NDArray[np.float64]
    alias_index: NDArray[np.int64]
    kind: int  # UNIFORM, ALIAS, BLOCK or PATH
    restart_probability: float  # BLOCK: chance of jumping to a new block each period


class TeamArgs(NamedTuple):
    """How throughput scales: contributors / history_size x focus, and the S-curve."""

    history_size: float
    focus: float
    low_contributors: float
    high_contributors: float
    ramp: float  # the S-curve's share of the work spent ramping (0 to 0.5)


class RunLimits(NamedTuple):
    """The horizon, the deadline and what the histograms record."""

    max_periods: int
    deadline_periods: int  # NO_DEADLINE without a deadline
    fan_bucket: float  # items per bucket of the burn-down fan
    fan_runs: int  # the fan follows the first fan_runs runs of the chunk
    fan_stride: int  # fan row r records period r * fan_stride
    effort_unit: float  # person-weeks per person-period (period_days / 7)
    totals_offset: int  # a run's total lands in totals[(total - totals_offset) // totals_width]
    totals_width: int
    effort_width: int  # person-weeks per entry of the effort histogram
    deadline_width: int  # items per entry of the items-done-by-the-deadline histogram


class WhenCounts(NamedTuple):
    """The histograms a "when" chunk fills (zeroed arrays, sized by the engine)."""

    periods: NDArray[np.int64]
    effort: NDArray[np.int64]
    fan: NDArray[np.int64]
    deadline_items: NDArray[np.int64]
    totals: NDArray[np.int64]
