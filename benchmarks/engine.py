"""Engine benchmark: speed against the machine's raw random-draw rate and the per-run loop; memory.

Usage: .venv/bin/python benchmarks/engine.py [--quick] > benchmarks/results/engine.json

Everything is measured in one run, pinned to one core, and timed in CPU time of
the measuring thread (time.thread_time), best of several repeats: on a shared,
noisy machine other processes then cost waiting, not measured time, and the
ratios stay meaningful even when wall-clock numbers move. The raw draw rate is
measured before and after the model, and the best of both is used.

`bare_loop_simple` is the ceiling: the kernel's generator and draw, one
subtraction and the exit test per period, nothing recorded. It shows how much
of the machine's attainable rate the complete model's bookkeeping leaves.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reference"))

HISTORY = [
    14,
    9,
    16,
    11,
    0,
    13,
    12,
    15,
    8,
    17,
    10,
    14,
    19,
    6,
    12,
    13,
    11,
    16,
    9,
    15,
    12,
    10,
    18,
    13,
    7,
    14,
]
SIMPLE = dict(throughput=HISTORY, backlog=120)
FULL = dict(
    throughput=HISTORY,
    backlog=(100, 140),
    split_rate=(1.0, 1.3),
    risks=[(0.3, 5, 10, 20), (0.1, 10, 15, 30)],
    team={"history_size": 5, "min_contributors": 2, "max_contributors": 6, "s_curve": 20},
    focus=0.8,
    lead_time_days=[2, 5, 9, 14],
    start="2026-01-05",
    deadline="2026-06-01",
)


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def raw_draw_rate(n_values: int, repeats: int = 5) -> float:
    """Generator.integers draws/s in cache-sized batches (best of several)."""
    rng = np.random.default_rng(1)
    size, batches = 65_536, 300
    best = 0.0
    for _ in range(repeats):
        t = time.thread_time()
        for _ in range(batches):
            rng.integers(0, n_values, size=size)
        best = max(best, size * batches / (time.thread_time() - t))
    return best


def model_rate(spec: dict, runs: int, repeats: int) -> dict:
    from flowray import Scenario
    from flowray.core.engine import Question, plan_chunks, simulate_chunks
    from flowray.core.forecast import summarize

    scenario = Scenario(**spec)
    simulate_chunks(scenario, 0, plan_chunks(1000))  # compile / warm
    best = None
    for _ in range(repeats):
        t = time.thread_time()
        wall = time.perf_counter()
        hist = simulate_chunks(scenario, 1, plan_chunks(runs))
        result = summarize(scenario, Question(), hist, 1, runs)
        result.percentiles()
        seconds = time.thread_time() - t
        wall = time.perf_counter() - wall
        if best is None or seconds < best[0]:
            best = (seconds, hist.run_periods, wall)
    seconds, run_periods, wall = best
    return {
        "runs": runs,
        "cpu_seconds": round(seconds, 4),
        "wall_seconds": round(wall, 4),
        "runs_per_s": runs / seconds,
        "run_periods_per_s": run_periods / seconds,
        "mean_periods": run_periods / runs,
    }


def bare_loop_rate(spec: dict, runs: int, repeats: int) -> dict:
    """The ceiling: the kernel's own generator and draw, one subtraction and the exit test per
    period, nothing recorded (no histograms, fan, effort, deadline). The complete model
    cannot run faster than this loop."""
    from numba import njit

    from flowray import Scenario
    from flowray.core.kernel import _below, run_stream

    @njit(cache=False)
    def bare(n, values, scale, total, max_periods, chunk_key):  # pragma: no cover - compiled
        n_cols = values.shape[0]
        run_periods = 0
        for r in range(n):
            state, increment = run_stream(chunk_key, r)
            remaining = total
            week = 0
            while remaining > 0.0 and week < max_periods:
                state, col = _below(state, increment, n_cols)
                remaining -= values[col] * scale
                week += 1
            run_periods += week
        return run_periods

    scenario = Scenario(**spec)
    values = np.asarray(scenario.throughput, dtype=np.float64)
    total = float(scenario.backlog_range[0])
    key = np.uint64(12345)
    bare(1000, values, 1.0, total, scenario.max_periods, key)
    best = None
    for _ in range(repeats):
        t = time.thread_time()
        run_periods = bare(runs, values, 1.0, total, scenario.max_periods, key)
        seconds = time.thread_time() - t
        if best is None or seconds < best[0]:
            best = (seconds, run_periods)
    seconds, run_periods = best
    return {
        "runs": runs,
        "cpu_seconds": round(seconds, 4),
        "runs_per_s": runs / seconds,
        "run_periods_per_s": run_periods / seconds,
        "mean_periods": run_periods / runs,
    }


def loop_rate(runs: int) -> dict:
    import reference_model as ref

    scenario = ref.Scenario(throughput=HISTORY, backlog=120)
    t = time.thread_time()
    periods = ref.simulate_loop(scenario, runs, 1)
    seconds = time.thread_time() - t
    return {
        "runs": runs,
        "cpu_seconds": round(seconds, 3),
        "runs_per_s": runs / seconds,
        "run_periods_per_s": sum(periods) / seconds,
    }


def peak_memory_mb(spec_name: str, runs: int) -> float:
    """Peak RSS of a fresh process that simulates `runs` runs (ru_maxrss, MB)."""
    code = (
        f"import json,sys,resource;sys.path.insert(0,{str(ROOT)!r});"
        "from benchmarks.engine import SIMPLE,FULL;from flowray import Scenario,simulate;"
        f"r=simulate(Scenario(**{spec_name}),runs={runs},seed=1);r.percentiles();"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    pin_to_one_core()
    sizes = [10**5, 10**6] if args.quick else [10**5, 10**6, 10**7]
    raw_before = raw_draw_rate(len(HISTORY))
    simple = [model_rate(SIMPLE, n, 3 if n < 10**7 else 1) for n in sizes]
    full = [model_rate(FULL, n, 3 if n < 10**7 else 1) for n in sizes]
    raw = max(raw_before, raw_draw_rate(len(HISTORY)))
    out: dict = {
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cores_used": 1,
            "numpy": np.__version__,
        },
        "raw_numpy_integers_draws_per_s": raw,
        "simple": simple,
        "full": full,
        "reference_loop": loop_rate(5_000 if args.quick else 20_000),
        "bare_loop_simple": bare_loop_rate(SIMPLE, sizes[-1], 3),
    }
    best_simple = max(r["run_periods_per_s"] for r in out["simple"])
    best_full = max(r["run_periods_per_s"] for r in out["full"])
    out["ratios"] = {
        "simple_vs_raw_draws": best_simple / raw,
        "full_vs_raw_draws": best_full / raw,
        "simple_vs_loop_runs_per_s": max(r["runs_per_s"] for r in out["simple"])
        / out["reference_loop"]["runs_per_s"],
        "bare_loop_vs_raw_draws": out["bare_loop_simple"]["run_periods_per_s"] / raw,
        "bare_loop_vs_loop_runs_per_s": out["bare_loop_simple"]["runs_per_s"]
        / out["reference_loop"]["runs_per_s"],
        "simple_vs_bare_loop": best_simple / out["bare_loop_simple"]["run_periods_per_s"],
    }
    mem_runs = [10**6, 10**7] if args.quick else [10**6, 10**8]
    out["peak_memory_mb"] = {f"{n:.0e}": peak_memory_mb("SIMPLE", n) for n in mem_runs}
    values = list(out["peak_memory_mb"].values())
    out["peak_memory_growth_mb"] = values[-1] - values[0]
    out["targets"] = {
        "simple_at_least_half_raw_draw_rate": out["ratios"]["simple_vs_raw_draws"] >= 0.5,
        "full_at_least_half_raw_draw_rate": out["ratios"]["full_vs_raw_draws"] >= 0.5,
        "at_least_100x_loop": out["ratios"]["simple_vs_loop_runs_per_s"] >= 100,
        "memory_growth_below_50mb": out["peak_memory_growth_mb"] < 50,
    }
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
