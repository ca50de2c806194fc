"""`flowray cycle-time`: cycle-time percentiles and the items in progress of a stored project."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from flowray.cli.store_cmds import add_db_option


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "cycle-time",
        help="cycle-time percentiles and the age of the items in progress",
        description=(
            "From the project's work items (flowray import items): how many days finished "
            "items took (cycle time = done - started + 1 calendar days) at 50/70/85/95%%, and "
            "each item in progress by age: the share of finished items it is older than, and "
            "the date by which it is 85%% likely done, from the finished items that took at "
            "least as long."
        ),
    )
    parser.add_argument("--project", required=True, help="the project whose work items to read")
    add_db_option(parser)
    parser.add_argument(
        "--today", help="count ages to this day, YYYY-MM-DD (default: today); later dates unseen"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run_cycle_time)


def run_cycle_time(args: argparse.Namespace) -> int:
    from flowray import pipeline
    from flowray.core.validation import parse_date

    today = parse_date("--today", args.today)
    report = pipeline.cycle_time_report(args.project, args.db, today)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print("\n".join(report_lines(report)))
    return 0


def report_lines(report: Any) -> list[str]:
    """The report in plain words: percentiles, then the items in progress, oldest first."""
    from flowray.text import long_date, short_date

    lines = [
        f"{report.project}: cycle time of {report.finished} finished items, as of "
        f"{long_date(report.today)} (done - started + 1 calendar days)"
    ]
    ranges = report.analysis.percentile_ranges
    for level, days in report.percentiles.items():
        low, high = ranges[level]
        lines.append(
            f"  {level}% of items finished within {days} day{'s' if days != 1 else ''}"
            f"  (95% range {low}-{high})"
        )
    lines.append(
        f"  (a range: how far the percentile could move with {report.finished} other items "
        "of the same process)"
    )
    ageing = report.in_progress
    if not ageing:
        lines.append("No items in progress.")
    else:
        lines.append(f"Items in progress ({len(ageing)}), oldest first:")
        rows = [
            ("item", "started", "age", "band", "compared with finished items", "85% likely done by")
        ]
        for item in ageing:
            forecast = item.forecast
            when = (
                f"{short_date(forecast.date(85))} (from {forecast.rests_on} items)"
                if forecast.reliable
                else f"cannot be said: {forecast.rests_on} finished took as long"
            )
            rows.append(
                (
                    item.item_id,
                    short_date(item.started_on),
                    f"{item.age} d",
                    item.band_label(),
                    item.older_than_words(report.finished),
                    when,
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            lines.append(
                "  "
                + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
    left_out = report.left_out_lines()
    if left_out:
        lines.append("Left out: " + "; ".join(left_out) + ".")
    lines.extend(f"warning: {w}" for w in report.warnings)
    return lines
