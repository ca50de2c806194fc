"""The Monte Carlo engine: fixed-size chunks of runs, exact integer histograms that merge by addition.

Runs are split into chunks of CHUNK_RUNS. Chunk i draws every random number
from a PCG64 stream seeded with SeedSequence(seed, spawn_key=(i,)), so its
histograms depend on (scenario, seed, i) alone. Merging adds integer counts,
which is associative and commutative: any grouping, order or number of
workers gives identical results, and memory does not grow with the runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from flowray.core.histograms import (
    VALUE_BUCKETS,
    Histograms,
    Layout,
    bucket_layout,
    fan_bucket_width,
    fan_stride,
    merge_histograms,
    trim,
)
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


class ChunkPlan(Sequence[Chunk]):
    """The chunks of `runs` runs, computed on demand: len, index, slice and iterate in O(1) memory.

    Chunk i has chunk_runs runs, except the last, which holds the rest. A plan
    of 1e9 runs is 15,259 chunks; nothing is built until a chunk is asked for.
    """

    def __init__(self, runs: int, chunk_runs: int = CHUNK_RUNS) -> None:
        if chunk_runs < 1:
            raise InputError("chunk_runs", chunk_runs, "must be >= 1")
        self.runs = runs
        self.chunk_runs = chunk_runs
        self._full, self._rest = divmod(runs, chunk_runs)

    def __len__(self) -> int:
        return self._full + (1 if self._rest else 0)

    def _chunk(self, i: int) -> Chunk:
        return Chunk(i, self.chunk_runs if i < self._full else self._rest)

    @overload
    def __getitem__(self, index: int) -> Chunk: ...

    @overload
    def __getitem__(self, index: slice) -> list[Chunk]: ...

    def __getitem__(self, index: int | slice) -> Chunk | list[Chunk]:
        n = len(self)
        if isinstance(index, slice):
            return [self._chunk(i) for i in range(*index.indices(n))]
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"chunk {index} of a plan of {n} chunks")
        return self._chunk(i)

    def __iter__(self) -> Iterator[Chunk]:
        return (self._chunk(i) for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ChunkPlan):
            return (self.runs, self.chunk_runs) == (other.runs, other.chunk_runs)
        if isinstance(other, Sequence):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.runs, self.chunk_runs))

    def __repr__(self) -> str:
        return f"ChunkPlan(runs={self.runs}, chunk_runs={self.chunk_runs})"


def plan_chunks(runs: int, chunk_runs: int = CHUNK_RUNS) -> ChunkPlan:
    """Split `runs` into fixed-size chunks, lazily; depends on the number of runs only."""
    runs, _ = validate_runs(runs, 0)
    return ChunkPlan(runs, chunk_runs)


def estimate_seconds(runs: int, measured_runs: int, measured_seconds: float) -> float:
    """Seconds `runs` runs should take at the rate of a measured sample (e.g. one small chunk).

    The engine's work grows linearly with the runs (each run is simulated on its
    own), so the estimate is runs x (measured_seconds / measured_runs). Time one
    small `simulate_chunk` of the same scenario to measure it (after a first
    call, which compiles the kernel).
    """
    runs, _ = validate_runs(runs, 0)
    measured_runs = whole_number("measured_runs", measured_runs, 1)
    if not isinstance(measured_seconds, int | float) or not math.isfinite(measured_seconds):
        raise InputError("measured_seconds", measured_seconds, "must be a finite number")
    if measured_seconds < 0:
        raise InputError("measured_seconds", measured_seconds, "must be >= 0")
    return runs * (float(measured_seconds) / measured_runs)


def describe_duration(seconds: float) -> str:
    """A duration in plain words, rounded: "under a second", "about 40 seconds", "about 3 minutes"."""
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"about {round(seconds)} second{'s' if round(seconds) != 1 else ''}"
    if seconds < 90 * 60:
        minutes = round(seconds / 60)
        return f"about {minutes} minutes"
    hours = round(seconds / 3600)
    return f"about {hours} hour{'s' if hours != 1 else ''}"


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


def cannot_finish(scenario: Scenario, sampler: SamplerTable | None = None) -> bool:
    """True when no run can finish within max_periods, known before simulating.

    Every run has at least backlog low x the smallest split items (risks only
    add, unless one has a negative impact), and does at most the largest
    throughput x the full team's scale per period. When that much work exceeds
    max_periods of the fastest pace, every run is "not done".
    """
    table = sampler if sampler is not None else build_sampler(scenario.throughput, scenario.sampler)
    if any(min(r.low, r.mode, r.high) < 0 for r in scenario.risks):
        return False
    least = float(least_total_items(scenario))
    return least > _peak_items_per_period(scenario, table) * scenario.max_periods + 1.0


def fixed_total_items(scenario: Scenario) -> int | None:
    """The total items of every run when nothing about it is drawn (one backlog, no risks, one split)."""
    low, high = scenario.backlog_range
    splits: set[float] = {1.0}
    if scenario.split_range is not None:
        splits = {float(v) for v in scenario.split_range}
    elif scenario.split_samples is not None:
        splits = {float(v) for v in scenario.split_samples}
    if low != high or scenario.risks or len(splits) != 1:
        return None
    return least_total_items(scenario)


def not_done_histograms(scenario: Scenario, runs: int) -> Histograms:
    """The histograms of a "when" forecast of work no run can finish, without simulating it.

    Use it when `cannot_finish` holds: then every run works all max_periods
    periods and is not done, so the completion counts are known exactly (all
    runs in the "not done" entry), and every percentile, P(deadline) and the
    share not done read the same as after simulating. What only the random
    draws can tell is known exactly in the common cases and left out
    otherwise: the totals when every run's total is the same, and the effort
    when there is no S-curve (the whole team every period); the burn-down fan
    and the items done by a deadline are not simulated (None; with a deadline,
    `simulate_until_deadline` simulates what the answer needs). The chunks are
    the plan's, so progress and merges see the whole forecast done.
    """
    runs, _ = validate_runs(runs, 0)
    max_p = scenario.max_periods
    periods = np.zeros(max_p + 2, dtype=np.int64)
    periods[max_p + 1] = runs
    layout = totals_layout(scenario)
    totals = None
    total = fixed_total_items(scenario)
    if total is not None:
        totals = np.zeros((total - layout.offset) // layout.width + 1, dtype=np.int64)
        totals[-1] = runs
    effort = None
    effort_buckets = effort_layout(scenario)
    team = scenario.team
    assert team.max_contributors is not None  # filled in by Team.__post_init__
    if team.s_curve == 0:
        # the kernel's arithmetic: a whole team for every one of the max_p periods
        effort_unit = scenario.period_days / 7.0
        person_periods = np.float64(team.max_contributors) * np.float64(max_p)
        unit = int(np.rint(person_periods * np.float64(effort_unit))) // effort_buckets.width
        unit = min(unit, effort_buckets.size - 1)
        effort = np.zeros(unit + 1, dtype=np.int64)
        effort[unit] = runs
    return Histograms(
        runs=runs,
        periods=periods,
        totals=totals,
        effort=effort,
        chunks=tuple(range(len(plan_chunks(runs)))),
        totals_offset=layout.offset,
        totals_width=layout.width,
        effort_width=effort_buckets.width,
    )


def least_total_items(scenario: Scenario) -> int:
    """The smallest total a run can draw: backlog low x the smallest split, without risks.

    Risks only add items (their impacts are >= 0) and the kernel rounds
    rint(items x split) with the same float arithmetic, so no run's total is
    below this.
    """
    split_low = 1.0
    if scenario.split_range is not None:
        split_low = float(scenario.split_range[0])
    elif scenario.split_samples is not None:
        split_low = float(min(scenario.split_samples))
    return int(np.rint(np.float64(scenario.backlog_range[0]) * split_low))


def totals_layout(scenario: Scenario) -> Layout:
    """How the histogram of total items per run is kept: exact unless it would pass TOTALS_BUCKETS.

    Sized to the totals a run can draw (least_total_items .. max_total_items),
    in at most TOTALS_BUCKETS buckets, so a chunk's memory does not grow with
    the backlog; a function of the scenario alone, so chunks merge by addition.
    """
    return bucket_layout(least_total_items(scenario), scenario.max_total_items())


def _peak_items_per_period(scenario: Scenario, sampler: SamplerTable) -> float:
    """The most items one period can complete: the largest throughput at the full team's scale."""
    team = scenario.team
    assert team.max_contributors is not None  # filled in by Team.__post_init__
    return sampler.max_value * team.max_contributors / team.history_size * scenario.focus


