"""Scoring against actuals, with values computed by hand, and the calibration view."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from flowray.core.histograms import Distribution as _Distribution
from flowray.core.scoring import LEVELS, periods_between
from flowray.core.scoring import score_distribution as _score_distribution
from flowray.store import Store

START = dt.date(2025, 1, 6)  # a Monday


def when_result(values, counts, runs, *, deadline=None, p_deadline=None, backlog=20):
    values, counts = list(values), list(counts)
    if runs > sum(counts):  # the engine keeps runs not done in a last bucket past the horizon
        values.append(521)
        counts.append(runs - sum(counts))
    out = {
        "kind": "when",
        "runs": runs,
        "seed": 1,
        "engine_version": "test",
        "max_periods": 520,
        "histogram": {"periods": values, "counts": counts},
        "percentiles": {},
        "dates": {},
        "scenario": {
            "throughput": [1, 2],
            "backlog": backlog,
            "period_days": 7,
            "start": START.isoformat(),
            "deadline": deadline,
        },
    }
    if deadline:
        out["kind"] = "deadline"
        out["probability_by_deadline"] = p_deadline
    return out


def how_many_result(values, counts, *, end="2025-02-17"):
    return {
        "kind": "how_many",
        "runs": sum(counts),
        "seed": 2,
        "engine_version": "test",
        "periods": 6,
        "end": end,
        "items_histogram": {"items": values, "counts": counts},
        "at_least": {"50": 15, "70": 15, "85": 12, "95": 10},
        "scenario": {
            "throughput": [1, 2],
            "backlog": 0,
            "period_days": 7,
            "start": START.isoformat(),
        },
    }


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "scores.duckdb")
    s.add_project("P")
    return s


def test_periods_between_counts_part_periods_as_whole_ones():
    assert periods_between(START, START, 7) == 0
    assert periods_between(START, START + dt.timedelta(days=1), 7) == 1
    assert periods_between(START, START + dt.timedelta(days=7), 7) == 1
    assert periods_between(START, START + dt.timedelta(days=8), 7) == 2
    assert periods_between(START, START + dt.timedelta(days=29), 14) == 3


def test_when_forecast_scored_by_hand(store):
    # runs = 10: 2 done in 3 periods, 3 in 4, 4 in 5, 1 not done within the horizon.
    # F(3) = .2, F(4) = .5, F(5) = .9; P50 = 4, P70 = P85 = 5, P95 beyond the horizon.
    fid = store.save_forecast(
        "P", when_result([3, 4, 5], [2, 3, 4], 10, deadline="2025-02-03", p_deadline=0.5)
    )
    # done on day 29: ceil(29 / 7) = 5 periods, one day after the deadline
    added = store.add_actual("P", START + dt.timedelta(days=29), 20)
    assert added.scored_forecasts == [fid]
    score = store.get_score(fid)
    assert score.actual_value == 5
    assert (score.pit_low, score.pit_high) == pytest.approx((0.5, 0.9))
    assert score.pit == pytest.approx(0.7)
    assert (score.median, score.median_error) == (4.0, 1.0)
    assert score.deadline_met is False
    assert score.brier == pytest.approx(0.25)
    got = {lv: (s.quantile, s.met, s.expected_met, s.coverage) for lv, s in score.levels.items()}
    assert got[50] == (4.0, False, pytest.approx(0.5), pytest.approx(0.0))
    assert got[70] == (5.0, True, pytest.approx(0.9), pytest.approx(0.5))
    assert got[85] == (5.0, True, pytest.approx(0.9), pytest.approx(0.875))
    # P95 lies beyond the horizon: the forecast only claimed "more than 520 periods at 95%"
    assert got[95] == (None, True, pytest.approx(1.0), pytest.approx(1.0))
    assert store.get_forecast(fid).scored


def test_how_many_forecast_scored_by_hand(store):
    # runs = 10: items 10 (1), 12 (2), 15 (4), 20 (3): F(10)=.1, F(12)=.3, F(15)=.7, F(20)=1.
    # "at least" x with probability p = smallest v with F(v) > 1 - p: 15, 15, 12, 10.
    fid = store.save_forecast("P", how_many_result([10, 12, 15, 20], [1, 2, 4, 3]))
    record = store.get_forecast(fid)
    assert record.horizon_date == dt.date(2025, 2, 17)
    # an actual on another date does not resolve it
    assert store.add_actual("P", "2025-02-16", 12, partial=True).scored_forecasts == []
    assert store.add_actual("P", "2025-02-17", 12, partial=True).scored_forecasts == [fid]
    score = store.get_score(fid)
    assert score.actual_value == 12
    assert (score.pit_low, score.pit_high, score.pit) == pytest.approx((0.1, 0.3, 0.2))
    assert (score.median, score.median_error) == (15.0, -3.0)
    got = {lv: (s.quantile, s.met, s.expected_met, s.coverage) for lv, s in score.levels.items()}
    assert got[50] == (15.0, False, pytest.approx(0.7), pytest.approx(0.0))
    assert got[70] == (15.0, False, pytest.approx(0.7), pytest.approx(0.0))
    assert got[85] == (12.0, True, pytest.approx(0.9), pytest.approx(0.75))
    assert got[95] == (10.0, True, pytest.approx(1.0), pytest.approx(1.0))
    assert score.deadline_met is None


def test_calibration_per_project_and_overall_by_hand(store):
    store.add_project("Q")
    store.save_forecast("P", when_result([3, 4, 5], [2, 3, 4], 10))
    store.save_forecast("P", how_many_result([10, 12, 15, 20], [1, 2, 4, 3]))
    store.save_forecast("Q", when_result([2, 3], [5, 5], 10))
    store.add_actual("P", START + dt.timedelta(days=29), 20)  # when: 5 periods
    store.add_actual("P", "2025-02-17", 12, partial=True)  # how many: 12 items
    store.add_actual("Q", START + dt.timedelta(days=14), 20)  # 2 periods: F(1)=0, F(2)=.5
    p = {c.level: c for c in store.calibration("P")}
    assert (p[50].n, p[50].met, p[50].met_share) == (2, 0, 0.0)
    assert p[50].expected_share == pytest.approx((0.5 + 0.7) / 2)
    assert p[50].pit_coverage == pytest.approx(0.0)
    assert (p[85].n, p[85].met, p[85].met_share) == (2, 2, 1.0)
    assert p[85].expected_share == pytest.approx(0.9)
    assert p[85].pit_coverage == pytest.approx((0.875 + 0.75) / 2)
    # Q: P50 = 2 is met; its PIT interval [0, .5] gives coverage P(U(0,.5) <= .5) = 1 at 50%
    q = {c.level: c for c in store.calibration("Q")}
    assert (q[50].met, q[50].pit_coverage) == (1, pytest.approx(1.0))
    overall = {c.level: c for c in store.calibration()}
    assert (overall[50].n, overall[50].met) == (3, 1)
    assert overall[50].met_share == pytest.approx(1 / 3)
    assert overall[70].pit_coverage == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert [c.project for c in store.calibration()] == [None] * 4


def test_calibration_without_scores_is_empty_not_an_error(store):
    levels = store.calibration("P")
    assert [(c.level, c.n, c.met_share) for c in levels] == [(lv, 0, None) for lv in LEVELS]


@pytest.mark.parametrize(
    ("values", "counts"),
    [
        ([3, 4, 5], [2, 3, 5]),
        ([1, 2], [1, 1]),
        ([0, 5, 6, 9], [3, 1, 7, 1]),
        ([7], [9]),
        (list(range(10, 40)), [1 + (i * 7) % 5 for i in range(30)]),
    ],
)
@pytest.mark.parametrize("unit", ["periods", "items"])
def test_pit_coverage_equals_the_level_for_a_calibrated_forecaster(values, counts, unit):
    """If the actual is drawn from the forecast itself, the expected PIT coverage at each
    level is exactly that level, and the expected 'met' is exactly expected_met (>= the
    level for a discrete forecast), however coarse the distribution. This is why the
    calibration reports the 50% level (and the others) next to both."""
    runs = sum(counts)
    dist = _Distribution(tuple(values), tuple(counts), runs)
    cover = dict.fromkeys(LEVELS, Fraction(0))
    met = dict.fromkeys(LEVELS, Fraction(0))
    expected = {}
    for value, count in zip(values, counts, strict=True):
        weight = Fraction(count, runs)
        for s in _score_distribution(dist, unit, value)[4]:
            cover[s.level] += weight * Fraction(s.coverage)
            met[s.level] += weight * s.met
            expected[s.level] = s.expected_met
    for level in LEVELS:
        assert float(cover[level]) == pytest.approx(level / 100, abs=1e-9)
        assert float(met[level]) == pytest.approx(expected[level])
        assert expected[level] >= level / 100 - 1e-12


def test_project_actual_does_not_resolve_forecasts_made_after_it(store):
    added = store.add_actual("P", "2025-02-10", 20)
    assert added.scored_forecasts == []
    fid = store.save_forecast("P", when_result([3], [10], 10))
    assert store.score_pending() == []  # recorded before the forecast existed: no hindsight
    assert store.get_score(fid) is None
    # a later actual resolves it, and score_pending has nothing left to do
    assert store.add_actual("P", "2025-02-10", 20).scored_forecasts == [fid]
    assert store.score_pending() == []


def test_partial_or_small_actuals_leave_when_forecasts_open(store):
    fid = store.save_forecast("P", when_result([3], [10], 10, backlog=20))
    assert store.add_actual("P", "2025-02-10", 20, partial=True).scored_forecasts == []
    assert store.add_actual("P", "2025-02-10", 12).scored_forecasts == []  # 12 < backlog 20
    assert store.add_actual("P", "2024-12-30", 20).scored_forecasts == []  # before the start
    # linked explicitly, the user's word is taken even with fewer items
    assert store.add_actual("P", "2025-02-10", 12, forecast_id=fid).scored_forecasts == [fid]
    assert store.get_score(fid).actual_value == 5


def test_each_forecast_is_scored_once_by_the_earliest_actual(store):
    fid = store.save_forecast("P", when_result([3, 4], [5, 5], 10))
    store.add_actual("P", START + dt.timedelta(days=20), 20)
    store.add_actual("P", START + dt.timedelta(days=60), 20)
    score = store.get_score(fid)
    assert score.actual_value == 3
    assert [f.scored for f in store.list_forecasts()] == [True]


def test_backtest_rows_are_not_scored(store):
    store.save_forecast("P", when_result([3], [10], 10), kind="backtest")
    assert store.add_actual("P", "2025-02-10", 20).scored_forecasts == []


def test_an_actual_dated_after_today_is_refused_by_name(tmp_path):
    import datetime as dt

    from flowray.exceptions import InputError
    from flowray.store import Store

    store = Store(tmp_path / "ledger.duckdb")
    store.add_project("Web")
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    with pytest.raises(InputError) as caught:
        store.add_actual("Web", tomorrow, 10)
    assert caught.value.field == "completed_on" and "is after today" in str(caught.value)
    assert store.list_actuals("Web") == []  # nothing recorded
    store.add_actual("Web", dt.date.today(), 10)  # today is fine
    assert len(store.list_actuals("Web")) == 1
