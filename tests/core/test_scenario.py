"""Every bad input is refused before any simulation, with the field, the value and the rule."""

from __future__ import annotations

import math

import pytest

from flowray import InputError, Scenario, Team, how_many, simulate
from flowray.core.engine import plan_chunks

GOOD = dict(throughput=[3, 5, 0, 7, 2, 4, 6, 1], backlog=30)


def bad(match_field: str, match_rule: str, **changes):
    with pytest.raises(InputError) as err:
        Scenario(**{**GOOD, **changes})
    message = str(err.value)
    assert match_field in message, message
    assert match_rule in message, message
    assert err.value.field.startswith(match_field.split("[")[0])
    return err.value


@pytest.mark.parametrize(
    ("throughput", "field", "rule"),
    [
        ([], "throughput", "at least 1 value"),
        ([3, -1, 2], "throughput[1]", ">= 0"),
        ([3, math.nan], "throughput[1]", "finite"),
        ([3, math.inf], "throughput[1]", "finite"),
        ([0, 0, 0], "throughput", "not be all 0"),
        (["a", 2], "throughput[0]", "number"),
        ("5,6", "throughput", "list"),
    ],
)
def test_bad_throughput(throughput, field, rule):
    bad(field, rule, throughput=throughput)


@pytest.mark.parametrize("focus", [0, -0.5, 1.01, math.nan])
def test_focus_outside_0_1(focus):
    bad("focus", "", focus=focus)


def test_focus_message_names_rule():
    err = bad("focus", "> 0 and <= 1", focus=0)
    assert err.value == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"backlog": (120, 80)}, "backlog"),
        ({"split_rate": (1.5, 1.0)}, "split_rate"),
        ({"risks": [(0.5, 8, 5, 3)]}, "risks"),
    ],
)
def test_low_above_high_in_any_range(changes, field):
    bad(field, "low", **changes)


def test_contributor_range_low_above_high():
    with pytest.raises(InputError, match="min <= max"):
        Team(history_size=5, min_contributors=6, max_contributors=3)


@pytest.mark.parametrize("likelihood", [-0.1, 1.5, math.nan])
def test_likelihood_outside_0_1(likelihood):
    bad("risks.likelihood", "", risks=[(likelihood, 1, 2, 3)])


def test_min_contributors_zero_with_s_curve():
    with pytest.raises(InputError) as err:
        Scenario(
            **GOOD, team=dict(history_size=4, min_contributors=0, max_contributors=4, s_curve=20)
        )
    assert err.value.field == "team.min_contributors"
    assert "S-curve" in str(err.value)


def test_min_contributors_zero_without_s_curve_is_fine():
    Scenario(**GOOD, team=dict(history_size=4, min_contributors=0, max_contributors=4))


@pytest.mark.parametrize("backlog", [-1, 2.5, "ten", math.nan, True])
def test_backlog_not_a_whole_number(backlog):
    with pytest.raises(InputError) as err:
        Scenario(throughput=[1, 2], backlog=backlog)
    assert err.value.field == "backlog"
    assert "whole number" in str(err.value) or "number" in str(err.value)


@pytest.mark.parametrize("runs", [0, -5, 1.5, "many"])
def test_runs_below_one(runs):
    scenario = Scenario(**GOOD)
    with pytest.raises(InputError) as err:
        simulate(scenario, runs=runs)
    assert err.value.field == "runs"
    with pytest.raises(InputError):
        how_many(scenario, periods=4, runs=runs)
    with pytest.raises(InputError):
        plan_chunks(runs)


def test_bad_seed():
    with pytest.raises(InputError, match="seed"):
        simulate(Scenario(**GOOD), runs=10, seed=-1)


def test_deadline_before_start():
    err = bad("deadline", "after the start", start="2026-03-02", deadline="2026-01-05")
    assert err.value == "2026-01-05"
    bad("deadline", "after the start", start="2026-03-02", deadline="2026-03-02")


def test_deadline_needs_start():
    bad("deadline", "start", deadline="2026-03-02")


def test_bad_dates():
    bad("start", "YYYY-MM-DD", start="02/03/2026")


def test_deadline_beyond_horizon_is_refused_not_hung():
    scenario = Scenario(**GOOD, start="2026-01-05", deadline="2036-01-05", max_periods=52)
    with pytest.raises(InputError, match="max_periods"):
        simulate(scenario, runs=10)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"split_rate": (0, 1.2)}, "split_rate"),
        ({"split_rate": [1.0, -1]}, "split_rate"),
        ({"lead_time_days": [3, -2]}, "lead_time_days"),
        ({"period_days": 0}, "period_days"),
        ({"max_periods": 0}, "max_periods"),
        ({"risks": [(0.5, -1, 2, 3)]}, "risks.low"),
        ({"risks": [(0.5, 1, 2)]}, "risks"),
        ({"team": {"history_size": 0}}, "team.history_size"),
        ({"team": {"s_curve": 60, "min_contributors": 1}}, "team.s_curve"),
        ({"team": {"size": 3}}, "team"),
        ({"sampler": ""}, "sampler"),
    ],
)
def test_other_rules(changes, field):
    with pytest.raises(InputError) as err:
        Scenario(**{**GOOD, **changes})
    assert err.value.field.startswith(field)


def test_unknown_sampler_is_refused_before_simulation():
    scenario = Scenario(**GOOD, sampler="magic")
    with pytest.raises(InputError, match="bootstrap"):
        simulate(scenario, runs=10)


def test_round_trip_through_dict():
    scenario = Scenario(
        throughput=[1, 2, 3],
        backlog=(10, 20),
        split_rate=[1.0, 1.5],
        risks=[(0.2, 1, 2, 4)],
        team={"history_size": 4, "min_contributors": 1, "max_contributors": 3, "s_curve": 20},
        focus=0.8,
        lead_time_days=[3, 10],
        start="2026-01-05",
        deadline="2026-06-01",
    )
    again = Scenario.from_dict(scenario.to_dict())
    assert again == scenario
    assert again.split_samples == (1.0, 1.5)
    ranged = Scenario(throughput=[1], backlog=3, split_rate=(1.0, 1.5))
    assert Scenario.from_dict(ranged.to_dict()).split_range == (1.0, 1.5)


def test_backlog_far_beyond_horizon_reports_not_done():
    scenario = Scenario(throughput=[1, 0, 2], backlog=100_000, max_periods=30)
    result = simulate(scenario, runs=2_000, seed=1)
    assert result.not_done == 2_000
    assert result.not_done_share == 1.0
    assert result.percentile(50) is None
    assert result.to_dict()["percentiles"]["85"] is None
