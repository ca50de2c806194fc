"""The compiled kernel against an earlier version of itself, in one process, on identical inputs.

Usage:
    git archive COMMIT flowray | tar -x -C /tmp/before
    .venv/bin/python benchmarks/kernel_ab.py --before /tmp/before > benchmarks/results/kernel_ab.json

Loads the earlier tree's `flowray/core/kernel.py` beside the current one and
runs the current engine with each kernel in turn (alternating which goes first),
pinned to one core and timed in the CPU time of this thread: on a shared, noisy
machine only a comparison within one process means something. The earlier kernel
must accept the current kernel_args (fields it does not read are ignored). Also
checks that both kernels fill identical histograms.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.engine import FULL, SIMPLE  # noqa: E402

FIELDS = ("periods", "totals", "effort", "fan", "deadline_items")


def load_kernel(tree: Path):
    """The earlier tree's kernel module, under a name of its own (its numba cache is cleared)."""
    path = tree / "flowray" / "core" / "kernel.py"
    for stale in (path.parent / "__pycache__").glob("kernel.*.nb*"):
        stale.unlink()
    spec = importlib.util.spec_from_file_location("kernel_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare(spec: dict, before, repeats: int, runs: int) -> dict:
    from flowray import Scenario
    from flowray.core import kernel
    from flowray.core.engine import Chunk, simulate_chunk

    scenario = Scenario(**spec)
    current = kernel.run_when
    pair = (("before", before.run_when), ("after", current))
    rates: dict[str, list[float]] = {"before": [], "after": []}
    last = {}
    try:
        for _, fn in pair:  # compile both first
            kernel.run_when = fn
            simulate_chunk(scenario, 0, Chunk(0, 100))
        for rep in range(repeats):
            for name, fn in pair if rep % 2 else pair[::-1]:
                kernel.run_when = fn
                start = time.thread_time()
                hist = simulate_chunk(scenario, 1, Chunk(0, runs))
                rates[name].append(hist.run_periods / (time.thread_time() - start) / 1e6)
                last[name] = hist
    finally:
        kernel.run_when = current
    a, b = last["before"], last["after"]
    identical = all(
        (getattr(a, f) is None and getattr(b, f) is None)
        or np.array_equal(getattr(a, f), getattr(b, f))
        for f in FIELDS
    )
    before_sorted, after_sorted = sorted(rates["before"]), sorted(rates["after"])
    mid = repeats // 2
    return {
        "before_best_M_run_periods_per_s": round(before_sorted[-1], 1),
        "before_median": round(before_sorted[mid], 1),
        "after_best": round(after_sorted[-1], 1),
        "after_median": round(after_sorted[mid], 1),
        "best_ratio": round(after_sorted[-1] / before_sorted[-1], 3),
        "median_ratio": round(after_sorted[mid] / before_sorted[mid], 3),
        "identical_histograms": identical,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True, help="an earlier source tree (git archive)")
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--runs", type=int, default=262_144)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    before = load_kernel(Path(args.before).resolve())
    out = {
        "before": str(Path(args.before).resolve()),
        "runs_per_call": args.runs,
        "repeats": args.repeats,
        "simple": compare(SIMPLE, before, args.repeats, args.runs),
        "full": compare(FULL, before, args.repeats, args.runs),
    }
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
