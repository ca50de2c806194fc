"""The Monte Carlo engine: fixed-size chunks of runs, exact integer histograms that merge by addition.

Runs are split into chunks of CHUNK_RUNS. Chunk i draws every random number
from a PCG64 stream seeded with SeedSequence(seed, spawn_key=(i,)), so its
histograms depend on (scenario, seed, i) alone. Merging adds integer counts,
which is associative and commutative: any grouping, order or number of
workers gives identical results, and memory does not grow with the runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flowray.core.histograms import Histograms, fan_bucket_width, merge_histograms, trim
from flowray.core.kernel_args import NO_DEADLINE, RunLimits, TeamArgs, WhenCounts, WorkDraws
from flowray.core.limits import MAX_PERIODS, MAX_RUNS, MAX_SEED
from flowray.core.samplers import SamplerTable, build_sampler
from flowray.core.scenario import Scenario
from flowray.core.validation import whole_number
from flowray.exceptions import InputError

CHUNK_RUNS = 65_536
# The burn-down fan follows the first FAN_RUNS_PER_CHUNK runs of every chunk (all of a
# small forecast's runs): its bands are a chart, and counting every run-period into it
# cost about a sixth of the engine's time (BENCHMARKS.md). Percentiles, P(deadline), effort
# and totals use every run.
FAN_RUNS_PER_CHUNK = 8192


@dataclass(frozen=True)
class Chunk:
    index: int
    runs: int


@dataclass(frozen=True)
class Question:
    """What a job asks: "when" (completion periods; a deadline adds P(done)) or "how_many"."""

    kind: str = "when"
    periods: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("when", "how_many"):
            raise InputError("question.kind", self.kind, "must be 'when' or 'how_many'")
        if self.kind == "how_many":
            object.__setattr__(
                self, "periods", whole_number("periods", self.periods, 1, MAX_PERIODS)
            )


def validate_runs(runs: object, seed: object) -> tuple[int, int]:
    """Runs (1 to MAX_RUNS) and seed (>= 0) as whole numbers, or an InputError naming them."""
    return whole_number("runs", runs, 1, MAX_RUNS), whole_number("seed", seed, 0, MAX_SEED)


def plan_chunks(runs: int, chunk_runs: int = CHUNK_RUNS) -> list[Chunk]:
    """Split `runs` into fixed-size chunks; depends on the number of runs only."""
    runs, _ = validate_runs(runs, 0)
    full, rest = divmod(runs, chunk_runs)
    chunks = [Chunk(i, chunk_runs) for i in range(full)]
    if rest:
        chunks.append(Chunk(full, rest))
    return chunks


def chunk_generator(seed: int, chunk_index: int) -> np.random.Generator:
    """The random stream of one chunk: a function of (seed, chunk index) alone."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(int(chunk_index),)))
    )


def chunk_key(rng: np.random.Generator) -> np.uint64:
    """The 64-bit key from which the kernel derives each run's own stream."""
    return np.uint64(rng.integers(0, 2**64, dtype=np.uint64))


def check_horizon(scenario: Scenario) -> None:
    deadline = scenario.periods_to_deadline
    if deadline is not None and deadline > scenario.max_periods:
        assert scenario.deadline is not None  # periods_to_deadline is None without a deadline
        raise InputError(
            "deadline",
            scenario.deadline.isoformat(),
            f"is {deadline} periods after the start, beyond max_periods={scenario.max_periods}; "
            "raise max_periods",
        )


def scenario_draw_args(scenario: Scenario) -> WorkDraws:
    """Steps 1-4 of a run as the kernel draws them: backlog, risks, split and lead times."""
    low, high = scenario.backlog_range
    risks = np.array(
        [(r.likelihood, r.low, r.mode, r.high) for r in scenario.risks], dtype=np.float64
    ).reshape(-1, 4)
    split_samples = np.zeros(0, dtype=np.float64)
    split_low = split_high = 1.0
    if scenario.split_range is not None:
        split_low, split_high = (float(v) for v in scenario.split_range)
    elif scenario.split_samples is not None:
        split_samples = np.asarray(scenario.split_samples, dtype=np.float64)
    return WorkDraws(
        int(low),
        int(high),
        risks,
        float(split_low),
        float(split_high),
        split_samples,
        lead_choices(scenario),
    )


def lead_choices(scenario: Scenario) -> np.ndarray:
    """Step 4: the lead-time samples in whole periods; a run picks one uniformly."""
    if not scenario.lead_time_days:
        return np.zeros(0, dtype=np.int64)
    days = np.asarray(scenario.lead_time_days, dtype=float)
    return np.rint(days / scenario.period_days).astype(np.int64)


