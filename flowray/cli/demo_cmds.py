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
            "Create (once) a demo database with four real projects, their throughput, "
            "scored past forecasts and live forecasts, then serve the dashboards on it."
        ),
    )
    parser.add_argument(
        "--db", type=Path, default=DEMO_DB, help=f"demo database (default {DEMO_DB})"
    )
    parser.add_argument("--port", type=int, default=8866, help="port (default 8866)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--seed-only", action="store_true", help="seed the database and exit")
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from flowray import pipeline
    from flowray.cli import app_cmds

    summary = pipeline.seed_demo(args.db)
    if summary["seeded"]:
        print(f"seeded {args.db}: {summary['projects']} projects, {summary['forecasts']} forecasts")
    else:
        print(f"using {args.db} ({summary['projects']} projects)")
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
        ray_dashboard=True,
    )
    return app_cmds.run_dashboard(dashboard_args)
