"""Bounds of the engine: impossible sizes refused early, memory that does not grow with the backlog,
lazy chunk plans and the run-time estimate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowray.core.engine import (
    CHUNK_RUNS,
    Chunk,
    ChunkPlan,
    Question,
    describe_duration,
    estimate_seconds,
    plan_chunks,
    simulate_chunk,
)
from flowray.core.forecast import simulate
from flowray.core.limits import MAX_ITEMS, MAX_RUNS
from flowray.core.scenario import Scenario, Team
from flowray.exceptions import InputError
from flowray.jobs.forecast import forecast_tasks, plan_task_groups


def _too_big(**kwargs: object) -> Scenario:
    base: dict[str, object] = {"throughput": [3, 5, 2], "backlog": 10}
    base.update(kwargs)
    return Scenario(**base)


def test_more_items_than_the_limit_is_refused_with_the_largest_accepted_value():
    with pytest.raises(InputError) as err:
        simulate(_too_big(backlog=MAX_ITEMS, split_rate=(2, 3)), runs=10)
    assert err.value.field == "backlog"
    assert str(MAX_ITEMS) in str(err.value)
    assert str(3 * MAX_ITEMS) in str(err.value)  # the most a run could reach


def test_a_backlog_of_exactly_the_limit_is_accepted():
    assert Scenario(throughput=[3], backlog=MAX_ITEMS).backlog == MAX_ITEMS
    with pytest.raises(InputError) as err:
        Scenario(throughput=[3], backlog=MAX_ITEMS, risks=[(0.1, 1, 1, 1)])
    assert err.value.field == "backlog" and str(MAX_ITEMS + 1) in str(err.value)


def test_backlog_at_the_limit_with_small_throughput_keeps_histograms_small():
    scenario = Scenario(
        throughput=[1, 2, 0, 3],
        backlog=MAX_ITEMS - 2,
        start="2026-01-05",
        deadline="2026-06-01",
        max_periods=52,
    )
    hist = simulate_chunk(scenario, 0, Chunk(0, 200))
    assert hist.periods is not None and hist.deadline_items is not None
    assert hist.periods[-1] == 200  # nothing finishes within the horizon
    assert hist.periods[:-1].sum() == 0
    assert hist.deadline_items.size <= 3 * 21 + 3  # at most 3 items a period for 21 periods
    assert hist.fan is not None and hist.fan.size <= 53 * 202
    # one total (the backlog), counted from the smallest total a run can draw
    assert hist.totals is not None and hist.totals.tolist() == [200]
    assert hist.total_values().tolist() == [MAX_ITEMS - 2]


def test_deadline_histogram_unchanged_for_normal_sizes():
    scenario = Scenario(
        throughput=[3, 5, 0, 7, 2], backlog=(30, 60), start="2026-01-05", deadline="2026-03-02"
    )
    hist = simulate(scenario, runs=5_000, seed=3).histograms
    assert hist.deadline_items is not None
    assert hist.deadline_items.sum() == 5_000
    assert np.flatnonzero(hist.deadline_items).max() <= 7 * 8


def test_plan_is_lazy_and_identical_to_the_list():
    plan = plan_chunks(3 * CHUNK_RUNS + 17)
    expected = [Chunk(0, CHUNK_RUNS), Chunk(1, CHUNK_RUNS), Chunk(2, CHUNK_RUNS), Chunk(3, 17)]
    assert isinstance(plan, ChunkPlan)
    assert len(plan) == 4
    assert list(plan) == expected
    assert plan == expected
    assert plan[-1] == Chunk(3, 17)
    assert plan[1:3] == expected[1:3]
    assert plan[::2] == expected[::2]
    with pytest.raises(IndexError):
        plan[4]


def test_largest_plan_builds_no_list():
    plan = plan_chunks(MAX_RUNS)
    full, rest = divmod(MAX_RUNS, CHUNK_RUNS)
    assert len(plan) == full + 1
    assert plan[0] == Chunk(0, CHUNK_RUNS)
    assert plan[len(plan) - 1] == Chunk(full, rest)
    assert not hasattr(plan, "__dict__") or all(
        not isinstance(v, list) for v in vars(plan).values()
    )


def test_task_groups_cover_a_lazy_plan_exactly():
    plan = plan_chunks(100 * 1000 + 7, chunk_runs=1000)
    tasks = forecast_tasks(None, None, 0, plan, Question())
    assert sum(t.chunks for t in tasks) == len(plan)
    assert sum(t.runs for t in tasks) == 100 * 1000 + 7
    assert [t.chunks for t in tasks] == plan_task_groups(len(plan))
    indexes = [c.index for t in tasks for c in t.args[2]]
    assert indexes == list(range(len(plan)))


def test_estimate_seconds_is_linear_in_the_runs():
    assert estimate_seconds(1_000_000, 10_000, 0.5) == pytest.approx(50.0)
    assert estimate_seconds(10_000, 10_000, 0.5) == pytest.approx(0.5)
    assert estimate_seconds(MAX_RUNS, 65_536, 0.1) == pytest.approx(MAX_RUNS * 0.1 / 65_536)
    with pytest.raises(InputError) as err:
        estimate_seconds(10, 0, 1.0)
    assert err.value.field == "measured_runs"
    with pytest.raises(InputError):
        estimate_seconds(10, 10, -1.0)
    with pytest.raises(InputError):
        estimate_seconds(MAX_RUNS + 1, 10, 1.0)


def test_describe_duration():
    assert describe_duration(0.2) == "under a second"
    assert describe_duration(40) == "about 40 seconds"
    assert describe_duration(180) == "about 3 minutes"
    assert describe_duration(2 * 3600) == "about 2 hours"


def test_work_that_cannot_finish_is_known_before_simulating():
    from flowray.core.engine import cannot_finish

    slow = Scenario(throughput=[1, 2, 0, 3], backlog=1_000_000, max_periods=52)
    assert cannot_finish(slow)
    assert simulate(slow, runs=500).histograms.periods is not None
    assert simulate(slow, runs=500).histograms.periods[-1] == 500
    fine = Scenario(throughput=[1, 2, 0, 3], backlog=100, max_periods=52)
    assert not cannot_finish(fine)
    edge = Scenario(throughput=[3], backlog=3 * 52, max_periods=52)
    assert not cannot_finish(edge)
    assert simulate(edge, runs=10).histograms.periods[-1] == 0


# -- the histogram of total items per run --------------------------------------------------------


def test_bucket_layout_is_exact_while_it_fits_and_bounded_beyond():
    from flowray.core.histograms import TOTALS_BUCKETS, Layout, bucket_layout

    assert bucket_layout(40, 200) == Layout(0, 1, 202)  # ordinary: one entry per item count
    assert bucket_layout(0, TOTALS_BUCKETS - 2) == Layout(0, 1, TOTALS_BUCKETS)
    fixed = bucket_layout(MAX_ITEMS, MAX_ITEMS)  # a huge fixed total: one entry, still exact
    assert (fixed.offset, fixed.width) == (MAX_ITEMS, 1) and fixed.size == 2
    for least, most in ((0, MAX_ITEMS), (3 * 10**6, 9 * 10**6 + 1), (1, TOTALS_BUCKETS - 1)):
        layout = bucket_layout(least, most)
        assert layout.size <= TOTALS_BUCKETS + 1
        for value in (least, least + 1, (least + most) // 2, most - 1, most):
            assert 0 <= (value - layout.offset) // layout.width < layout.size - 1


def test_totals_of_a_huge_backlog_range_stay_bounded_and_add_up():
    from flowray.core.engine import totals_layout
    from flowray.core.histograms import TOTALS_BUCKETS

    scenario = Scenario(throughput=[1, 2, 3], backlog=(1_000, MAX_ITEMS - 1), max_periods=52)
    layout = totals_layout(scenario)
    assert layout.size <= TOTALS_BUCKETS + 1
    assert layout.offset == 1_000 and layout.width == 153  # ceil((1e7 - 1000 + 1) / 65536)
    hist = simulate_chunk(scenario, 4, Chunk(0, 3_000))
    assert hist.totals is not None and hist.totals.size <= layout.size
    assert hist.totals.sum() == 3_000
    values = hist.total_values()[np.flatnonzero(hist.totals)]
    assert values.min() >= 1_000 and values.max() <= MAX_ITEMS
    # uniform backlog: the bucketed mean is within a bucket of the true mean, up to sampling noise
    mean = (hist.total_values() * hist.totals).sum() / 3_000
    assert abs(mean - (1_000 + MAX_ITEMS) / 2) < 0.03 * MAX_ITEMS
    # two chunks merge by addition whatever the grouping
    from flowray.core.engine import simulate_chunks
    from flowray.core.histograms import merge_histograms

    both = simulate_chunks(scenario, 4, [Chunk(0, 3_000), Chunk(1, 500)])
    parts = merge_histograms([simulate_chunk(scenario, 4, Chunk(1, 500)), hist])
    assert both.equals(parts) and both.totals_width == 153


@settings(max_examples=40, deadline=None)
@given(
    low=st.integers(0, 4_000_000),
    extra=st.integers(0, 2_000_000),
    split=st.one_of(
        st.none(),
        st.tuples(st.floats(0.1, 1.5), st.floats(0.0, 1.0)).map(lambda t: (t[0], t[0] + t[1])),
        st.lists(st.floats(0.1, 2.5), min_size=1, max_size=4),
    ),
    risk_high=st.integers(0, 500_000),
    seed=st.integers(0, 2**32),
)
def test_every_total_lands_in_its_bucket(low, extra, split, risk_high, seed):
    """The least total is a true lower bound and the size covers the most: no run is lost."""
    from flowray.core.engine import least_total_items, totals_layout

    scenario = Scenario(
        throughput=[1, 2, 3],
        backlog=(low, low + extra),
        split_rate=split,
        risks=[(0.5, 0, risk_high / 2, risk_high)],
        max_periods=4,
    )
    layout = totals_layout(scenario)
    hist = simulate_chunk(scenario, seed, Chunk(0, 300))
    assert hist.totals is not None and hist.totals.sum() == 300
    assert hist.totals.size <= layout.size - 1  # the spare last entry is never reached
    values = hist.total_values()[np.flatnonzero(hist.totals)]
    assert values.min() >= least_total_items(scenario)
    assert values.max() <= scenario.max_total_items()


def test_merging_totals_kept_in_different_buckets_is_refused():
    a = simulate_chunk(Scenario(throughput=[3], backlog=(10, MAX_ITEMS // 2)), 0, Chunk(0, 5))
    b = simulate_chunk(Scenario(throughput=[3], backlog=(10, MAX_ITEMS - 1)), 0, Chunk(1, 5))
    with pytest.raises(ValueError, match="do not add up"):
        a.merge(b)


def test_a_chunk_allocates_a_bounded_amount_whatever_the_backlog():
    import tracemalloc

    def peak_bytes(scenario: Scenario) -> int:
        simulate_chunk(scenario, 0, Chunk(0, 64))  # compile outside the measurement
        tracemalloc.start()
        try:
            simulate_chunk(scenario, 0, Chunk(1, 2_000))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # the totals array (512 KB) and its trimmed copy; 80 MB before the totals were bucketed
    for backlog in ((10, MAX_ITEMS - 1), MAX_ITEMS - 1, (MAX_ITEMS // 2, MAX_ITEMS - 1)):
        scenario = Scenario(throughput=[1, 2, 3], backlog=backlog, max_periods=52)
        assert peak_bytes(scenario) < 2 * 1024 * 1024, backlog


def test_results_read_bucketed_totals_as_item_counts():
    scenario = Scenario(throughput=[1, 2, 3], backlog=(10, MAX_ITEMS - 1), max_periods=10)
    result = simulate(scenario, runs=400, seed=1)
    items = result.to_dict()["items_histogram"]
    assert sum(items["counts"]) == 400
    assert min(items["items"]) >= 10 and max(items["items"]) <= MAX_ITEMS
    assert all((v - 10) % result.histograms.totals_width == 0 for v in items["items"])
    start = result.burn_down_fan()[0]
    assert 0.3 * MAX_ITEMS < start["p50"] < 0.7 * MAX_ITEMS


# -- saying how long a large run will take --------------------------------------------------------


class FakeClock:
    """A clock that moves `step` seconds each time it is read: timed samples without timing."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def sampled_runs(monkeypatch):
    """The runs of every chunk the estimate simulates."""
    from flowray.jobs import forecast as jobs_forecast

    runs: list[int] = []
    real = jobs_forecast.simulate_chunk

    def counting(scenario, seed, chunk, *args):
        runs.append(chunk.runs)
        return real(scenario, seed, chunk, *args)

    monkeypatch.setattr(jobs_forecast, "simulate_chunk", counting)
    return runs


