"""Stored portfolios in the ledger: save a forecast, list the saved ones, mark a feature done.

The portfolio is the demo's "Release plan" shape (8 features over 4 teams, mixed
sizes, one feature shared by two teams) on inline histories of 104 weeks, so no
demo has to be seeded. Each timing includes what a caller pays: the file lock,
opening the DuckDB file, the transaction, closing. Prints one JSON object.

    .venv/bin/python benchmarks/portfolio_store.py [--runs 100000] [--forecasts 100] \
        > benchmarks/results/portfolio_store.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from flowray.importers.portfolio_file import parse_portfolio
from flowray.jobs import SERIAL
from flowray.jobs.portfolio import submit_portfolio
from flowray.pipeline.demo import demo_portfolio_definition
from flowray.pipeline.portfolio import (
    list_portfolio_forecasts,
    mark_feature_done,
    save_portfolio_forecast,
)
from flowray.store import Store


def _timed(fn: Any, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2),
        "repeat": repeat,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--forecasts", type=int, default=100, help="saved forecasts to list")
    args = parser.parse_args()

    start = dt.date(2026, 1, 5)  # in the past, so a feature can be marked done
    definition = demo_portfolio_definition(start)
    weekly = {"pytest": 10, "fastapi": 16, "brew": 50, "mockito": 1}
    for team in definition["teams"]:
        del team["project"]
        base = weekly[team["name"]]
        team["throughput"] = [base + (i * 7) % (base + 3) - base // 2 for i in range(104)]
    portfolio = parse_portfolio(definition)
    result = submit_portfolio(SERIAL, portfolio, args.runs, 1).result()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        Store(db)
        save = _timed(
            lambda: save_portfolio_forecast("Release plan", portfolio, result, db), args.forecasts
        )
        listing = _timed(lambda: list_portfolio_forecasts("Release plan", db), 10)
        started = time.perf_counter()
        mark_feature_done("Release plan", "Plugin API cleanup", start + dt.timedelta(days=20), db)
        done_ms = (time.perf_counter() - started) * 1000
        rows = Store(db, create=False).read_table("portfolio_forecast_distribution").num_rows
        size_mb = db.stat().st_size / 1e6
    print(
        json.dumps(
            {
                "benchmark": "portfolio_store",
                "features": len(portfolio.features),
                "runs_per_forecast": result.runs,
                "saved_forecasts": args.forecasts,
                "distribution_rows": rows,
                "file_mb": round(size_mb, 1),
                "save_portfolio_forecast": save,
                "list_portfolio_forecasts": listing,
                "mark_feature_done_ms": round(done_ms, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
