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


def _level_lines(percentiles: Mapping[int, int]) -> tuple[list[dict], list[dict]]:
    """A dashed horizontal line per percentile across the plot, labelled at its right end."""
    shapes, notes = [], []
    for level, days in sorted(percentiles.items()):
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
                "x": 1,
                "y": days,
                "xanchor": "right",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"color": colour, "size": 11},
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
    """Items (dicts with item_id, age, band, words), oldest first, coloured by the band passed."""
    shapes, notes = _level_lines(percentiles)
    with fig.batch_update():
        trace = fig.data[0]
        trace.x = [str(item["item_id"]) for item in items]
        trace.y = [int(item["age"]) for item in items]
        trace.text = [str(item.get("words", "")) for item in items]
        trace.marker.color = [
            LEVEL_COLOURS.get(item["band"], "#90a4ae") if item.get("band") else "#90a4ae"
            for item in items
        ]
        fig.layout.xaxis.type = "category"
        fig.layout.shapes = shapes
        fig.layout.annotations = notes
        fig.layout.title.text = title


def _iso(value: Any) -> str | None:
    day = as_date(value)
    return day.isoformat() if day else None


__all__ = [
    "ageing_chart",
    "cycle_scatter_chart",
    "show_ageing",
    "show_cycle_scatter",
]
