"""The engine: exact cases, closed forms, chunk invariance and the model's invariants."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from flowray import Risk, Scenario, Team, how_many, simulate
from flowray.core import kernel
from flowray.core.engine import CHUNK_RUNS, Question, plan_chunks, simulate_chunk, simulate_chunks
from flowray.core.histograms import merge_histograms
from flowray.core.limits import MAX_ITEMS


def test_constant_throughput_gives_exact_periods():
    for backlog, expected in [(50, 10), (51, 11), (5, 1), (0, 0)]:
        result = simulate(Scenario(throughput=[5], backlog=backlog), runs=5_000, seed=3)
        assert result.counts[expected] == 5_000
        assert result.percentile(50) == result.percentile(95) == expected


def test_constant_throughput_with_team_and_focus():
    # 4 per week from a team of 4; 2 people at half focus deliver 1 per week
    scenario = Scenario(throughput=[4], backlog=12, team=Team(4, 2, 2), focus=0.5)
    assert simulate(scenario, runs=100, seed=0).percentile(50) == 12


def test_lead_time_adds_whole_periods():
    scenario = Scenario(throughput=[5], backlog=10, lead_time_days=[14])
    assert simulate(scenario, runs=100, seed=0).percentile(100) == 4


def test_zero_one_throughput_is_negative_binomial():
    """P(T = t) = C(t-1, k-1) / 2^t for k items when each week delivers 1 with probability 1/2."""
    k, runs = 6, 1_000_000
    result = simulate(Scenario(throughput=[0, 1], backlog=k, max_periods=200), runs=runs, seed=11)
    counts = result.counts[:201].astype(float)
    t = np.arange(counts.size)
    pmf = stats.nbinom.pmf(t - k, k, 0.5)  # failures before the k-th success
    expected = pmf * runs
    keep = expected >= 5
    observed = np.append(counts[keep], counts[~keep].sum())
    expected_binned = np.append(expected[keep], runs - expected[keep].sum())
    chi2, p_value = stats.chisquare(observed, expected_binned)
    assert p_value > 1e-3, (chi2, p_value)
    assert result.not_done == 0


def _s_curve_periods(total: float, throughput: float, team: Team) -> int:
    """Constant throughput through the S-curve, stepped by hand."""
    remaining, week = float(total), 0
    while remaining > 0:
        c = team.contributors((total - remaining) / total)
        remaining -= throughput * (c / team.history_size * 1.0)
        week += 1
    return week


def test_s_curve_contributor_profile():
    team = Team(history_size=4, min_contributors=1, max_contributors=4, s_curve=20)
    assert team.contributors(0.0) == 1
    assert team.contributors(0.10) == pytest.approx(2.5)
    assert team.contributors(0.2) == 4
    assert team.contributors(0.5) == 4
    assert team.contributors(0.9) == pytest.approx(2.5)
    assert team.contributors(1.0) == 1
    flat = Team(history_size=4)
    assert flat.contributors(0.0) == flat.contributors(0.99) == 4


def test_s_curve_slows_the_start_and_end_exactly():
    team = Team(history_size=4, min_contributors=1, max_contributors=4, s_curve=25)
    scenario = Scenario(throughput=[4], backlog=40, team=team)
    result = simulate(scenario, runs=50, seed=0)
    expected = _s_curve_periods(40, 4, team)
    assert expected > 10  # without the S-curve 10 weeks
    assert result.percentile(50) == result.percentile(100) == expected


def test_effort_counts_person_weeks():
    scenario = Scenario(throughput=[4], backlog=40, team=Team(4, 4, 4))
    result = simulate(scenario, runs=10, seed=0)
    effort = result.to_dict()["effort_histogram"]
    assert effort == {"person_weeks": [40], "counts": [10]}


def test_mean_impact_of_split_and_risks():
    runs = 400_000
    split = simulate(
        Scenario(throughput=[5], backlog=100, split_rate=(1.0, 1.5)), runs=runs, seed=2
    )
    totals = split.histograms.totals
    mean_total = (np.arange(totals.size) * totals).sum() / runs
    assert mean_total == pytest.approx(125, abs=0.1)

    risky = Scenario(throughput=[5], backlog=100, risks=[Risk(0.3, 2, 6, 13)])
    totals = simulate(risky, runs=runs, seed=2).histograms.totals
    mean_total = (np.arange(totals.size) * totals).sum() / runs
    # E[round(triangular)] ~ (2 + 6 + 13) / 3 = 7; times likelihood 0.3
    assert mean_total == pytest.approx(100 + 0.3 * 7, abs=0.05)
    assert totals[100] == pytest.approx(0.7 * runs, rel=0.01)

    samples = Scenario(throughput=[5], backlog=10, split_rate=[1.0, 2.0, 3.0])
    totals = simulate(samples, runs=30_000, seed=2).histograms.totals
    assert set(np.flatnonzero(totals)) == {10, 20, 30}
    assert totals[[10, 20, 30]] / 30_000 == pytest.approx([1 / 3] * 3, abs=0.02)


def test_same_seed_same_numbers_different_seed_different_numbers():
    scenario = Scenario(throughput=[3, 5, 0, 7, 2, 4, 6, 1], backlog=(40, 60), split_rate=(1, 1.3))
    a = simulate(scenario, runs=150_000, seed=5)
    b = simulate(scenario, runs=150_000, seed=5)
    c = simulate(scenario, runs=150_000, seed=6)
    assert a.histograms.equals(b.histograms)
    assert not np.array_equal(a.counts, c.counts)
    assert a.to_dict() == b.to_dict()


def test_chunks_depend_on_runs_only():
    chunks = plan_chunks(3 * CHUNK_RUNS + 17)
    assert [c.runs for c in chunks] == [CHUNK_RUNS] * 3 + [17]
    assert [c.index for c in chunks] == [0, 1, 2, 3]


FULL = Scenario(
    throughput=[3, 5, 0, 7, 2, 4, 6, 1, 8, 5],
    backlog=(30, 45),
    split_rate=(1.0, 1.4),
    risks=[(0.3, 2, 5, 9), (0.1, 1, 1, 1)],
    team=Team(history_size=4, min_contributors=2, max_contributors=5, s_curve=15),
    focus=0.8,
    lead_time_days=[3, 7, 12],
    start="2026-01-05",
    deadline="2026-04-06",
)


def test_merging_in_any_order_and_grouping_is_identical():
    chunks = plan_chunks(5 * 1000 + 3, chunk_runs=1000)
    parts = [simulate_chunk(FULL, 9, c) for c in chunks]
    forward = merge_histograms(parts)
    backward = merge_histograms(reversed(parts))
    rng = random.Random(1)
    shuffled = parts[:]
    rng.shuffle(shuffled)
    grouped = merge_histograms(
        [merge_histograms(shuffled[:2]), merge_histograms(shuffled[2:5]), shuffled[5]]
    )
    in_groups = merge_histograms(
        [simulate_chunks(FULL, 9, chunks[:4]), simulate_chunks(FULL, 9, chunks[4:])]
    )
    for other in (backward, grouped, in_groups):
        assert forward.equals(other)
    with pytest.raises(ValueError, match="counted twice"):
        parts[0].merge(parts[0])


def test_how_many_reads_conservatively():
    scenario = Scenario(throughput=[0, 10], backlog=0)
    result = how_many(scenario, periods=1, runs=10_000, seed=1)
    # half the runs deliver 0, half 10: with 85% probability only "at least 0"
    assert result.at_least(85) == 0
    assert result.at_least(50) == 0 or result.at_least(50) == 10
    assert result.at_least(40) == 10
    constant = how_many(Scenario(throughput=[4]), periods=8, runs=100, seed=1)
    assert constant.at_least_table() == {"50": 32, "70": 32, "85": 32, "95": 32}


def test_how_many_at_least_is_the_lower_tail():
    scenario = Scenario(throughput=[3, 5, 0, 7, 2, 4, 6, 1, 8, 5])
    result = how_many(scenario, periods=8, runs=200_000, seed=4)
    counts = result.counts
    for p in (0.5, 0.7, 0.85, 0.95):
        x = result.at_least(p * 100)
        share_at_least = counts[x:].sum() / result.runs
        share_more = counts[x + 1 :].sum() / result.runs
        assert share_at_least >= p > share_more


def test_how_many_from_dates_rounds_down():
    scenario = Scenario(throughput=[4], start="2026-01-05")
    result = how_many(scenario, end="2026-03-01", runs=10, seed=0)  # 55 days = 7 whole weeks
    assert result.periods == 7
    assert result.at_least(95) == 28


def test_deadline_probability_and_items_agree():
    result = simulate(FULL, runs=200_000, seed=3)
    prob = result.probability_by_deadline
    d = result.periods_to_deadline
    assert d == 13  # 91 days
    assert prob == pytest.approx(result.counts[: d + 1].sum() / result.runs)
    assert result.histograms.deadline_items.sum() == result.runs
    for p in (50, 85, 95):
        assert result.deadline_met_at(p) == (prob >= p / 100)


def test_deadline_items_never_contradict_the_probability():
    """With a fixed total, "all items done by D" and "done by D" are the same runs."""
    fixed = Scenario(
        throughput=[3, 5, 0, 7, 2, 4, 6, 1, 8, 5],
        backlog=40,
        team=Team(history_size=4, min_contributors=2, max_contributors=5, s_curve=15),
        lead_time_days=[0, 7, 14],
        start="2026-01-05",
        deadline="2026-03-30",
    )
    result = simulate(fixed, runs=100_000, seed=3)
    items = result.histograms.deadline_items
    prob = result.probability_by_deadline
    assert items[40:].sum() / result.runs == prob
    for p in (50, 70, 85, 95):
        at_least = result.items_by_deadline(p)
        assert (at_least >= 40) == (prob >= p / 100)


def test_percentiles_are_inverted_cdf():
    result = simulate(FULL, runs=100_000, seed=8)
    cdf = np.cumsum(result.counts) / result.runs
    for p in (1, 33.3, 50, 85, 95, 99.9):
        w = result.percentile(p)
        assert cdf[w] >= p / 100 - 1e-12
        assert w == 0 or cdf[w - 1] < p / 100


def test_likelihood_table_direction():
    table = simulate(FULL, runs=50_000, seed=8).likelihood_table()
    assert [row["likelihood"] for row in table] == list(range(50, 101, 5))
    periods = [row["periods"] for row in table]
    assert periods == sorted(periods)
    dates = [row["date"] for row in table]
    assert dates == sorted(dates)


def test_monte_carlo_error_shrinks_with_runs():
    small = simulate(FULL, runs=2_000, seed=1).percentile_error(85)
    large = simulate(FULL, runs=400_000, seed=1).percentile_error(85)
    assert small["high"] - small["low"] >= large["high"] - large["low"]
    assert large["low"] <= simulate(FULL, runs=400_000, seed=1).percentile(85) <= large["high"]


def test_burn_down_fan_starts_at_the_backlog_and_ends_at_zero():
    fan = simulate(Scenario(throughput=[2, 3, 4], backlog=30), runs=20_000, seed=1).burn_down_fan()
    assert fan[0]["p50"] == 30
    assert fan[-1]["p95"] == 0
    for a, b in zip(fan, fan[1:], strict=False):
        assert b["p50"] <= a["p50"]
        assert b["p5"] <= b["p50"] <= b["p95"]


def test_memory_does_not_grow_with_runs():
    """Histograms have the same size whatever the number of runs."""
    small = simulate(FULL, runs=1_000, seed=1).histograms
    large = simulate(FULL, runs=300_000, seed=1).histograms
    assert large.periods.shape == small.periods.shape
    assert large.fan.shape[1] == small.fan.shape[1]


def test_samplers_all_run_and_differ():
    history = [3, 5, 0, 7, 2, 4, 6, 1, 8, 5, 0, 0, 9, 4]
    seen = {}
    for name in ("bootstrap", "block", "recency", "weibull"):
        result = simulate(
            Scenario(throughput=history, backlog=40, sampler=name), runs=50_000, seed=1
        )
        seen[name] = result.percentile(85)
        assert result.not_done == 0
    assert 8 <= min(seen.values()) and max(seen.values()) <= 20


def test_weibull_handles_zero_weeks():
    """A zero-inflated fit keeps the mean; ignoring zeros would inflate it."""
    history = [0, 0, 0, 6, 0, 0, 4, 0, 0, 5, 0, 7]
    mean = np.mean(history)
    result = how_many(
        Scenario(throughput=history, sampler="weibull"), periods=1, runs=200_000, seed=2
    )
    simulated_mean = (np.arange(result.counts.size) * result.counts).sum() / result.runs
    assert simulated_mean == pytest.approx(mean - 0.5, abs=0.6)  # floor() of a continuous draw
    bootstrap = how_many(Scenario(throughput=history), periods=1, runs=200_000, seed=2)
    assert bootstrap.mean_items() == pytest.approx(mean, abs=0.05)


def test_stream_is_pcg32_and_uniform():
    """The kernel's generator is PCG32 (checked against a plain-Python PCG32) and draws are uniform."""
    key = np.uint64(0x1234_5678_9ABC_DEF0)
    out = kernel.stream_u32(key, 7, 5)
    mask = (1 << 64) - 1

    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    state = mix((int(key) + 7 * 0x9E3779B97F4A7C15) & mask)
    inc = ((mix(int(key) ^ mix(8)) << 1) | 1) & mask
    expected = []
    for _ in range(5):
        old = state
        state = (old * 6364136223846793005 + inc) & mask
        xorshifted = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        expected.append(((xorshifted >> rot) | (xorshifted << ((-rot) & 31))) & 0xFFFFFFFF)
    assert out.tolist() == expected
    draws = kernel.draws_below(key, 3, 7, 700_000)
    counts = np.bincount(draws, minlength=7)
    assert counts.size == 7
    assert stats.chisquare(counts).pvalue > 1e-3


