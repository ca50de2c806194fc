"""ML forecaster benchmark: fit + predict time on a 104-week real series, per method.

Usage: .venv/bin/python benchmarks/ml.py [--repeats N] > benchmarks/results/ml.json

Target: a fit plus a 12-week quantile table on 104 weeks well under 2 s
on one core, since a backtest fits thousands of them. Best of several repeats,
pinned to one core, so a shared noisy machine shows the attainable time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from flowray.core import ml

ROOT = Path(__file__).resolve().parents[1]
SERIES = ROOT / "tests" / "fixtures" / "throughput" / "psf__black.csv"
TARGET_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    history = pd.read_csv(SERIES)["throughput"].to_numpy(float)[-104:]
    results = {}
    for method in ml.METHODS:
        fit_times, predict_times, path_times = [], [], []
        for repeat in range(args.repeats):
            t0 = time.perf_counter()
            forecaster = ml.fit_forecaster(history, method, horizon=12, seed=repeat)
            t1 = time.perf_counter()
            forecaster.predict_quantiles()
            t2 = time.perf_counter()
            forecaster.sample_paths(2000, np.random.default_rng(repeat), horizon=52)
            t3 = time.perf_counter()
            fit_times.append(t1 - t0)
            predict_times.append(t2 - t1)
            path_times.append(t3 - t2)
        best = min(f + p for f, p in zip(fit_times, predict_times, strict=True))
        results[method] = {
            "fit_s": round(min(fit_times), 4),
            "predict_quantiles_12x19_s": round(min(predict_times), 4),
            "fit_plus_predict_s": round(best, 4),
            "paths_2000x52_s": round(min(path_times), 4),
            "meets_target": best < TARGET_SECONDS,
        }
    print(
        json.dumps(
            {
                "benchmark": "ml",
                "series": SERIES.name,
                "history_periods": int(history.size),
                "target_seconds": TARGET_SECONDS,
                "python": platform.python_version(),
                "methods": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
