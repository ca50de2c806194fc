"""The calibration chart of a backtest: PIT histograms, flat when a forecaster is calibrated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from flowray.widgets.charts.base import (
    Chart,
    new_figure,
    redraws,
)


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
