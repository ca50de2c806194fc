"""`flowray dashboard`: serve the Voila dashboards on this machine, on one shared Ray.

Every page view gets its own kernel; without help each would start its own
local Ray on its first forecast. This command serves at once, starts one Ray
alongside in a process of its own (or uses FLOWRAY_RAY_ADDRESS), hands its
address to every kernel, and stops it when the server stops.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from flowray.config import load_settings
from flowray.runners.voila import (
    DEFAULT_CULL_IDLE_TIMEOUT,
    DEFAULT_CULL_INTERVAL,
    LOG_LEVELS,
    DashboardServer,
    check_port_free,
    plan_dashboard_server,
    serve_dashboards,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    settings = load_settings()
    parser = subparsers.add_parser(
        "dashboard",
        help="serve the stakeholder dashboards (Voila) in the browser",
        description=(
            "Serve the dashboards/ notebooks with Voila on this machine and print their URL, "
            "which carries the access token every request needs (a random one per serve, "
            "or FLOWRAY_DASHBOARD_TOKEN). "
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
        help="address to listen on (default %(default)s; beyond loopback, other machines can reach it)",
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help=f"DuckDB ledger the dashboards read and write (default FLOWRAY_DB or {settings.db_path})",
    )
    parser.add_argument(
        "--no-browser",
        action="store_true",
        help="do not open a web browser on start (it opens the URL with the token)",
    )
    parser.add_argument(
        "--dashboards",
        type=Path,
        default=None,
        metavar="DIR",
        help="directory of dashboard notebooks (default: the repository's dashboards/, or the copy inside an installed flowray)",
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
    parser.add_argument(
        "--ray-dashboard",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with the local Ray this starts, also start Ray's own dashboard on 127.0.0.1 "
        "(tasks, logs); the cluster page counts every page's tasks through it (default: yes)",
    )
    parser.add_argument(
        "--preheat",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the forecast page rendered ahead of time in a spare kernel, so it opens at "
        "once; it is re-rendered whenever the ledger changes (costs one kernel's memory, "
        "200-400 MB; default: yes)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default="WARNING",
        help="the server's log: WARNING says only what needs acting on (default); INFO adds "
        "every kernel started, culled and stopped",
    )
    parser.set_defaults(handler=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    """Check the options, serve at once with the one Ray every page shares starting alongside.

    With FLOWRAY_RAY_ADDRESS the pages join that cluster. Otherwise a child
    process starts a local Ray while the first page is already served and
    publishes its address in a private folder (FLOWRAY_RAY_ADDRESS_FILE): the
    kernels wait for it when they first need Ray. It stops with the server.
    """
    import tempfile

    from flowray.runners.ray_keeper import start_ray_keeper

    settings = load_settings()
    db_path = args.db if args.db is not None else settings.db_path
    plan_server(args, db_path, {})  # bad options and a busy port fail now, before Ray starts
    check_port_free(args.host, args.port)
    if settings.ray_address:
        print(f"flowray dashboards: pages join the Ray cluster at {settings.ray_address}")
        return serve_dashboards(
            plan_server(args, db_path, {"FLOWRAY_RAY_ADDRESS": settings.ray_address})
        )
    with tempfile.TemporaryDirectory(prefix="flowray-dashboards-") as private:
        address_file = Path(private) / "ray-address.json"  # the folder is owner-only (0700)
        print("flowray dashboards: starting a local Ray for all pages alongside", flush=True)
        keeper = start_ray_keeper(address_file, ray_dashboard=getattr(args, "ray_dashboard", True))
        try:
            # Kernels join as the local Ray authenticates: Ray's default for a new local
            # cluster is token auth unless this environment says otherwise; Ray reads it once,
            # so it is set from the kernel's start.
            kernel_env = {
                "FLOWRAY_RAY_ADDRESS_FILE": str(address_file),
                "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE") or "token",
            }
            return serve_dashboards(plan_server(args, db_path, kernel_env))
        finally:
            print("flowray dashboards: stopping Ray", file=sys.stderr, flush=True)
            keeper.stop()


def plan_server(
    args: argparse.Namespace, db_path: Path, kernel_env: dict[str, str]
) -> DashboardServer:
    return plan_dashboard_server(
        db_path=db_path,
        dashboards_dir=args.dashboards,
        host=args.host,
        port=args.port,
        open_browser=not args.no_browser,
        cull_idle_timeout=args.cull_idle_timeout,
        cull_interval=args.cull_interval,
        kernel_env=kernel_env,
        token=load_settings().dashboard_token,
        log_level=getattr(args, "log_level", "WARNING"),
        preheated_pages=None if getattr(args, "preheat", True) else (),
    )
