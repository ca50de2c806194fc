"""Throughput samplers: how one period's throughput is drawn from the history.

Every sampler is expressed as a table the compiled kernel reads: a matrix of
values (one row per future period; the last row repeats) and, for weighted
draws, a Walker alias table. So new samplers need no new kernel code.

- ``bootstrap``: a uniform draw of a past period, with replacement (the
  spreadsheet tools' default).
- ``block``: a block bootstrap that keeps runs of consecutive weeks (mean
  block length ``BLOCK_LENGTH``), so streaks and slumps survive.
- ``recency``: periods weighted by exp(-age / half-life), so recent weeks
  count more.
- ``weibull``: a zero-inflated Weibull fit: P(0) is the share of zero weeks,
  the non-zero weeks follow a Weibull fitted to them alone (existing tools
  fit one Weibull to every week, which doubles the mean on intermittent
  data). Drawn from a fine grid of its quantiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from flowray.core.kernel_args import ALIAS, BLOCK, PATH, UNIFORM, SamplerArgs
from flowray.exceptions import InputError

BLOCK_LENGTH = 4.0
RECENCY_HALF_LIFE = 26.0
WEIBULL_GRID = 512

SAMPLERS = ("bootstrap", "block", "recency", "weibull")


@dataclass(frozen=True)
class SamplerTable:
    """What the kernel needs to draw one period's throughput."""

    values: np.ndarray  # (rows, cols) float64
    kind: int = UNIFORM
    alias_prob: np.ndarray | None = None
    alias_index: np.ndarray | None = None
    restart_probability: float = 0.0

    def kernel_args(self) -> SamplerArgs:
        """The table as the kernel takes it (alias arrays are placeholders unless ALIAS)."""
        prob = self.alias_prob if self.alias_prob is not None else np.ones((1, 1))
        index = self.alias_index if self.alias_index is not None else np.zeros((1, 1), np.int64)
        return SamplerArgs(
            self.values, prob, index, int(self.kind), float(self.restart_probability)
        )

    @property
    def max_value(self) -> float:
        return float(self.values.max())


def alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table: draw column j uniformly, keep it with prob[j], else take alias[j]."""
    w = np.asarray(weights, dtype=float)
    n = w.size
    scaled = w * n / w.sum()
    prob = np.ones(n)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = scaled[g] + scaled[s] - 1.0
        (small if scaled[g] < 1.0 else large).append(g)
    return prob, alias


def fit_zero_inflated_weibull(history: ArrayLike) -> tuple[float, float, float]:
    """(share of zero periods, Weibull shape, Weibull scale) fitted to the non-zero periods."""
    from scipy import stats

    data = np.asarray(history, dtype=float)
    positive = data[data > 0]
    zero_share = 1.0 - positive.size / data.size
    if positive.size < 2 or np.ptp(positive) == 0:
        # a constant non-zero week: a very peaked Weibull at that value
        return zero_share, 50.0, float(positive.mean()) if positive.size else 1.0
    shape, _, scale = stats.weibull_min.fit(positive, floc=0)
    return zero_share, float(shape), float(scale)


def _weibull_table(history: ArrayLike) -> np.ndarray:
    zero_share, shape, scale = fit_zero_inflated_weibull(history)
    levels = (np.arange(WEIBULL_GRID) + 0.5) / WEIBULL_GRID
    positive_levels = np.clip((levels - zero_share) / max(1e-12, 1.0 - zero_share), 0.0, None)
    values = scale * (-np.log1p(-np.minimum(positive_levels, 1 - 1e-12))) ** (1.0 / shape)
    values[levels < zero_share] = 0.0
    return values


def build_sampler(history: ArrayLike, name: str = "bootstrap") -> SamplerTable:
    """The table for sampler `name` over a throughput history (oldest first)."""
    values = np.asarray(history, dtype=np.float64)
    if name == "bootstrap":
        return SamplerTable(values.reshape(1, -1))
    if name == "block":
        return SamplerTable(
            values.reshape(1, -1), kind=BLOCK, restart_probability=1.0 / BLOCK_LENGTH
        )
    if name == "recency":
        age = np.arange(values.size)[::-1].astype(float)
        weights = np.exp(-age * math.log(2.0) / RECENCY_HALF_LIFE)
        prob, alias = alias_table(weights)
        return SamplerTable(
            values.reshape(1, -1),
            kind=ALIAS,
            alias_prob=prob.reshape(1, -1),
            alias_index=alias.reshape(1, -1),
        )
    if name == "weibull":
        return SamplerTable(_weibull_table(values).reshape(1, -1))
    raise InputError("sampler", name, f"must be one of {', '.join(SAMPLERS)}")


def path_sampler(per_period_samples: np.ndarray) -> SamplerTable:
    """A sampler of whole throughput paths: column j of the table is one path, row k its period k.

    Used to feed ML forecasts (simulated paths) to the same completion
    simulation as Monte Carlo. Each run follows one path, picked uniformly, so
    the dependence between a path's periods survives (a slow week tends to be
    followed by another in the model's paths, and drawing each week from a
    different path would narrow the intervals); beyond the last row a run draws
    independently from the last row.
    """
    table = np.asarray(per_period_samples, dtype=np.float64)
    if table.ndim != 2 or table.size == 0:
        raise InputError("per_period_samples", table.shape, "must be a non-empty 2-D array")
    if not np.all(np.isfinite(table)) or table.min() < 0:
        raise InputError("per_period_samples", "…", "values must be finite and >= 0")
    return SamplerTable(np.ascontiguousarray(table), kind=PATH)