def _simulate_when(
    scenario: Scenario, rng: np.random.Generator, n: int, sampler: SamplerTable
) -> Histograms:
    from flowray.core import kernel  # compiled on first use: importing the engine stays cheap

    draws = scenario_draw_args(scenario)
    leads = draws.lead_choices
    team = scenario.team
    # Team.__post_init__ fills both contributor bounds in, so they are never None here.
    assert team.min_contributors is not None and team.max_contributors is not None
    max_p = scenario.max_periods
    max_lead = int(leads.max()) if leads.size else 0
    periods = np.zeros(max_p + 2 + max_lead, dtype=np.int64)
    effort_unit = scenario.period_days / 7.0
    effort = np.zeros(int(max_p * team.max_contributors * effort_unit) + 2, dtype=np.int64)
    bucket = fan_bucket_width(scenario.max_total_items())
    fan = np.zeros((max_p + 1, int(math.ceil(scenario.max_total_items() / bucket)) + 2), np.int64)
    deadline = scenario.periods_to_deadline
    deadline_items = np.zeros(scenario.max_total_items() + 2, dtype=np.int64)
    totals = np.zeros(scenario.max_total_items() + 2, dtype=np.int64)
    team_args = TeamArgs(
        float(team.history_size),
        float(scenario.focus),
        float(team.min_contributors),
        float(team.max_contributors),
        float(team.s_curve) / 100.0,
    )
    limits = RunLimits(
        int(max_p),
        NO_DEADLINE if deadline is None else int(deadline),
        float(bucket),
        int(FAN_RUNS_PER_CHUNK),
        float(effort_unit),
    )
    counts = WhenCounts(periods, effort, fan, deadline_items, totals)
    run_periods = kernel.run_when(
        n, draws, sampler.kernel_args(), team_args, limits, chunk_key(rng), counts
    )
    # Runs finishing with lead time beyond the horizon count as not done (index max_p + 1).
    if periods.size > max_p + 2:
        periods[max_p + 1] += periods[max_p + 2 :].sum()
        periods = periods[: max_p + 2]
    return Histograms(
        runs=n,
        periods=periods,
        totals=trim(totals),
        effort=trim(effort),
        fan=trim(fan),
        fan_runs=min(n, FAN_RUNS_PER_CHUNK),
        deadline_items=trim(deadline_items) if deadline is not None else None,
        run_periods=int(run_periods),
    )


def _simulate_how_many(
    scenario: Scenario, rng: np.random.Generator, n: int, periods: int, sampler: SamplerTable
) -> Histograms:
    team = scenario.team
    assert team.max_contributors is not None  # filled in by Team.__post_init__
    scale = team.max_contributors / team.history_size * scenario.focus
    size = int(math.floor(sampler.max_value * scale * periods + 1e-9)) + 2
    items = np.zeros(size, dtype=np.int64)
    from flowray.core import kernel  # compiled on first use: importing the engine stays cheap

    run_periods = kernel.run_how_many(
        n, int(periods), sampler.kernel_args(), float(scale), chunk_key(rng), items
    )
    return Histograms(runs=n, items=trim(items), run_periods=int(run_periods))


def simulate_chunk(
    scenario: Scenario,
    seed: int,
    chunk: Chunk,
    question: Question = Question(),
    sampler: SamplerTable | None = None,
) -> Histograms:
    """Simulate one chunk of runs; the result depends on (scenario, seed, chunk.index) alone."""
    rng = chunk_generator(seed, chunk.index)
    table = sampler if sampler is not None else build_sampler(scenario.throughput, scenario.sampler)
    if question.kind == "how_many":
        assert question.periods is not None  # Question.__post_init__ requires it for how_many
        hist = _simulate_how_many(scenario, rng, chunk.runs, int(question.periods), table)
    else:
        check_horizon(scenario)
        hist = _simulate_when(scenario, rng, chunk.runs, table)
    hist.chunks = (chunk.index,)
    return hist


def simulate_chunks(
    scenario: Scenario,
    seed: int,
    chunks: Sequence[Chunk],
    question: Question = Question(),
    sampler: SamplerTable | None = None,
) -> Histograms:
    """Simulate several chunks and merge them (one Ray task runs one such group)."""
    table = sampler if sampler is not None else build_sampler(scenario.throughput, scenario.sampler)
    return merge_histograms(simulate_chunk(scenario, seed, c, question, table) for c in chunks)
