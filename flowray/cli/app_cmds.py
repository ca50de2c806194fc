"""`flowray dashboard`: serve the Voila dashboards on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from flowray.config import load_settings
from flowray.serve import (
    DEFAULT_CULL_IDLE_TIMEOUT,
    DEFAULT_CULL_INTERVAL,
    plan_dashboard_server,
    serve_dashboards,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    settings = load_settings()
    parser = subparsers.add_parser(
        "dashboard",
        help="serve the stakeholder dashboards (Voila) in the browser",
        description=(
            "Serve the dashboards/ notebooks with Voila on this machine and print their URL. "
            "Runs until Ctrl+C; closed pages free their kernel after the idle timeout."
        ),
    )
    parser.add_argument(
        "--port",
        type=int,
        default=settings.dashboard_port,
        help="port to listen on (default %(default)s, FLOWRAY_DASHBOARD_PORT)",
    )
    parser.add_argument(
        "--host",
        default=settings.dashboard_host,
        help="address to listen on (default %(default)s; any other than loopback requires a token)",
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help=f"DuckDB ledger the dashboards read and write (default FLOWRAY_DB or {settings.db_path})",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="do not open a web browser on start"
    )
    parser.add_argument(
        "--dashboards",
        type=Path,
        default=None,
        metavar="DIR",
        help="directory of dashboard notebooks (default: the repository's dashboards/)",
    )
    parser.add_argument(
        "--cull-idle-timeout",
        type=int,
        default=DEFAULT_CULL_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="stop a kernel whose page is closed after this long idle (default %(default)s)",
    )
    parser.add_argument(
        "--cull-interval",
        type=int,
        default=DEFAULT_CULL_INTERVAL,
        metavar="SECONDS",
        help="how often to look for idle kernels (default %(default)s)",
    )
    parser.set_defaults(handler=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    server = plan_dashboard_server(
        db_path=args.db if args.db is not None else load_settings().db_path,
        dashboards_dir=args.dashboards,
        host=args.host,
        port=args.port,
        open_browser=not args.no_browser,
        cull_idle_timeout=args.cull_idle_timeout,
        cull_interval=args.cull_interval,
    )
    return serve_dashboards(server)
