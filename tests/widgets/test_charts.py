"""Chart helpers: figures a page opened later (Voila) draws as they are now, with labelled axes."""

from __future__ import annotations

import pytest
from widget_helpers import START, demo_throughput

from flowray import Scenario, simulate
from flowray.widgets import charts


def test_a_figure_edited_in_python_carries_its_current_state_for_new_views():
    fig = charts.forecast_figure()
    result = simulate(Scenario(throughput=demo_throughput(26), backlog=30, start=START), runs=2000, seed=3)

    charts.show_histogram(fig, charts.completion_histogram(result), "When the futures finish")

    # what a browser that connects now would draw: the synced widget state, not the creation state
    assert fig._widget_data[0]["x"] == list(fig.data[0].x)
    assert fig._widget_data[0]["y"] == list(fig.data[0].y)
    assert fig._widget_layout["title"]["text"] == "When the futures finish"
    assert len(fig._widget_layout["shapes"]) == 4
    charts.show_burn_down(fig, charts.burn_down_data(result), "Burn-down")
    assert fig._widget_data[5]["y"] == list(fig.data[5].y) and fig._widget_data[5]["y"][-1] == 0


def test_completion_histogram_has_dates_lines_at_percentiles_and_a_deadline():
    deadline = START.replace(month=START.month + 2)
    result = simulate(Scenario(throughput=demo_throughput(26), backlog=60, start=START, deadline=deadline),
                      runs=3000, seed=5)
    data = charts.completion_histogram(result)
    assert all(isinstance(x, str) and len(x) == 10 for x in data["x"])  # ISO dates, not week numbers
    assert data["x_title"] == "Completion date"
    assert [s["x0"] for s in data["shapes"]] == [result.date_at(p).isoformat() for p in (50, 70, 85, 95)] + [
        deadline.isoformat()
    ]
    assert sum(data["y"]) == pytest.approx(100.0 * (1 - result.not_done_share), abs=0.01)


def test_pit_histogram_shares_add_up_and_expect_a_flat_line():
    data = charts.pit_histogram([0.05, 0.15, 0.15, 0.95, float("nan")], bins=10)
    assert data["n"] == 4
    assert sum(data["y"]) == 100.0
    assert data["expected"] == 10.0


def test_new_figures_start_from_a_state_that_holds_their_traces_and_axes():
    for fig, traces in ((charts.forecast_figure(), 6), (charts.ledger_figure(), 3), (charts.pit_figure(), 4),
                        (charts.probability_figure(), 1)):
        assert len(fig._widget_data) == len(fig.data) == traces
        assert fig._widget_layout == fig.layout.to_plotly_json()
    assert charts.forecast_figure()._widget_layout["yaxis2"]["title"]["text"] == "Items still to do"
