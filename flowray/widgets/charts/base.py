"""Plotly charts of forecasts, ledgers and backtests, with labelled axes and dates.

A chart is a plain `plotly.graph_objects.Figure` shown in an
`ipywidgets.Output` and drawn by the page's own plotly renderer (the local
jupyterlab-plotly extension, no CDN). After every change the Output's content
is replaced with the figure's JSON, which works the same from a button
callback, from an asyncio task and for a page that connects after the cells
ran (Voila).

Why not `FigureWidget`: on the shared 2-core machine a Voila page reported
"[anywidget] Failed to initialize model." (anywidget gives a model 2 s to load
its 5 MB copy of plotly.js), and a FigureWidget whose model did not initialize
never shows a later change from Python; a second FigureWidget on a page was
also seen to keep its first drawing. Redrawing a small figure per batch of
runs costs little, and each page loads plotly.js once instead of once per
figure.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import plotly.io as pio

LEVEL_COLOURS = {50: "#2e7d32", 70: "#1565c0", 85: "#6a1b9a", 95: "#c62828"}
BAR_COLOUR = "#90a4ae"
DEADLINE_COLOUR = "#d32f2f"
CHART_WIDTH = 780
CHART_HEIGHT = 320
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
PLOT_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


def display_bundle(fig: go.Figure) -> dict[str, Any]:
    """The figure as one notebook display output, for the page's plotly renderer."""
    spec = json.loads(pio.to_json(fig, validate=False))
    spec["config"] = dict(PLOT_CONFIG)
    title = fig.layout.title.text or "chart"
    return {
        "output_type": "display_data",
        "metadata": {},
        "data": {PLOTLY_MIMETYPE: spec, "text/plain": f"<plotly chart: {title}>"},
    }


class Chart:
    """A figure and the Output that shows it; call `redraw()` after changing `figure`."""

    def __init__(self, figure: go.Figure) -> None:
        self.figure = figure
        self.widget = widgets.Output(
            layout=widgets.Layout(width=f"{int(figure.layout.width or CHART_WIDTH) + 10}px")
        )
        self.redraws = 0
        self.redraw()

    @property
    def data(self) -> Any:
        return self.figure.data

    @property
    def layout(self) -> Any:
        return self.figure.layout

    def redraw(self) -> None:
        """Replace what the page shows with the figure as it is now."""
        self.widget.outputs = (display_bundle(self.figure),)
        self.redraws += 1

    def shown(self) -> dict[str, Any]:
        """The figure JSON the page was last given (tests)."""
        return self.widget.outputs[0]["data"][PLOTLY_MIMETYPE]


def redraws(fn: Any) -> Any:
    """Decorator of the chart functions: they edit `chart.figure`, then the page gets the new drawing."""

    @functools.wraps(fn)
    def wrapper(chart: Chart, *args: Any, **kwargs: Any) -> Any:
        out = fn(chart.figure, *args, **kwargs)
        chart.redraw()
        return out

    return wrapper


def new_figure(
    title: str,
    x_title: str,
    y_title: str,
    *,
    width: int = CHART_WIDTH,
    height: int = CHART_HEIGHT,
    x_is_date: bool = False,
) -> go.Figure:
    """An empty figure with a title and labelled axes."""
    fig = go.Figure(
        layout=go.Layout(
            title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
            xaxis={"title": {"text": x_title}, "type": "date" if x_is_date else "-"},
            yaxis={"title": {"text": y_title}, "rangemode": "tozero"},
            width=width,
            height=height,
            margin={"l": 64, "r": 24, "t": 48, "b": 56},
            plot_bgcolor="rgba(0,0,0,0)",  # a hidden plot (the fan in "how many") must not paint over another
            showlegend=False,
            bargap=0.05,
        )
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eee", linecolor="#999")
    fig.update_yaxes(showgrid=True, gridcolor="#eee", linecolor="#999")
    return fig


def _vline(
    x: Any, colour: str, label: str, *, dash: str = "dash", y_label: float = 1.0
) -> tuple[dict, dict]:
    """A vertical line over the top plot (x axis "x") with its label; "y domain" keeps it in that plot."""
    shape = {
        "type": "line",
        "xref": "x",
        "yref": "y domain",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": colour, "width": 2, "dash": dash},
        "name": "marker",
    }
    note = {
        "x": x,
        "xref": "x",
        "yref": "y domain",
        "y": y_label,
        "yanchor": "bottom",
        "showarrow": False,
        "text": label,
        "font": {"color": colour, "size": 11},
        "align": "center",
        "name": "marker",
    }
    return shape, note
