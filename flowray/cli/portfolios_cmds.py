"""`flowray portfolios`: stored portfolios: list, show, mark a feature done, forecast one.

A portfolio is stored with `flowray portfolio FILE --save` (or from Python,
`pipeline.save_portfolio`). `run` forecasts it as it stands today: the features
marked done are left out and a start that has passed moves to today; `done`
records a feature's completion and scores every saved forecast that covered it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from typing import Any

from flowray.core.validation import parse_date, whole_number
from flowray.exceptions import InputError
from flowray.text import format_probability

SHOWN_FORECASTS = 3
"""Forecasts `portfolios show` prints by default: the latest ones."""


def _store(args: argparse.Namespace) -> Any:
    from flowray.cli.store_cmds import open_store

    return open_store(args, create=False)


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    names = store.list_portfolios()
    if args.json:
        json.dump(names, sys.stdout)
        print()
        return 0
    if not names:
        print("No stored portfolios; save one with `flowray portfolio FILE --save`.")
        return 0
    width = max(len(n) for n in names)
    for name in names:
        stored = store.get_portfolio(name)
        forecasts = store.list_portfolio_forecasts(name)
        features = len(stored.definition.get("features", []))
        latest = (
            f"latest forecast {forecasts[-1].forecast_id} on {forecasts[-1].created_at:%Y-%m-%d}"
            if forecasts
            else "no forecast saved"
        )
        print(
            f"{name:<{width}}  {features} features, {len(stored.done)} done, "
            f"target {stored.definition.get('target') or '-'}; {len(forecasts)} forecasts, {latest}"
        )
    return 0


def _size_text(feature: dict[str, Any]) -> str:
    size = feature.get("size")
    if size is None:
        return "unknown"
    if isinstance(size, dict):
        return ", ".join(f"{t} {_size_text({'size': v})}" for t, v in size.items())
    if isinstance(size, list):
        return f"{size[0]}-{size[1]}"
    return str(size)


def _hits(score: Any) -> str:
    return "/".join("yes" if s.met else "no" for _, s in sorted(score.levels.items()))


def _score_text(score: Any) -> str:
    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    return (
        f"done {score.done_on.isoformat()} (period {score.actual_value}): PIT {num(score.pit)}, "
        f"CRPS {num(score.crps)}, hit at 50/70/85/95: {_hits(score)}"
    )


def _forecast_dict(record: Any) -> dict[str, Any]:
    data = record.to_dict()
    data.pop("inputs", None)
    result = data.pop("result", {}) or {}
    data["all_done_error"] = result.get("all_done_error")
    data["features_done_by_target"] = result.get("features_done_by_target")
    return data


def render_show(stored: Any, forecasts: list[Any], shown: int) -> str:
    """The definition, the features done and the latest forecasts with their scores."""
    definition = stored.definition
    lines = [
        f"Portfolio {stored.name!r} (definition revision {stored.revision}, "
        f"saved {stored.updated_at:%Y-%m-%d %H:%M} UTC by {stored.updated_by})",
        f"Start {definition['start']}, target {definition.get('target') or '-'}, "
        f"level {definition.get('level', 85):g}%, {definition.get('period_days', 7)}-day periods",
        "Teams:",
    ]
    for team in definition["teams"]:
        source = (
            f"project {team['project']}"
            if "project" in team
            else "inline history"
            if "throughput" in team
            else "estimate"
            if "estimate" in team
            else "no history or estimate"
        )
        lines.append(f"  {team['name']}: {source}, feature WIP {team.get('feature_wip', 1)}")
    done = {d.feature: d for d in stored.done}
    lines.append("Features, in priority order:")
    for i, feature in enumerate(definition["features"], start=1):
        mark = done.get(feature["name"])
        teams = ", ".join(feature.get("teams") or list(feature.get("size", {})))
        row = f"  {i:>3}  {feature['name']}  (size {_size_text(feature)}; {teams})"
        if mark is not None:
            row += f"  done {mark.done_on.isoformat()}"
        lines.append(row)
    if not forecasts:
        lines += ["", "No forecast saved yet: `flowray portfolios run NAME --save`."]
        return "\n".join(lines)
    latest = forecasts[-shown:] if shown else []
    lines += ["", f"Latest forecasts ({len(latest)} of {len(forecasts)}):"]
    for record in reversed(latest):
        cut = record.cut_line
        errors = record.result.get("all_done_error") or []
        lines.append(
            f"  forecast {record.forecast_id}  {record.created_at:%Y-%m-%d %H:%M} by "
            f"{record.created_by}"
            + (f" ({record.name})" if record.name else "")
            + f": start {record.start_date.isoformat()}, {record.runs:,} runs, seed {record.seed}"
        )
        if cut is not None:
            joint = record.features[cut - 1].all_done_by_target if cut else None
            error = errors[cut - 1] if cut and len(errors) >= cut else None
            lines.append(
                f"    cut line: {cut} of {len(record.features)} features all done by "
                f"{record.target.isoformat()} at {record.level:g}%"
                + (
                    f" ({format_probability(joint)}"
                    + ("" if error is None else f" ±{error * 100:.1f} pt")
                    + ")"
                    if joint is not None
                    else ""
                )
            )
        for feature in record.features:
            p = (
                "cannot forecast"
                if feature.cannot_forecast
                else f"P(target) {format_probability(feature.p_target)}"
                if feature.p_target is not None
                else ""
            )
            row = f"    {feature.position:>3}  {feature.feature}  {p}"
            if feature.score is not None:
                row += f"; {_score_text(feature.score)}"
            lines.append(row.rstrip())
        shown_p = [f.p_target for f in record.features if f.p_target is not None]
        if shown_p:
            worst = max(1.96 * math.sqrt(p * (1 - p) / record.runs) for p in shown_p)
            lines.append(
                f"    Monte Carlo error of these probabilities: at most ±{worst * 100:.1f} pt (95%)"
            )
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    store = _store(args)
    stored = store.get_portfolio(args.name)
    forecasts = store.list_portfolio_forecasts(args.name)
    shown = whole_number("--forecasts", args.forecasts, 0)
    if args.json:
        data = {
            "name": stored.name,
            "revision": stored.revision,
            "definition": stored.definition,
            "done": [d.to_dict() for d in stored.done],
            "forecasts": [_forecast_dict(r) for r in forecasts[-shown:]] if shown else [],
        }
        json.dump(data, sys.stdout, indent=2)
        print()
    else:
        print(render_show(stored, forecasts, shown))
    return 0


def _done(args: argparse.Namespace) -> int:
    day = parse_date("--on", args.on, empty_is_none=False)
    if day is None:
        raise InputError("--on", args.on, "is required (a date written YYYY-MM-DD)")
    scored = _store(args).mark_feature_done(args.name, args.feature, day)
    print(
        f"{args.feature!r} of portfolio {args.name!r} marked done on {day.isoformat()}; "
        f"{len(scored)} saved forecast(s) scored"
        + (f": {', '.join(str(i) for i in scored)}" if scored else "")
        + "."
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from flowray.cli.portfolio_cmds import print_result
    from flowray.pipeline.portfolio import forecast_stored_portfolio

    runs = whole_number("--runs", args.runs, 1)
    seed = whole_number("--seed", args.seed, 0)
    store = _store(args)  # an existing ledger only
    result, forecast_id = forecast_stored_portfolio(
        args.name,
        store,
        runs=runs,
        seed=seed,
        engine="ray" if args.ray else "serial",
        save=args.save,
        forecast_name=f"run as of {dt.date.today().isoformat()}",
    )
    print_result(result, args.name, forecast_id, as_json=args.json)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from flowray.cli.store_cmds import add_db_option as _db_option

    parser = sub.add_parser(
        "portfolios",
        help="stored portfolios: list, show, mark a feature done, forecast one",
        description="Work with portfolios stored in the ledger (store one with `flowray "
        "portfolio FILE --save`): list them, show one with its features done and its latest "
        "forecasts and scores, mark a feature done (which scores every saved forecast that "
        "covered it), and forecast one as it stands today.",
    )
    topics = parser.add_subparsers(dest="action", metavar="ACTION")
    topics.required = True

    p = topics.add_parser("list", help="the stored portfolios")
    p.add_argument("--json", action="store_true", help="print the names as a JSON list")
    _db_option(p)
    p.set_defaults(handler=_list)

    p = topics.add_parser(
        "show", help="a stored portfolio: definition, done features, latest forecasts and scores"
    )
    p.add_argument("name", help="the stored portfolio")
    p.add_argument(
        "--forecasts",
        default=str(SHOWN_FORECASTS),
        help=f"how many of the latest forecasts to show (default {SHOWN_FORECASTS})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _db_option(p)
    p.set_defaults(handler=_show)

    p = topics.add_parser(
        "done", help="mark a feature done; scores every saved forecast that covered it"
    )
    p.add_argument("name", help="the stored portfolio")
    p.add_argument("feature", help="the feature's name, as in the portfolio")
    p.add_argument("--on", required=True, help="the day it was done, YYYY-MM-DD (not after today)")
    _db_option(p)
    p.set_defaults(handler=_done)

    p = topics.add_parser(
        "run",
        help="forecast a stored portfolio as it stands today",
        description="Forecast a stored portfolio from its stored definition and the teams' "
        "current histories: the features marked done are left out, and a start that has "
        "passed moves to today (the sizes are as stored).",
    )
    p.add_argument("name", help="the stored portfolio")
    p.add_argument("--runs", default="100000", help="simulated futures (default 100000)")
    p.add_argument("--seed", default="0", help="random seed (default 0)")
    p.add_argument("--save", action="store_true", help="save the forecast to the ledger")
    p.add_argument("--ray", action="store_true", help="run the chunks as Ray tasks")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _db_option(p)
    p.set_defaults(handler=_run)
