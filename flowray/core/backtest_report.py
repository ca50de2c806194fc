"""Reading a backtest: coverage, PIT, CRPS and the other scores of series x methods x windows.

`Backtest` holds every series' scores on shared origins and reads them as
tables and JSON (the backtests page, `flowray backtest`, BACKTESTS.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flowray.core import metrics
from flowray.core.backtest import (
    BASE_METHODS,
    QUESTIONS,
    Scores,
    SeriesBacktest,
    method_name,
    parse_method,
    window_label,
)
from flowray.exceptions import InputError


@dataclass
class Backtest:
    """Results of series x methods x windows on shared origins; reads tables and JSON."""

    results: dict[tuple[str, str, int | None], SeriesBacktest]
    horizons: tuple[int, ...]
    step: int
    runs: int
    seed: int
    first_origin: int
    last_origin: int | None = None  # None: every series scored up to its last possible origin

    @property
    def series_names(self) -> list[str]:
        return sorted({k[0] for k in self.results}, key=str.lower)

    def configurations(self) -> list[tuple[str, int | None]]:
        return sorted(
            {(k[1], k[2]) for k in self.results},
            key=lambda c: (BASE_METHODS.index(c[0]), c[1] or 10**9),
        )

    def _series(self, base: str, window: int | None) -> list[SeriesBacktest]:
        found = [
            self.results[(n, base, window)]
            for n in self.series_names
            if (n, base, window) in self.results
        ]
        if not found:
            raise InputError(
                "method",
                method_name(base, False),
                f"was not backtested with window {window_label(window)}",
            )
        return found

    def _scores(
        self, s: SeriesBacktest, calibrated: bool, question: str, h: int, origins: set[int] | None
    ) -> Scores:
        scores = s.scores(calibrated, question, h)
        if origins is None:
            return scores
        keep = np.isin(scores.origins, np.fromiter(origins, dtype=np.int64, count=len(origins)))
        out = Scores()
        for name in (
            "origins",
            "actual",
            "hits",
            "pit",
            "crps",
            "pinball",
            "median_abs_error",
            "ideal",
        ):
            setattr(out, name, np.asarray(getattr(scores, name))[keep])
        return out

    def report(
        self,
        method: str,
        window: int | None,
        horizon: int,
        origins: Mapping[str, set[int]] | None = None,
    ) -> dict[str, Any]:
        """The `flowray backtest --json` object for one method, window and horizon.

        `origins` (per series) restricts the scores to a common set of
        origins, e.g. to compare a Monte Carlo method with ML on ML's grid.
        """
        base, calibrated = parse_method(method)
        if horizon not in self.horizons:
            raise InputError(
                "horizon", horizon, f"was not backtested (horizons {list(self.horizons)})"
            )
        rows = []
        for s in self._series(base, window):
            keep = None if origins is None else origins.get(s.name, set())
            row: dict[str, Any] = {"name": s.name}
            for question in QUESTIONS:
                row[question] = self._scores(s, calibrated, question, horizon, keep).block(question)
            if s.skipped:
                row["skipped"] = s.skipped
            rows.append(row)
        pooled = {q: metrics.pool_blocks([r[q] for r in rows]) for q in QUESTIONS}
        return {
            "method": method,
            "window": window_label(window),
            "horizon": horizon,
            "pooled": pooled,
            "series": rows,
            "step": self.step,
            "runs": self.runs,
            "seed": self.seed,
            "first_origin": self.first_origin,
            "last_origin": self.last_origin,
        }

    def pits(
        self,
        method: str,
        window: int | None,
        question: str,
        horizon: int,
        origins: Mapping[str, set[int]] | None = None,
    ) -> NDArray[np.float64]:
        """Pooled randomised PIT values (flat histogram = calibrated)."""
        base, calibrated = parse_method(method)
        parts = [
            self._scores(
                s,
                calibrated,
                question,
                horizon,
                None if origins is None else origins.get(s.name, set()),
            ).pit
            for s in self._series(base, window)
        ]
        return (
            np.concatenate([np.asarray(p, dtype=float) for p in parts]) if parts else np.array([])
        )

    def scored_origins(self, base: str, window: int | None) -> dict[str, set[int]]:
        """Per series, the origins a configuration scored (all its horizons share them)."""
        h = self.horizons[0]
        return {
            s.name: set(np.asarray(s.raw[("how_many", h)].origins).tolist())
            for s in self._series(base, window)
        }


def calibration_error(
    report: Mapping[str, Any], levels: Sequence[str] = ("50", "70", "85", "95")
) -> float:
    """Mean |pooled coverage - nominal| over both questions and `levels`, in points."""
    gaps = [
        abs(report["pooled"][q]["coverage"][lv] - int(lv) / 100.0) * 100.0
        for q in QUESTIONS
        for lv in levels
    ]
    return float(np.mean(gaps))


def worst_gap(report: Mapping[str, Any], levels: Sequence[str] = ("50", "85", "95")) -> float:
    """Largest |pooled coverage - nominal| over both questions and `levels`, in points."""
    return float(
        max(
            abs(report["pooled"][q]["coverage"][lv] - int(lv) / 100.0) * 100.0
            for q in QUESTIONS
            for lv in levels
        )
    )


def is_finite_block(block: Mapping[str, Any]) -> bool:
    return block.get("origins", 0) > 0 and math.isfinite(block.get("crps", math.nan))
