"""The Monte Carlo engine: fixed-size chunks of runs, exact integer histograms that merge by addition.

Runs are split into chunks of CHUNK_RUNS. Chunk i draws every random number
from a PCG64 stream seeded with SeedSequence(seed, spawn_key=(i,)), so its
histograms depend on (scenario, seed, i) alone. Merging adds integer counts,
which is associative and commutative: any grouping, order or number of
workers gives identical results, and memory does not grow with the runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from flowray.core import kernel
from flowray.core.samplers import SamplerTable, build_sampler
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError

CHUNK_RUNS = 65_536
MAX_RUNS = 10**12
FAN_BUCKETS = 200  # the burn-down fan keeps remaining work in at most this many buckets
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
            if (
                not isinstance(self.periods, (int, np.integer))
                or isinstance(self.periods, bool)
                or self.periods < 1
            ):
                raise InputError("periods", self.periods, "must be a whole number >= 1")


def _pad_add(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Add two count arrays of possibly different shapes (shorter ones are zero-padded)."""
    if a is None:
        return None if b is None else b.copy()
    if b is None:
        return a.copy()
    shape = tuple(max(x, y) for x, y in zip(a.shape, b.shape, strict=True))
    out = np.zeros(shape, dtype=np.int64)
    out[tuple(slice(0, n) for n in a.shape)] += a
    out[tuple(slice(0, n) for n in b.shape)] += b
    return out


def _trim(counts: np.ndarray) -> np.ndarray:
    """Drop trailing all-zero entries (rows for 2-D) so chunks stay small on the wire."""
    if counts.ndim == 1:
        nz = np.flatnonzero(counts)
        return counts[: (nz[-1] + 1 if nz.size else 1)].copy()
    rows = np.flatnonzero(counts.any(axis=1))
    return counts[: (rows[-1] + 1 if rows.size else 1)].copy()


@dataclass
class Histograms:
    """Exact integer histograms of a set of runs; `merge` adds counts."""

    runs: int
    periods: np.ndarray | None = None  # index w: runs done after w periods; last = not done
    totals: np.ndarray | None = None  # index n: runs whose total work was n items
    effort: np.ndarray | None = None  # index e: runs needing e person-weeks (rounded)
    fan: np.ndarray | None = None  # [w, b]: runs still open after w periods, remaining in bucket b
    fan_runs: int = 0  # the runs the fan follows (the first FAN_RUNS_PER_CHUNK of each chunk)
    deadline_items: np.ndarray | None = None  # index n: runs with n items done by the deadline
    items: np.ndarray | None = None  # how-many: index n: runs completing n items in the horizon
    run_periods: int = 0  # simulated run-periods (work done, for benchmarks)
    chunks: tuple[int, ...] = field(default_factory=tuple)

    def merge(self, other: Histograms) -> Histograms:
        overlap = set(self.chunks) & set(other.chunks)
        if overlap:
            raise ValueError(f"chunks {sorted(overlap)[:5]} would be counted twice")
        return Histograms(
            runs=self.runs + other.runs,
            periods=_pad_add(self.periods, other.periods),
            totals=_pad_add(self.totals, other.totals),
            effort=_pad_add(self.effort, other.effort),
            fan=_pad_add(self.fan, other.fan),
            fan_runs=self.fan_runs + other.fan_runs,
            deadline_items=_pad_add(self.deadline_items, other.deadline_items),
            items=_pad_add(self.items, other.items),
            run_periods=self.run_periods + other.run_periods,
            chunks=tuple(sorted(self.chunks + other.chunks)),
        )

    def equals(self, other: Histograms) -> bool:
        """Bit-for-bit equality of every histogram (used by tests and Ray/local agreement)."""
        if (self.runs, self.chunks, self.fan_runs) != (other.runs, other.chunks, other.fan_runs):
            return False
        for name in ("periods", "totals", "effort", "fan", "deadline_items", "items"):
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None):
                return False
            if a is not None and not np.array_equal(a, b):
                return False
        return True


def merge_histograms(parts: Iterable[Histograms]) -> Histograms:
    """Merge any number of chunk histograms (order and grouping do not matter)."""
    merged: Histograms | None = None
    for part in parts:
        merged = part if merged is None else merged.merge(part)
    if merged is None:
        return Histograms(runs=0)
    return merged


