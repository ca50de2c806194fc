"""`flowray project|throughput|actual|forecasts|calibration|export|import`: the ledger from a terminal.

Every command takes `--db PATH` (default: FLOWRAY_DB, else ./flowray.duckdb);
other command modules reuse that option through `add_db_option`, `open_store`
and `require_ledger`. Only the commands that can start a ledger (project add and the
imports, which create their project) create a missing file; every other
command, including throughput add and actual add (their project must exist),
says "no ledger at PATH" and creates nothing. Numbers typed on the
command line go to `flowray.core.validation` as text, so each typo gets a
named error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from flowray.core.limits import MAX_CONTRIBUTORS, MAX_ITEMS, MAX_PERIOD_DAYS, MAX_THROUGHPUT
from flowray.core.validation import whole_number
from flowray.exceptions import InputError


# --------------------------------------------------------------------------------- shared helpers
def add_db_option(parser: argparse.ArgumentParser) -> None:
    """Add `--db PATH` (default FLOWRAY_DB or ./flowray.duckdb) to a command."""
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="database file (default: FLOWRAY_DB, else ./flowray.duckdb)",
    )


def db_path(args: argparse.Namespace) -> Path:
    """The database a command works on: --db, else the configured default."""
    if getattr(args, "db", None):
        return Path(args.db)
    from flowray.config import load_settings

    return load_settings().db_path


def open_store(args: argparse.Namespace, *, create: bool = True) -> Any:
    """Open the command's database; read-only commands pass create=False so a typo in
    --db says "no ledger at PATH" instead of making an empty file."""
    from flowray.store import Store

    return Store(db_path(args), create=create)


def require_ledger(args: argparse.Namespace) -> None:
    """Refuse a command that will read the ledger when there is none at its --db.

    For commands that hand the path on (e.g. `when --project`) instead of
    opening the store here; the check is `flowray.store.require_ledger`, the
    same one `open_store(args, create=False)` and the batch make.
    """
    from flowray.store import require_ledger as check

    check(db_path(args))


def _optional_whole(
    field: str, text: str | None, minimum: int, maximum: int | None = None
) -> int | None:
    """An optional whole-number option, checked from the text the user typed."""
    return None if text is None else whole_number(field, text, minimum, maximum)


def _print_json(data: Any) -> None:
    json.dump(
        data,
        sys.stdout,
        indent=2,
        ensure_ascii=False,
        default=lambda o: o.isoformat() if hasattr(o, "isoformat") else str(o),
    )
    sys.stdout.write("\n")


def _date(field: str, text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(field, text, "must be a date written YYYY-MM-DD") from None


def _table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


# ---------------------------------------------------------------------------------------- project
def _project_add(args: argparse.Namespace) -> int:
    team_size = _optional_whole("--team-size", args.team_size, 1, MAX_CONTRIBUTORS)
    start_date = _date("--start-date", args.start_date)
    target_date = _date("--target-date", args.target_date)
    store = open_store(args)
    project = store.add_project(
        args.name,
        team_size=team_size,
        description=args.description,
        owner=args.owner,
        start_date=start_date,
        target_date=target_date,
    )
    if args.json:
        _print_json(project.to_dict())
    else:
        print(f"project {project.name!r} added (id {project.project_id}) to {store.path}")
    return 0


def _project_list(args: argparse.Namespace) -> int:
    projects = open_store(args, create=False).list_projects()
    if args.json:
        _print_json([p.to_dict() for p in projects])
        return 0
    if not projects:
        print("no projects yet: flowray project add NAME")
        return 0
    rows = [[p.name, p.owner, p.team_size, p.status, p.target_date] for p in projects]
    print(_table(rows, ["name", "owner", "team", "status", "target"]))
    return 0


# ------------------------------------------------------------------------------------- throughput
def _throughput_show(args: argparse.Namespace) -> int:
    store = open_store(args, create=False)
    if args.revision is not None:
        periods = store.get_throughput_revision(args.project, args.revision)
    else:
        periods = store.get_throughput(args.project)
    if args.json:
        _print_json(
            [{"period_start": p.period_start.isoformat(), "items": p.items} for p in periods]
        )
        return 0
    if not periods:
        print(f"project {args.project!r} has no throughput yet")
        return 0
    print(_table([[p.period_start, p.items] for p in periods], ["period_start", "items"]))
    return 0


def _throughput_add(args: argparse.Namespace) -> int:
    from flowray.importers import read_throughput_csv

    given_days = _optional_whole("--period-days", args.period_days, 1, MAX_PERIOD_DAYS)
    rows = read_throughput_csv(args.file)
    pairs = [
        (day, whole_number(f"{args.file} {day.isoformat()}", value, 0, MAX_THROUGHPUT))
        for day, value in rows
    ]
    steps = {(b[0] - a[0]).days for a, b in zip(pairs, pairs[1:], strict=False)}
    period_days = given_days or (min(steps) if steps else 7)
    # The project must exist already, so a missing ledger is a typo, never created here.
    written = open_store(args, create=False).set_throughput(
        args.project,
        pairs,
        period_days=period_days,
        replace=args.replace,
        reason=f"throughput add {args.file}",
    )
    verb = "replaced the history with" if args.replace else "stored"
    print(f"{verb} {written} periods of {period_days} days for project {args.project!r}")
    return 0


def _project_of(args: argparse.Namespace) -> str:
    """The project of `throughput revisions|restore`: PROJECT or --project (the same if both)."""
    named, option = args.project_name, args.project
    if named and option and named != option:
        raise InputError("--project", option, f"differs from the PROJECT given ({named!r})")
    project = named or option
    if not project:
        raise InputError("PROJECT", None, "is required (flowray throughput revisions PROJECT)")
    return str(project)


def _restore_hint(project: str, revision: int) -> str:
    return f"flowray throughput restore {shlex.quote(project)} --revision {revision}"


def _throughput_revisions(args: argparse.Namespace) -> int:
    project = _project_of(args)
    revisions = open_store(args, create=False).list_throughput_revisions(project)
    if args.json:
        _print_json([r.to_dict() for r in revisions])
        return 0
    if not revisions:
        print(f"project {project!r} has no revisions: its history was never replaced")
        return 0
    rows = [
        [
            r.revision,
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            r.created_by,
            r.reason,
            r.periods,
            r.items,
            f"{r.first_period}..{r.last_period}",
        ]
        for r in revisions
    ]
    print(f"histories of project {project!r} kept when they were replaced (times in UTC):")
    print(_table(rows, ["revision", "replaced", "by", "replaced by", "periods", "items", "range"]))
    print(f"show one: flowray throughput show --project {shlex.quote(project)} --revision N")
    print(f"bring one back: {_restore_hint(project, revisions[-1].revision)}")
    return 0


def _throughput_restore(args: argparse.Namespace) -> int:
    project = _project_of(args)
    done = open_store(args, create=False).restore_throughput(project, args.revision)
    if args.json:
        data = done.to_dict()
        data["restored"] = args.revision
        _print_json(data)
        return 0
    if done.revision is None and done.before == done.after:
        print(f"revision {args.revision} is already the history of project {project!r}")
        return 0
    print(f"restored revision {args.revision} of project {project!r}")
    print(f"  history: {done.before.describe()} -> {done.after.describe()}")
    if done.revision is not None:
        print(
            f"  the previous history is kept as revision {done.revision}: "
            f"{_restore_hint(project, done.revision)}"
        )
    return 0


# ----------------------------------------------------------------------------------------- actual
def _actual_add(args: argparse.Namespace) -> int:
    completed_on = _date("--completed-on", args.completed_on)
    items = whole_number("--items", args.items, 0, MAX_ITEMS)
    forecast_id = _optional_whole("--forecast", args.forecast, 1)
    # An actual belongs to a stored project or forecast: a missing ledger is a typo.
    added = open_store(args, create=False).add_actual(
        args.project,
        completed_on,
        items,
        forecast_id=forecast_id,
        partial=args.partial,
        notes=args.notes,
    )
    if args.json:
        _print_json(added.to_dict())
        return 0
    print(f"actual {added.actual.actual_id} recorded for project {added.actual.project!r}")
    if added.scored_forecasts:
        ids = ", ".join(str(i) for i in added.scored_forecasts)
        print(f"scored forecast(s): {ids} (see: flowray forecasts show ID)")
    else:
        print("no open forecast was resolved by it")
    return 0


# -------------------------------------------------------------------------------------- forecasts
def _forecasts_list(args: argparse.Namespace) -> int:
    forecasts = open_store(args, create=False).list_forecasts(args.project, kind=args.kind)
    if args.json:
        _print_json([f.to_dict() for f in forecasts])
        return 0
    if not forecasts:
        print("no forecasts in the ledger")
        return 0
    rows = [
        [
            f.forecast_id,
            f.project,
            f.kind,
            f.role,
            (f.name or "")[:30],
            f.created_at.strftime("%Y-%m-%d %H:%M"),
            f.created_by,
            f.start_date,
            _number(f.percentiles[50]),
            _number(f.percentiles[85]),
            "" if f.p_deadline is None else f"{f.p_deadline:.0%}",
            "scored" if f.scored else "open",
            "" if f.source == "flowray" else f.source,
        ]
        for f in forecasts
    ]
    print(
        _table(
            rows,
            [
                "id",
                "project",
                "kind",
                "role",
                "name",
                "created",
                "by",
                "start",
                "p50",
                "p85",
                "P(deadline)",
                "status",
                "source",
            ],
        )
    )
    return 0


def _forecasts_show(args: argparse.Namespace) -> int:
    forecast_id = whole_number("id", args.id, 1)
    store = open_store(args, create=False)
    record = store.get_forecast(forecast_id)
    if args.json:
        data = record.to_dict()
        data["distribution"] = [
            {"value": v, "count": c} for v, c in store.get_distribution(forecast_id)
        ]
        _print_json(data)
        return 0
    unit = "periods" if record.unit == "periods" else "items (at least)"
    print(
        f"forecast {record.forecast_id}: {record.kind} for project {record.project!r}"
        + (f" - {record.name}" if record.name else "")
    )
    print(
        f"  made {record.created_at:%Y-%m-%d %H:%M} UTC by {record.created_by}; source {record.source}"
        f"; engine {record.engine_version}; runs {record.runs}; seed {record.seed}"
    )
    if record.start_date:
        print(
            f"  start {record.start_date}"
            + (f", deadline {record.deadline}" if record.deadline else "")
            + (f", horizon {record.horizon_date}" if record.horizon_date else "")
        )
    if record.data_periods:
        window = f" ({record.data_from} .. {record.data_to})" if record.data_from else ""
        print(f"  history: {record.data_periods} periods of {record.period_days} days{window}")
    for level in (50, 70, 85, 95):
        when = record.dates.get(level)
        value = record.percentiles.get(level)
        if value is not None:
            shown = f"{_number(value)} {unit}"
        elif record.source == "flowray" and record.unit == "periods":
            shown = "beyond the horizon"
        else:
            shown = "not recorded"
        print(f"  {level}%: {shown}" + (f"  ({when})" if when else ""))
    if record.p_deadline is not None:
        print(f"  P(done by the deadline) = {record.p_deadline:.1%}")
    score = record.score
    if score is None:
        print("  status: open (no actual resolves it yet)")
    else:
        print(
            f"  scored against actual {score.actual_id}: actual {score.actual_value} {record.unit}"
            f", median error {_number(score.median_error)}"
            + (f", PIT {score.pit:.3f}" if score.pit is not None else "")
        )
        hits = ", ".join(f"{lv}%: {'met' if s.met else 'missed'}" for lv, s in score.levels.items())
        print(f"  levels: {hits}")
    return 0


def _forecasts_plan(args: argparse.Namespace) -> int:
    store = open_store(args, create=False)
    project = args.project or store.get_forecast(args.id).project
    plan = store.set_plan(project, args.id, how="cli")
    if args.json:
        _print_json(plan.to_dict())
        return 0
    print(
        f"forecast {plan.forecast_id} is the plan of project {plan.project!r} "
        f"(set {plan.set_at:%Y-%m-%d %H:%M} UTC by {plan.set_by}); "
        "the portfolio, the batch and alerts follow it"
    )
    return 0


# ------------------------------------------------------------------------------------ calibration
def _calibration(args: argparse.Namespace) -> int:
    levels = open_store(args, create=False).calibration(args.project)
    if args.json:
        _print_json([c.to_dict() for c in levels])
        return 0
    scope = f"project {args.project!r}" if args.project else "all projects"
    print(f"calibration of resolved forecasts, {scope}")
    rows = [
        [
            f"{c.level}%",
            c.n,
            c.met,
            "-" if c.met_share is None else f"{c.met_share:.0%}",
            "-" if c.expected_share is None else f"{c.expected_share:.0%}",
            "-" if c.pit_coverage is None else f"{c.pit_coverage:.0%}",
        ]
        for c in levels
    ]
    print(_table(rows, ["level", "resolved", "met", "met share", "expected", "PIT coverage"]))
    return 0


# ----------------------------------------------------------------------------------------- export
def _export(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else Path(f"{args.table}.{args.format}")
    written = open_store(args, create=False).export_table(
        args.table, out, format=args.format, force=args.force
    )
    print(f"wrote {args.table} to {written}")
    return 0


# ----------------------------------------------------------------------------------------- import
def _import_items(args: argparse.Namespace) -> int:
    """Read a tracker export, then store its items and the throughput derived from them.

    Nothing is written when the file holds no done item; a history that would
    shrink needs --replace; whatever history is replaced is kept as a revision
    and the output says how to restore it.
    """
    from flowray.importers import work_items

    report = work_items.read_work_items(
        args.file,
        id_column=args.id_column,
        done_column=args.done_column,
        start_column=args.start_column,
        dayfirst=args.dayfirst,
        today=work_items.local_today(),
    )
    if not args.json:
        _print_items_report(args.file, report)
    period_days = whole_number("--period-days", args.period_days, 1, MAX_PERIOD_DAYS)
    if not report.done_items:
        not_counted = len(report.not_counted)
        left_out = f", {not_counted} not counted: removed or containers" if not_counted else ""
        raise InputError(
            "file",
            str(args.file),
            f"holds no done items ({report.data_rows} rows read, {len(report.rejected)} "
            f"rejected, {len(report.open_items)} open{left_out}): nothing was imported; the "
            f"history and work items of project {args.project!r} are unchanged",
        )
    stored = open_store(args).import_work_items(
        args.project,
        report.items,
        period_days=period_days,
        replace=args.replace,
        source=str(args.file),
    )
    history = stored.history
    if args.json:
        data = report.to_dict()
        data["project"] = stored.project
        data["project_created"] = stored.project_created
        data["throughput_periods"] = stored.throughput_periods
        data["history"] = history.to_dict()
        data["history"]["restore"] = (
            _restore_hint(stored.project, history.revision) if history.revision else None
        )
        _print_json(data)
        return 0
    if stored.project_created:
        print(f"created project {stored.project!r}")
    print(
        f"throughput of {stored.project!r}: {stored.throughput_periods} periods derived from "
        f"all its stored done items ({history.after.items}; {stored.done} in this file)"
    )
    if history.revision is None and history.before == history.after:
        print("  the history is unchanged")
    else:
        print(f"  history: {history.before.describe()} -> {history.after.describe()}")
    if history.revision is not None:
        print(
            f"  the previous history is kept as revision {history.revision}: "
            f"{_restore_hint(stored.project, history.revision)}"
        )
    return 0


def _print_items_report(path: str, report: Any) -> None:
    """What was read from the file: its format, the items, the rows not counted as throughput
    (one line, by reason: they are normal, not errors), every rejected row and note."""
    print(
        f"{path}: read as {report.to_dict().get('format_label', report.format)}; dates {report.date_format}"
    )
    print(
        f"items read: {len(report.items)} ({len(report.done_items)} done, "
        f"{len(report.open_items)} open); rows rejected: {len(report.rejected)}"
    )
    summary = report.not_counted_summary()
    if summary:
        print(summary)
    for rejected in report.rejected:
        print(f"  rejected row {rejected.row} (line {rejected.line}): {rejected.reason}")
    for warning in report.warnings:
        print(f"  note on row {warning.row} (line {warning.line}): {warning.reason}")
    for note in report.notes:
        print(f"  {note}")


def _import_features(args: argparse.Namespace) -> int:
    """Write a portfolio file of one team's open features, read from a tracker export or from a
    project's synced items.

    The file is written to a temporary file beside --out and renamed, so a
    failed run leaves nothing half-written; an existing file needs --force.
    Nothing is written to the ledger: the team's throughput is the stored
    history of --project, which `flowray import items` (or the sync) brings in.
    """
    from flowray.importers import features as feature_import
    from flowray.importers import work_items
    from flowray.importers.portfolio_file import dump_portfolio

    synced = args.from_project
    if (args.file is None) == (synced is None):
        raise InputError(
            "EXPORT",
            args.file,
            "give exactly one of EXPORT (a tracker CSV) or --from-project PROJECT (synced items)",
        )
    if synced is not None:
        for option, value in (("--source", args.source), ("--parent-column", args.parent_column)):
            if value is not None:
                raise InputError(option, value, "reads EXPORT only, not --from-project")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise InputError("--out", str(out), "exists: give --force to replace it")
    if out.exists() and not out.is_file():
        raise InputError("--out", str(out), "must be a file path")
    start = _date("--start", args.start) or work_items.local_today()
    if synced is not None:
        from flowray import pipeline

        imported = pipeline.features_from_project(
            synced, db_path(args), today=work_items.local_today()
        )
        origin = f"project {imported.path!r}"
        written_from = f"the synced items of project {imported.path!r}"
        order_words = _ORDER_WORDS[imported.order].replace("the export's", "the tracker's")
    else:
        imported = feature_import.read_features(
            args.file,
            args.source or "auto",
            parent_column=args.parent_column,
            today=work_items.local_today(),
        )
        origin = str(args.file)
        written_from = Path(args.file).name
        order_words = _ORDER_WORDS[imported.order]
    definition = feature_import.portfolio_definition(
        imported,
        args.team,
        project=args.project or synced,
        start=start,
        target=_date("--target", args.target),
    )
    text = dump_portfolio(
        definition,
        comments=[
            f"Portfolio of team {definition['teams'][0]['name']!r}, written by "
            f"`flowray import features` from {written_from} on {work_items.local_today()}.",
            f"Features in {order_words}; open ones only. Edit freely.",
        ],
    )
    team = definition["teams"][0]["name"]
    project = definition["teams"][0]["project"]
    periods = _stored_periods(args, project)
    _write_new_file(out, text)
    if args.json:
        data = imported.to_dict()
        data.update(out=str(out), team=team, project=project, stored_periods=periods)
        _print_json(data)
        return 0
    _print_feature_summary(origin, imported)
    print(f"wrote {out}: team {team!r} reads the stored history of project {project!r}")
    if not periods:
        db = f" --db {shlex.quote(str(args.db))}" if args.db else ""
        bring = (
            f"flowray sync --project {shlex.quote(project)}{db}"
            if synced is not None and project == synced
            else f"flowray import items {shlex.quote(str(args.file or 'EXPORT.csv'))} "
            f"--project {shlex.quote(project)}{db}"
        )
        print(f"  project {project!r} has no stored history at {db_path(args)} yet: {bring}")
    db = f" --db {shlex.quote(str(args.db))}" if args.db else ""
    target = "" if "target" in definition else " --target YYYY-MM-DD"
    print(f"next: flowray portfolio {shlex.quote(str(out))}{db}{target}")
    return 0


def _stored_periods(args: argparse.Namespace, project: str) -> int:
    """Periods of history the ledger holds for `project` (0 without a ledger or the project; the
    ledger is never created here)."""
    if not db_path(args).is_file():
        return 0
    try:
        return len(open_store(args, create=False).get_throughput(project))
    except InputError as exc:
        if exc.field == "project":  # not in the ledger yet: `import items` creates it
            return 0
        raise


_ORDER_WORDS = {
    "rank": "the export's rank order",
    "export": "the export's row order (a tree query)",
    "key": "the order their keys were created",
}


def _print_feature_summary(path: str, imported: Any) -> None:
    """What the export held: features open and closed, sizes found, and every row not counted."""
    open_features = imported.open_features
    print(
        f"{path}: {len(imported.features)} features by {imported.parent_column!r} "
        f"({len(open_features)} open, {len(imported.closed_features)} closed), "
        f"in {_ORDER_WORDS[imported.order]}"
    )
    done = sum(f.done for f in open_features)
    remaining = sum(f.remaining for f in open_features)
    print(f"open features: {done} items done, {remaining} remaining")
    rows = [
        [i, f.key, f.name[:40], f.done, f.remaining, f.size if f.size else "unknown"]
        for i, f in enumerate(open_features, start=1)
    ]
    print(_table(rows, ["#", "key", "name", "done", "remaining", "size"]))
    sizes = imported.feature_sizes
    print(
        f"feature sizes found (closed features): {sizes}"
        if sizes
        else "feature sizes found: none (no closed feature with done items in the export)"
    )
    print(
        f"items without parent: {imported.items_without_parent} (of {imported.items}); "
        f"rows rejected: {len(imported.rejected)}"
    )
    for rejected in imported.rejected:
        print(f"  rejected row {rejected.row} (line {rejected.line}): {rejected.reason}")
    for note in imported.notes:
        print(f"  {note}")


def _write_new_file(out: Path, text: str) -> None:
    """Write `text` to a temporary file beside `out`, then rename it over `out` in one step."""
    import os
    import tempfile

    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise InputError("--out", str(out), "must be in an existing folder")
    handle, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        # mkstemp makes the file owner-only; give it the mode any new file of the user gets.
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(temp, 0o666 & ~mask)
        os.replace(temp, out)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _import_flow_forecaster(args: argparse.Namespace) -> int:
    from flowray.importers import read_flow_forecaster

    data = read_flow_forecaster(args.file)
    summary = open_store(args).import_flow_forecaster(data)
    if args.json:
        out = summary.to_dict()
        out["notes"] = list(data.notes)
        _print_json(out)
        return 0
    print(
        f"imported from {args.file}: {summary.users} users, {summary.projects} projects, "
        f"{summary.forecasts} forecasts, {summary.actuals} actuals, "
        f"{summary.throughput_periods} throughput periods; {summary.scored_forecasts} forecasts scored"
    )
    for line in summary.skipped + list(data.notes):
        print(f"  {line}")
    return 0


# --------------------------------------------------------------------------------------- register
def register(subparsers: argparse._SubParsersAction) -> None:
    from flowray.records.base import KINDS
    from flowray.records.export import EXPORT_TABLES

    def command(
        parent: argparse._SubParsersAction,
        name: str,
        handler: Any,
        help: str,
        json_flag: bool = True,
    ) -> argparse.ArgumentParser:
        parser = parent.add_parser(name, help=help, description=help)
        add_db_option(parser)
        if json_flag:
            parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(handler=handler)
        return parser

    def group(name: str, help: str) -> argparse._SubParsersAction:
        parser = subparsers.add_parser(name, help=help, description=help)
        sub = parser.add_subparsers(dest=f"{name}_command", metavar="ACTION")
        sub.required = True
        return sub

    project = group("project", "projects in the ledger")
    p = command(project, "add", _project_add, "add a project")
    p.add_argument("name")
    p.add_argument("--team-size", help="people on the team")
    p.add_argument("--description")
    p.add_argument("--owner", help="owner (default: JUPYTERHUB_USER or your login)")
    p.add_argument("--start-date", help="YYYY-MM-DD")
    p.add_argument("--target-date", help="YYYY-MM-DD")
    command(project, "list", _project_list, "list projects")

    throughput = group("throughput", "a project's throughput history")
    p = command(throughput, "show", _throughput_show, "show the stored history")
    p.add_argument("--project", required=True)
    p.add_argument("--revision", help="show a replaced history kept as this revision")
    p = command(
        throughput,
        "revisions",
        _throughput_revisions,
        "list the replaced histories kept as revisions",
    )
    p.add_argument("project_name", nargs="?", metavar="PROJECT")
    p.add_argument("--project", help="the project (or give it as PROJECT)")
    p = command(
        throughput,
        "restore",
        _throughput_restore,
        "make a kept revision the history again (the current one is kept as a new revision)",
    )
    p.add_argument("project_name", nargs="?", metavar="PROJECT")
    p.add_argument("--project", help="the project (or give it as PROJECT)")
    p.add_argument("--revision", required=True, help="the revision to restore")
    p = command(
        throughput,
        "add",
        _throughput_add,
        "store periods from a week_start,throughput CSV",
        json_flag=False,
    )
    p.add_argument("--project", required=True)
    p.add_argument("--file", required=True, help="CSV with columns week_start,throughput")
    p.add_argument("--period-days", help="days per period (default: the file's spacing)")
    p.add_argument(
        "--replace",
        action="store_true",
        help="make the file the whole history (default: merge, the file wins)",
    )

    actual = group("actual", "what actually happened (scores open forecasts)")
    p = command(actual, "add", _actual_add, "record a completion, or items done by a date")
    p.add_argument("--project", help="project (optional with --forecast)")
    p.add_argument("--completed-on", required=True, help="YYYY-MM-DD")
    p.add_argument("--items", required=True, help="items done (by that date)")
    p.add_argument("--forecast", help="resolve only this ledger forecast")
    p.add_argument(
        "--partial",
        action="store_true",
        help="the work was NOT finished by that date (a cut-off, not a completion)",
    )
    p.add_argument("--notes")

    forecasts = group("forecasts", "the forecast ledger")
    p = command(forecasts, "list", _forecasts_list, "list ledger rows")
    p.add_argument("--project")
    p.add_argument("--kind", choices=KINDS)
    p = command(forecasts, "show", _forecasts_show, "one forecast with its score")
    p.add_argument("id", help="the forecast's id (see: flowray forecasts list)")
    p.add_argument("--project", help=argparse.SUPPRESS)
    p = command(
        forecasts,
        "plan",
        _forecasts_plan,
        "make a saved when/deadline forecast its project's plan (what the portfolio, the batch "
        "and alerts follow; other saved forecasts are what-ifs)",
    )
    p.add_argument("id", type=int, metavar="FORECAST_ID")
    p.add_argument("--project", help="refuse unless the forecast is of this project")

    p = command(
        subparsers, "calibration", _calibration, "share of resolved forecasts met at 50/70/85/95%%"
    )
    p.add_argument("--project")

    p = command(subparsers, "export", _export, "write a table to Parquet or CSV", json_flag=False)
    p.add_argument("table", choices=EXPORT_TABLES)
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    p.add_argument("--out", help="output file (default TABLE.FORMAT here); never the ledger")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")

    imports = group("import", "bring in work items or the old app's database")
    p = command(
        imports,
        "items",
        _import_items,
        "work items from a tracker CSV (delivered work only: removed items and epics not counted)",
    )
    p.add_argument("file")
    p.add_argument("--project", required=True, help="created when missing")
    p.add_argument("--id-column")
    p.add_argument("--done-column")
    p.add_argument("--start-column")
    order = p.add_mutually_exclusive_group()
    order.add_argument(
        "--dayfirst",
        dest="dayfirst",
        action="store_true",
        default=None,
        help="read 03/04/2025 as 3 April",
    )
    order.add_argument(
        "--monthfirst", dest="dayfirst", action="store_false", help="read 03/04/2025 as March 4"
    )
    p.add_argument("--period-days", default="7", help="throughput period (default 7)")
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace the history even when the items give less of it (it is kept as a revision)",
    )
    p = command(
        imports,
        "features",
        _import_features,
        "a portfolio file of one team's open features, from a tracker CSV with a parent column "
        "or a project's synced items",
    )
    p.add_argument(
        "file", metavar="EXPORT", nargs="?", help="Jira, Azure DevOps or generic CSV export"
    )
    p.add_argument(
        "--from-project",
        metavar="PROJECT",
        help="read the features from this project's synced items instead of EXPORT",
    )
    p.add_argument("--team", required=True, help="the team that works the features")
    p.add_argument(
        "--source",
        choices=("auto", "jira", "ado", "generic"),
        help="the tracker that wrote EXPORT (default: read from its header)",
    )
    p.add_argument(
        "--project",
        help="stored history the team reads (default: --from-project, else the team's name)",
    )
    p.add_argument("--parent-column", help="the column naming each item's parent")
    p.add_argument("--start", help="forecast start YYYY-MM-DD (default: today)")
    p.add_argument("--target", help="target date YYYY-MM-DD")
    p.add_argument(
        "--out", default="portfolio.toml", help="portfolio file (default portfolio.toml)"
    )
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p = command(
        imports, "flow-forecaster", _import_flow_forecaster, "the old app's SQLite database"
    )
    p.add_argument("file")