def test_estimate_scales_a_sample_that_lasted_long_enough(sampled_runs):
    from flowray.jobs.forecast import estimate_forecast_seconds

    scenario = Scenario(throughput=[3, 5, 0, 7], backlog=40)
    seconds = estimate_forecast_seconds(scenario, Question(), 256_000, clock=FakeClock(1.0))
    assert seconds == pytest.approx(1000.0)  # 256 runs took 1 s
    assert sampled_runs == [1, 256]  # compile, then one timed sample


def test_estimate_grows_a_short_sample_up_to_a_chunk(sampled_runs):
    from flowray.jobs.forecast import estimate_forecast_seconds

    scenario = Scenario(throughput=[3, 5, 0, 7], backlog=40)
    seconds = estimate_forecast_seconds(scenario, Question(), MAX_RUNS, clock=FakeClock(0.001))
    assert sampled_runs == [1, 256, 2048, 16384, CHUNK_RUNS]
    assert seconds == pytest.approx(MAX_RUNS * 0.001 / CHUNK_RUNS)


def test_estimate_stops_at_once_when_it_is_small(sampled_runs):
    from flowray.jobs.forecast import estimate_forecast_seconds

    scenario = Scenario(throughput=[3, 5, 0, 7], backlog=40)
    seconds = estimate_forecast_seconds(scenario, Question(), 100_000, clock=FakeClock(1e-6))
    assert seconds == pytest.approx(100_000 * 1e-6 / 256)
    assert sampled_runs == [1, 256]
    how_many = estimate_forecast_seconds(
        scenario, Question("how_many", 10), 100, clock=FakeClock(1.0)
    )
    assert how_many == pytest.approx(1.0)  # the whole forecast in one sample of 100 runs
    assert sampled_runs[-2:] == [1, 100]


