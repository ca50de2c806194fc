"""`flowray backtest` (how good would the forecasts have been?) and `flowray deadline` (ML next to Monte Carlo)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from flowray.core.limits import MAX_SEED
from flowray.core.validation import whole_number
from flowray.exceptions import InputError
from flowray.text import printable


def _print_json(data: dict[str, Any]) -> None:
    json.dump(_clean(data), sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


def _clean(value: Any) -> Any:
    """NaN (a block without origins) becomes null: strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _positive(name: str, text: str) -> int:
    return whole_number(name, text, 1)


def _seed(text: str) -> int:
    return whole_number("--seed", text, 0, MAX_SEED)


# --------------------------------------------------------------------------- backtest


def _share(value: float | None, probability: bool = False) -> str:
    """A share in whole percent ('-' without origins).

    With `probability` (the "ideal" column: the forecasts' own mean
    probability of being met) it never reads 100 or 0: '>99' and '<1'.
    """
    if value is None or not math.isfinite(value):
        return "  -"
    if probability and value >= 0.995:
        return ">99"
    if probability and value <= 0.005:
        return " <1"
    return f"{100 * value:3.0f}"


def _block_line(label: str, block: dict[str, Any]) -> str:
    cov = block["coverage"]
    ideal = block.get("ideal", {})
    pit = block.get("pit_coverage", {})
    shares = "  ".join(
        f"{k}%:{_share(v)}/{_share(ideal.get(k), True)}/{_share(pit.get(k))}"
        for k, v in cov.items()
    )
    crps = block["crps"]
    crps_text = "-" if crps is None or not math.isfinite(crps) else f"{crps:.2f}"
    return f"  {printable(label):<28} {shares}   CRPS {crps_text:>6}   origins {block['origins']}"


def _describe_backtest(report: dict[str, Any]) -> str:
    last = report.get("last_origin")
    origins = f"origins {report['first_origin']} to {'the end' if last is None else last}"
    lines = [
        f"Backtest of {report['method']} (window {report['window']}), horizon {report['horizon']} periods, "
        f"{origins}, every {report['step']} periods.",
        "Each level reads met/ideal/PIT in %: met = share of origins where the forecast came true; "
        "ideal = what a perfectly calibrated forecast of this whole-number form would reach; "
        "PIT = the same level read from randomised PITs (calibrated = the level itself).",
    ]
    for question, title in (
        ("how_many", "how many (at least X)"),
        ("when", "when (within w periods)"),
    ):
        lines.append(f"{title}:")
        lines.append(_block_line("pooled", report["pooled"][question]))
        for row in report["series"]:
            lines.append(_block_line(row["name"], row[question]))
    return "\n".join(lines)


def _run_backtest(args: argparse.Namespace) -> int:
    from flowray import pipeline
    from flowray.core import backtest
    from flowray.core.checks import MIN_PERIODS

    method = args.method or backtest.DEFAULT_METHOD
    backtest.parse_method(method)
    window = backtest.DEFAULT_WINDOW if args.window is None else backtest.parse_window(args.window)
    horizon = whole_number("--horizon", args.horizon, 1, backtest.MAX_HORIZON)
    first_origin = (
        backtest.DEFAULT_FIRST_ORIGIN
        if args.first_origin is None
        else whole_number("--first-origin", args.first_origin, MIN_PERIODS)
    )
    last_origin = (
        None if args.last_origin is None else whole_number("--last-origin", args.last_origin, 0)
    )
    if last_origin is not None and last_origin < first_origin:
        raise InputError(
            "--last-origin",
            args.last_origin,
            f"must not come before --first-origin ({first_origin})",
        )
    series = pipeline.load_series(args.data)
    result = pipeline.run_backtest(
        series,
        methods=[method],
        windows=[window],
        horizons=(horizon,),
        step=_positive("--step", args.step),
        runs=_positive("--runs", args.runs),
        seed=_seed(args.seed),
        first_origin=first_origin,
        last_origin=last_origin,
        engine="ray" if args.ray else "serial",
        labels={"horizon": "--horizon", "first_origin": "--first-origin"},
    )
    report = result.report(method, window, horizon)
    skipped = [f"{r['name']}: {r['skipped']}" for r in report["series"] if r.get("skipped")]
    for line in skipped:
        print(f"warning: {line}", file=sys.stderr)
    if args.json:
        _print_json(report)
    else:
        print(_describe_backtest(report))
    return 0


