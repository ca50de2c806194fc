"""flowray agrees with the independent reference model (tests/reference/reference_model.py).

Same scenarios as shared/checks/check_engine.py: with 1e6 runs on each side the
CDFs of completion periods differ by at most 0.005 (sampling noise alone stays
below about 0.003).
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from flowray import Scenario, Team, simulate

HERE = Path(__file__).resolve().parents[1]
RUNS = 1_000_000
LIMIT = 0.005


def _load_reference():
    spec = importlib.util.spec_from_file_location(
        "reference_model", HERE / "reference" / "reference_model.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["reference_model"] = module  # its dataclasses look themselves up here
    spec.loader.exec_module(module)
    return module


ref = _load_reference()


def recent(name: str, n: int) -> list[int]:
    with open(HERE / "fixtures" / "throughput" / name) as f:
        rows = list(csv.DictReader(f))
    return [int(r["throughput"]) for r in rows][-n:]


BLACK = recent("psf__black.csv", 20)
ETCD = recent("etcd-io__etcd.csv", 26)

CASES = {
    "black-50": (dict(throughput=BLACK, backlog=50), dict(throughput=BLACK, backlog=50)),
    "zeros": (
        dict(throughput=[0, 1, 0, 4, 0, 0, 2], backlog=20),
        dict(throughput=[0, 1, 0, 4, 0, 0, 2], backlog=20),
    ),
    "range+split": (
        dict(throughput=ETCD, backlog=(100, 160), split=(1.0, 1.4)),
        dict(throughput=ETCD, backlog=(100, 160), split_rate=(1.0, 1.4)),
    ),
    "risk": (
        dict(throughput=BLACK, backlog=30, risks=[(0.5, 2, 6, 12)]),
        dict(throughput=BLACK, backlog=30, risks=[(0.5, 2, 6, 12)]),
    ),
    "team+focus": (
        dict(throughput=ETCD, backlog=120, history_size=5, active=3, focus=0.5),
        dict(throughput=ETCD, backlog=120, team=Team(5, 3, 3), focus=0.5),
    ),
    "split-samples": (
        dict(throughput=BLACK, backlog=40, split_samples=[1, 1.5, 3]),
        dict(throughput=BLACK, backlog=40, split_rate=[1, 1.5, 3]),
    ),
    "horizon": (
        dict(throughput=[0, 0, 1], backlog=40, max_periods=100),
        dict(throughput=[0, 0, 1], backlog=40, max_periods=100),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_cdf_matches_reference(name):
    ref_spec, our_spec = CASES[name]
    reference = ref.simulate_vectorised(ref.Scenario(**ref_spec), RUNS, 77)
    ours = simulate(Scenario(**our_spec), runs=RUNS, seed=3)
    periods = np.flatnonzero(ours.counts)
    gap = ref.ks_distance(reference, periods.tolist(), ours.counts[periods].tolist())
    assert gap <= LIMIT, f"{name}: CDF gap {gap:.4f}"
    max_periods = ours.scenario.max_periods
    for p in (50, 85):
        theirs, mine = ref.percentile(reference, p), ours.percentile(p)
        if mine is None:  # beyond the horizon: the reference counts it as max_periods + 1
            assert theirs > max_periods - 1
        else:
            assert abs(theirs - mine) <= 1