def test_estimate_of_work_no_run_can_finish_is_zero_and_simulates_nothing(sampled_runs):
    from flowray.jobs.forecast import estimate_forecast_seconds

    scenario = Scenario(throughput=[1, 2, 3], backlog=MAX_ITEMS)
    assert estimate_forecast_seconds(scenario, Question(), MAX_RUNS) == 0.0
    assert sampled_runs == []
    # with a deadline it is simulated up to the deadline: that is what is timed
    deadline = Scenario(
        throughput=[1, 2, 3], backlog=MAX_ITEMS, start="2026-01-05", deadline="2026-03-02"
    )
    seconds = estimate_forecast_seconds(deadline, Question(), 25_600, clock=FakeClock(1.0))
    assert seconds == pytest.approx(100.0) and sampled_runs == [1, 256]


def test_duration_notice_only_above_a_few_seconds():
    from flowray.cli.forecast_cmds import ESTIMATE_NOTICE_S, duration_notice

    assert duration_notice(ESTIMATE_NOTICE_S, 10**9) is None
    assert duration_notice(0.3, 100_000) is None
    assert duration_notice(180, 500_000_000) == (
        "about 3 minutes for 500,000,000 runs on 1 core (measured rate); Ctrl-C stops it"
    )
    assert duration_notice(ESTIMATE_NOTICE_S + 1, 2_000_000) == (
        "about 6 seconds for 2,000,000 runs on 1 core (measured rate); Ctrl-C stops it"
    )