# --------------------------------------------------------------------------- deadline


def _describe_deadline(comparison: Any) -> str:
    from flowray.text import format_probability

    scenario = comparison.scenario
    lines = [
        f"Deadline {scenario.deadline.isoformat()} for {scenario.backlog} items from {scenario.start.isoformat()}:"
    ]
    answers = [
        (label, r)
        for label, r in (
            ("Monte Carlo", comparison.mc),
            (f"ML ({comparison.ml_method})", comparison.ml),
        )
        if r is not None
    ]
    header = f"  {'likely':>6}" + "".join(f"  {label:>26}" for label, _ in answers)
    lines.append(header)
    for level in (50, 70, 85, 95):
        row = f"  {level:>5}%"
        for _, result in answers:
            periods = result.percentile(level)
            if periods is None:
                cell = "beyond horizon"
            else:
                err = result.percentile_error(level)["plus_minus"]
                cell = f"{periods} p, {scenario.date_of(periods).isoformat()} ±{err}"
            row += f"  {cell:>26}"
        lines.append(row)
    row = f"  {'P(done)':>6}"
    for _, result in answers:
        row += f"  {format_probability(result.probability_by_deadline):>26}"
    lines.append(row)
    row = f"  {'85% ≥':>6}"
    for _, result in answers:
        row += f"  {str(result.items_by_deadline(85)) + ' items by the deadline':>26}"
    lines.append(row)
    lines.append("  (p = periods; ± = Monte Carlo error of the percentile, in periods)")
    for note in comparison.notes:
        lines.append(f"  note: {note}")
    consensus = comparison.consensus()
    if consensus:
        lines.append(f"  {consensus}")
    return "\n".join(lines)


