"""What-if sweeps (flowray.sweep, pipeline.run_sweep / submit_sweep)."""

from __future__ import annotations

import pandas as pd
import pytest

from flowray import Scenario, pipeline, simulate
from flowray.core import sweep
from flowray.exceptions import InputError

HISTORY = [5, 6, 0, 7, 4, 8, 3, 6, 5, 4, 7, 2]


def base(**changes) -> Scenario:
    fields = dict(
        throughput=HISTORY,
        backlog=60,
        team={"history_size": 4},
        start="2026-01-05",
        deadline="2026-04-06",
    )
    fields.update(changes)
    return Scenario(**fields)


def test_cells_cover_every_combination_first_axis_slowest():
    cells = sweep.sweep_cells(base(), {"team_size": [3, 5], "split_rate": [1.0, 1.2, 1.4]})
    assert [c.index for c in cells] == list(range(6))
    assert [tuple(c.values.values()) for c in cells] == [
        (3, 1.0),
        (3, 1.2),
        (3, 1.4),
        (5, 1.0),
        (5, 1.2),
        (5, 1.4),
    ]
    assert cells[4].scenario.team.max_contributors == 5 and cells[4].scenario.split_range == (
        1.2,
        1.2,
    )
    assert cells[4].scenario.backlog == 60 and cells[4].scenario.team.history_size == 4


def test_team_size_scales_throughput_like_a_bigger_history():
    """Twice the people behind the same history = the history doubled (same draws, same answer)."""
    doubled = simulate(
        base(team={"history_size": 4}, throughput=[2 * v for v in HISTORY]), runs=5000, seed=3
    )
    cell = sweep.sweep_cells(base(), {"team_size": [8]})[0]
    result = simulate(cell.scenario, runs=5000, seed=3)
    assert result.percentiles() == doubled.percentiles()
    assert result.probability_by_deadline == doubled.probability_by_deadline


def test_team_size_keeps_the_s_curve_shape():
    scenario = base(
        team={"history_size": 4, "min_contributors": 2, "max_contributors": 4, "s_curve": 20}
    )
    team = sweep.with_team_size(scenario, 6).team
    assert (team.min_contributors, team.max_contributors, team.s_curve) == (3, 6, 20)


def test_more_people_never_later_more_splitting_never_earlier():
    frame = pipeline.run_sweep(
        base(), {"team_size": [2, 3, 4, 6], "split_rate": [1.0, 1.25, 1.5]}, runs=4000, seed=1
    )
    table = sweep.sweep_table(frame, "team_size", "split_rate", "p85")
    assert table.shape == (4, 3)
    assert (table.diff(axis=0).iloc[1:] <= 0).all().all()  # rows: bigger team
    assert (table.diff(axis=1).iloc[:, 1:] >= 0).all().all()  # columns: more splitting
    p = sweep.sweep_table(frame, "team_size", "split_rate", "p_deadline")
    assert (p.diff(axis=0).iloc[1:] >= 0).all().all()
    assert frame.loc[0, "p85_date"] == base().date_of(int(frame.loc[0, "p85"]))


def test_each_cell_is_the_plain_forecast_of_its_scenario():
    frame = pipeline.run_sweep(base(), {"focus": [0.5, 1.0]}, runs=3000, seed=9)
    direct = simulate(base(focus=0.5), runs=3000, seed=9)
    assert frame.loc[0, "p85"] == direct.percentile(85)
    assert frame.loc[0, "p_deadline"] == direct.probability_by_deadline


@pytest.mark.parametrize(
    "axes, field",
    [
        ({}, "axes"),
        ({"team_size": []}, "team_size"),
        ({"team_size": 4}, "team_size"),
        ({"colour": [1]}, "axis"),
        ({"team_size": [0]}, "team_size"),
        ({"split_rate": [-1]}, "split_rate"),
        ({"team_size": list(range(1, 30)), "focus": [i / 20 for i in range(1, 21)]}, "axes"),
    ],
)
def test_bad_axes_are_refused_before_any_simulation(axes, field):
    with pytest.raises(InputError, match=field):
        sweep.sweep_cells(base(), axes)


def test_sweep_table_needs_two_axes_of_the_sweep():
    frame = pipeline.run_sweep(
        base(), {"team_size": [3, 4], "split_rate": [1.0, 1.2], "focus": [1.0]}, runs=1000
    )
    with pytest.raises(InputError, match="more axes"):
        sweep.sweep_table(frame, "team_size", "split_rate")
    with pytest.raises(InputError, match="two different axes"):
        sweep.sweep_table(frame, "team_size", "p85")
    one_focus = frame[frame["focus"] == 1.0].drop(columns="focus")
    assert sweep.sweep_table(one_focus, "team_size", "split_rate").shape == (2, 2)


def test_ray_sweep_equals_the_local_sweep(ray_session):
    axes = {"team_size": [3, 5], "split_rate": [1.0, 1.3]}
    local = pipeline.run_sweep(base(), axes, runs=3000, seed=4)
    job = pipeline.submit_sweep(base(), axes, runs=3000, seed=4)
    on_ray = job.result(timeout=300)
    pd.testing.assert_frame_equal(on_ray, local)
    assert job.progress().tasks_total == 4