@pytest.mark.parametrize("command", ["when", "how-many"])
def test_cli_says_how_long_before_it_starts(monkeypatch, capsys, command):
    from flowray.cli import main
    from flowray.core import kernel
    from flowray.jobs import forecast as jobs_forecast

    events: list[str] = []
    real_when, real_how_many = kernel.run_when, kernel.run_how_many
    monkeypatch.setattr(kernel, "run_when", lambda *a: events.append("simulate") or real_when(*a))
    monkeypatch.setattr(
        kernel, "run_how_many", lambda *a: events.append("simulate") or real_how_many(*a)
    )

    def estimate(scenario, question, runs, *args):  # the rate injected: 180 s, or 4 s
        events.append("estimate")
        assert question.kind == ("when" if command == "when" else "how_many")
        return 180.0 if runs == 3_000 else 4.0

    monkeypatch.setattr(jobs_forecast, "estimate_forecast_seconds", estimate)
    question = ["--backlog", "30"] if command == "when" else ["--periods", "6"]
    argv = [command, "--throughput", "3,5,0,7,2,4,6,1", *question, "--seed", "1"]
    assert main([*argv, "--runs", "3000"]) == 0
    out = capsys.readouterr()
    assert "about 3 minutes for 3,000 runs on 1 core (measured rate); Ctrl-C stops it" in out.err
    assert events[0] == "estimate" and "simulate" in events  # said before it started
    assert main([*argv, "--runs", "2000"]) == 0
    out = capsys.readouterr()
    assert "measured rate" not in out.err and "Ctrl-C" not in out.err


