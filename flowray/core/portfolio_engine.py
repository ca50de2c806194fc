"""Simulating a portfolio: its inputs as the kernel's arrays, chunks of runs, and the forecast.

The same rules as the single-backlog engine: runs are split into the engine's
fixed-size chunks; chunk i draws from streams keyed by SeedSequence(seed,
spawn_key=(i,)), so its histograms depend on (portfolio, seed, i) alone; the
histograms are exact integer counts that merge by addition, so any grouping
of chunks on any number of workers gives identical numbers, and memory does
not grow with the runs. A run stops when every feature that can be forecast is
done, or at the horizon (max_periods), whose features count as not done.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from flowray.core.engine import Chunk, chunk_generator, chunk_key, plan_chunks, validate_runs
from flowray.core.portfolio import Blackout, Portfolio, PortfolioTeam
from flowray.core.portfolio_results import (
    PortfolioHistograms,
    PortfolioResult,
    merge_portfolio_histograms,
)
from flowray.core.samplers import alias_table
from flowray.exceptions import InputError

MAX_HISTOGRAM_CELLS = 8_000_000
"""features x (max_periods + 2), the size of one chunk's two per-feature histograms (64 MB each)."""

_MODE_PER_TEAM, _MODE_RANGE, _MODE_PAST = 0, 1, 2