# -- properties --------------------------------------------------------------

histories = st.lists(st.integers(0, 12), min_size=1, max_size=20).filter(lambda h: max(h) > 0)


@settings(max_examples=25, deadline=None)
@given(
    history=histories,
    backlog=st.integers(0, 60),
    extra=st.integers(1, 30),
    seed=st.integers(0, 2**32),
)
def test_more_backlog_never_finishes_earlier(history, backlog, extra, seed):
    a = simulate(
        Scenario(throughput=history, backlog=backlog, max_periods=400), runs=2_000, seed=seed
    )
    b = simulate(
        Scenario(throughput=history, backlog=backlog + extra, max_periods=400),
        runs=2_000,
        seed=seed,
    )
    # run by run (common random numbers), hence every percentile
    cdf_a, cdf_b = np.cumsum(a.counts), np.cumsum(b.counts)
    assert np.all(cdf_b <= cdf_a)
    for p in (10, 50, 85, 95, 100):
        pa, pb = a.percentile(p), b.percentile(p)
        assert pb is None or (pa is not None and pb >= pa)


@settings(max_examples=25, deadline=None)
@given(
    history=histories,
    backlog=st.integers(1, 60),
    boost=st.integers(0, 5),
    seed=st.integers(0, 2**32),
)
def test_higher_throughput_never_finishes_later(history, backlog, boost, seed):
    a = simulate(
        Scenario(throughput=history, backlog=backlog, max_periods=400), runs=2_000, seed=seed
    )
    faster = [v + boost for v in history]
    b = simulate(
        Scenario(throughput=faster, backlog=backlog, max_periods=400), runs=2_000, seed=seed
    )
    assert np.all(np.cumsum(b.counts) >= np.cumsum(a.counts))


