"""Memory one chunk allocates, by backlog: the histograms must not grow with the backlog.

Usage: .venv/bin/python benchmarks/chunk_memory.py [--root TREE] > benchmarks/results/chunk_memory.json

For each scenario, simulates one chunk of CHUNK_RUNS runs (after a first call
that compiles the kernel) and reports the peak of tracemalloc, which follows
every numpy array the engine allocates (the histograms, their trimmed copies),
and the size of the histogram of total items per run. The kernel's own scratch
arrays (a run's total and lead time, 16 bytes a run) live in numba's allocator,
which tracemalloc does not see; they depend on the chunk's runs alone.

`--root` imports flowray from another source tree (e.g. `git archive` of an
earlier commit unpacked in a temporary folder), so a "before" can be measured
by the same script.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCENARIOS = {
    # an ordinary backlog, every histogram filled (the "every feature on" of benchmarks/engine.py)
    "ordinary (100-140, split, risks, deadline)": dict(
        throughput=[14, 9, 16, 11, 0, 13, 12, 15, 8, 17],
        backlog=(100, 140),
        split_rate=(1.0, 1.3),
        risks=[(0.3, 5, 10, 20)],
        start="2026-01-05",
        deadline="2026-06-01",
    ),
    "backlog 10,000": dict(throughput=[1, 2, 3], backlog=10_000),
    "backlog 1,000,000": dict(throughput=[1, 2, 3], backlog=1_000_000),
    "backlog 9,999,999 (the largest 461098c accepts)": dict(
        throughput=[1, 2, 3], backlog=9_999_999
    ),
    "backlog range 10..9,999,999": dict(throughput=[1, 2, 3], backlog=(10, 9_999_999)),
    "backlog 3,000,000 split 1..3": dict(
        throughput=[1, 2, 3], backlog=3_000_000, split_rate=(1.0, 3.0)
    ),
}

# the other histograms a large input could make large: effort, items by a deadline, "how many"
OTHERS = {
    "team of 100,000 (effort)": (
        dict(throughput=[5], backlog=100, team=dict(min_contributors=1e5, max_contributors=1e5)),
        None,
    ),
    "100,000 items a period, deadline in 40 periods, backlog 10,000,000": (
        dict(throughput=[100_000], backlog=9_999_999, start="2026-01-05", deadline="2026-10-12"),
        None,
    ),
    "daily periods for 200 years (the burn-down fan)": (
        dict(throughput=[0, 1], backlog=100, period_days=1, max_periods=73_200),
        None,
    ),
    "how many: 1,000,000 items a period for 100,000 periods": (
        dict(throughput=[1_000_000], backlog=1),
        100_000,
    ),
}


def other_memory(spec: dict, how_many_periods: int | None) -> dict:
    """Peak traced memory of one chunk of 256 runs, or the error it ends with."""
    from flowray.core.engine import Chunk, Question, simulate_chunk
    from flowray.core.scenario import Scenario

    scenario = Scenario(**spec)
    question = Question() if how_many_periods is None else Question("how_many", how_many_periods)
    tracemalloc.start()
    try:
        simulate_chunk(scenario, 0, Chunk(1, 256), question)
        return {"peak_traced_mb": round(tracemalloc.get_traced_memory()[1] / 2**20, 3)}
    except MemoryError as exc:
        return {"error": f"MemoryError: {str(exc)[:80]}"}
    finally:
        tracemalloc.stop()


def chunk_memory(spec: dict) -> dict:
    from flowray.core.engine import CHUNK_RUNS, Chunk, simulate_chunk
    from flowray.core.scenario import Scenario

    scenario = Scenario(max_periods=52, **spec)
    simulate_chunk(scenario, 0, Chunk(0, 16))  # compile outside the measurement
    tracemalloc.start()
    try:
        hist = simulate_chunk(scenario, 0, Chunk(1, CHUNK_RUNS))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert hist.totals is not None and int(hist.totals.sum()) == CHUNK_RUNS
    allocated = scenario.max_total_items() + 2  # the sizing before bucketing
    try:
        from flowray.core.engine import totals_layout

        allocated = totals_layout(scenario).size
    except ImportError:  # an earlier tree: one entry per item count
        pass
    return {
        "max_total_items": scenario.max_total_items(),
        "peak_traced_mb": round(peak / 2**20, 3),
        "totals_entries_allocated": allocated,
        "totals_mb_allocated": round(allocated * 8 / 2**20, 3),
        "totals_entries_kept": int(hist.totals.size),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=str(ROOT), help="source tree to import flowray from")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.root).resolve()))
    import flowray

    out = {
        "machine": {"python": platform.python_version()},
        "flowray_from": str(Path(flowray.__file__).resolve().parents[1]),
        "max_periods": 52,
        "chunk": {name: chunk_memory(spec) for name, spec in SCENARIOS.items()},
    }
    out["largest_peak_traced_mb"] = max(v["peak_traced_mb"] for v in out["chunk"].values())
    out["others_256_runs"] = {name: other_memory(*case) for name, case in OTHERS.items()}
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
