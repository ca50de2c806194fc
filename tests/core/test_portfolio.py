"""The portfolio model: closed forms, joint probabilities from the same runs, properties, bad input."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowray import Portfolio, forecast_portfolio
from flowray.core.engine import plan_chunks
from flowray.core.portfolio import Estimate, Feature, PortfolioTeam
from flowray.core.portfolio_engine import (
    capacity_shares,
    portfolio_arrays,
    simulate_portfolio_chunk,
    simulate_portfolio_chunks,
)
from flowray.core.portfolio_results import merge_portfolio_histograms
from flowray.exceptions import InputError
from flowray.jobs import SERIAL
from flowray.jobs.portfolio import submit_portfolio

START = dt.date(2026, 1, 5)  # a Monday


def team(name: str = "a", throughput: tuple[int, ...] = (1,), **kw: object) -> PortfolioTeam:
    return PortfolioTeam(name, throughput=throughput, **kw)  # type: ignore[arg-type]


def portfolio(teams: list[PortfolioTeam], features: list[Feature], **kw: object) -> Portfolio:
    return Portfolio(teams=tuple(teams), features=tuple(features), start=START, **kw)  # type: ignore[arg-type]


def done_periods(result: object, f: int) -> set[int]:
    """Every completion period a feature reached in some run (the last index: not done)."""
    counts = result.histograms.completion[f]  # type: ignore[attr-defined]
    return {int(w) for w in np.flatnonzero(counts)}


def tolerance(p: float, runs: int) -> float:
    """Five standard errors of a probability estimated from `runs` runs."""
    return 5 * math.sqrt(p * (1 - p) / runs)


# -- closed forms ----------------------------------------------------------------------------------


def test_one_team_one_item_a_period_does_features_in_sequence() -> None:
    p = portfolio([team()], [Feature("A", 35, teams=("a",)), Feature("B", 20, teams=("a",))])
    result = forecast_portfolio(p, runs=500, seed=1)
    assert done_periods(result, 0) == {35}
    assert done_periods(result, 1) == {55}
    assert result.date_of(result.percentile("B", 85)) == START + dt.timedelta(weeks=55)


def test_a_feature_split_over_two_teams_finishes_with_the_later_team() -> None:
    p = portfolio(
        [team("a"), team("b")],
        [Feature("A", 35, teams=("a", "b")), Feature("B", {"a": 20, "b": 15})],
    )
    result = forecast_portfolio(p, runs=500, seed=1)
    assert done_periods(result, 0) == {18}  # 35 split evenly: 18 for a, 17 for b
    assert done_periods(result, 1) == {38}  # a: 18 + 20; b: 17 + 15 = 32
    alone = portfolio([team("a"), team("b")], [Feature("A", {"a": 20, "b": 15})])
    assert done_periods(forecast_portfolio(alone, runs=100), 0) == {20}


def test_no_capacity_is_lost_when_a_feature_finishes_mid_period() -> None:
    p = portfolio([team(throughput=(3,))], [Feature(n, 1, teams=("a",)) for n in "XYZ"])
    result = forecast_portfolio(p, runs=300, seed=2)
    assert [done_periods(result, f) for f in range(3)] == [{1}, {1}, {1}]


def test_wip_two_spreads_items_at_random_over_the_first_two_features() -> None:
    p = portfolio(
        [team(throughput=(2,), feature_wip=2)],
        [Feature("X", 2, teams=("a",)), Feature("Y", 2, teams=("a",))],
    )
    runs = 100_000
    result = forecast_portfolio(p, runs=runs, seed=3)
    for f in range(2):
        assert abs(result.probability_by(f, 1) - 0.25) < tolerance(0.25, runs)
        assert result.probability_by(f, 2) == 1.0
    # both items of period 1 go to one feature (1/2), then both are done in period 2
    assert result.all_done_by(2, 1) == 0.0


def test_ten_one_item_features_finish_one_a_period_in_list_order() -> None:
    features = [Feature(f"F{k}", 1, teams=("a",)) for k in range(1, 11)]
    result = forecast_portfolio(portfolio([team()], features), runs=200)
    assert [done_periods(result, f) for f in range(10)] == [{k} for k in range(1, 11)]
    reversed_result = forecast_portfolio(portfolio([team()], features[::-1]), runs=200)
    assert [done_periods(reversed_result, f) for f in range(10)] == [{k} for k in range(1, 11)]
    assert reversed_result.feature_names[0] == "F10"


def test_an_estimate_of_exactly_three_does_ten_items_in_four_periods() -> None:
    p = portfolio([PortfolioTeam("a", estimate=Estimate(3, 3))], [Feature("X", 10, teams=("a",))])
    assert done_periods(forecast_portfolio(p, runs=200), 0) == {4}


def test_an_estimate_with_likely_draws_a_discrete_triangular() -> None:
    p = portfolio(
        [PortfolioTeam("a", estimate={"low": 1, "likely": 1, "high": 2})],  # type: ignore[arg-type]
        [Feature("X", 2, teams=("a",))],
    )
    runs = 50_000
    result = forecast_portfolio(p, runs=runs, seed=4)
    # weights 1 (for 1) and 1/2 (for 2): P(2 items in period 1) = 1/3
    assert abs(result.probability_by(0, 1) - 1 / 3) < tolerance(1 / 3, runs)
    assert result.probability_by(0, 2) == 1.0


def test_items_already_done_are_subtracted() -> None:
    p = portfolio([team()], [Feature("X", 12, done=3, teams=("a",))])
    assert done_periods(forecast_portfolio(p, runs=100), 0) == {9}


def test_unknown_sizes_are_drawn_from_past_sizes_never_from_stacked_percentiles() -> None:
    p = portfolio([team()], [Feature("X", None, done=2, teams=("a",))], feature_sizes=(4, 8))
    runs = 20_000
    result = forecast_portfolio(p, runs=runs, seed=5)
    assert done_periods(result, 0) == {2, 6}
    assert abs(result.probability_by(0, 2) - 0.5) < tolerance(0.5, runs)


def test_a_size_range_is_drawn_uniformly_per_run() -> None:
    p = portfolio([team()], [Feature("X", (10, 13), teams=("a",))])
    runs = 40_000
    result = forecast_portfolio(p, runs=runs, seed=6)
    counts = result.histograms.completion[0]
    assert done_periods(result, 0) == {10, 11, 12, 13}
    for w in range(10, 14):
        assert abs(counts[w] / runs - 0.25) < tolerance(0.25, runs)


def test_a_fully_blacked_out_period_does_no_work() -> None:
    p = portfolio(
        [team(blackouts=[(START + dt.timedelta(days=7), START + dt.timedelta(days=13))])],
        [Feature("X", 3, teams=("a",))],
    )
    assert done_periods(forecast_portfolio(p, runs=100), 0) == {4}


def test_a_partly_blacked_out_period_thins_its_items_binomially() -> None:
    # 3 of period 1's 7 days blacked out: each of its 7 items survives with probability 4/7
    p = portfolio(
        [team(throughput=(7,))],
        [Feature("X", 7, teams=("a",))],
        blackouts=[(START, START + dt.timedelta(days=2))],
    )
    runs = 50_000
    result = forecast_portfolio(p, runs=runs, seed=7)
    expected = (4 / 7) ** 7
    assert abs(result.probability_by(0, 1) - expected) < tolerance(expected, runs)
    assert result.probability_by(0, 2) == 1.0
    assert capacity_shares(p, p.teams[0])[:2].tolist() == [4 / 7, 1.0]


def test_history_periods_touched_by_a_blackout_are_left_out_of_the_sample() -> None:
    history_start = START - dt.timedelta(weeks=2)
    blacked = portfolio(
        [
            team(
                throughput=(0, 5),
                history_starts=(history_start, history_start + dt.timedelta(weeks=1)),
                blackouts=[(history_start, history_start + dt.timedelta(days=4))],
            )
        ],
        [Feature("X", 10, teams=("a",))],
    )
    assert done_periods(forecast_portfolio(blacked, runs=300), 0) == {2}


def test_a_team_with_no_history_and_no_estimate_cannot_forecast_its_features() -> None:
    p = portfolio(
        [team("a"), PortfolioTeam("new")],
        [
            Feature("A", 2, teams=("a",)),
            Feature("B", 2, teams=("new",)),
            Feature("C", 2, teams=("a",)),
        ],
        target=START + dt.timedelta(weeks=10),
    )
    result = forecast_portfolio(p, runs=200)
    data = result.to_dict()
    assert [f["cannot_forecast"] for f in data["features"]] == [False, True, False]
    assert data["features"][1]["probability_by_target"] is None
    assert data["features"][1]["percentiles"]["50"] is None
    assert data["features"][2]["percentiles"]["50"] == 4
    assert data["all_done_by_target"] == [1.0, None, None]
    assert data["cut_line"] == 1


def test_the_horizon_caps_runs_with_a_not_done_share() -> None:
    p = portfolio([team()], [Feature("X", 20, teams=("a",))], max_periods=10)
    result = forecast_portfolio(p, runs=100)
    assert result.not_done(0) == 1.0
    assert result.percentile(0, 50) is None


# -- joint answers from the same runs -------------------------------------------------------------


def test_joint_probabilities_of_two_independent_teams_are_not_the_later_date() -> None:
    p = portfolio(
        [team("a", (0, 1, 1, 1, 2)), team("b", (0, 1, 1, 1, 2))],
        [Feature("A", 8, teams=("a",)), Feature("B", 8, teams=("b",))],
        target=START + dt.timedelta(weeks=9),
    )
    runs = 100_000
    result = forecast_portfolio(p, runs=runs, seed=8)
    pa, pb = result.probability_by_target(0), result.probability_by_target(1)
    joint = result.all_done_by_target()[1]
    assert joint < min(pa, pb) - 0.05  # the later of two dates would claim min(pa, pb)
    assert abs(joint - pa * pb) < 5 * math.sqrt(pa * pb * (1 - pa * pb) / runs) + 0.01


def test_joint_probability_on_one_team_is_the_later_feature_not_a_product() -> None:
    p = portfolio(
        [team("a", (0, 1, 2, 3))],
        [Feature("A", 4, teams=("a",)), Feature("B", 2, teams=("a",))],
        target=START + dt.timedelta(weeks=3),
    )
    result = forecast_portfolio(p, runs=20_000, seed=9)
    pa, pb = result.probability_by_target(0), result.probability_by_target(1)
    assert result.all_done_by_target() == [pa, pb]  # B done implies A done, run by run
    assert pb > pa * pb + 0.05


def test_cut_line_and_the_count_of_features_done_agree() -> None:
    p = portfolio(
        [team("a", (0, 2, 3, 5)), team("b", (1, 2, 4))],
        [
            Feature("A", 6, teams=("a",)),
            Feature("B", 9, teams=("a", "b")),
            Feature("C", 7, teams=("b",)),
            Feature("D", 12, teams=("a",)),
        ],
        target=START + dt.timedelta(weeks=8),
        level=70,
    )
    result = forecast_portfolio(p, runs=20_000, seed=10)
    joint = result.all_done_by_target()
    k = result.cut_line()
    assert all(j >= 0.70 for j in joint[:k]) and (k == 4 or joint[k] < 0.70)
    done = result.features_done_by_target()
    assert math.isclose(sum(done.values()), 1.0)
    for n in range(1, 5):  # the first n all done implies at least n done
        at_least_n = sum(v for c, v in done.items() if int(c) >= n)
        assert joint[n - 1] <= at_least_n + 1e-12


def test_target_counts_periods_that_end_on_or_before_it() -> None:
    p = portfolio([team()], [Feature("X", 3, teams=("a",))], target=START + dt.timedelta(days=20))
    assert p.target_periods == 2
    assert forecast_portfolio(p, runs=100).probability_by_target(0) == 0.0
    later = p.with_changes(target=START + dt.timedelta(days=21))
    assert forecast_portfolio(later, runs=100).probability_by_target(0) == 1.0


# -- chunks, jobs and reproducibility -------------------------------------------------------------


def mixed() -> Portfolio:
    return portfolio(
        [
            team("a", (0, 2, 3, 5, 1), feature_wip=2),
            team("b", (1, 2, 4)),
            PortfolioTeam("c", estimate=Estimate(1, 4, 2)),
        ],
        [
            Feature("A", (4, 9), teams=("a",)),
            Feature("B", 9, teams=("a", "b")),
            Feature("C", None, teams=("c",)),
            Feature("D", {"b": 3, "c": (2, 5)}),
        ],
        target=START + dt.timedelta(weeks=6),
        feature_sizes=(3, 5, 8),
        blackouts=[(START + dt.timedelta(days=9), START + dt.timedelta(days=12))],
    )


def test_any_grouping_of_chunks_gives_the_same_counts_as_the_job() -> None:
    p = mixed()
    arrays = portfolio_arrays(p)
    chunks = list(plan_chunks(70_000, 10_000))
    one_by_one = merge_portfolio_histograms(
        simulate_portfolio_chunk(arrays, 11, c) for c in reversed(chunks)
    )
    grouped = merge_portfolio_histograms(
        [
            simulate_portfolio_chunks(arrays, 11, chunks[:3]),
            simulate_portfolio_chunks(arrays, 11, chunks[3:]),
        ]
    )
    assert one_by_one.equals(grouped)
    job = submit_portfolio(SERIAL, p, runs=200_000, seed=11)
    assert job.result().histograms.equals(forecast_portfolio(p, runs=200_000, seed=11).histograms)
    assert job.progress().runs_done == 200_000


def test_the_same_seed_gives_identical_output_and_another_seed_differs() -> None:
    first = forecast_portfolio(mixed(), runs=3_000, seed=12).to_dict()
    assert first == forecast_portfolio(mixed(), runs=3_000, seed=12).to_dict()
    assert first != forecast_portfolio(mixed(), runs=3_000, seed=13).to_dict()


# -- properties -----------------------------------------------------------------------------------

sizes = st.lists(st.integers(0, 12), min_size=1, max_size=5)
histories = st.lists(st.integers(0, 4), min_size=1, max_size=6).filter(any)


@settings(max_examples=25, deadline=None)
@given(sizes, histories, st.integers(1, 4), st.integers(1, 12))
def test_joint_never_exceeds_a_marginal_and_never_rises_with_k(
    feature_sizes: list[int], history: list[int], wip: int, weeks: int
) -> None:
    p = portfolio(
        [team("a", tuple(history), feature_wip=wip), team("b", (1, 2))],
        [
            Feature(f"F{i}", s, teams=("a",) if i % 2 else ("a", "b"))
            for i, s in enumerate(feature_sizes)
        ],
        target=START + dt.timedelta(weeks=weeks),
    )
    result = forecast_portfolio(p, runs=500, seed=1)
    joint = result.all_done_by_target()
    for k in range(1, len(joint) + 1):
        assert all(joint[k - 1] <= result.probability_by_target(f) + 1e-12 for f in range(k))
        if k > 1:
            assert joint[k - 1] <= joint[k - 2] + 1e-12


@settings(max_examples=25, deadline=None)
@given(sizes, histories, st.integers(1, 4), st.randoms(use_true_random=False))
def test_time_to_finish_everything_on_one_team_ignores_wip_and_order(
    feature_sizes: list[int], history: list[int], wip: int, rnd: object
) -> None:
    features = [Feature(f"F{i}", s, teams=("a",)) for i, s in enumerate(feature_sizes)]
    base = forecast_portfolio(portfolio([team("a", tuple(history))], features), runs=400, seed=2)
    shuffled = list(features)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    other = forecast_portfolio(
        portfolio([team("a", tuple(history), feature_wip=wip)], shuffled), runs=400, seed=2
    )
    assert np.array_equal(base.histograms.prefix[-1], other.histograms.prefix[-1])


@settings(max_examples=25, deadline=None)
@given(sizes, histories, st.integers(0, 4), st.integers(1, 8))
def test_more_work_never_finishes_earlier(
    feature_sizes: list[int], history: list[int], which: int, extra: int
) -> None:
    features = [Feature(f"F{i}", s, teams=("a",)) for i, s in enumerate(feature_sizes)]
    bigger = list(features)
    i = which % len(features)
    bigger[i] = Feature(features[i].name, feature_sizes[i] + extra, teams=("a",))
    small = forecast_portfolio(portfolio([team("a", tuple(history))], features), runs=400, seed=3)
    large = forecast_portfolio(portfolio([team("a", tuple(history))], bigger), runs=400, seed=3)
    for f in range(len(features)):
        small_cdf = np.cumsum(small.histograms.completion[f])
        large_cdf = np.cumsum(large.histograms.completion[f])
        assert np.all(large_cdf <= small_cdf)


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: portfolio([team()], [Feature("X", 3, teams=("nobody",))]), "features[X].teams"),
        (lambda: Feature("X", 3), "features[X].teams"),
        (lambda: Feature("X", -1, teams=("a",)), "features[X].size"),
        (lambda: Feature("X", (9, 3), teams=("a",)), "features[X].size"),
        (lambda: Feature("X", {"a": -2}), "features[X].size.a"),
        (lambda: Feature("X", 3, done=-1, teams=("a",)), "features[X].done"),
        (lambda: team(feature_wip=0), "teams[a].feature_wip"),
        (lambda: team(throughput=(1, -2)), "teams[a].throughput[1]"),
        (lambda: team(throughput=(0, 0)), "teams[a].throughput"),
        (lambda: PortfolioTeam("a", estimate=Estimate(5, 2)), "estimate.high"),
        (lambda: Estimate(1, 5, likely=7), "estimate.likely"),
        (
            lambda: team(blackouts=[("2026-02-20", "2026-02-16")]),
            "teams[a].blackouts[0]",
        ),
        (
            lambda: portfolio([team()], [Feature("X", 3, teams=("a",))], target="2025-12-01"),
            "target",
        ),
        (
            lambda: portfolio([team()], [Feature("X", 3, teams=("a",))], period_days=0),
            "period_days",
        ),
        (lambda: portfolio([team()], [Feature("X", None, teams=("a",))]), "features[X].size"),
        (lambda: portfolio([team(), team()], [Feature("X", 3, teams=("a",))]), "teams"),
        (lambda: portfolio([team()], []), "features"),
        (lambda: portfolio([team()], [Feature("X", 3, teams=("a",))], level=100), "level"),
        (
            lambda: portfolio(
                [team()], [Feature("X", 3, teams=("a",))], target="2036-01-01", max_periods=52
            ),
            "target",
        ),
        (lambda: forecast_portfolio(mixed(), runs=0), "runs"),
        (lambda: forecast_portfolio(mixed(), seed=-1), "seed"),
    ],
)
def test_bad_input_is_refused_by_name(build: object, field: str) -> None:
    with pytest.raises(InputError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field


def test_ray_gives_the_serial_counts_bit_for_bit(ray_session: object) -> None:
    from flowray import tasks

    p = mixed()
    job = submit_portfolio(tasks.RAY, p, runs=300_000, seed=14)
    result = job.result(timeout=300)
    assert result.histograms.equals(forecast_portfolio(p, runs=300_000, seed=14).histograms)
    assert job.progress().runs_done == 300_000 and result.complete


def test_a_portfolio_job_shows_partial_results_and_can_be_cancelled() -> None:
    import time

    from flowray.jobs import JobState

    job = submit_portfolio(SERIAL, mixed(), runs=50_000_000, seed=15)
    partial = None
    for _ in range(600):  # wait for the first task's result (a few chunks), at most a minute
        partial = job.partial()
        if partial is not None:
            break
        time.sleep(0.1)
    assert partial is not None
    assert 0 < partial.runs < 50_000_000 and not partial.complete
    assert partial.histograms.completion.sum(axis=1).tolist() == [partial.runs] * 4
    assert job.cancel()
    assert job.state is JobState.CANCELLED


def test_teams_and_features_may_be_given_as_mappings() -> None:
    as_dicts = Portfolio(
        teams=[{"name": "a", "throughput": [1], "feature_wip": 1}],  # type: ignore[list-item]
        features=[{"name": "X", "size": [3, 3], "teams": ["a"]}],  # type: ignore[list-item]
        start=START,
    )
    assert as_dicts == portfolio([team()], [Feature("X", 3, teams=("a",))])
    with pytest.raises(InputError) as caught:
        Portfolio(
            teams=[{"name": "a", "throughput": [1], "speed": 2}],  # type: ignore[list-item]
            features=[Feature("X", 3, teams=("a",))],
            start=START,
        )
    assert caught.value.field == "teams[0].speed"


def reference_run(p: Portfolio, rng: np.random.Generator) -> list[int]:
    """One run of docs/portfolio.md's model, written plainly: each feature's completion period."""
    arrays = portfolio_arrays(p)
    capacity = arrays.teams[7]
    remaining = np.zeros((len(p.features), len(p.teams)), dtype=np.int64)
    for f, feature in enumerate(p.features):
        size = feature.size
        if isinstance(size, dict):
            for name, part in size.items():
                low, high = part if isinstance(part, tuple) else (part, part)
                remaining[f, p.names[name]] = rng.integers(low, high + 1)
            continue
        if size is None:
            total = int(rng.choice(p.feature_sizes))
        else:
            low, high = size if isinstance(size, tuple) else (size, size)
            total = int(rng.integers(low, high + 1))
        total = max(0, total - feature.done)
        k = len(feature.teams)
        for j, name in enumerate(feature.teams):
            remaining[f, p.names[name]] = total // k + (1 if j < total % k else 0)
    done = [0 if not remaining[f].any() else -1 for f in range(len(p.features))]
    period = 0
    while any(d < 0 for d in done) and period < p.max_periods:
        for t, team_ in enumerate(p.teams):
            if team_.throughput is not None:
                items = int(rng.choice(team_.throughput))
            else:
                assert team_.estimate is not None
                values = np.arange(team_.estimate.low, team_.estimate.high + 1)
                weights = np.asarray(team_.estimate.weights())
                items = int(rng.choice(values, p=weights / weights.sum()))
            items = int(rng.binomial(items, capacity[t, period]))
            for _ in range(items):
                open_ = [f for f in range(len(p.features)) if remaining[f, t] > 0]
                if not open_:
                    break
                f = open_[int(rng.integers(min(team_.feature_wip, len(open_))))]
                remaining[f, t] -= 1
                if not remaining[f].any():
                    done[f] = period + 1
        period += 1
    return [d if d >= 0 else p.max_periods + 1 for d in done]


def agree(p1: float | None, p2: float, n1: int, n2: int) -> bool:
    """Two estimates of one probability within five standard errors of their difference (pooled)."""
    assert p1 is not None
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    return abs(p1 - p2) <= 5 * math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2)) + 1e-12


def test_the_kernel_agrees_with_a_plain_reference_of_the_model() -> None:
    p = mixed()
    runs = 20_000
    rng = np.random.default_rng(16)
    reference = np.array([reference_run(p, rng) for _ in range(4_000)])
    result = forecast_portfolio(p, runs=runs, seed=16)
    for f in range(len(p.features)):
        for w in range(0, 12):
            expected = float((reference[:, f] <= w).mean())
            got = result.probability_by(f, w)
            assert agree(got, expected, runs, 4_000), (f, w, got, expected)
    for k in range(1, len(p.features) + 1):  # the joint answers too
        expected = float((reference[:, :k].max(axis=1) <= 6).mean())
        got = result.all_done_by(k, 6)
        assert agree(got, expected, runs, 4_000), (k, got, expected)
