"""`flowray cluster status` and `flowray cluster health`: what Flower showed, from Ray itself.

Both join the cluster named by --address or FLOWRAY_RAY_ADDRESS / RAY_ADDRESS
(token from RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token or
--token-file), look, and disconnect. `--local` starts a private local Ray
instead, which checks that this machine's install works. `status` also warns
about every port of the cluster's processes on this machine that other machines
can reach (bound to 0.0.0.0, :: or a network address). Starting and stopping
clusters is Ray's job (`ray up cluster.yaml`, `ray start --head`); see
docs/cluster.md. For more (task timelines, logs, per-worker memory), Ray's
dashboard is the place.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any


def register(subparsers: Any) -> None:
    cluster = subparsers.add_parser(
        "cluster",
        help="Ray cluster: status and health",
        description="Inspect the Ray cluster that runs flowray jobs.",
    )
    sub = cluster.add_subparsers(dest="cluster_command", metavar="SUBCOMMAND")
    sub.required = True
    commands: tuple[tuple[str, Callable[[argparse.Namespace], int], str], ...] = (
        ("status", _status, "nodes, CPUs, object store and flowray tasks"),
        ("health", _health, "run a probe task on every node: versions and round-trip time"),
    )
    for name, handler, help_text in commands:
        parser = sub.add_parser(name, help=help_text, description=help_text)
        where = parser.add_mutually_exclusive_group()
        where.add_argument(
            "--address",
            help="cluster to join, e.g. 10.0.0.5:6379 or ray://127.0.0.1:10001 "
            "(default: FLOWRAY_RAY_ADDRESS, then RAY_ADDRESS)",
        )
        where.add_argument(
            "--local",
            action="store_true",
            help="start a private local Ray for this check instead (takes 10-20 s)",
        )
        parser.add_argument("--token-file", help="file holding the cluster's auth token")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(handler=handler)


def _connect(args: argparse.Namespace) -> bool:
    """Connect as asked; True when this command made the connection (and must close it)."""
    return _pipeline().open_cluster(args.address, local=args.local, token_path=args.token_file)


def _mib(value: int | None) -> str:
    return "unknown" if value is None else f"{value / 2**20:.1f} MiB"


def exposure_warnings(exposed: list[Any]) -> list[str]:
    """One line per Ray port that other machines can reach, naming the port, address and process."""
    return [
        f"warning      Ray port {x.port} ({x.process}, pid {x.pid}) listens on {x.address}: "
        "reachable from other machines, protected only by Ray's token (see docs/cluster.md, Ports)"
        for x in exposed
    ]


def _status(args: argparse.Namespace) -> int:
    owned = _connect(args)
    try:
        status, info, exposed = _pipeline().cluster_report()
    finally:
        if owned:
            _pipeline().close_cluster()
    if args.json:
        report = dict(status.to_dict(), exposed_ports=[x.to_dict() for x in exposed])
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    auth = info.auth_mode if info else "unknown"
    source = "Ray's state API" if status.tasks_source == "state_api" else "this process only"
    print(f"cluster      {status.address} ({auth} auth)")
    print(f"nodes        {status.nodes_alive} alive, {status.nodes_dead} dead")
    print(f"CPUs         {status.cpus_in_use:g} of {status.cpus_total:g} in use")
    print(
        f"object store {_mib(status.object_store_bytes_used)} used of "
        f"{_mib(status.object_store_bytes_total)}"
    )
    print(
        f"flowray tasks {status.tasks_pending} pending, {status.tasks_running} running, "
        f"{status.tasks_finished} finished, {status.tasks_failed} failed, "
        f"{status.tasks_cancelled} cancelled ({source})"
    )
    if status.dashboard_url:
        print(f"dashboard    {status.dashboard_url} (timelines, logs, memory per worker)")
    for line in exposure_warnings(exposed):
        print(line)
    return 0


def _health(args: argparse.Namespace) -> int:
    owned = _connect(args)
    try:
        checks = _pipeline().health_check_nodes()
    finally:
        if owned:
            _pipeline().close_cluster()
    healthy = bool(checks) and all(c.versions_match for c in checks)
    if args.json:
        print(
            json.dumps(
                {"healthy": healthy, "nodes": [c.to_dict() for c in checks]},
                indent=2,
                sort_keys=True,
            )
        )
        return 0 if healthy else 1
    for c in checks:
        verdict = (
            "ok"
            if c.versions_match
            else (
                f"VERSION MISMATCH (driver: ray {c.driver_ray_version}, "
                f"flowray {c.driver_flowray_version})"
            )
        )
        print(
            f"node {c.node_id[:12]}  host {c.host}  pid {c.pid}  ray {c.ray_version}  "
            f"flowray {c.flowray_version}  {c.latency_ms:.1f} ms  {verdict}"
        )
    print("healthy" if healthy else "unhealthy")
    return 0 if healthy else 1


def _pipeline() -> Any:
    """The pipeline, imported when a cluster command runs (`flowray --help` stays instant)."""
    from flowray import pipeline

    return pipeline