def validate_runs(runs: object, seed: object) -> tuple[int, int]:
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
        raise InputError("runs", runs, "must be a whole number >= 1")
    if runs > MAX_RUNS:
        raise InputError("runs", runs, f"must be <= {MAX_RUNS:.0e}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError("seed", seed, "must be a whole number >= 0")
    return int(runs), int(seed)


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
        raise InputError(
            "deadline",
            scenario.deadline.isoformat(),
            f"is {deadline} periods after the start, beyond max_periods={scenario.max_periods}; "
            "raise max_periods",
        )


def scenario_draw_args(scenario: Scenario) -> tuple:
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
    return (
        int(low), int(high), risks, split_low, split_high, split_samples, lead_choices(scenario)
    )


def lead_choices(scenario: Scenario) -> np.ndarray:
    """Step 4: the lead-time samples in whole periods; a run picks one uniformly."""
    if not scenario.lead_time_days:
        return np.zeros(0, dtype=np.int64)
    days = np.asarray(scenario.lead_time_days, dtype=float)
    return np.rint(days / scenario.period_days).astype(np.int64)


def fan_bucket_width(scenario: Scenario) -> float:
    return float(max(1, math.ceil(scenario.max_total_items() / FAN_BUCKETS)))


def _simulate_when(
    scenario: Scenario, rng: np.random.Generator, n: int, sampler: SamplerTable
) -> Histograms:
    draws = scenario_draw_args(scenario)
    leads = draws[-1]
    team = scenario.team
    max_p = scenario.max_periods
    max_lead = int(leads.max()) if leads.size else 0
    periods = np.zeros(max_p + 2 + max_lead, dtype=np.int64)
    effort_unit = scenario.period_days / 7.0
    effort = np.zeros(int(max_p * team.max_contributors * effort_unit) + 2, dtype=np.int64)
    bucket = fan_bucket_width(scenario)
    fan = np.zeros((max_p + 1, int(math.ceil(scenario.max_total_items() / bucket)) + 2), np.int64)
    deadline = scenario.periods_to_deadline
    deadline_items = np.zeros(scenario.max_total_items() + 2, dtype=np.int64)
    totals = np.zeros(scenario.max_total_items() + 2, dtype=np.int64)
    run_periods = kernel.run_when(
        n,
        *draws,
        *sampler.kernel_args(),
        float(team.history_size),
        float(scenario.focus),
        float(team.min_contributors),
        float(team.max_contributors),
        float(team.s_curve) / 100.0,
        max_p,
        kernel.NO_DEADLINE if deadline is None else int(deadline),
        bucket,
        FAN_RUNS_PER_CHUNK,
        chunk_key(rng),
        periods,
        effort,
        fan,
        deadline_items,
        totals,
        effort_unit,
    )
    # Runs finishing with lead time beyond the horizon count as not done (index max_p + 1).
    if periods.size > max_p + 2:
        periods[max_p + 1] += periods[max_p + 2 :].sum()
        periods = periods[: max_p + 2]
    return Histograms(
        runs=n,
        periods=periods,
        totals=_trim(totals),
        effort=_trim(effort),
        fan=_trim(fan),
        fan_runs=min(n, FAN_RUNS_PER_CHUNK),
        deadline_items=_trim(deadline_items) if deadline is not None else None,
        run_periods=int(run_periods),
    )


def _simulate_how_many(
    scenario: Scenario, rng: np.random.Generator, n: int, periods: int, sampler: SamplerTable
) -> Histograms:
    team = scenario.team
    scale = team.max_contributors / team.history_size * scenario.focus
    size = int(math.floor(sampler.max_value * scale * periods + 1e-9)) + 2
    items = np.zeros(size, dtype=np.int64)
    run_periods = kernel.run_how_many(
        n,
        periods,
        *sampler.kernel_args(),
        float(scale),
        chunk_key(rng),
        items,
    )
    return Histograms(runs=n, items=_trim(items), run_periods=int(run_periods))


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


def summarize(
    scenario: Scenario,
    question: Question,
    histograms: Histograms,
    seed: int,
    runs_requested: int,
):
    """Turn merged histograms into the result object for the question asked."""
    from flowray.core.results import ForecastResult, HowManyResult

    if question.kind == "how_many":
        return HowManyResult(scenario, histograms, int(question.periods), seed, runs_requested)
    return ForecastResult(scenario, histograms, seed, runs_requested)


def run_local(
    scenario: Scenario,
    question: Question,
    runs: int,
    seed: int,
    sampler: SamplerTable | None = None,
):
    """Every chunk in this process, one after another: the reference for Ray jobs."""
    runs, seed = validate_runs(runs, seed)
    if question.kind == "when":
        check_horizon(scenario)
    histograms = simulate_chunks(scenario, seed, plan_chunks(runs), question, sampler)
    return summarize(scenario, question, histograms, seed, runs)


def simulate(scenario: Scenario, runs: int = 100_000, seed: int = 0):
    """When will the backlog be done? Returns a ForecastResult (with P(deadline) if one is set)."""
    return run_local(scenario, Question("when"), runs, seed)


def horizon_periods(scenario: Scenario, periods: int | None, end: object | None) -> int:
    """The how-many horizon in whole periods, from `periods` or from the start and an end date."""
    from flowray.core.scenario import _as_date

    if periods is not None and end is not None:
        raise InputError("periods", periods, "give either periods or an end date, not both")
    if end is not None:
        end_date = _as_date("end", end)
        if scenario.start is None:
            raise InputError("end", end_date.isoformat(), "needs a start date")
        if end_date <= scenario.start:
            raise InputError("end", end_date.isoformat(), f"must be after the start ({scenario.start})")
        periods = (end_date - scenario.start).days // scenario.period_days
        if periods < 1:
            raise InputError("end", end_date.isoformat(), "must be at least one whole period after the start")
    if periods is None:
        raise InputError("periods", None, "give the number of periods or an end date")
    return Question("how_many", periods).periods


def how_many(
    scenario: Scenario,
    periods: int | None = None,
    runs: int = 100_000,
    seed: int = 0,
    end: object | None = None,
):
    """How many items in `periods` periods (or until `end`)? Returns a HowManyResult."""
    return run_local(scenario, Question("how_many", horizon_periods(scenario, periods, end)), runs, seed)
