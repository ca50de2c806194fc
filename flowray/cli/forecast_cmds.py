"""`flowray when` and `flowray how-many`: forecasts from the command line.

They use flowray's default method, as the dashboards and the batch do
(recency-weighted sampling of the last 12 periods, calibrated on the history's
own past forecast errors; see BACKTESTS.md). The plain model of docs/model.md,
plain bootstrap on all the history as every spreadsheet tool does, is one option
away: `--method bootstrap --window all` (the reference checks use it).
`--sampler S` alone runs that sampler uncalibrated on all the history.

The forecast starts today unless `--start` says otherwise; with `--project`
the deadline defaults to the project's target date.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowray.core.validation import finite_number, whole_number
from flowray.exceptions import InputError

if TYPE_CHECKING:  # pragma: no cover - typing only (the pipeline is imported when a command runs)
    from flowray.pipeline import ForecastRequest


def _floats(field: str, text: str) -> list[float]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise InputError(field, text, "needs comma-separated numbers, e.g. 5,6,0,7")
    return [finite_number(field, p) for p in parts]


def _pair(field: str, text: str, read: Callable[[str, str], Any] = finite_number) -> Any:
    """'80:120' -> (80, 120); '100' -> 100; each part read by `read(field, part)`."""
    parts = text.split(":")
    if len(parts) == 1:
        return read(field, parts[0])
    if len(parts) == 2:
        return (read(field, parts[0]), read(field, parts[1]))
    raise InputError(field, text, "must be a number or LOW:HIGH")


def _levels(text: str | None) -> tuple[float, ...]:
    if not text:
        return (50, 70, 85, 95)
    levels = tuple(_floats("--percentiles", text))
    for level in levels:
        if not 0 < level < 100:
            raise InputError("--percentiles", level, "each level must lie in (0, 100)")
    return levels


def _risk(text: str) -> tuple[float, float, float, float]:
    parts = text.split(":")
    if len(parts) != 4:
        raise InputError("--risk", text, "must be LIKELIHOOD:LOW:MODE:HIGH, e.g. 0.3:2:5:10")
    numbers = [finite_number("--risk", p) for p in parts]
    return numbers[0], numbers[1], numbers[2], numbers[3]


def add_throughput_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("throughput history")
    src = group.add_mutually_exclusive_group()
    src.add_argument("--throughput", help="items done per period, oldest first: 5,6,0,7")
    src.add_argument(
        "--throughput-file",
        help="CSV with a 'throughput' column, or work items with done dates (aggregated per period)",
    )
    src.add_argument("--project", help="use this project's stored history (see --db)")
    group.add_argument("--period-days", default=7, help="days per period (default 7)")
    group.add_argument(
        "--window",
        help="periods of history the method draws from: N, or 'all' (default: the method's own; "
        "12 for the default method, all for the others)",
    )
    group.add_argument(
        "--sampler",
        help="bootstrap|block|recency|weibull, uncalibrated, on all the history unless --window "
        "(instead of --method)",
    )
    group.add_argument(
        "--method",
        help="forecast method: 'default' (flowray's calibrated choice, as the dashboards and the "
        "batch use: recency+cal on the last 12 periods; the default) or bootstrap|block|recency|weibull, "
        "optionally with +cal (calibrated on the history's own past forecast errors). "
        "The plain model: --method bootstrap --window all",
    )


def add_run_options(parser: argparse.ArgumentParser, default_runs: int = 100_000) -> None:
    parser.add_argument(
        "--runs", default=str(default_runs), help=f"simulated futures (default {default_runs})"
    )
    parser.add_argument("--seed", default="0", help="random seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--db", help="database file (default FLOWRAY_DB or ./flowray.duckdb)")
    parser.add_argument(
        "--save", action="store_true", help="save the forecast to the project's ledger"
    )
    parser.add_argument("--ray", action="store_true", help="run the chunks as Ray tasks")


def read_throughput(args: argparse.Namespace) -> list[float] | None:
    if args.throughput is not None:
        return _floats("--throughput", args.throughput)
    if args.throughput_file:
        from flowray.importers import read_throughput_file

        return [float(v) for _, v in read_throughput_file(args.throughput_file)]
    return None


def scenario_fields(args: argparse.Namespace) -> dict[str, Any]:
    """Map CLI options to Scenario keyword fields (validated by Scenario itself)."""
    fields: dict[str, Any] = {"period_days": args.period_days}
    if getattr(args, "sampler", None):
        fields["sampler"] = args.sampler
    if getattr(args, "backlog", None) is not None:
        fields["backlog"] = _pair("--backlog", args.backlog, whole_number)
    if getattr(args, "split", None):
        value = _pair("--split", args.split)
        fields["split_rate"] = value if isinstance(value, tuple) else (value, value)
    if getattr(args, "split_samples", None):
        fields["split_rate"] = _floats("--split-samples", args.split_samples)
    if getattr(args, "risk", None):
        fields["risks"] = [_risk(r) for r in args.risk]
    team: dict[str, Any] = {}
    if getattr(args, "history_team", None) is not None:
        team["history_size"] = args.history_team
    if getattr(args, "contributors", None):
        value = _pair("--contributors", args.contributors)
        low, high = value if isinstance(value, tuple) else (value, value)
        team["min_contributors"], team["max_contributors"] = low, high
    if getattr(args, "s_curve", None) is not None:
        team["s_curve"] = args.s_curve
    if team:
        fields["team"] = team
    if getattr(args, "focus", None) is not None:
        fields["focus"] = args.focus
    if getattr(args, "lead_time", None):
        fields["lead_time_days"] = _floats("--lead-time", args.lead_time)
    if getattr(args, "start", None):
        fields["start"] = args.start
    if getattr(args, "deadline", None):
        fields["deadline"] = args.deadline
    if getattr(args, "max_periods", None) is not None:
        fields["max_periods"] = args.max_periods
    return fields


def _print_json(data: dict[str, Any]) -> None:
    json.dump(data, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


def forecast_method(args: argparse.Namespace) -> tuple[Any, int | None]:
    """(method for the request, window for the request) from --method / --window / --sampler.

    Without --method and --sampler: flowray's default method (on --window if
    given). --sampler alone: that sampler uncalibrated (the plain model's way),
    on --window or all the history. Errors name the option.
    """
    from flowray import pipeline
    from flowray.core import backtest

    window_text = getattr(args, "window", None)
    if args.method is not None and args.sampler:
        raise InputError(
            "--sampler",
            args.sampler,
            "give --method or --sampler, not both (--method names the sampler, e.g. --method block)",
        )
    if args.sampler:
        if window_text is None:
            return None, None
        try:
            return None, backtest.parse_window(window_text)
        except InputError as exc:
            raise InputError("--window", window_text, exc.rule) from None
    name = pipeline.DEFAULT if args.method is None else args.method
    try:
        method = (
            pipeline.resolve_method(name)
            if window_text is None
            else pipeline.resolve_method(name, window_text)
        )
    except InputError as exc:
        raise InputError(f"--{exc.field}", exc.value, exc.rule) from None
    return method, None


def default_dates(args: argparse.Namespace, fields: dict[str, Any], kind: str) -> list[str]:
    """Fill the start (today) and, for a project's "when", the deadline (its target date).

    A forecast without a start has no dates and can never be scored, so the
    start is always set. Returns notes for stderr (say, a target already past).
    """
    import datetime as dt

    notes: list[str] = []
    fields.setdefault("start", dt.date.today().isoformat())
    if kind != "when" or fields.get("deadline") or not getattr(args, "project", None):
        return notes
    from flowray.cli.store_cmds import db_path
    from flowray.core.validation import parse_date
    from flowray.store import Store

    with Store(db_path(args), create=False).reading() as ledger:
        project = next((p for p in ledger.list_projects() if p.name == args.project), None)
    target = project.target_date if project is not None else None
    start = parse_date("--start", fields["start"])
    if target is None:
        return notes
    if start is not None and target <= start:
        notes.append(
            f"the project's target date {target.isoformat()} is not after the start "
            f"{start.isoformat()}: no deadline is forecast (give --deadline)"
        )
        return notes
    fields["deadline"] = target.isoformat()
    notes.append(f"deadline: the project's target date, {target.isoformat()}")
    return notes


ESTIMATE_NOTICE_S = 5.0
"""A forecast expected to simulate longer than this says so on stderr before it starts."""


def duration_notice(seconds: float, runs: int) -> str | None:
    """The line printed before a long forecast starts; None when it takes a few seconds at most."""
    from flowray.core.engine import describe_duration

    if seconds <= ESTIMATE_NOTICE_S:
        return None
    return (
        f"{describe_duration(seconds)} for {runs:,} runs on 1 core (measured rate); Ctrl-C stops it"
    )


def announce_duration(request: ForecastRequest) -> None:
    """Before a forecast starts, say on stderr how long it should take, when that is long.

    The rate is measured on a short sample of the same scenario
    (jobs.forecast.estimate_forecast_seconds), so the user learns before the
    wait, not after it, and knows that Ctrl-C stops it.
    """
    from flowray import pipeline
    from flowray.jobs.forecast import estimate_forecast_seconds

    prepared = pipeline.prepare(request)
    question = pipeline.question_for(request, prepared.scenario)
    notice = duration_notice(
        estimate_forecast_seconds(prepared.scenario, question, request.runs), request.runs
    )
    if notice is not None:
        print(notice, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace, kind: str) -> int:
    from flowray import pipeline
    from flowray.cli.store_cmds import require_ledger

    plan = getattr(args, "plan", False)
    if plan and not args.project:
        raise InputError("--project", None, "is needed with --plan: a plan is a project's plan")
    method, window = forecast_method(args)
    if args.project:  # reads the ledger: a mistyped --db must not create one
        require_ledger(args)
    fields = scenario_fields(args)
    notes = default_dates(args, fields, kind)
    request = pipeline.ForecastRequest(
        kind=kind,
        throughput=read_throughput(args),
        project=args.project,
        window=window,
        method=method,
        fields=fields,
        runs=whole_number("--runs", args.runs),
        seed=whole_number("--seed", args.seed),
        periods=getattr(args, "periods", None),
        end=getattr(args, "end", None),
        engine="ray" if args.ray else "serial",
        force=True,  # short history is reported as a warning here (the reference checks use 7 periods)
        save=args.save,
        plan=plan,
        plan_how="cli",
        db_path=args.db,
    )
    announce_duration(request)
    outcome = pipeline.run_forecast(request)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    for warning in outcome.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    levels = _levels(getattr(args, "percentiles", None))
    data = pipeline.result_dict(outcome.result, levels)
    if outcome.warnings:
        data["warnings"] = outcome.warnings
    if outcome.forecast_id is not None:
        data["forecast_id"] = outcome.forecast_id
        data["plan"] = bool(plan)
    if args.json:
        _print_json(data)
    else:
        print(pipeline.describe(outcome.result, levels))
        if outcome.forecast_id is not None:
            print(f"saved to the ledger as forecast {outcome.forecast_id}")
            if plan:
                print(f"it is now the plan of project {args.project!r}")
            elif args.project and kind == "when":
                print(
                    "it is a what-if; make it the plan with "
                    f"`flowray forecasts plan {outcome.forecast_id}`"
                )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    when = sub.add_parser(
        "when",
        help="when will the backlog be done? (with --deadline: how likely by then?)",
        description="Monte Carlo forecast of the completion date of a backlog, with flowray's "
        "calibrated default method (as the dashboards and the batch). The plain model: "
        "--method bootstrap --window all.",
    )
    add_throughput_options(when)
    when.add_argument("--backlog", required=True, help="items left: 100, or a range 80:120")
    when.add_argument("--split", help="split rate range LOW:HIGH, e.g. 1.0:1.5")
    when.add_argument("--split-samples", help="split rate samples, e.g. 1,1.2,1.1")
    when.add_argument("--risk", action="append", help="LIKELIHOOD:LOW:MODE:HIGH (repeatable)")
    when.add_argument("--history-team", help="people behind the throughput history")
    when.add_argument("--contributors", help="active contributors MIN:MAX")
    when.add_argument("--s-curve", help="S-curve ramp, %% of the work (0-50)")
    when.add_argument("--focus", help="share of capacity on this work (0-1]")
    when.add_argument("--lead-time", help="item lead times in days, e.g. 3,5,8")
    when.add_argument("--start", help="start date YYYY-MM-DD (default today)")
    when.add_argument(
        "--deadline", help="deadline YYYY-MM-DD (default with --project: its target date)"
    )
    when.add_argument("--max-periods", help="horizon cap (default 520)")
    when.add_argument("--percentiles", default="50,70,85,95", help="levels to report")
    add_run_options(when)
    when.add_argument(
        "--plan",
        action="store_true",
        help="save the forecast (implies --save) and make it the project's plan: what the "
        "portfolio, the batch and alerts follow (without it a saved forecast is a what-if)",
    )
    when.set_defaults(handler=lambda a: _run(a, "when"))

    many = sub.add_parser(
        "how-many",
        help="how many items will be done in N periods (or by a date)?",
        description="Monte Carlo forecast of items done in a horizon, read conservatively, with "
        "flowray's calibrated default method (as the dashboards and the batch). The plain model: "
        "--method bootstrap --window all.",
    )
    add_throughput_options(many)
    horizon = many.add_mutually_exclusive_group(required=True)
    horizon.add_argument("--periods", help="horizon in periods")
    horizon.add_argument("--end", help="horizon end date YYYY-MM-DD")
    many.add_argument("--start", help="start date YYYY-MM-DD (default today)")
    many.add_argument("--history-team", help="people behind the throughput history")
    many.add_argument("--contributors", help="active contributors MIN:MAX (MAX is used)")
    many.add_argument("--focus", help="share of capacity on this work (0-1]")
    add_run_options(many)
    many.set_defaults(handler=lambda a: _run(a, "how_many"))