def test_cli_answers_an_unfinishable_backlog_without_simulating(monkeypatch, capsys):
    import json

    from flowray.cli import main
    from flowray.core import kernel

    calls: list[int] = []
    real = kernel.run_when
    monkeypatch.setattr(kernel, "run_when", lambda n, *a: calls.append(n) or real(n, *a))
    assert main(["when", "--throughput", "1,2,3", "--backlog", "1e7", "--json"]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert calls == []  # neither the estimate nor the forecast simulated a chunk
    assert data["not_done_share"] == 1.0 and data["not_done"] == data["runs"] == 100_000
    assert set(data["percentiles"].values()) == {None}
    # calibration never moves runs that do not finish to made-up dates: it says why it stood aside
    assert data["method"]["calibrated"] is False
    assert "do not finish within the horizon" in data["method"]["description"]
    assert data["max_periods"] == 520
    assert "measured rate" not in out.err


# -- the other histograms a large team or a long horizon could make large -------------------------


def _chunk_peak_bytes(scenario: Scenario, question: Question | None = None) -> int:
    import tracemalloc

    question = question or Question()

    simulate_chunk(scenario, 0, Chunk(0, 16), question)  # compile outside the measurement
    tracemalloc.start()
    try:
        simulate_chunk(scenario, 0, Chunk(1, 200), question)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_how_many_of_a_fast_team_over_a_long_horizon_is_bounded_and_conservative():
    from flowray.core.engine import how_many_layout
    from flowray.core.forecast import how_many
    from flowray.core.histograms import VALUE_BUCKETS
    from flowray.core.samplers import build_sampler

    # a million items a period for 100,000 periods: one entry per item count was 745 GiB
    scenario = Scenario(throughput=[1_000_000], backlog=1)
    layout = how_many_layout(scenario, build_sampler(scenario.throughput, "bootstrap"), 100_000)
    assert layout.size <= VALUE_BUCKETS + 1 and layout.width > 1
    # the zeroed histogram (8 MB) and its trimmed copy
    assert _chunk_peak_bytes(scenario, Question("how_many", 100_000)) < 20 * 2**20
    result = how_many(scenario, periods=100_000, runs=50, seed=1)
    exact = 100_000 * 1_000_000
    assert result.at_least(85) == exact // layout.width * layout.width  # at most one bucket low
    assert result.to_dict()["items_histogram"] == {"items": [result.at_least(85)], "counts": [50]}
    # a big team over ten years is still counted item by item
    ordinary = how_many(Scenario(throughput=[130], backlog=1), periods=520, runs=20)
    assert ordinary.width == 1 and ordinary.at_least(50) == 130 * 520


def test_effort_of_a_huge_team_is_bounded_and_read_in_person_weeks():
    from flowray.core.engine import effort_layout
    from flowray.core.histograms import VALUE_BUCKETS

    scenario = Scenario(throughput=[5], backlog=100, team=Team(1, 100_000, 100_000))
    layout = effort_layout(scenario)
    assert layout.width > 1 and layout.size <= VALUE_BUCKETS + 1
    assert _chunk_peak_bytes(scenario) < 20 * 2**20  # 443 MB before
    data = simulate(scenario, runs=30, seed=1).to_dict()
    # done in one period by the whole team: 100,000 person-weeks, read as its bucket's smallest
    assert data["effort_histogram"] == {
        "person_weeks": [100_000 // layout.width * layout.width],
        "counts": [30],
    }
    assert data["percentiles"]["50"] == 1


def test_items_by_a_deadline_of_a_fast_team_on_a_huge_backlog_stay_bounded():
    from flowray.core.engine import deadline_items_layout
    from flowray.core.histograms import VALUE_BUCKETS
    from flowray.core.samplers import build_sampler

    scenario = Scenario(
        throughput=[100_000], backlog=MAX_ITEMS, start="2026-01-05", deadline="2027-02-22"
    )
    assert scenario.periods_to_deadline == 59
    table = build_sampler(scenario.throughput, "bootstrap")
    layout = deadline_items_layout(scenario, table, 59)
    assert layout.width > 1 and layout.size <= VALUE_BUCKETS + 1
    assert _chunk_peak_bytes(scenario) < 20 * 2**20  # 47 MB before
    result = simulate(scenario, runs=40, seed=2)
    assert result.percentile(50) == 100 and result.probability_by_deadline == 0.0
    done = 59 * 100_000  # exactly, every run
    assert result.items_by_deadline(85) == done // layout.width * layout.width
    assert result.items_by_deadline(85) > done - layout.width


def test_the_fan_of_the_longest_horizon_keeps_every_kth_period_and_stays_small():
    from flowray.core.histograms import FAN_ROWS, fan_stride
    from flowray.core.limits import MAX_HORIZON_DAYS

    longest = dict(throughput=[0, 1], backlog=100, period_days=1, max_periods=MAX_HORIZON_DAYS)
    stride = fan_stride(MAX_HORIZON_DAYS)
    assert stride == 18 and fan_stride(4095) == fan_stride(520) == 1
    assert _chunk_peak_bytes(Scenario(**longest)) < 10 * 2**20  # 58 MB before
    long = simulate(Scenario(**longest), runs=3_000, seed=5)
    assert long.histograms.fan is not None and long.histograms.fan_stride == stride
    assert long.histograms.fan.shape[0] <= FAN_ROWS
    # the same runs with a horizon whose fan keeps every period: the kept periods agree exactly
    every = simulate(Scenario(**{**longest, "max_periods": FAN_ROWS - 1}), runs=3_000, seed=5)
    assert every.histograms.fan_stride == 1
    assert np.array_equal(long.counts[:400], every.counts[:400])
    kept = [row for row in every.burn_down_fan() if row["period"] % stride == 0]
    rows = long.burn_down_fan()
    assert [row["period"] for row in rows] == [stride * i for i in range(len(rows))]
    assert rows[: len(kept)] == kept and len(rows) - len(kept) <= 1
    assert rows[0]["p50"] == 100 and rows[-1]["p95"] == 0
