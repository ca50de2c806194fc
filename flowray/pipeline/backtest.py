"""Backtests as a job: every (series, method, window) scored at every past origin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flowray.core import backtest, backtest_report
from flowray.exceptions import InputError
from flowray.importers import read_throughput_file
from flowray.jobs import ChunkTask, Engine, Job
from flowray.pipeline.workspace import engine_named

# Files of a data folder that describe the series rather than being one (see
# tests/fixtures/throughput/README.md).
METADATA_FILES = frozenset({"manifest.csv", "split.csv"})


def load_series(path: str | Path) -> dict[str, list[float]]:
    """Weekly series from a folder of `week_start,throughput` CSVs, or from one such file.

    Names are the file stems (`owner__name`), sorted; values oldest first.
    A folder's MANIFEST.csv and SPLIT.csv are metadata, not series, and are skipped.
    """
    source = Path(path)
    if source.is_dir():
        files = sorted(
            (f for f in source.glob("*.csv") if f.name.lower() not in METADATA_FILES),
            key=lambda p: p.name.lower(),
        )
        if not files:
            raise InputError("data", str(path), "folder holds no .csv files")
    elif source.is_file():
        files = [source]
    else:
        raise InputError("data", str(path), "must be a folder of CSV files or one CSV file")
    return {f.stem: [float(v) for _, v in read_throughput_file(f)] for f in files}


def backtest_tasks(
    series: Mapping[str, Sequence[float]],
    methods: Sequence[str],
    windows: Sequence[int | None],
    options: backtest.BacktestOptions,
) -> list[ChunkTask]:
    """One task per (series, base method, window); its origins run in order inside it,
    because the calibration layer at each origin learns from the earlier origins' errors."""
    out = []
    for base in methods:
        for window in windows:
            for name, values in series.items():
                n_origins = max(1, len(values) - options.first_origin)
                weight = n_origins * (
                    backtest.ML_COST // options.step if base in backtest.ML_METHODS else 1
                )
                out.append(
                    ChunkTask(
                        fn=backtest.backtest_series_task,
                        args=(name, list(values), base, window, options),
                        chunks=int(weight),
                        label=f"{name} {base} W={backtest.window_label(window)}",
                    )
                )
    return out


def _backtest_bases(methods: Sequence[str]) -> list[str]:
    bases: list[str] = []
    for method in methods:
        base, _ = backtest.parse_method(method)
        if base not in bases:
            bases.append(base)
    return bases


def submit_backtest(
    series: Mapping[str, Sequence[float]],
    methods: Sequence[str] | None = None,  # e.g. ["block", "block+cal"]; default: DEFAULT_METHOD
    windows: Sequence[int | None] | None = None,
    horizons: Sequence[int] = (8,),
    step: int = 4,
    runs: int = 2000,
    seed: int = 0,
    first_origin: int | None = None,
    last_origin: int | None = None,
    *,
    engine: str | Engine | None = "ray",
    labels: Mapping[str, str] | None = None,
) -> Job:
    """Backtest methods (base names; '+cal' variants come with them) x windows on every series, as a job.

    Scored origins run from `first_origin` (default 52) to `last_origin`
    (default: as late as each series allows), in periods from each series'
    start; horizons 1 to backtest.MAX_HORIZON. Bounds that no series can
    score raise InputError before anything runs (`labels` names the fields
    as the caller's user knows them). `job.result()` is a
    core.backtest_report.Backtest, the same on either engine.
    """
    methods = list(methods or [backtest.DEFAULT_METHOD])
    window_list = list(windows) if windows is not None else [backtest.DEFAULT_WINDOW]
    options = backtest.BacktestOptions(
        horizons=tuple(horizons),
        step=step,
        runs=runs,
        seed=seed,
        first_origin=backtest.DEFAULT_FIRST_ORIGIN if first_origin is None else first_origin,
        calibrate=any(backtest.parse_method(m)[1] for m in methods),
        last_origin=last_origin,
    )
    options.check_lengths({name: len(values) for name, values in series.items()}, labels)
    job_tasks = backtest_tasks(series, _backtest_bases(methods), window_list, options)

    def finalize(merged: dict[Any, Any] | None) -> backtest_report.Backtest:
        return backtest_report.Backtest(
            merged or {},
            horizons=options.horizons,
            step=options.step,
            runs=options.runs,
            seed=options.seed,
            first_origin=options.first_origin,
            last_origin=options.last_origin,
        )

    return engine_named(engine).submit(
        "backtest", job_tasks, backtest.merge_series_results, finalize
    )


def run_backtest(
    series: Mapping[str, Sequence[float]],
    methods: Sequence[str] | None = None,
    windows: Sequence[int | None] | None = None,
    horizons: Sequence[int] = (8,),
    step: int = 4,
    runs: int = 2000,
    seed: int = 0,
    first_origin: int | None = None,
    last_origin: int | None = None,
    *,
    engine: str | Engine | None = "serial",
    labels: Mapping[str, str] | None = None,
) -> backtest_report.Backtest:
    """`submit_backtest(...).result()`, in this process unless told otherwise."""
    job = submit_backtest(
        series,
        methods,
        windows,
        horizons,
        step,
        runs,
        seed,
        first_origin,
        last_origin,
        engine=engine,
        labels=labels,
    )
    result: backtest_report.Backtest = job.result()
    return result
