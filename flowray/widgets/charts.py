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
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from flowray.core.results import ForecastResult, HowManyResult
from flowray.text import as_date, period_word, short_date

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
        "x": items,
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


def pit_histogram(values: Sequence[float], bins: int = 10) -> dict[str, Any]:
    """PIT values in equal bins; a calibrated method gives a flat histogram at 1/bins."""
    array = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    counts, edges = np.histogram(array, bins=bins, range=(0.0, 1.0))
    share = (counts / array.size * 100.0) if array.size else np.zeros(bins)
    centres = ((edges[:-1] + edges[1:]) / 2.0).tolist()
    return {
        "x": [round(c, 3) for c in centres],
        "y": [round(float(s), 3) for s in share],
        "expected": 100.0 / bins,
        "n": int(array.size),
    }


PIT_COLOURS = ("#1565c0", "#ef6c00", "#6a1b9a", "#2e7d32")


def pit_chart(width: int = 760, traces: int = len(PIT_COLOURS)) -> Chart:
    """Up to `traces` PIT histograms side by side (unused ones hidden) and the line of calibration."""
    fig = new_figure("PIT histogram", "PIT", "Share of past forecasts (%)", width=width, height=320)
    for i in range(traces):
        fig.add_trace(
            go.Bar(
                x=[],
                y=[],
                name=f"series {i + 1}",
                marker_color=PIT_COLOURS[i % len(PIT_COLOURS)],
                visible=False,
            )
        )
    return Chart(fig)


@redraws
def show_pit(fig: go.Figure, series: dict[str, dict[str, Any]], title: str) -> None:
    """One bar trace per named PIT histogram (from `pit_histogram`), and the flat line of calibration."""
    names = list(series)[: len(fig.data)]
    with fig.batch_update():
        for i, trace in enumerate(fig.data):
            if i < len(names):
                name = names[i]
                trace.name = name
                trace.x = series[name]["x"]
                trace.y = series[name]["y"]
                trace.visible = True
                trace.hovertemplate = (
                    f"{name}: PIT %{{x:.2f}}<br>%{{y:.1f}}% of forecasts<extra></extra>"
                )
            else:
                trace.x, trace.y, trace.visible = [], [], False
        expected = next(iter(series.values()))["expected"] if series else 10.0
        fig.layout.barmode = "group"
        fig.layout.showlegend = len(names) > 1
        fig.layout.legend = {
            "orientation": "h",
            "y": 1.02,
            "yanchor": "bottom",
            "x": 1,
            "xanchor": "right",
        }
        fig.layout.xaxis.range = [0, 1]
        fig.layout.xaxis.title.text = (
            "Where the actual fell in the forecast distribution (PIT: 0 = low end, 1 = high end)"
        )
        fig.layout.yaxis.title.text = "Share of past forecasts (%)"
        fig.layout.shapes = [
            {
                "type": "line",
                "xref": "paper",
                "yref": "y",
                "x0": 0,
                "x1": 1,
                "y0": expected,
                "y1": expected,
                "line": {"color": "#333", "width": 1.5, "dash": "dash"},
            }
        ]
        fig.layout.annotations = [
            {
                "xref": "paper",
                "yref": "y",
                "x": 0,
                "y": expected,
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 11},
                "bgcolor": "rgba(255,255,255,0.85)",
                "text": "flat at this line = well calibrated",
            }
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
