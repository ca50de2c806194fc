"""The forecast charts: when the simulated futures finish, items by a date, the burn-down fan."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from flowray.core.results import ForecastResult, HowManyResult
from flowray.text import period_word, short_date
from flowray.widgets.charts.base import (
    BAR_COLOUR,
    CHART_WIDTH,
    DEADLINE_COLOUR,
    LEVEL_COLOURS,
    Chart,
    _vline,
    new_figure,
    redraws,
)


def completion_histogram(
    result: ForecastResult, levels: Sequence[int] = (50, 70, 85, 95)
) -> dict[str, Any]:
    """Bars: share of runs finishing in each period (by date); lines at the percentiles and the deadline."""
    scenario = result.scenario
    counts = np.asarray(result.counts[: scenario.max_periods + 1], dtype=float)
    nonzero = np.flatnonzero(counts)
    runs = max(1, result.runs)
    if nonzero.size:
        periods = list(range(int(nonzero[0]), int(nonzero[-1]) + 1))
    else:
        periods = []
    x = [_period_x(scenario, w) for w in periods]
    y = [round(float(counts[w]) / runs * 100.0, 4) for w in periods]
    shapes, notes = [], []
    for i, level in enumerate(levels):
        w = result.percentile(level)
        if w is None:
            continue
        d = scenario.date_of(w)
        label = f"{level}%"
        if level == 85:  # the headline answer carries its date; the others are in the table
            label += f": {short_date(d)}" if d else f": {w} {period_word(scenario.period_days, w)}"
        shape, note = _vline(
            _period_x(scenario, w),
            LEVEL_COLOURS.get(level, "#555"),
            label,
            y_label=1.0 if i % 2 == 0 else 0.92,
        )
        shapes.append(shape)
        notes.append(note)
    if scenario.deadline is not None and scenario.start is not None:
        shape, note = _vline(
            scenario.deadline.isoformat(),
            DEADLINE_COLOUR,
            f"Deadline: {short_date(scenario.deadline)}",
            dash="solid",
            y_label=0.84,
        )
        shapes.append(shape)
        notes.append(note)
    unit = period_word(scenario.period_days, 1)
    return {
        "x": x,
        "y": y,
        "x_title": "Completion date" if scenario.start else f"{unit.capitalize()}s from the start",
        "y_title": "Share of simulated futures (%)",
        "shapes": shapes,
        "annotations": notes,
        "hover": f"finished in the {unit} of %{{x}}<br>%{{y:.2f}}% of futures<extra></extra>",
    }


def _period_x(scenario: Any, periods: int) -> Any:
    d = scenario.date_of(periods)
    return d.isoformat() if d is not None else periods


def items_histogram(
    result: HowManyResult, levels: Sequence[int] = (50, 70, 85, 95)
) -> dict[str, Any]:
    """Bars: share of runs per number of items done; lines at the conservative "at least" values."""
    counts = np.asarray(result.counts, dtype=float)
    nonzero = np.flatnonzero(counts)
    runs = max(1, result.runs)
    items = list(range(int(nonzero[0]), int(nonzero[-1]) + 1)) if nonzero.size else []
    shapes, notes = [], []
    for i, level in enumerate(levels):
        at_least = result.at_least(level)
        shape, note = _vline(
            at_least,
            LEVEL_COLOURS.get(level, "#555"),
            f"{level}%: ≥ {at_least}",
            y_label=1.0 if i % 2 == 0 else 0.92,
        )
        shapes.append(shape)
        notes.append(note)
    end = result.end_date
    return {
        # each entry read as its smallest item count (entries hold one count unless huge)
        "x": [v * result.width for v in items],
        "y": [round(float(counts[v]) / runs * 100.0, 4) for v in items],
        "x_title": f"Items done by {short_date(end)}"
        if end
        else f"Items done in {result.periods} periods",
        "y_title": "Share of simulated futures (%)",
        "shapes": shapes,
        "annotations": notes,
        "hover": "%{x} items<br>%{y:.2f}% of futures<extra></extra>",
    }


def burn_down_data(result: ForecastResult) -> dict[str, Any]:
    """Remaining items after each period, at the 5/15/50/85/95th percentiles, by date."""
    rows = result.burn_down_fan()
    scenario = result.scenario
    x = [row["date"] if row["date"] else row["period"] for row in rows]
    return {
        "x": x,
        "bands": {key: [row[key] for row in rows] for key in ("p5", "p15", "p50", "p85", "p95")},
        "x_title": "Date"
        if scenario.start
        else f"{period_word(scenario.period_days, 1).capitalize()}s from the start",
        "y_title": "Items still to do",
    }


FAN_STYLES = (  # (percentile key, legend name, fill to the trace before, colour)
    ("p95", "5-95% of futures", None, "rgba(21,101,192,0.0)"),
    ("p5", "5-95% of futures", "tonexty", "rgba(21,101,192,0.15)"),
    ("p85", "15-85% of futures", None, "rgba(21,101,192,0.0)"),
    ("p15", "15-85% of futures", "tonexty", "rgba(21,101,192,0.30)"),
    ("p50", "median", None, "#0d47a1"),
)
FORECAST_HEIGHT = 720
_FAN_DOMAIN, _HIST_DOMAIN = [0.0, 0.34], [0.6, 1.0]


def forecast_chart(width: int = CHART_WIDTH) -> Chart:
    """One figure, two plots: the distribution of outcomes on top, the burn-down fan below.

    Trace 0 is the histogram; traces 1-5 are the fan (FAN_STYLES order).
    """
    fig = new_figure(
        "Run a forecast to see when the simulated futures finish",
        "Completion date",
        "Share of simulated futures (%)",
        width=width,
        height=FORECAST_HEIGHT,
        x_is_date=True,
    )
    fig.add_trace(go.Bar(x=[], y=[], marker_color=BAR_COLOUR, name="futures", showlegend=False))
    for key, name, fill, colour in FAN_STYLES:
        fig.add_trace(
            go.Scatter(
                x=[],
                y=[],
                mode="lines",
                name=name,
                fill=fill,
                fillcolor=colour if fill else None,
                line={
                    "color": colour if key == "p50" else "rgba(21,101,192,0.35)",
                    "width": 2.5 if key == "p50" else 0.5,
                },
                showlegend=key in ("p5", "p15", "p50"),
                xaxis="x2",
                yaxis="y2",
                hovertemplate=f"{name} ({key[1:]}th percentile): %{{y:.0f}} items left<extra></extra>",
            )
        )
    fig.update_layout(
        yaxis={"domain": _HIST_DOMAIN},
        xaxis2={
            "anchor": "y2",
            "type": "date",
            "title": {"text": "Date"},
            "showgrid": True,
            "gridcolor": "#eee",
            "linecolor": "#999",
            "matches": "x",
        },  # the same dates as the histogram above
        yaxis2={
            "anchor": "x2",
            "domain": _FAN_DOMAIN,
            "title": {"text": "Items still to do"},
            "rangemode": "tozero",
            "showgrid": True,
            "gridcolor": "#eee",
            "linecolor": "#999",
        },
        showlegend=True,
        legend={
            "orientation": "h",
            "x": 1,
            "xanchor": "right",
            "y": _FAN_DOMAIN[1] + 0.01,
            "yanchor": "bottom",
        },
    )
    _set_fan_title(fig, "Burn-down: items still to do (drawn when the run is complete)")
    # No tick labels until there is data: an empty date axis would show "Jan 2000 ... Nov 2000".
    fig.update_layout(
        xaxis={"showticklabels": False},
        yaxis={"showticklabels": False},
        xaxis2={"showticklabels": False},
        yaxis2={"showticklabels": False},
    )
    return Chart(fig)


def _set_fan_title(fig: go.Figure, text: str) -> None:
    keep = [a for a in fig.layout.annotations if a.name != "fan-title"]
    fig.layout.annotations = keep + [
        {
            "name": "fan-title",
            "text": text,
            "xref": "paper",
            "yref": "paper",
            "x": 0,
            "xanchor": "left",
            "y": _FAN_DOMAIN[1] + 0.06,
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": 15},
        }
    ]


@redraws
def show_histogram(fig: go.Figure, data: dict[str, Any], title: str) -> None:
    """Fill the top plot from `completion_histogram` / `items_histogram`: bars, lines and their labels."""
    with fig.batch_update():
        bars = fig.data[0]
        bars.x = data["x"]
        bars.y = data["y"]
        bars.hovertemplate = data["hover"]
        is_date = bool(data["x"]) and isinstance(data["x"][0], str)
        fig.layout.xaxis.type = "date" if is_date else "linear"
        fig.layout.xaxis.title.text = data["x_title"]
        fig.layout.yaxis.title.text = data["y_title"]
        fig.layout.title.text = title
        fig.layout.shapes = data["shapes"]
        fig.layout.xaxis.showticklabels = fig.layout.yaxis.showticklabels = True
        fan_title = [a for a in fig.layout.annotations if a.name == "fan-title"]
        fig.layout.annotations = list(data["annotations"]) + fan_title


@redraws
def show_burn_down(fig: go.Figure, data: dict[str, Any], title: str) -> None:
    """Fill the bottom plot: 5-95% and 15-85% bands of the remaining work, and the median line."""
    with fig.batch_update():
        for trace, (key, *_rest) in zip(fig.data[1:], FAN_STYLES, strict=True):
            trace.x = data["x"]
            trace.y = data["bands"][key]
        fig.layout.xaxis2.type = "date" if data["x"] and isinstance(data["x"][0], str) else "linear"
        fig.layout.xaxis2.title.text = data["x_title"]
        fig.layout.yaxis2.title.text = data["y_title"]
        fig.layout.xaxis2.showticklabels = fig.layout.yaxis2.showticklabels = True
        _set_fan_title(fig, title)


@redraws
def clear_burn_down(fig: go.Figure, title: str) -> None:
    with fig.batch_update():
        for trace in fig.data[1:]:
            trace.x = []
            trace.y = []
        fig.layout.xaxis2.showticklabels = fig.layout.yaxis2.showticklabels = False
        _set_fan_title(fig, title)


@redraws
def show_burn_down_plot(fig: go.Figure, visible: bool) -> None:
    """Show the fan below the histogram ("when"), or give the histogram the whole figure ("how many")."""
    with fig.batch_update():
        fig.layout.yaxis.domain = _HIST_DOMAIN if visible else [0.0, 1.0]
        fig.layout.xaxis2.visible = visible
        fig.layout.xaxis2.matches = (
            "x" if visible else None
        )  # "how many" puts items, not dates, on x
        fig.layout.yaxis2.visible = visible
        fig.layout.showlegend = visible
        fig.layout.height = FORECAST_HEIGHT if visible else 380
        for trace in fig.data[1:]:
            trace.visible = visible
        if not visible:
            fig.layout.annotations = [a for a in fig.layout.annotations if a.name != "fan-title"]
        elif not any(a.name == "fan-title" for a in fig.layout.annotations):
            _set_fan_title(fig, "Burn-down: items still to do (drawn when the run is complete)")
