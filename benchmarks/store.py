"""Store speed: save one forecast with its full histogram, list 10,000 ledger rows.

Targets: save < 50 ms, list 10,000 rows < 200 ms. Each timing includes
everything a caller pays: taking the file lock, opening the DuckDB file, the
transaction, closing (and checkpointing). Prints one JSON object.

    .venv/bin/python benchmarks/store.py [--rows 10000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

from flowray.core.forecast import simulate
from flowray.core.scenario import Scenario
from flowray.records.ledger import insert_distribution, insert_ledger_row, prepare_forecast
from flowray.store import Store


def _timed(fn, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2),
        "min_ms": round(times[0], 2),
        "max_ms": round(times[-1], 2),
        "repeat": repeat,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000, help="ledger rows to list")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    scenario = Scenario(
        throughput=[3, 5, 0, 7, 4, 6, 2, 5, 9, 1, 4, 6],
        backlog=(120, 160),
        split_rate=(1.0, 1.3),
        start=dt.date(2026, 1, 5),
        deadline=dt.date(2026, 9, 1),
    )
    result = simulate(scenario, runs=100_000, seed=1).to_dict()
    bins = len(result["histogram"]["periods"])

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        store.add_project("Bench")
        # seed the ledger in bulk (one transaction) so listing has args.rows rows to read
        prepared = prepare_forecast(
            result, kind=None, created_by="bench", data_window=None, data_periods=None, name=None
        )

        def seed(con) -> None:
            pid = store._project_id(con, "Bench")
            for _ in range(args.rows - args.repeat):
                fid = insert_ledger_row(con, dict(prepared.row, project_id=pid))
                insert_distribution(con, fid, prepared.values, prepared.counts)

        started = time.perf_counter()
        store._write(seed)
        seed_s = time.perf_counter() - started

        save = _timed(lambda: store.save_forecast("Bench", result), args.repeat)
        rows = len(store.list_forecasts())
        listing = _timed(lambda: store.list_forecasts(), max(5, args.repeat // 3))
        one = _timed(lambda: store.get_forecast(rows // 2), args.repeat)
        dist = _timed(lambda: store.get_distribution(rows // 2), args.repeat)
        size_mb = (Path(tmp) / "bench.duckdb").stat().st_size / 1e6

    print(
        json.dumps(
            {
                "benchmark": "store",
                "histogram_bins": bins,
                "runs_per_forecast": result["runs"],
                "ledger_rows": rows,
                "distribution_rows": rows * len(prepared.values),
                "seed_seconds": round(seed_s, 2),
                "file_mb": round(size_mb, 1),
                "save_forecast": {**save, "target_ms": 50, "met": save["median_ms"] < 50},
                "list_forecasts": {**listing, "target_ms": 200, "met": listing["median_ms"] < 200},
                "get_forecast": one,
                "get_distribution": dist,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