def _merged_days(blackouts: Sequence[Blackout]) -> list[tuple[dt.date, dt.date]]:
    """Blackouts as disjoint, sorted day ranges (first, last), overlaps joined."""
    spans = sorted((b.first, b.last) for b in blackouts)
    merged: list[tuple[dt.date, dt.date]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1] + dt.timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def capacity_shares(portfolio: Portfolio, team: PortfolioTeam) -> np.ndarray:
    """Per period of the horizon: the share of its days not blacked out (global or the team's)."""
    days = portfolio.period_days
    blocked = np.zeros(portfolio.max_periods, dtype=np.int64)
    for first, last in _merged_days((*portfolio.blackouts, *team.blackouts)):
        lo = max(0, (first - portfolio.start).days)
        hi = min(portfolio.max_periods * days - 1, (last - portfolio.start).days)
        if hi < lo:
            continue
        for period in range(lo // days, hi // days + 1):
            p_first, p_last = period * days, period * days + days - 1
            blocked[period] += min(hi, p_last) - max(lo, p_first) + 1
    return (days - blocked) / days


def history_sample(portfolio: Portfolio, team: PortfolioTeam) -> list[int]:
    """The team's history to draw from: periods touched by a blackout are left out.

    Only a history with dates (a stored project's) can be filtered; an inline
    list has none and is drawn from whole.
    """
    assert team.throughput is not None
    if team.history_starts is None:
        return list(team.throughput)
    spans = _merged_days((*portfolio.blackouts, *team.blackouts))
    kept = []
    for start, items in zip(team.history_starts, team.throughput, strict=True):
        end = start + dt.timedelta(days=portfolio.period_days - 1)
        if not any(first <= end and start <= last for first, last in spans):
            kept.append(items)
    if not kept or not any(kept):
        raise InputError(
            f"teams[{team.name}].blackouts",
            len(team.blackouts),
            "leave no history period with work to draw from",
        )
    return kept


@dataclass(frozen=True)
class PortfolioArrays:
    """The portfolio as the kernel takes it (see portfolio_kernel.run_portfolio)."""

    teams: tuple[np.ndarray, ...]
    features: tuple[np.ndarray, ...]
    max_periods: int
    target_periods: int

    @property
    def n_features(self) -> int:
        return int(self.features[0].shape[0])


def portfolio_arrays(portfolio: Portfolio) -> PortfolioArrays:
    """Every team's sampler table, capacity and WIP, and every feature's size rule, as arrays."""
    n_teams, n_features = len(portfolio.teams), len(portfolio.features)
    if n_features * (portfolio.max_periods + 2) > MAX_HISTOGRAM_CELLS:
        raise InputError(
            "max_periods",
            portfolio.max_periods,
            f"with {n_features} features the histograms would exceed "
            f"{MAX_HISTOGRAM_CELLS:,} cells; lower max_periods or split the portfolio",
        )
    tables: list[list[int]] = []
    weights: list[list[float] | None] = []
    for team in portfolio.teams:
        if team.throughput is not None:
            tables.append(history_sample(portfolio, team))
            weights.append(None)
        elif team.estimate is not None:
            est = team.estimate
            tables.append(list(range(est.low, est.high + 1)))
            weights.append(None if est.likely is None else est.weights())
        else:
            tables.append([0])
            weights.append(None)
    width = max(len(t) for t in tables)
    values = np.zeros((n_teams, width), dtype=np.int64)
    lengths = np.zeros(n_teams, dtype=np.int64)
    prob = np.ones((n_teams, width), dtype=np.float64)
    alias = np.zeros((n_teams, width), dtype=np.int64)
    uses_alias = np.zeros(n_teams, dtype=np.bool_)
    for t, (table, weight) in enumerate(zip(tables, weights, strict=True)):
        values[t, : len(table)] = table
        lengths[t] = len(table)
        if weight is not None:
            p, a = alias_table(np.asarray(weight))
            prob[t, : len(table)] = p
            alias[t, : len(table)] = a
            uses_alias[t] = True
    active = np.array([team.can_forecast for team in portfolio.teams], dtype=np.bool_)
    wip = np.array([team.feature_wip for team in portfolio.teams], dtype=np.int64)
    capacity = np.stack([capacity_shares(portfolio, team) for team in portfolio.teams])

    mode = np.zeros(n_features, dtype=np.int64)
    part_low = np.zeros((n_features, n_teams), dtype=np.int64)
    part_high = np.zeros((n_features, n_teams), dtype=np.int64)
    total_low = np.zeros(n_features, dtype=np.int64)
    total_high = np.zeros(n_features, dtype=np.int64)
    done = np.zeros(n_features, dtype=np.int64)
    members = np.zeros((n_features, n_teams), dtype=np.int64)
    member_count = np.zeros(n_features, dtype=np.int64)
    for f, feature in enumerate(portfolio.features):
        indices = [portfolio.names[name] for name in feature.teams]
        members[f, : len(indices)] = indices
        member_count[f] = len(indices)
        done[f] = feature.done
        size = feature.size
        if isinstance(size, Mapping):
            mode[f] = _MODE_PER_TEAM
            for name, part in size.items():
                low, high = part if isinstance(part, tuple) else (part, part)
                part_low[f, portfolio.names[name]] = low
                part_high[f, portfolio.names[name]] = high
        elif size is None:
            mode[f] = _MODE_PAST
        else:
            mode[f] = _MODE_RANGE
            low, high = size if isinstance(size, tuple) else (size, size)
            total_low[f], total_high[f] = low, high
    past = np.array(portfolio.feature_sizes or (0,), dtype=np.int64)
    needed = ~np.array(portfolio.cannot_forecast(), dtype=np.bool_)
    target = portfolio.target_periods
    return PortfolioArrays(
        teams=(values, lengths, prob, alias, uses_alias, active, wip, capacity),
        features=(
            mode,
            part_low,
            part_high,
            total_low,
            total_high,
            done,
            members,
            member_count,
            past,
            needed,
        ),
        max_periods=portfolio.max_periods,
        target_periods=-1 if target is None else int(target),
    )


def simulate_portfolio_chunk(
    arrays: PortfolioArrays, seed: int, chunk: Chunk
) -> PortfolioHistograms:
    """One chunk of runs; the histograms depend on (portfolio, seed, chunk.index) alone."""
    from flowray.core import portfolio_kernel  # compiled on first use

    n = arrays.n_features
    completion = np.zeros((n, arrays.max_periods + 2), dtype=np.int64)
    prefix = np.zeros((n, arrays.max_periods + 2), dtype=np.int64)
    by_target = np.zeros(n + 1, dtype=np.int64)
    key = chunk_key(chunk_generator(seed, chunk.index))
    run_periods = portfolio_kernel.run_portfolio(
        chunk.runs,
        key,
        arrays.teams,
        arrays.features,
        (np.int64(arrays.max_periods), np.int64(arrays.target_periods)),
        (completion, prefix, by_target),
    )
    return PortfolioHistograms(
        runs=chunk.runs,
        completion=completion,
        prefix=prefix,
        by_target=by_target if arrays.target_periods >= 0 else None,
        run_periods=int(run_periods),
        chunks=(chunk.index,),
    )


def simulate_portfolio_chunks(
    arrays: PortfolioArrays, seed: int, chunks: Sequence[Chunk]
) -> PortfolioHistograms:
    """Several chunks, merged (one task of a portfolio job)."""
    return merge_portfolio_histograms(simulate_portfolio_chunk(arrays, seed, c) for c in chunks)


def forecast_portfolio(portfolio: Portfolio, runs: int = 100_000, seed: int = 0) -> PortfolioResult:
    """Simulate `runs` futures of the portfolio in this process and read the answer.

    The same seed and inputs give the same result, here or as a job on any
    engine (`flowray.jobs.portfolio.submit_portfolio`).
    """
    if not isinstance(portfolio, Portfolio):
        raise InputError("portfolio", type(portfolio).__name__, "must be a flowray Portfolio")
    runs, seed = validate_runs(runs, seed)
    arrays = portfolio_arrays(portfolio)
    merged = merge_portfolio_histograms(
        simulate_portfolio_chunk(arrays, seed, c) for c in plan_chunks(runs)
    )
    return PortfolioResult(portfolio, merged, seed=seed, runs_asked=runs)