def deadline_items_size(scenario: Scenario, sampler: SamplerTable, deadline: int | None) -> int:
    """Length of the items-done-by-the-deadline histogram: only what a run can reach.

    A run works at most `deadline` periods before the deadline, at most the
    largest throughput x the full team's scale each period, so it cannot have
    done more items than that (nor more than its total). A large backlog with a
    small throughput needs a small histogram, however large the backlog.
    """
    if deadline is None:
        return 1
    size = scenario.max_total_items() + 2
    reach = _peak_items_per_period(scenario, sampler) * max(0, deadline) + 1.0
    if math.isfinite(reach) and reach + 2 < size:
        size = int(math.floor(reach)) + 3
    return size


def effort_layout(scenario: Scenario) -> Layout:
    """How the effort histogram (person-weeks per run) is kept: bounded however large the team.

    A run needs at most max_periods x the full team person-periods; person-weeks
    are counted one by one up to VALUE_BUCKETS entries, in equal buckets beyond.
    """
    team = scenario.team
    assert team.max_contributors is not None  # filled in by Team.__post_init__
    most = int(scenario.max_periods * team.max_contributors * (scenario.period_days / 7.0))
    return bucket_layout(0, most, VALUE_BUCKETS)


def deadline_items_layout(
    scenario: Scenario, sampler: SamplerTable, deadline: int | None
) -> Layout:
    """How the items-done-by-the-deadline histogram is kept: what a run can reach, bounded.

    Item by item up to VALUE_BUCKETS entries, in equal buckets beyond, so a
    fast team on a huge backlog does not make it grow either; a bucket reads as
    its smallest count, so "at least N items" stays true.
    """
    if deadline is None:
        return Layout(0, 1, 1)
    return bucket_layout(0, deadline_items_size(scenario, sampler, deadline) - 2, VALUE_BUCKETS)


