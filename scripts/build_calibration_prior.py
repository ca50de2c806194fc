"""Rebuild flowray/data/calibration_prior.json: the pooled calibration prior of the default method.

Reads every weekly series in --data (default tests/fixtures/throughput/), keeps
the tuning part (sha256 of the file stem "owner__name" starts with 0-9; a-f is
the hold-out, never read here), makes the default method's forecast at every
origin from week 8 on whose outcome is known, at each stored horizon, and
stores per (question, horizon) 100 quantiles of the standardised errors, each
series weighing the same. Deterministic: the same inputs give the same file,
byte for byte.

    .venv/bin/python scripts/build_calibration_prior.py
    .venv/bin/python scripts/build_calibration_prior.py --series psf__black etcd-io__etcd --out /tmp/p.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flowray.core import backtest, calibration_prior  # noqa: E402
from flowray.importers.throughput_files import read_throughput_csv  # noqa: E402
from flowray.pipeline.backtest import METADATA_FILES  # noqa: E402

DATA = ROOT / "tests" / "fixtures" / "throughput"
OUT = ROOT / "flowray" / "data" / calibration_prior.PRIOR_FILE
STRENGTH = 24.0
"""The prior counts as this many own past errors (docs/model.md; chosen on the tuning part)."""
RUNS = backtest.DEFAULT_RUNS
SEED = 0
DIGITS = 4  # decimals kept in the file: errors are read to a tenth of a spread at best


def tuning_files(data: Path, names: Sequence[str] | None = None) -> list[Path]:
    """The tuning part of the series in `data` (all of them matching `names`, when given)."""
    files = sorted(f for f in data.glob("*.csv") if f.name.lower() not in METADATA_FILES)
    if names:
        wanted = set(names)
        files = [f for f in files if f.stem in wanted]
        missing = wanted - {f.stem for f in files}
        if missing:
            raise SystemExit(f"--series: not in {data}: {', '.join(sorted(missing))}")
    return [f for f in files if calibration_prior.is_tuning(f.stem)]


def read_values(path: Path) -> np.ndarray:
    return np.asarray([value for _, value in read_throughput_csv(path)], dtype=float)


def build(files: Sequence[Path], strength: float = STRENGTH) -> dict[str, Any]:
    """The prior's JSON document from these series."""
    errors = {
        path.stem: calibration_prior.series_errors(
            read_values(path),
            calibration_prior.HORIZONS,
            backtest.DEFAULT_BASE_METHOD,
            backtest.DEFAULT_WINDOW,
            RUNS,
            SEED,
        )
        for path in files
    }
    return document_from_errors(errors, strength)


def document_from_errors(
    errors: dict[str, dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]],
    strength: float = STRENGTH,
) -> dict[str, Any]:
    """The document from each series' (origins, errors) by (question, H), as `series_errors` gives."""
    names = sorted(errors)
    table: dict[str, dict[str, list[float]]] = {q: {} for q in backtest.QUESTIONS}
    for question in backtest.QUESTIONS:
        for h in calibration_prior.HORIZONS:
            per_series = [errors[name][(question, h)][1] for name in names]
            if not any(z.size for z in per_series):
                continue
            quantiles = calibration_prior.pooled_quantiles(per_series)
            table[question][str(h)] = [round(float(v), DIGITS) for v in quantiles]
    return {
        "format": calibration_prior.FORMAT,
        "what": (
            "Quantiles of the standardised errors z = (actual - median) / half the 10-90% range "
            "of the default method's forecasts, pooled over real weekly series (each weighing "
            "the same), by question and horizon in weeks."
        ),
        "method": backtest.DEFAULT_BASE_METHOD,
        "window": backtest.DEFAULT_WINDOW,
        "strength": strength,
        "teams": len(names),
        "series": names,
        "split": "tuning part only: sha256 of the file stem starts with 0-9",
        "runs": RUNS,
        "seed": SEED,
        "first_origin": calibration_prior.MIN_PERIODS,
        "quantiles": calibration_prior.QUANTILES,
        "errors": table,
    }


def dumps(document: dict[str, Any]) -> str:
    """Indented JSON with each flat list on one line: small, and a rebuild reads well in a diff."""
    text = json.dumps(document, indent=1, sort_keys=True)
    return re.sub(
        r"\[\s+([^\[\]{}]*?)\s+\]",
        lambda m: "[" + ", ".join(part.strip() for part in m.group(1).split(",")) + "]",
        text,
    )


def write(document: dict[str, Any], out: Path) -> None:
    calibration_prior.parse_prior(document)  # never ship a file the package would refuse
    out.write_text(dumps(document) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--series", nargs="*", help="file stems to use (default: every series)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    files = tuning_files(args.data, args.series)
    if not files:
        raise SystemExit(f"no tuning series in {args.data}")
    write(build(files), args.out)
    print(f"{args.out}: {len(files)} tuning series")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
