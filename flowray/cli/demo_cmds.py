"""`flowray demo`: seed a demo database from the bundled data and serve the dashboards."""

from __future__ import annotations

import argparse
from pathlib import Path

DEMO_DB = Path("flowray-demo.duckdb")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="seed a demo database from the bundled data and serve the dashboards",
        description=(
            "Create a demo database with four real projects, their throughput, "
            "scored past forecasts and live forecasts, then serve the dashboards on it. "
            "The real histories are re-dated to end last week; a demo built on an earlier "
            "day is rebuilt (the old file is kept beside it)."
        ),
    )
    parser.add_argument(
        "--db", type=Path, default=DEMO_DB, help=f"demo database (default {DEMO_DB})"
    )
    parser.add_argument("--port", type=int, default=8866, help="port (default 8866)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--seed-only", action="store_true", help="seed the database and exit")
    parser.add_argument(
        "--reset",
        action="store_true",
        help="rebuild the demo database as of today (the old file is kept, renamed)",
    )
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from flowray import pipeline
    from flowray.cli import app_cmds

    status = pipeline.demo_status(args.db)
    if status.needs_seeding:
        summary = pipeline.seed_demo(args.db)
        print(f"seeded {args.db}: {summary['projects']} projects, {summary['forecasts']} forecasts")
    elif args.reset or status.state == "out of date":
        reason = (
            "rebuilding it as asked"
            if args.reset
            else f"its history ends the week of {status.last_week}, so it is rebuilt as of today"
        )
        print(f"demo database {args.db}: {reason}")
        summary = pipeline.reset_demo(args.db)
        print(f"seeded {args.db}: {summary['projects']} projects, {summary['forecasts']} forecasts")
        if summary["kept"]:
            print(f"the previous file is kept as {summary['kept']}")
    else:
        note = " (not a demo database: served as it is)" if status.state == "not a demo" else ""
        print(f"using {args.db}{note}")
    if args.seed_only:
        return 0
    dashboard_args = argparse.Namespace(
        db=args.db,
        dashboards=None,
        host=args.host,
        port=args.port,
        no_browser=args.no_browser,
        cull_idle_timeout=app_cmds.DEFAULT_CULL_IDLE_TIMEOUT,
        cull_interval=app_cmds.DEFAULT_CULL_INTERVAL,
        # Ray's own dashboard costs about 1 GB: the demo's cluster page does without its
        # task counts (`flowray dashboard` starts it unless --no-ray-dashboard).
        ray_dashboard=False,
        log_level="WARNING",
    )
    return app_cmds.run_dashboard(dashboard_args)
