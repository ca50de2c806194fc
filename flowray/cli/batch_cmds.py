"""`flowray batch`: run the batch-forecast notebook with papermill into a dated report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from flowray.runners.papermill import DEFAULT_NOTEBOOK, DEFAULT_REPORTS_DIR

    parser = sub.add_parser(
        "batch",
        help="re-forecast every active project (the scheduled papermill job)",
        description=(
            "Run the batch-forecast notebook with papermill: re-forecast every active project "
            "from its stored history, then every stored portfolio as it stands today, save the "
            "forecasts to the ledger, score resolved ones, and list alerts. The executed notebook and an HTML copy go to REPORTS/<date>/; "
            "a second run the same day is kept as batch_forecast-2, -3... "
            "Every parameter and the ledger path are checked first. The summary (projects "
            "forecast, skipped with the reason, failed with the error, alerts) goes to stdout. "
            "Exit code 0 when every project was forecast or skipped for a stated reason (no plan, "
            "no history), 1 when a cell failed or any project could not be forecast because of "
            "an error (a stored portfolio too), 2 for bad options or a missing ledger. Schedule it with cron or a systemd timer (docs/batch.md)."
        ),
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="database to re-forecast (default: FLOWRAY_DB, else ./flowray.duckdb)",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a notebook parameter, read as papermill reads it (int, float, True/False/None, "
        "else text) and checked against the parameter's declared type; repeatable "
        "(e.g. -p runs 20000 -p as_of 2026-03-02)",
    )
    parser.add_argument(
        "--reports",
        type=Path,
        default=DEFAULT_REPORTS_DIR,
        help=f"folder of dated reports (default ./{DEFAULT_REPORTS_DIR})",
    )
    parser.add_argument(
        "--notebook",
        type=Path,
        default=DEFAULT_NOTEBOOK,
        help="the notebook to run (default: the repository's notebooks/batch_forecast.ipynb, or the copy inside an installed flowray)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="fail a cell that runs longer than this, above 0 and at most a week (default: no limit)",
    )
    parser.add_argument(
        "--list-parameters",
        action="store_true",
        help="print the notebook's parameters (name, type, default, help) and exit",
    )
    parser.set_defaults(handler=run_batch)


def run_batch(args: argparse.Namespace) -> int:
    from flowray.runners import papermill as batch

    if args.list_parameters:
        for name, info in batch.notebook_parameters(args.notebook).items():
            print(f"{name}: {info['type']} = {info['default']}  # {info['help']}")
        return 0
    run = batch.run_batch_notebook(
        [tuple(pair) for pair in args.parameter],
        db_path=args.db,
        reports_dir=args.reports,
        notebook=args.notebook,
        cell_timeout=args.timeout,
    )
    for line in batch.describe_run(run):
        print(line)
    if run.failure is not None:  # the same test as `not run.ok`
        print(f"flowray batch: {run.failure.describe()}", file=sys.stderr)
        return 1
    if run.summary is not None:  # describe_run printed it
        if run.failed_projects:
            print(
                f"flowray batch: {len(run.failed_projects)} project(s) failed: "
                + "; ".join(run.failed_projects),
                file=sys.stderr,
            )
            return 1
        return 0
    alerts = run.tagged_output()
    if alerts.lstrip().startswith("Empty DataFrame"):
        print("alerts: none")
    elif alerts.strip():
        print("alerts:")
        print(alerts)
    return 0
