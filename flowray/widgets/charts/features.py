"""The release plan chart: each feature's date range (50% to the level) against the target date."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from flowray.text import long_date, short_date
from flowray.widgets.charts.base import DEADLINE_COLOUR, LEVEL_COLOURS, Chart, new_figure, redraws

RANGE_COLOUR = LEVEL_COLOURS[85]
STALE_COLOUR = "#bdbdbd"
ROW_HEIGHT = 34


def feature_ranges(result: Any) -> dict[str, Any]:
    """Per feature in list order: its name, its 50% and level% dates (ISO), and what to say
    when there is no range (cannot be forecast, or not done within the horizon)."""
    portfolio = result.portfolio
    level = portfolio.level
    horizon_end = portfolio.period_end(portfolio.max_periods).isoformat()
    rows = []
    for f, name in enumerate(result.feature_names):
        if result.cannot_forecast[f]:
            rows.append({"name": name, "low": None, "high": None, "note": "cannot be forecast"})
            continue
        low, high = result.percentile(f, 50), result.percentile(f, level)
        rows.append(
            {
                "name": name,
                "low": None if low is None else result.date_of(low).isoformat(),
                "high": horizon_end if high is None else result.date_of(high).isoformat(),
                "beyond": high is None,
                "note": "" if low is not None else "not done within the horizon",
            }
        )
    target = portfolio.target
    return {
        "rows": rows,
        "level": level,
        "target": None if target is None else target.isoformat(),
    }


def feature_range_chart(width: int = 900) -> Chart:
    """Horizontal ranges, one row per feature (the first on top), on a date axis."""
    fig = new_figure("When each feature is done", "Date", "", width=width, x_is_date=True)
    fig.add_trace(  # the ranges: one segment per feature, None between them
        go.Scatter(x=[], y=[], mode="lines", line={"width": 12, "color": RANGE_COLOUR})
    )
    fig.add_trace(  # the level's end of each range, with its date on hover
        go.Scatter(x=[], y=[], mode="markers", marker={"size": 12, "color": RANGE_COLOUR})
    )
    fig.add_trace(  # the 50% end
        go.Scatter(x=[], y=[], mode="markers", marker={"size": 10, "color": LEVEL_COLOURS[50]})
    )
    return Chart(fig)


@redraws
def show_feature_ranges(
    fig: go.Figure, data: dict[str, Any], title: str, stale: bool = False
) -> None:
    """Draw `feature_ranges(result)`; `stale` greys it (the inputs changed since)."""
    level = f"{data['level']:g}%"
    colour = STALE_COLOUR if stale else RANGE_COLOUR
    x: list[Any] = []
    y: list[Any] = []
    high_x, high_y, high_text, low_x, low_y, low_text = [], [], [], [], [], []
    notes = []
    for row in data["rows"]:
        name = row["name"]
        if row["low"] is None:
            notes.append((name, row["note"]))
            continue
        x += [row["low"], row["high"], None]
        y += [name, name, None]
        low_x.append(row["low"])
        low_y.append(name)
        low_text.append(f"{name}: 50% likely by {long_date(row['low'])}")
        high_x.append(row["high"])
        high_y.append(name)
        high_text.append(
            f"{name}: not done by {long_date(row['high'])} in some futures"
            if row.get("beyond")
            else f"{name}: {level} likely by {long_date(row['high'])}"
        )
    names = [row["name"] for row in data["rows"]]
    with fig.batch_update():
        fig.data[0].x, fig.data[0].y = x, y
        fig.data[0].line.color = colour
        fig.data[0].hoverinfo = "skip"
        fig.data[1].x, fig.data[1].y, fig.data[1].text = high_x, high_y, high_text
        fig.data[1].marker.color = colour
        fig.data[1].hovertemplate = "%{text}<extra></extra>"
        fig.data[2].x, fig.data[2].y, fig.data[2].text = low_x, low_y, low_text
        fig.data[2].marker.color = STALE_COLOUR if stale else LEVEL_COLOURS[50]
        fig.data[2].hovertemplate = "%{text}<extra></extra>"
        fig.layout.yaxis.type = "category"
        fig.layout.yaxis.categoryorder = "array"
        fig.layout.yaxis.categoryarray = names
        fig.layout.yaxis.autorange = "reversed"  # feature 1 on top, as in the table
        fig.layout.yaxis.title.text = ""
        fig.layout.xaxis.title.text = f"Date (a bar runs from 50% likely to {level} likely)"
        shapes, annotations = [], []
        if data["target"]:
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": data["target"],
                    "x1": data["target"],
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": DEADLINE_COLOUR, "width": 2, "dash": "dash"},
                }
            )
            annotations.append(
                {
                    "xref": "x",
                    "yref": "paper",
                    "x": data["target"],
                    "y": 1,
                    "yanchor": "bottom",
                    "showarrow": False,
                    "text": f"Target {short_date(data['target'])}",
                    "font": {"color": DEADLINE_COLOUR, "size": 11},
                }
            )
        for name, words in notes:  # said where the bar would be, at the target line
            annotations.append(
                {
                    "xref": "paper" if not data["target"] else "x",
                    "yref": "y",
                    "x": data["target"] or 0.5,
                    "y": name,
                    "xanchor": "left",
                    "showarrow": False,
                    "text": f"  {words}",
                    "font": {"color": "#b42318", "size": 11},
                }
            )
        fig.layout.shapes = shapes
        fig.layout.annotations = annotations
        fig.layout.title.text = title
        fig.layout.height = max(200, 110 + ROW_HEIGHT * len(names))
        fig.layout.margin.l = 20 + 7 * max((len(n) for n in names), default=10)
