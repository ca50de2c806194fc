"""The ledger and portfolio charts: how forecast dates moved, the chance of meeting each deadline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from flowray.text import as_date, short_date
from flowray.widgets.charts.base import (
    DEADLINE_COLOUR,
    LEVEL_COLOURS,
    Chart,
    new_figure,
    redraws,
)


def ledger_lines(frame: Any, actual_dates: dict[int, Any] | None = None) -> dict[str, Any]:
    """How a project's P50 and P85 dates moved, forecast by forecast (x = the forecast's date),
    and, for resolved forecasts, the date the work was actually done."""
    actual_dates = actual_dates or {}
    x, p85, p50, actual = [], [], [], []
    for _, row in frame.iterrows():
        made = as_date(row["created_at"])
        x.append(made.isoformat() if made else None)
        p85.append(_iso(row.get("p85_date")))
        p50.append(_iso(row.get("p50_date")))
        actual.append(_iso(actual_dates.get(int(row["id"]))) if "id" in row else None)
    deadlines = sorted({d for d in (_iso(v) for v in frame.get("deadline", [])) if d})
    return {"x": x, "p85": p85, "p50": p50, "actual": actual, "deadlines": deadlines}


def _iso(value: Any) -> str | None:
    d = as_date(value)
    return d.isoformat() if d else None


def ledger_chart(width: int = 900) -> Chart:
    """Forecast date (x) against the completion date it gave: 85% and 50% lines, actual completions."""
    fig = new_figure(
        "How the forecast completion date moved",
        "Forecast as of",
        "Forecast completion date",
        width=width,
        height=340,
        x_is_date=True,
    )
    fig.add_trace(
        go.Scatter(
            x=[],
            y=[],
            mode="lines+markers",
            name="85% likely by",
            line={"color": LEVEL_COLOURS[85], "width": 3},
            hovertemplate="forecast of %{x}<br>85% likely by %{y}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[],
            y=[],
            mode="lines+markers",
            name="50% likely by",
            line={"color": LEVEL_COLOURS[50], "width": 2, "dash": "dot"},
            hovertemplate="forecast of %{x}<br>50% likely by %{y}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[],
            y=[],
            mode="markers",
            name="actually done",
            marker={"color": "#000", "symbol": "star", "size": 12},
            hovertemplate="forecast of %{x}<br>actually done %{y}<extra></extra>",
        )
    )
    fig.update_layout(
        showlegend=True,
        yaxis={"type": "date"},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    )
    return Chart(fig)


@redraws
def show_ledger_lines(
    fig: go.Figure, data: dict[str, Any], title: str, x_title: str = "Forecast made on"
) -> None:
    with fig.batch_update():
        fig.data[0].x, fig.data[0].y = data["x"], data["p85"]
        fig.data[1].x, fig.data[1].y = data["x"], data["p50"]
        done = [
            (x, a)
            for x, a in zip(data["x"], data.get("actual") or [None] * len(data["x"]), strict=True)
            if a
        ]
        fig.data[2].x, fig.data[2].y = [x for x, _ in done], [a for _, a in done]
        fig.layout.xaxis.type = "date"
        fig.layout.yaxis.type = "date"
        fig.layout.xaxis.title.text = x_title
        fig.layout.yaxis.title.text = "Forecast completion date"
        fig.layout.shapes = [
            {
                "type": "line",
                "xref": "paper",
                "yref": "y",
                "x0": 0,
                "x1": 1,
                "y0": d,
                "y1": d,
                "line": {"color": DEADLINE_COLOUR, "width": 1.5, "dash": "dash"},
            }
            for d in data["deadlines"]
        ]
        fig.layout.annotations = [
            {
                "xref": "paper",
                "yref": "y",
                "x": 0,
                "y": d,
                "xanchor": "left",
                "yanchor": "bottom",
                "text": f"Deadline {short_date(d)}",
                "showarrow": False,
                "font": {"color": DEADLINE_COLOUR, "size": 11},
            }
            for d in data["deadlines"]
        ]
        fig.layout.title.text = title


def probability_chart(width: int = 900) -> Chart:
    fig = new_figure(
        "Chance of meeting the deadline",
        "Chance of meeting the deadline (%)",
        "",
        width=width,
        height=260,
    )
    fig.add_trace(
        go.Bar(x=[], y=[], orientation="h", hovertemplate="%{y}: %{x:.0f}% likely<extra></extra>")
    )
    return Chart(fig)


@redraws
def show_probability_bars(
    fig: go.Figure,
    names: Sequence[str],
    probabilities: Sequence[float | None],
    colours: Sequence[str],
    title: str,
) -> None:
    """Horizontal bars: each project's chance of meeting its deadline, riskiest at the top.

    The height grows with the number of projects; the left margin leaves room for their names.
    """
    y = list(names)[::-1]
    x = [None if p is None else round(float(p) * 100.0, 1) for p in probabilities][::-1]
    with fig.batch_update():
        fig.data[0].x = x
        fig.data[0].y = y
        fig.data[0].marker.color = list(colours)[::-1]
        fig.data[0].text = ["no deadline" if v is None else f"{v:.0f}%" for v in x]
        fig.data[0].textposition = "auto"
        fig.layout.xaxis.range = [0, 100]
        fig.layout.xaxis.title.text = "Chance of meeting the deadline (%)"
        fig.layout.yaxis.title.text = ""
        fig.layout.yaxis.type = "category"
        fig.layout.shapes = [
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": 85,
                "x1": 85,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#333", "width": 1.5, "dash": "dash"},
            }
        ]
        fig.layout.annotations = [
            {
                "xref": "x",
                "yref": "paper",
                "x": 85,
                "y": 1,
                "yanchor": "bottom",
                "showarrow": False,
                "text": "85%",
                "font": {"size": 11},
            }
        ]
        fig.layout.title.text = title
        fig.layout.height = max(220, 70 + 34 * len(y))
        fig.layout.margin.l = 20 + 7 * max((len(n) for n in y), default=10)
