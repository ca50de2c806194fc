"""Chart helpers: figures a page opened later (Voila) draws as they are now, with labelled axes."""

from __future__ import annotations

import pytest
from widget_helpers import START, demo_throughput

from flowray import Scenario, simulate
from flowray.widgets import charts


def test_every_change_gives_the_page_the_figure_as_it_is_now():
    chart = charts.forecast_chart()
    result = simulate(
        Scenario(throughput=demo_throughput(26), backlog=30, start=START), runs=2000, seed=3
    )

    charts.show_histogram(chart, charts.completion_histogram(result), "When the futures finish")

    # what the page's plotly renderer receives: one display output holding the current figure
    (output,) = chart.widget.outputs
    shown = output["data"]["application/vnd.plotly.v1+json"]
    assert shown["data"][0]["y"] == list(chart.data[0].y)
    assert shown["layout"]["title"]["text"] == "When the futures finish"
    assert len(shown["layout"]["shapes"]) == 4
    assert shown["config"]["displaylogo"] is False
    charts.show_burn_down(chart, charts.burn_down_data(result), "Burn-down")
    assert (
        chart.shown()["data"][5]["y"] == list(chart.data[5].y)
        and chart.shown()["data"][5]["y"][-1] == 0
    )
    assert (
        chart.shown()["layout"]["xaxis2"]["matches"] == "x"
    )  # the fan shares the histogram's dates


def test_completion_histogram_has_dates_lines_at_percentiles_and_a_deadline():
    deadline = START.replace(month=START.month + 2)
    result = simulate(
        Scenario(throughput=demo_throughput(26), backlog=60, start=START, deadline=deadline),
        runs=3000,
        seed=5,
    )
    data = charts.completion_histogram(result)
    assert all(
        isinstance(x, str) and len(x) == 10 for x in data["x"]
    )  # ISO dates, not week numbers
    assert data["x_title"] == "Completion date"
    assert [s["x0"] for s in data["shapes"]] == [
        result.date_at(p).isoformat() for p in (50, 70, 85, 95)
    ] + [deadline.isoformat()]
    assert sum(data["y"]) == pytest.approx(100.0 * (1 - result.not_done_share), abs=0.01)


def test_pit_histogram_shares_add_up_and_expect_a_flat_line():
    data = charts.pit_histogram([0.05, 0.15, 0.15, 0.95, float("nan")], bins=10)
    assert data["n"] == 4
    assert sum(data["y"]) == 100.0
    assert data["expected"] == 10.0


def test_new_charts_are_drawn_at_once_with_their_traces_and_axes():
    for chart, traces in (
        (charts.forecast_chart(), 6),
        (charts.ledger_chart(), 3),
        (charts.pit_chart(), 4),
        (charts.probability_chart(), 1),
    ):
        assert len(chart.shown()["data"]) == len(chart.data) == traces
        assert chart.redraws == 1
    assert (
        charts.forecast_chart().shown()["layout"]["yaxis2"]["title"]["text"] == "Items still to do"
    )


def test_how_many_gives_the_histogram_the_whole_figure():
    chart = charts.forecast_chart()
    charts.show_burn_down_plot(chart, False)
    layout = chart.shown()["layout"]
    assert layout["yaxis"]["domain"] == [0.0, 1.0] and layout["xaxis2"]["visible"] is False
    assert all(trace["visible"] is False for trace in chart.shown()["data"][1:])
    assert (
        layout["plot_bgcolor"] == "rgba(0,0,0,0)"
    )  # the hidden plot does not paint over the histogram
