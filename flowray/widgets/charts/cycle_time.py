"""Cycle-time charts: the scatter of finished items and the age of the items in progress.

Both carry the same horizontal percentile lines (50/70/85/95, in days), so an
item in progress reads against the finished ones at a glance: a dot above the
85% line is older than 85% of the finished items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from flowray.text import as_date
from flowray.widgets.charts.base import LEVEL_COLOURS, Chart, new_figure, redraws

POINT_COLOUR = "#455a64"
AGE_COLOURS: dict[int | None, str] = {
    None: "#66bb6a",  # younger than the median: on track
    50: "#fdd835",
    70: "#fb8c00",
    85: "#e53935",
    95: "#b71c1c",
}
"""An item in progress by the highest percentile its age has passed: green to red, as ActionableAgile."""


def _level_lines(percentiles: Mapping[int, int]) -> tuple[list[dict], list[dict]]:
    """A dashed horizontal line per percentile across the plot, labelled at its right end."""
    shapes, notes = [], []
    for index, (level, days) in enumerate(sorted(percentiles.items())):
        right = index % 2 == 1  # labels alternate sides, so close percentiles stay readable
        colour = LEVEL_COLOURS.get(int(level), "#555")
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "yref": "y",
                "x0": 0,
                "x1": 1,
                "y0": days,
                "y1": days,
                "line": {"color": colour, "width": 1.5, "dash": "dash"},
                "name": "percentile",
            }
        )
        notes.append(
            {
                "xref": "paper",
                "yref": "y",
                "x": 1 if right else 0,
                "y": days,
                "xanchor": "right" if right else "left",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"color": colour, "size": 11},
                "bgcolor": "rgba(255,255,255,0.85)",  # readable over a bar
                "text": f"{level}%: {days} days",
                "name": "percentile",
            }
        )
    return shapes, notes


def cycle_scatter_chart(width: int = 780) -> Chart:
    """Empty scatter: done date (x) against the days each finished item took (y)."""
    fig = new_figure(
        "How long finished items took",
        "Done on",
        "Cycle time (days)",
        width=width,
        height=320,
        x_is_date=True,
    )
    fig.add_trace(
        go.Scatter(
            x=[],
            y=[],
            mode="markers",
            name="finished items",
            marker={"color": POINT_COLOUR, "size": 7, "opacity": 0.65},
            hovertemplate="%{text}<br>done %{x}<br>%{y} days<extra></extra>",
        )
    )
    return Chart(fig)


@redraws
def show_cycle_scatter(
    fig: go.Figure, scatter: Mapping[str, Sequence[Any]], percentiles: Mapping[int, int], title: str
) -> None:
    """One dot per finished item (`CycleTimeAnalysis.scatter()`), the percentile lines over them."""
    shapes, notes = _level_lines(percentiles)
    with fig.batch_update():
        trace = fig.data[0]
        trace.x = [_iso(d) for d in scatter.get("done_on", ())]
        trace.y = list(scatter.get("cycle_days", ()))
        trace.text = list(scatter.get("item_id", ()))
        fig.layout.shapes = shapes
        fig.layout.annotations = notes
        fig.layout.title.text = title


def ageing_chart(width: int = 780) -> Chart:
    """Empty ageing chart: one bar per item in progress (x), its age in days (y)."""
    fig = new_figure("Age of the items in progress", "Item in progress", "Age (days)", width=width)
    fig.add_trace(
        go.Bar(
            x=[],
            y=[],
            name="age",
            textposition="none",  # the words are for the hover, not painted on the bars
            hovertemplate="%{x}<br>%{y} days old<br>%{text}<extra></extra>",
        )
    )
    return Chart(fig)


@redraws
def show_ageing(
    fig: go.Figure,
    items: Sequence[Mapping[str, Any]],
    percentiles: Mapping[int, int],
    title: str,
) -> None:
    """Items (dicts with item_id, age, band, words), oldest first, coloured by the band passed (AGE_COLOURS)."""
    shapes, notes = _level_lines(percentiles)
    with fig.batch_update():
        trace = fig.data[0]
        trace.x = [str(item["item_id"]) for item in items]
        trace.y = [int(item["age"]) for item in items]
        trace.text = [str(item.get("words", "")) for item in items]
        trace.marker.color = [AGE_COLOURS.get(item.get("band"), AGE_COLOURS[95]) for item in items]
        fig.layout.xaxis.type = "category"
        fig.layout.shapes = shapes
        fig.layout.annotations = notes
        fig.layout.title.text = title


def _iso(value: Any) -> str | None:
    day = as_date(value)
    return day.isoformat() if day else None


__all__ = [
    "AGE_COLOURS",
    "ageing_chart",
    "cycle_scatter_chart",
    "show_ageing",
    "show_cycle_scatter",
]
