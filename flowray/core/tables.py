"""pandas tables of backtests and deadline comparisons, for notebooks and reports.

A notebook shows these with one call instead of walking nested report
dictionaries; the numbers are read from the objects flowray.core returns,
never recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flowray.core.backtest import QUESTIONS
from flowray.core.backtest_report import Backtest, calibration_error
from flowray.exceptions import InputError
from flowray.text import format_probability

LEVELS = ("50", "70", "85", "95")
QUESTION_LABELS = {"how_many": "how many (at least X)", "when": "when (within w periods)"}


def coverage_frame(backtest: Backtest, methods: Sequence[str], window: int | None, horizon: int):
    """Pooled scores per (method, question): coverage at 50/70/85/95%, its gap, CRPS, pinball, origins.

    Coverage is the share of origins where the forecast was met: a calibrated
    85% forecast is met at 85% of origins. `calibration_gap` is the mean
    |coverage - nominal| in points over the four levels of that question.
    Next to each level: "ideal" (what a perfectly calibrated forecast of this
    whole-number form would reach) and "PIT" (the level read from randomised
    PITs, the level itself when calibrated).
    """
    import pandas as pd

    rows = []
    for method in methods:
        report = backtest.report(method, window, horizon)
        for question in QUESTIONS:
            block = report["pooled"][question]
            row: dict[str, Any] = {"method": method, "question": QUESTION_LABELS[question]}
            for level in LEVELS:
                row[f"{level}%"] = block["coverage"][level]
                row[f"ideal {level}%"] = block["ideal"][level]
                row[f"PIT {level}%"] = block["pit_coverage"][level]
            row["calibration_gap"] = float(
                np.mean([abs(block["coverage"][lv] - int(lv) / 100.0) * 100.0 for lv in LEVELS])
            )
            row["crps"] = block["crps"]
            row["pinball"] = block["pinball"]
            row["median_abs_error"] = block["median_abs_error"]
            row["origins"] = block["origins"]
            rows.append(row)
    return pd.DataFrame(rows).set_index(["method", "question"])


def ranking_frame(backtest: Backtest, methods: Sequence[str], window: int | None, horizon: int):
    """Methods from best to worst calibrated: mean |coverage - nominal| over both questions (points)."""
    import pandas as pd

    rows = [
        {"method": m, "calibration_error": calibration_error(backtest.report(m, window, horizon))}
        for m in methods
    ]
    return pd.DataFrame(rows).sort_values(["calibration_error", "method"]).reset_index(drop=True)


def pit_frame(
    backtest: Backtest,
    methods: Sequence[str],
    window: int | None,
    question: str,
    horizon: int,
    bins: int = 10,
):
    """PIT histograms, long format (method, bin, share): flat at 1/bins when calibrated.

    Too much weight at both ends: the forecasts were too narrow; a hump in
    the middle: too wide; weight on one side: biased.
    """
    import pandas as pd

    if question not in QUESTIONS:
        raise InputError("question", question, f"must be one of {', '.join(QUESTIONS)}")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise InputError("bins", bins, "must be a whole number >= 2")
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for method in methods:
        pit = np.asarray(backtest.pits(method, window, question, horizon), dtype=float)
        pit = pit[np.isfinite(pit)]
        counts, _ = np.histogram(pit, bins=edges)
        total = counts.sum()
        for low, count in zip(edges[:-1], counts, strict=True):
            rows.append(
                {
                    "method": method,
                    "bin": f"{low:.1f}-{low + 1 / bins:.1f}",
                    "bin_start": float(low),
                    "share": float(count / total) if total else float("nan"),
                    "origins": int(total),
                }
            )
    return pd.DataFrame(rows)


def deadline_frame(comparison: Any):
    """Monte Carlo and ML side by side: completion at 50/70/85/95% (periods, date, ±), P(deadline), items.

    `comparison` is what flowray.pipeline.run_deadline_comparison returns.
    """
    import pandas as pd

    scenario = comparison.scenario
    columns: dict[str, dict[str, Any]] = {}
    for label, result in (
        ("Monte Carlo", comparison.mc),
        (f"ML ({comparison.ml_method})", comparison.ml),
    ):
        if result is None:
            continue
        column: dict[str, Any] = {}
        for level in (50, 70, 85, 95):
            periods = result.percentile(level)
            if periods is None:
                column[f"{level}% done within"] = "beyond the horizon"
                continue
            err = result.percentile_error(level)["plus_minus"]
            column[f"{level}% done within"] = (
                f"{periods} periods ({scenario.date_of(periods).isoformat()}) ±{err}"
                if scenario.start is not None
                else f"{periods} periods ±{err}"
            )
        prob = result.probability_by_deadline
        if prob is not None:
            column["P(done by the deadline)"] = format_probability(prob)
            column["85% likely done by the deadline"] = (
                f"at least {result.items_by_deadline(85)} items"
            )
        columns[label] = column
    return pd.DataFrame(columns)
