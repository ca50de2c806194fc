"""`flowray dashboard`: serve the Voila dashboards on this machine, on one shared Ray.

Every page view gets its own kernel; without help each would start its own
local Ray on its first forecast. This command starts one Ray first (or uses
FLOWRAY_RAY_ADDRESS) and hands its address to every kernel, then stops it
when the server stops.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flowray.config import load_settings
from flowray.exceptions import FlowrayError
from flowray.runners.voila import (
    DEFAULT_CULL_IDLE_TIMEOUT,
    DEFAULT_CULL_INTERVAL,
    LOG_LEVELS,
    DashboardServer,
    check_port_free,
    plan_dashboard_server,
    serve_dashboards,
)

#: Whole Ray start-ups tried before giving up (flowray.tasks already retries a timed-out start).
RAY_START_ATTEMPTS = 1


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
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default="WARNING",
        help="the server's log: WARNING says only what needs acting on (default); INFO adds "
        "every kernel started, culled and stopped",
    )
    parser.set_defaults(handler=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    """Check the options, start (or find) the one Ray cluster every page shares, serve, clean up."""
    settings = load_settings()
    db_path = args.db if args.db is not None else settings.db_path
    plan_server(args, db_path, {})  # bad options and a busy port fail now, before Ray starts
    check_port_free(args.host, args.port)
    kernel_env, started_here = start_shared_cluster(
        ray_dashboard=getattr(args, "ray_dashboard", True)
    )
    try:
        return serve_dashboards(plan_server(args, db_path, kernel_env))
    finally:
        if started_here:
            from flowray import pipeline

            print("flowray dashboards: stopping Ray", file=sys.stderr, flush=True)
            pipeline.release_cluster()


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
    )


def start_shared_cluster(
    attempts: int = RAY_START_ATTEMPTS, *, ray_dashboard: bool = True
) -> tuple[dict[str, str], bool]:
    """Environment that makes every dashboard kernel use one Ray; True when this process started it.

    Without a cluster address (FLOWRAY_RAY_ADDRESS / RAY_ADDRESS) a local Ray
    starts here, once, instead of once per page view (each Ray takes ~10-20 s
    and several hundred MB). Ray's start-up can time out on a saturated
    machine; flowray.tasks retries that, and this can try the whole start
    again a bounded number of times, before giving up with one clear line.
    `ray_dashboard` also starts Ray's own dashboard (see `--ray-dashboard`).
    """
    from flowray import pipeline

    address = load_settings().ray_address
    if address:
        print(f"flowray dashboards: pages join the Ray cluster at {address}", flush=True)
        return {"FLOWRAY_RAY_ADDRESS": address}, False
    print("flowray dashboards: starting a local Ray for all pages (10-20 s)...", flush=True)
    for attempt in range(1, attempts + 1):
        try:
            kernel_env = pipeline.share_cluster_with_kernels(ray_dashboard=ray_dashboard)
            break
        except FlowrayError as exc:
            if attempt == attempts:
                raise FlowrayError(
                    f"{exc}. The machine may be overloaded: try again, or start a cluster "
                    "with `ray start --head` and set FLOWRAY_RAY_ADDRESS"
                ) from exc
            print(f"flowray dashboards: Ray did not start ({exc}); trying again", flush=True)
    ray_url = pipeline.connect_cluster().get("dashboard_url")
    if ray_url:
        print(f"flowray dashboards: Ray's own dashboard (tasks, logs): {ray_url}", flush=True)
    return kernel_env, True