def how_many_layout(scenario: Scenario, sampler: SamplerTable, periods: int) -> Layout:
    """How the "how many" histogram is kept: item by item, in equal buckets beyond VALUE_BUCKETS.

    A run completes at most the largest throughput x the full team's scale each
    period; a long horizon of a fast team no longer needs one entry per item.
    """
    team = scenario.team
    assert team.max_contributors is not None  # filled in by Team.__post_init__
    scale = team.max_contributors / team.history_size * scenario.focus
    most = int(math.floor(sampler.max_value * scale * periods + 1e-9))
    return bucket_layout(0, most, VALUE_BUCKETS)


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
    effort_buckets = effort_layout(scenario)
    effort = np.zeros(effort_buckets.size, dtype=np.int64)
    bucket = fan_bucket_width(scenario.max_total_items())
    stride = fan_stride(max_p)
    fan_columns = int(math.ceil(scenario.max_total_items() / bucket)) + 2
    fan = np.zeros((max_p // stride + 1, fan_columns), np.int64)
    deadline = scenario.periods_to_deadline
    deadline_buckets = deadline_items_layout(scenario, sampler, deadline)
    deadline_items = np.zeros(deadline_buckets.size, dtype=np.int64)
    layout = totals_layout(scenario)
    totals = np.zeros(layout.size, dtype=np.int64)
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
        int(stride),
        float(effort_unit),
        int(layout.offset),
        int(layout.width),
        int(effort_buckets.width),
        int(deadline_buckets.width),
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
        totals_offset=layout.offset,
        totals_width=layout.width,
        effort_width=effort_buckets.width,
        deadline_items_width=deadline_buckets.width,
        fan_stride=stride,
    )


def _simulate_how_many(
    scenario: Scenario, rng: np.random.Generator, n: int, periods: int, sampler: SamplerTable
) -> Histograms:
    team = scenario.team
    assert team.max_contributors is not None  # filled in by Team.__post_init__
    scale = team.max_contributors / team.history_size * scenario.focus
    layout = how_many_layout(scenario, sampler, periods)
    items = np.zeros(layout.size, dtype=np.int64)
    from flowray.core import kernel  # compiled on first use: importing the engine stays cheap

    run_periods = kernel.run_how_many(
        n,
        int(periods),
        sampler.kernel_args(),
        float(scale),
        chunk_key(rng),
        items,
        int(layout.width),
    )
    return Histograms(
        runs=n, items=trim(items), run_periods=int(run_periods), items_width=layout.width
    )


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


def deadline_scenario(scenario: Scenario) -> Scenario:
    """The scenario with its horizon cut at the deadline: all a deadline answer needs of it."""
    deadline = scenario.periods_to_deadline
    assert deadline is not None  # only called for a scenario with a deadline
    return scenario.replace(max_periods=max(1, deadline))


def simulate_until_deadline(
    scenario: Scenario,
    seed: int,
    chunks: Sequence[Chunk],
    question: Question = Question(),
    sampler: SamplerTable | None = None,
) -> Histograms:
    """Chunks of work no run can finish, with a deadline: simulated up to the deadline only.

    Every run is "not done" (`cannot_finish`), so the completion counts and
    the effort come from `not_done_histograms`; what the deadline answer
    needs, the items done by the deadline, comes from simulating each run up to
    the deadline. A run's draws do not depend on the horizon, so those counts,
    the totals, and the burn-down fan up to the deadline are identical to
    simulating the whole horizon, at the deadline's cost instead of the
    horizon's. Same signature as `simulate_chunks` (one job task runs a group).
    """
    table = sampler if sampler is not None else build_sampler(scenario.throughput, scenario.sampler)
    short = deadline_scenario(scenario)
    parts = []
    for chunk in chunks:
        simulated = simulate_chunk(short, seed, chunk, Question("when"), table)
        known = not_done_histograms(scenario, chunk.runs)
        parts.append(
            Histograms(
                runs=chunk.runs,
                periods=known.periods,
                totals=simulated.totals,
                effort=known.effort,
                fan=simulated.fan,
                fan_runs=simulated.fan_runs,
                deadline_items=simulated.deadline_items,
                run_periods=simulated.run_periods,
                chunks=(chunk.index,),
                totals_offset=simulated.totals_offset,
                totals_width=simulated.totals_width,
                effort_width=known.effort_width,
                deadline_items_width=simulated.deadline_items_width,
                fan_stride=simulated.fan_stride,
            )
        )
    return merge_histograms(parts)


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
