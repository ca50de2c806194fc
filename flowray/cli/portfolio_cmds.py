"""`flowray portfolio FILE`: which features of an ordered list make the target date, and when.

The file (TOML, see flowray.importers.portfolio_file and the README) names the
teams, their throughput (a stored project's history, a list, or an estimate)
and the features in priority order. The answer: per feature its 50% and
level% dates and P(done by the target), and the cut line, the last feature k
such that features 1..k are all done by the target with the level's
probability, all from the same simulated runs. With --save the portfolio is
stored under --name (default: the file's stem) and the forecast saved to the
ledger; `flowray portfolios` works with stored portfolios.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from flowray.core.validation import finite_number, parse_date, whole_number
from flowray.exceptions import InputError
from flowray.text import format_probability


def _history_reader(args: argparse.Namespace) -> Any:
    """project name -> its stored throughput, from the ledger at --db (opened only if asked)."""

    def read(project: str) -> Any:
        from flowray.cli.store_cmds import open_store

        return open_store(args, create=False).get_throughput(project)

    return read


def _error_text(half_width: float | None) -> str:
    return "" if half_width is None else f" ±{half_width * 100:.1f} pt"


def render_text(result: Any) -> str:
    """A table of features in list order, with the cut line drawn under feature k."""
    data = result.to_dict()
    level = data["level"]
    key = f"{level:g}"
    has_target = data["target"] is not None
    name_width = max(8, *(len(f["name"]) for f in data["features"]))
    lines = [
        f"Portfolio forecast from {data['start']}: {len(data['features'])} features, "
        f"{data['runs']:,} runs, seed {data['seed']}, sampler {data['sampler']} "
        "(each team's whole history)",
    ]
    if has_target:
        lines.append(f"Target {data['target']} ({data['target_periods']} periods), level {key}%")
    header = f"  {'#':>3}  {'feature':<{name_width}}  {'50%':>10}  {key + '%':>10}"
    if has_target:
        header += f"  {'P(target)':>9}"
    lines += ["", header]
    cut = data.get("cut_line")
    if has_target and cut == 0:
        lines.append(f"  {'-' * (len(header) - 2)} cut line: not even feature 1 at {key}%")
    for i, feature in enumerate(data["features"], start=1):
        if feature["cannot_forecast"]:
            row = f"  {i:>3}  {feature['name']:<{name_width}}  cannot forecast: a team has no "
            row += "history and no estimate"
            lines.append(row)
        else:
            dates = feature["dates"]
            row = (
                f"  {i:>3}  {feature['name']:<{name_width}}  {dates['50'] or 'not done':>10}  "
                f"{dates[key] or 'not done':>10}"
            )
            if has_target:
                row += f"  {format_probability(feature['probability_by_target']):>9}"
            if feature["not_done"]:
                row += f"  ({format_probability(feature['not_done'])} not done in the horizon)"
            lines.append(row)
        if has_target and cut == i:
            joint = data["all_done_by_target"][i - 1]
            lines.append(
                f"  {'-' * (len(header) - 2)} cut line: features 1-{i} all done by the target: "
                f"{format_probability(joint)}{_error_text(data['all_done_error'][i - 1])}"
            )
    if has_target:
        worst = max((e for e in data["all_done_error"] if e is not None), default=None)
        lines += [
            "",
            "P(target) is each feature on its own; the cut line is the joint probability of all "
            "the features above it, from the same runs.",
            f"Monte Carlo error of these probabilities: at most{_error_text(worst)} (95%).",
        ]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from flowray.importers.portfolio_file import read_portfolio_file
    from flowray.jobs.portfolio import submit_portfolio
    from flowray.pipeline import engine_named

    runs = whole_number("--runs", args.runs, 1)
    seed = whole_number("--seed", args.seed, 0)
    overrides: dict[str, Any] = {}
    if args.level is not None:
        overrides["level"] = finite_number("--level", args.level, 0, 100)
    if args.target is not None:
        overrides["target"] = parse_date("--target", args.target, empty_is_none=False)
    portfolio = read_portfolio_file(args.file, history=_history_reader(args), **overrides)
    name = None
    if args.save:
        from flowray.cli.store_cmds import require_ledger
        from flowray.records.portfolios import portfolio_name

        name = portfolio_name(args.name if args.name is not None else Path(args.file).stem)
        require_ledger(args)  # before the forecast: a mistyped --db creates nothing
    elif args.name is not None:
        raise InputError("--name", args.name, "names the stored portfolio: use it with --save")
    engine = engine_named("ray" if args.ray else "serial")
    result = submit_portfolio(engine, portfolio, runs, seed).result()
    forecast_id = None
    if name is not None:  # after the forecast: an error before this point saves nothing
        from flowray.cli.store_cmds import open_store
        from flowray.pipeline.portfolio import save_portfolio_forecast

        forecast_id = save_portfolio_forecast(
            name, portfolio, result, open_store(args, create=False)
        )
    print_result(result, name, forecast_id, as_json=args.json)
    return 0


def print_result(result: Any, name: str | None, forecast_id: int | None, *, as_json: bool) -> None:
    """The answer on stdout, as JSON or as the table, saying where it was saved if it was."""
    if as_json:
        data = result.to_dict()
        if forecast_id is not None:
            data["saved"] = {"portfolio": name, "forecast_id": forecast_id}
        json.dump(data, sys.stdout, indent=2)
        print()
    else:
        print(render_text(result))
        if forecast_id is not None:
            print(f"\nSaved as forecast {forecast_id} of portfolio {name!r}.")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "portfolio",
        help="which features of a prioritised list make the target date, worked by several teams?",
        description="Monte Carlo forecast of an ordered list of features worked by several teams "
        "at once: per-feature dates and P(done by the target), and the cut line (the features "
        "all done by the target at the level), every joint answer from the same runs.",
    )
    parser.add_argument("file", help="the portfolio file (TOML; see the README, 'Portfolios')")
    parser.add_argument("--runs", default="100000", help="simulated futures (default 100000)")
    parser.add_argument("--seed", default="0", help="random seed (default 0)")
    parser.add_argument("--level", help="confidence level in percent (default: the file's, or 85)")
    parser.add_argument("--target", help="target date YYYY-MM-DD (default: the file's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--db",
        help="ledger of the teams' stored histories (default FLOWRAY_DB or ./flowray.duckdb)",
    )
    parser.add_argument("--ray", action="store_true", help="run the chunks as Ray tasks")
    parser.add_argument(
        "--save",
        action="store_true",
        help="save the portfolio and this forecast to the ledger (see `flowray portfolios`)",
    )
    parser.add_argument(
        "--name", help="the stored portfolio's name with --save (default: the file's name)"
    )
    parser.set_defaults(handler=_run)
