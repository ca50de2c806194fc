"""Plotly charts of forecasts, ledgers and backtests, with labelled axes and dates.

- `base`: the chart holder (a figure redrawn into an Output) and the shared styles;
- `forecast`: completion and items histograms, the burn-down fan;
- `ledger`: how forecast dates moved, the chance of meeting each deadline;
- `cycle_time`: the cycle-time scatter and the ageing of items in progress;
- `features`: each feature's date range against the target (the release plan page);
- `pit`: the calibration (PIT) chart of a backtest.
"""

from flowray.widgets.charts.base import (
    BAR_COLOUR,
    CHART_HEIGHT,
    CHART_WIDTH,
    DEADLINE_COLOUR,
    LEVEL_COLOURS,
    PLOT_CONFIG,
    PLOTLY_MIMETYPE,
    Chart,
    display_bundle,
    new_figure,
    redraws,
)
from flowray.widgets.charts.cycle_time import (
    ageing_chart,
    cycle_scatter_chart,
    show_ageing,
    show_cycle_scatter,
)
from flowray.widgets.charts.features import (
    feature_range_chart,
    feature_ranges,
    show_feature_ranges,
)
from flowray.widgets.charts.forecast import (
    FAN_STYLES,
    FORECAST_HEIGHT,
    burn_down_data,
    clear_burn_down,
    completion_histogram,
    forecast_chart,
    items_histogram,
    show_burn_down,
    show_burn_down_plot,
    show_histogram,
)
from flowray.widgets.charts.ledger import (
    ledger_chart,
    ledger_lines,
    probability_chart,
    show_ledger_lines,
    show_probability_bars,
)
from flowray.widgets.charts.pit import (
    PIT_COLOURS,
    pit_chart,
    pit_histogram,
    show_pit,
)

__all__ = [
    "BAR_COLOUR",
    "CHART_HEIGHT",
    "CHART_WIDTH",
    "Chart",
    "DEADLINE_COLOUR",
    "FAN_STYLES",
    "FORECAST_HEIGHT",
    "LEVEL_COLOURS",
    "PIT_COLOURS",
    "PLOTLY_MIMETYPE",
    "PLOT_CONFIG",
    "ageing_chart",
    "burn_down_data",
    "clear_burn_down",
    "completion_histogram",
    "cycle_scatter_chart",
    "display_bundle",
    "feature_range_chart",
    "feature_ranges",
    "forecast_chart",
    "items_histogram",
    "ledger_chart",
    "ledger_lines",
    "new_figure",
    "pit_chart",
    "pit_histogram",
    "probability_chart",
    "redraws",
    "show_ageing",
    "show_burn_down",
    "show_burn_down_plot",
    "show_cycle_scatter",
    "show_feature_ranges",
    "show_histogram",
    "show_ledger_lines",
    "show_pit",
    "show_probability_bars",
]