@settings(max_examples=25, deadline=None)
@given(history=histories, backlog=st.integers(0, 80), seed=st.integers(0, 2**32))
def test_percentiles_never_decrease(history, backlog, seed):
    result = simulate(
        Scenario(throughput=history, backlog=backlog, max_periods=300), runs=3_000, seed=seed
    )
    values = [result.percentile(p) for p in range(5, 101, 5)]
    finite = [v for v in values if v is not None]
    assert finite == sorted(finite)
    assert all(v is None for v in values[len(finite) :])


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    cuts=st.lists(st.integers(1, 9), min_size=1, max_size=4, unique=True),
)
def test_chunk_merging_is_invariant(seed, cuts):
    chunks = plan_chunks(10 * 500, chunk_runs=500)
    whole = simulate_chunks(FULL, seed, chunks)
    bounds = [0, *sorted(cuts), len(chunks)]
    groups = [
        simulate_chunks(FULL, seed, chunks[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    assert merge_histograms(reversed(groups)).equals(whole)
    how = Question("how_many", 6)
    assert merge_histograms(
        simulate_chunks(FULL, seed, chunks[a:b], how)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ).equals(simulate_chunks(FULL, seed, chunks, how))


def test_lemire_bound_matches_math():
    # sanity: the threshold trick leaves no modulo bias for awkward bounds
    for bound in (3, 7, 1000, 2**31 + 1):
        draws = kernel.draws_below(np.uint64(99), 1, bound, 20_000)
        assert draws.min() >= 0 and draws.max() < bound
    assert math.isfinite(float(kernel.draws_below(np.uint64(1), 1, 1, 3).sum()))


HISTORY = [14, 9, 16, 11, 0, 13, 12, 15, 8, 17, 10, 14, 19, 6, 12, 13, 11, 16, 9, 15]


def test_fan_follows_the_first_runs_of_every_chunk():
    from flowray.core.engine import FAN_RUNS_PER_CHUNK

    scenario = Scenario(throughput=HISTORY, backlog=120)  # nobody finishes in one period
    for runs, followed in [
        (5_000, 5_000),
        (20_000, FAN_RUNS_PER_CHUNK),
        (CHUNK_RUNS + 100, FAN_RUNS_PER_CHUNK + 100),
    ]:
        hist = simulate(scenario, runs=runs, seed=4).histograms
        assert hist.fan_runs == followed
        assert hist.fan[1].sum() == followed  # every followed run is still open after period 1
        assert hist.periods.sum() == runs  # the answer counts every run


def test_fan_of_followed_runs_matches_a_fan_of_every_run(monkeypatch):
    from flowray.core import engine

    scenario = Scenario(throughput=HISTORY, backlog=(100, 140), start="2026-01-05")
    sampled = simulate(scenario, runs=60_000, seed=5)
    monkeypatch.setattr(engine, "FAN_RUNS_PER_CHUNK", CHUNK_RUNS)
    every = simulate(scenario, runs=60_000, seed=5)
    assert every.histograms.fan_runs == 60_000 and sampled.histograms.fan_runs < 60_000
    assert every.percentiles() == sampled.percentiles()  # only the fan differs
    rows = list(zip(sampled.burn_down_fan(), every.burn_down_fan(), strict=True))
    assert len(rows) > 5
    for a, b in rows:
        for level in ("p5", "p50", "p95"):
            assert abs(a[level] - b[level]) <= 2, (a, b)  # within 2 items: a chart's resolution


def test_scenario_inputs_never_shift_the_throughput_draws():
    """Each run draws its total work from a stream of its own: a risk that never fires changes
    nothing, and a certain fixed risk equals a larger backlog, run for run."""
    base = dict(throughput=HISTORY, start="2026-01-05")
    plain = simulate(Scenario(**base, backlog=(40, 80)), runs=30_000, seed=6)
    never = simulate(
        Scenario(**base, backlog=(40, 80), risks=[Risk(0.0, 5, 10, 20)]), runs=30_000, seed=6
    )
    for name in ("periods", "totals", "effort"):  # (the fan's buckets widen with a risk's high)
        assert np.array_equal(getattr(never.histograms, name), getattr(plain.histograms, name))
    certain = simulate(
        Scenario(**base, backlog=(40, 80), risks=[Risk(1.0, 10, 10, 10)]), runs=30_000, seed=6
    )
    shifted = simulate(Scenario(**base, backlog=(50, 90)), runs=30_000, seed=6)
    assert np.array_equal(certain.histograms.periods, shifted.histograms.periods)
    assert np.array_equal(certain.histograms.totals, shifted.histograms.totals)


def test_path_sampler_keeps_each_run_on_one_path():
    """ML paths: a run follows one simulated path, so sums keep the paths' dependence."""
    from flowray.core.forecast import run_local
    from flowray.core.samplers import path_sampler

    fast, idle = [10.0] * 5, [0.0] * 5
    table = path_sampler(np.array([fast, idle]).T)  # rows = periods, columns = paths
    scenario = Scenario(throughput=[1, 2, 3], backlog=30)
    items = run_local(scenario, Question("how_many", 5), 20_000, 3, sampler=table)
    assert set(np.flatnonzero(items.counts)) == {0, 50}  # a whole path, never a mix of weeks
    assert 0.45 < items.counts[50] / items.runs < 0.55
    when = run_local(scenario, Question("when"), 20_000, 3, sampler=table)
    assert when.counts[3] == pytest.approx(10_000, rel=0.05)  # the fast path: 3 periods
    # the idle path has nothing to finish with in its 5 periods; after them it draws the
    # last row's values independently (10 or 0), so it ends later, not never
    assert when.counts[:6].sum() == when.counts[3] and when.not_done == 0


# -- work no run can finish ------------------------------------------------------------------------


@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts the chunks the kernel simulates ("when" and "how many")."""
    calls: list[int] = []
    real_when, real_how_many = kernel.run_when, kernel.run_how_many

    def run_when(n_runs, *args):
        calls.append(n_runs)
        return real_when(n_runs, *args)

    def run_how_many(n_runs, *args):
        calls.append(n_runs)
        return real_how_many(n_runs, *args)

    monkeypatch.setattr(kernel, "run_when", run_when)
    monkeypatch.setattr(kernel, "run_how_many", run_how_many)
    return calls


def _simulated(scenario: Scenario, runs: int, seed: int):
    """The answer as the kernel gives it, chunk by chunk, with no shortcut."""
    from flowray.core.forecast import summarize

    hist = simulate_chunks(scenario, seed, plan_chunks(runs), Question("when"))
    return summarize(scenario, Question("when"), hist, seed, runs)


def test_unfinishable_backlog_is_answered_without_simulating(kernel_calls):
    scenario = Scenario(throughput=[1, 2, 3], backlog=10_000_000)  # default horizon: 520 periods
    result = simulate(scenario, runs=1_000_000, seed=1)
    assert kernel_calls == []  # not one chunk simulated
    assert result.runs == result.runs_requested == 1_000_000 and result.complete
    assert result.not_done == 1_000_000 and result.not_done_share == 1.0
    assert result.percentiles() == {"50": None, "70": None, "85": None, "95": None}
    assert result.histograms.chunks == tuple(range(len(plan_chunks(1_000_000))))
    data = result.to_dict()
    assert data["items_histogram"] == {"items": [10_000_000], "counts": [1_000_000]}
    assert data["effort_histogram"] == {"person_weeks": [520], "counts": [1_000_000]}
    # a backlog one period of the fastest pace can still finish is simulated
    simulate(Scenario(throughput=[1, 2, 3], backlog=3 * 520), runs=10, seed=1)
    assert kernel_calls == [10]


def test_unfinishable_answer_equals_the_simulated_one(kernel_calls):
    scenario = Scenario(throughput=[1, 2, 0, 3], backlog=400, max_periods=52, start="2026-01-05")
    quick = simulate(scenario, runs=3_000, seed=4)
    assert kernel_calls == []
    full = _simulated(scenario, 3_000, 4)
    assert kernel_calls  # the reference did simulate
    assert quick.histograms.periods is not None and full.histograms.periods is not None
    assert np.array_equal(quick.histograms.periods, full.histograms.periods)
    a, b = quick.to_dict(), full.to_dict()
    assert a.keys() == b.keys()
    for key in a:
        if key == "burn_down":  # the fan needs the runs' draws: only its start is known
            assert a[key] == b[key][:1]
        elif key != "engine_version":
            assert a[key] == b[key], key


def test_unfinishable_answer_with_draws_keeps_what_is_known(kernel_calls):
    scenario = Scenario(
        throughput=[1, 2, 0, 3],
        backlog=(400, 500),
        team=Team(1, 1, 2, s_curve=20),
        max_periods=52,
    )
    quick = simulate(scenario, runs=2_000, seed=4)
    assert kernel_calls == []
    full = _simulated(scenario, 2_000, 4)
    assert np.array_equal(quick.counts, full.counts)
    assert quick.percentiles() == full.percentiles()
    assert quick.likelihood_table() == full.likelihood_table()
    # the totals of a backlog range and the effort on an S-curve need the draws
    data = quick.to_dict()
    assert data["items_histogram"] == {"items": [], "counts": []}
    assert data["effort_histogram"] == {"person_weeks": [], "counts": []}
    assert data["burn_down"] == []
    assert data.keys() == full.to_dict().keys()


def test_unfinishable_work_with_a_deadline_is_simulated_up_to_the_deadline_only(kernel_calls):
    scenario = Scenario(
        throughput=[1, 2, 0, 3],
        backlog=(400, 500),
        team=Team(1, 1, 2, s_curve=20),
        lead_time_days=[0, 7],
        max_periods=52,
        start="2026-01-05",
        deadline="2026-03-02",
    )
    assert scenario.periods_to_deadline == 8
    quick = simulate(scenario, runs=3_000, seed=4)
    assert sum(kernel_calls) == 3_000 and quick.histograms.run_periods <= 3_000 * 8
    full = _simulated(scenario, 3_000, 4)
    assert full.histograms.run_periods == 3_000 * 52  # what it saves: 52 periods a run
    assert np.array_equal(quick.counts, full.counts)
    assert quick.probability_by_deadline == full.probability_by_deadline == 0.0
    a, b = quick.to_dict(), full.to_dict()
    for key in ("items_by_deadline", "deadline_items_histogram", "items_histogram", "percentiles"):
        assert a[key] == b[key], key
    assert a["items_by_deadline"]["85"] > 0
    assert a["burn_down"] == b["burn_down"][: len(a["burn_down"])]  # up to the deadline
    assert a["burn_down"][-1]["period"] == 8


def test_unfinishable_job_runs_one_task_on_the_engine(kernel_calls):
    from flowray.jobs import SERIAL, submit_forecast

    scenario = Scenario(throughput=[1, 2, 3], backlog=10_000_000)
    runs = 3 * CHUNK_RUNS + 5
    job = submit_forecast(SERIAL, scenario, runs=runs, seed=2)
    result = job.result(timeout=60)
    assert kernel_calls == []
    progress = job.progress()
    assert progress.tasks_total == 1 and progress.fraction == 1.0
    assert progress.chunks_done == progress.chunks_total == 4
    assert progress.runs_done == runs
    assert result.histograms.equals(simulate(scenario, runs=runs, seed=2).histograms)
    assert result.not_done_share == 1.0


def test_unfinishable_job_with_a_deadline_equals_the_local_answer(kernel_calls):
    from flowray.jobs import SERIAL, submit_forecast

    scenario = Scenario(
        throughput=[1, 2, 3], backlog=MAX_ITEMS, start="2026-01-05", deadline="2026-06-01"
    )
    runs = 2 * CHUNK_RUNS + 9
    result = submit_forecast(SERIAL, scenario, runs=runs, seed=3).result(timeout=120)
    assert sorted(kernel_calls) == [9, CHUNK_RUNS, CHUNK_RUNS]  # to the deadline, chunk by chunk
    assert result.histograms.run_periods <= runs * scenario.periods_to_deadline
    local = simulate(scenario, runs=runs, seed=3)
    assert result.histograms.equals(local.histograms)
    assert result.not_done_share == 1.0 and result.items_by_deadline(85) > 0