def _run_deadline(args: argparse.Namespace) -> int:
    from flowray import pipeline
    from flowray.cli.forecast_cmds import read_throughput, scenario_fields
    from flowray.cli.store_cmds import require_ledger

    if args.project:  # reads the ledger: a mistyped --db must not create one
        require_ledger(args)
    request = pipeline.ForecastRequest(
        kind="deadline",
        throughput=read_throughput(args),
        project=args.project,
        window=None if args.window is None else _positive("--window", args.window),
        fields=scenario_fields(args),
        force=args.force,
        db_path=args.db,
    )
    scenario, warnings = pipeline.build_scenario(request)
    if scenario.deadline is None or scenario.start is None:
        raise InputError(
            "--deadline", args.deadline, "the deadline analysis needs a deadline and a start date"
        )
    comparison = pipeline.run_deadline_comparison(
        scenario,
        method=args.method,
        runs=_positive("--runs", args.runs),
        seed=_seed(args.seed),
        ml_method=args.ml_method,
        engine="ray" if args.ray else "serial",
    )
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        data = comparison.to_dict()
        data["warnings"] = warnings
        data["deadline"] = scenario.deadline.isoformat()
        data["start"] = scenario.start.isoformat()
        data["method"] = args.method
        _print_json(data)
    else:
        print(_describe_deadline(comparison))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from flowray.core import backtest, ml, ml_deadline
    from flowray.core.checks import MIN_PERIODS

    bt = sub.add_parser(
        "backtest",
        help="rolling-origin backtest: how good would the forecasts have been?",
        description=(
            "At past origins, forecast the next H periods from the history before each origin only, "
            "and score how many and when against what actually happened. Without --method/--window "
            f"flowray's default is used ({backtest.DEFAULT_METHOD}, window "
            f"{backtest.window_label(backtest.DEFAULT_WINDOW)})."
        ),
    )
    bt.add_argument(
        "--data", required=True, help="a folder of week_start,throughput CSVs, or one such file"
    )
    bt.add_argument(
        "--horizon",
        default=str(backtest.DEFAULT_HORIZON),
        help=f"periods forecast at each origin, 1 to {backtest.MAX_HORIZON} (default %(default)s)",
    )
    bt.add_argument(
        "--window",
        help="periods of history each forecast sees, or 'all' (default: flowray's default)",
    )
    bt.add_argument(
        "--method",
        help=f"{'|'.join(backtest.BASE_METHODS)}, optionally with {backtest.CALIBRATED_SUFFIX} (default: flowray's default)",
    )
    bt.add_argument(
        "--step",
        default=str(backtest.DEFAULT_STEP),
        help="periods between scored origins (default %(default)s)",
    )
    bt.add_argument(
        "--runs",
        default=str(backtest.DEFAULT_RUNS),
        help="simulated futures per forecast (default %(default)s)",
    )
    bt.add_argument("--seed", default="0", help="random seed (default 0)")
    bt.add_argument(
        "--first-origin",
        help=(
            "first scored origin, in periods from each series' start (at least "
            f"{MIN_PERIODS}; default {backtest.DEFAULT_FIRST_ORIGIN})"
        ),
    )
    bt.add_argument(
        "--last-origin",
        help=(
            "last scored origin, in periods from each series' start (default: as late as the "
            "series allows); with --first-origin 10 --last-origin 64, young histories only"
        ),
    )
    bt.add_argument("--ray", action="store_true", help="fan series out as Ray tasks")
    bt.add_argument("--json", action="store_true", help="print one JSON object")
    bt.set_defaults(handler=_run_backtest)

    dl = sub.add_parser(
        "deadline",
        help="P(done by a deadline), when and how many: ML next to Monte Carlo",
        description=(
            "The deadline analysis with ML throughput paths, Monte Carlo, or both side by side, "
            "with a consensus note when they disagree."
        ),
    )
    dl.add_argument(
        "--method",
        choices=ml_deadline.METHODS,
        default="both",
        help="ml, mc or both (default both)",
    )
    dl.add_argument(
        "--ml-method",
        choices=ml.METHODS,
        default=ml_deadline.DEFAULT_ML_METHOD,
        help="ML forecaster (default gbm)",
    )
    group = dl.add_argument_group("throughput history")
    src = group.add_mutually_exclusive_group(required=True)
    src.add_argument("--throughput", help="items done per period, oldest first: 5,6,0,7")
    src.add_argument(
        "--throughput-file", help="CSV with a 'throughput' column, or work items with done dates"
    )
    src.add_argument("--project", help="use this project's stored history (see --db)")
    group.add_argument("--period-days", default=7, help="days per period (default 7)")
    group.add_argument("--window", help="use only the last N periods of history")
    group.add_argument(
        "--sampler",
        default="bootstrap",
        help="Monte Carlo sampler: bootstrap|block|recency|weibull",
    )
    dl.add_argument("--backlog", required=True, help="items left: 100, or a range 80:120")
    dl.add_argument("--start", required=True, help="start date YYYY-MM-DD")
    dl.add_argument("--deadline", required=True, help="deadline YYYY-MM-DD")
    dl.add_argument("--max-periods", help="horizon cap (default 520)")
    dl.add_argument(
        "--force",
        action="store_true",
        help="forecast even from fewer than 8 periods (with a warning)",
    )
    dl.add_argument("--runs", default="100000", help="simulated futures (default 100000)")
    dl.add_argument("--seed", default="0", help="random seed (default 0)")
    dl.add_argument(
        "--db", help="database file for --project (default FLOWRAY_DB or ./flowray.duckdb)"
    )
    dl.add_argument("--ray", action="store_true", help="run ML and Monte Carlo as Ray tasks")
    dl.add_argument("--json", action="store_true", help="print one JSON object")
    dl.set_defaults(handler=_run_deadline)
