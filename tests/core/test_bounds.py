"""Bounds of the engine: impossible sizes refused early, memory that does not grow with the backlog,
lazy chunk plans and the run-time estimate."""

from __future__ import annotations

import numpy as np
import pytest

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
from flowray.core.scenario import Scenario
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
    assert str(3 * MAX_ITEMS + 1) in str(err.value)  # the most a run could reach


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
    assert hist.totals is not None and hist.totals.size == MAX_ITEMS - 1


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
