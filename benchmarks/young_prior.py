"""Young teams: does the pooled calibration prior make a young history's forecasts come true?

For every series in --data (default tests/fixtures/throughput/), forecasts of
the default method are made at origins 10-64 (the first 64 weeks: a young
team) for H = 4, 8 and 12 weeks, and read three ways:

- raw: the sampling alone (recency-weighted, last 12 weeks);
- before: the calibration layer as it was, from the series' own resolved past
  errors only (identity below 12 of them);
- after: the same own errors blended with the pooled prior
  (flowray/data/calibration_prior.json, learned on the tuning part only).

Coverage of the 50/70/85/95% levels is reported apart for the tuning part
(sha256 of "owner__name" starts with 0-9: the prior saw these series, so it is
in-sample) and the hold-out part (a-f: never seen by the prior). A second
block, origins 65 on (every 4 weeks), checks that mature series are not
harmed. Writes benchmarks/results/young_prior.json. Deterministic.

    .venv/bin/python benchmarks/young_prior.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flowray.core import backtest, calibration, calibration_prior, metrics  # noqa: E402
from flowray.importers.throughput_files import read_throughput_csv  # noqa: E402

DATA = ROOT / "tests" / "fixtures" / "throughput"
OUT = ROOT / "benchmarks" / "results" / "young_prior.json"
HORIZONS = (4, 8, 12)
YOUNG = (10, 64)
MATURE_STEP = 4
LEVELS = backtest.LEVELS
WAYS = ("raw", "before", "after")


def read_values(path: Path) -> np.ndarray:
    return np.asarray([value for _, value in read_throughput_csv(path)], dtype=float)


def met(question: str, values: np.ndarray, counts: np.ndarray, actual: float) -> np.ndarray:
    keep = counts > 0
    if question == "how_many":
        return actual >= metrics.how_many_thresholds(values[keep], counts[keep], LEVELS)
    return metrics.when_met(values[keep], counts[keep], actual, LEVELS)


def read_three_ways(
    question: str,
    values: np.ndarray,
    counts: np.ndarray,
    own: np.ndarray,
    h: int,
    prior: calibration_prior.CalibrationPrior,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The raw forecast, the own-errors calibration and the prior blend of one origin."""
    spread = metrics.quantile_from_histogram(values, counts, calibration.SPREAD_LEVELS)
    out = {"raw": (values, counts)}
    before = calibration.fit_conformal(own)
    out["before"] = (
        calibration.conformal_histogram(values, counts, spread, before)
        if before.active
        else (values, counts)
    )
    after = calibration_prior.prior_map(own, question, h, prior)
    out["after"] = calibration.conformal_histogram(values, counts, spread, after)
    return out


def own_errors(
    values: np.ndarray, runs: int = backtest.DEFAULT_RUNS, seed: int = 0
) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    """Every resolved past error of the default method on this series (origins from week 8)."""
    return calibration_prior.series_errors(
        values, HORIZONS, backtest.DEFAULT_BASE_METHOD, backtest.DEFAULT_WINDOW, runs, seed
    )


def study_series(
    values: np.ndarray,
    errors: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]],
    prior: calibration_prior.CalibrationPrior,
    origins: Sequence[int],
    horizons: Sequence[int] = HORIZONS,
    runs: int = backtest.DEFAULT_RUNS,
    seed: int = 0,
) -> dict[tuple[str, int], dict[str, list[np.ndarray]]]:
    """Per (question, H) and way: one row of hits per scored origin of this series.

    Only errors resolved by the origin are used (`calibration.usable_pits`).
    """
    hits: dict[tuple[str, int], dict[str, list[np.ndarray]]] = {
        (q, h): {w: [] for w in WAYS} for q in backtest.QUESTIONS for h in horizons
    }
    for h in horizons:
        for origin in origins:
            if origin + h > values.size:
                continue
            items, periods = backtest.actual_outcome(values, origin, h)
            forecasts = backtest.forecast_origin(
                values,
                origin,
                backtest.DEFAULT_BASE_METHOD,
                backtest.DEFAULT_WINDOW,
                (h,),
                runs,
                seed,
                {h: items},
            )
            for question in backtest.QUESTIONS:
                past_origins, past_z = errors[(question, h)]
                own = calibration.usable_pits(past_origins, past_z, h, origin)
                hv, hc = forecasts.hists[(question, h)]
                actual = float(items if question == "how_many" else periods)
                for way, (cv, cc) in read_three_ways(question, hv, hc, own, h, prior).items():
                    hits[(question, h)][way].append(met(question, cv, cc, actual))
    return hits


def coverage(rows: list[np.ndarray]) -> list[float] | None:
    if not rows:
        return None
    return [round(float(v) * 100, 1) for v in np.mean(np.asarray(rows), axis=0)]


def summarise(
    per_series: dict[str, dict[tuple[str, int], dict[str, list[np.ndarray]]]],
) -> dict[str, Any]:
    """Pooled coverage by part, question, H and way (every origin of every series weighs the same)."""
    out: dict[str, Any] = {}
    for part, keep in (("tuning", True), ("holdout", False)):
        names = [n for n in per_series if calibration_prior.is_tuning(n) == keep]
        block: dict[str, Any] = {"series": len(names)}
        for question in backtest.QUESTIONS:
            for h in HORIZONS:
                rows = {
                    w: [r for n in names for r in per_series[n][(question, h)][w]] for w in WAYS
                }
                block[f"{question}_H{h}"] = {
                    "origins": len(rows["raw"]),
                    **{w: coverage(rows[w]) for w in WAYS},
                }
        out[part] = block
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    prior = calibration_prior.load_prior()
    started = time.perf_counter()
    young: dict[str, Any] = {}
    mature: dict[str, Any] = {}
    for path in sorted(args.data.glob("*.csv")):
        values = read_values(path)
        errors = own_errors(values)
        young[path.stem] = study_series(values, errors, prior, range(YOUNG[0], YOUNG[1] + 1))
        later = range(YOUNG[1] + 1, values.size - min(HORIZONS) + 1, MATURE_STEP)
        if len(later):
            mature[path.stem] = study_series(values, errors, prior, later)
        print(path.stem, f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    result = {
        "what": "coverage (%) of the 50/70/85/95% levels: raw sampling, own-errors calibration "
        "(before the prior), own errors blended with the pooled prior (after)",
        "levels": list(LEVELS),
        "method": backtest.DEFAULT_METHOD,
        "window": backtest.DEFAULT_WINDOW,
        "prior": {"teams": prior.teams, "strength": prior.strength},
        "young_origins": list(YOUNG),
        "young": summarise(young),
        "mature_origins": f"{YOUNG[1] + 1} on, every {MATURE_STEP} weeks",
        "mature": summarise(mature),
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
