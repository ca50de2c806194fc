"""Portfolio benchmark: runs/s of a 20-feature, 3-team portfolio on one core, and its memory.

Usage: .venv/bin/python benchmarks/portfolio.py [--quick] [--ray | --ray-only]
Writes benchmarks/results/portfolio.json (or portfolio_quick.json) and prints it.

The portfolio: 20 features over 3 teams (WIP 2 each), mixed sizes (known,
ranges, unknown sizes drawn from past feature sizes), one feature shared by
two teams, one blackout week. Timing is CPU time of the measuring thread
(time.thread_time) pinned to one core, best of several repeats, after a first
call that compiles the kernel. Memory is the peak RSS of a fresh process at
1e5 and 1e7 runs (the target: flat in runs). With --ray, the same job on a
private 1-CPU and then 2-CPU local Ray.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_RUNS_PER_S = 1e5  # 1e5 runs in under 1 s on one core


def benchmark_portfolio():  # type: ignore[no-untyped-def]
    """The benchmark's portfolio (built here so a fresh process can build it too)."""
    from flowray.core.portfolio import Estimate, Feature, Portfolio, PortfolioTeam

    start = dt.date(2026, 1, 5)
    teams = (
        PortfolioTeam("web", throughput=(3, 5, 0, 4, 6, 2, 5, 7, 4, 3, 6, 5), feature_wip=2),
        PortfolioTeam(
            "api",
            throughput=(2, 4, 3, 0, 5, 3, 4, 2, 6, 3),
            feature_wip=2,
            blackouts=((start + dt.timedelta(weeks=6), start + dt.timedelta(weeks=6, days=6)),),
        ),
        PortfolioTeam("mobile", estimate=Estimate(1, 6, 3), feature_wip=2),
    )
    names = [t.name for t in teams]
    features = []
    for i in range(20):
        team = names[i % 3]
        if i == 4:
            features.append(Feature(f"F{i + 1}", {"web": 9, "api": (4, 8)}))
        elif i % 4 == 0:
            features.append(Feature(f"F{i + 1}", 8 + i % 7, teams=(team,)))
        elif i % 4 == 1:
            features.append(Feature(f"F{i + 1}", (5, 15), teams=(team,)))
        elif i % 4 == 2:
            features.append(Feature(f"F{i + 1}", None, teams=(team,)))
        else:
            features.append(Feature(f"F{i + 1}", 6, done=2, teams=(team,)))
    return Portfolio(
        teams=teams,
        features=tuple(features),
        start=start,
        target=start + dt.timedelta(weeks=26),
        feature_sizes=(5, 8, 13, 20),
    )


ALL_CORES = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def cpu_seconds(runs: int, repeats: int) -> dict[str, float]:
    from flowray.core.portfolio_engine import forecast_portfolio

    portfolio = benchmark_portfolio()
    forecast_portfolio(portfolio, runs=1000, seed=0)  # compile
    best = float("inf")
    wall = float("inf")
    periods = 0
    for repeat in range(repeats):
        t0, w0 = time.thread_time(), time.perf_counter()
        result = forecast_portfolio(portfolio, runs=runs, seed=repeat)
        best = min(best, time.thread_time() - t0)
        wall = min(wall, time.perf_counter() - w0)
        periods = result.histograms.run_periods
    return {
        "runs": runs,
        "cpu_s": best,
        "wall_s": wall,
        "runs_per_s": runs / best,
        "periods_per_run": periods / runs,
    }


def peak_memory_mb(runs: int) -> float:
    """Peak RSS of a fresh process that forecasts `runs` runs (ru_maxrss, MB)."""
    code = (
        f"import resource, sys; sys.path.insert(0, {str(ROOT)!r}); "
        "from benchmarks.portfolio import benchmark_portfolio; "
        "from flowray.core.portfolio_engine import forecast_portfolio; "
        f"forecast_portfolio(benchmark_portfolio(), runs={runs}, seed=1); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def ray_speedup(runs: int) -> dict[str, float]:
    """Wall seconds of one portfolio job on a private local Ray with 1 CPU, then 2."""
    from flowray import tasks
    from flowray.jobs.portfolio import submit_portfolio

    out: dict[str, float] = {}
    for cpus in (1, 2):
        tasks.connect("local", num_cpus=cpus)
        tasks.warm_up()
        # seven one-chunk tasks, so every worker loads the compiled kernel before timing
        submit_portfolio(tasks.RAY, benchmark_portfolio(), runs=7 * 65_536, seed=0).result()
        t0 = time.perf_counter()
        submit_portfolio(tasks.RAY, benchmark_portfolio(), runs=runs, seed=0).result()
        out[f"wall_s_{cpus}_cpu"] = time.perf_counter() - t0
        tasks.shutdown()
    out["speedup"] = out["wall_s_1_cpu"] / out["wall_s_2_cpu"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1e5 runs only, one repeat")
    parser.add_argument("--ray-only", action="store_true", help="only the Ray speed-up")
    parser.add_argument("--ray", action="store_true", help="also 1 -> 2 CPUs on a local Ray")
    args = parser.parse_args()
    pin_to_one_core()
    out: dict[str, object] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "python": sys.version},
        "portfolio": "20 features, 3 teams (WIP 2), sizes known/range/unknown, 1 shared, 1 blackout",
    }
    if args.ray_only:
        if hasattr(os, "sched_setaffinity"):  # Ray's workers inherit the driver's affinity
            os.sched_setaffinity(0, ALL_CORES)
        out["ray"] = ray_speedup(2_000_000)
        text = json.dumps(out, indent=2)
        (ROOT / "benchmarks" / "results" / "portfolio_ray.json").write_text(text + "\n")
        print(text)
        return
    sizes = [100_000] if args.quick else [100_000, 10_000_000]
    out["one_core"] = [cpu_seconds(n, 1 if args.quick or n > 1e6 else 3) for n in sizes]
    if not args.quick:
        mem = {f"{n:.0e}": peak_memory_mb(n) for n in (100_000, 10_000_000)}
        out["peak_memory_mb"] = mem
        values = list(mem.values())
        out["peak_memory_growth_mb"] = values[-1] - values[0]
    if args.ray:
        if hasattr(os, "sched_setaffinity"):  # Ray's workers inherit the driver's affinity
            os.sched_setaffinity(0, ALL_CORES)
        out["ray"] = ray_speedup(2_000_000)
    first = out["one_core"][0]  # type: ignore[index]
    out["targets"] = {"1e5_runs_under_1_s_one_core": first["cpu_s"] < 1.0}
    text = json.dumps(out, indent=2)
    name = "portfolio_quick.json" if args.quick else "portfolio.json"
    (ROOT / "benchmarks" / "results" / name).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
