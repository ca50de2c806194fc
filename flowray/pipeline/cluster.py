"""The Ray cluster for front ends: connect, share one cluster with dashboard kernels, status, health."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from flowray import tasks
from flowray.config import load_settings
from flowray.exceptions import InputError

log = logging.getLogger(__name__)


def connect_cluster() -> dict[str, Any]:
    """Start (or join) the Ray cluster explicitly; returns what was connected to."""
    return tasks.ensure_connected().to_dict()


def cluster_status() -> dict[str, Any]:
    tasks.ensure_connected()
    status = tasks.cluster_status()
    return status.to_dict()


def health_check() -> dict[str, Any]:
    tasks.ensure_connected()
    report = tasks.health_check()
    return report.to_dict()


def keep_shared_cluster(address_file: Path, *, ray_dashboard: bool, until: TextIO) -> int:
    """Start a local Ray, publish its address for the dashboard kernels, keep it until `until`
    ends (the dashboard server closes it when it stops), then stop Ray. Returns an exit code.

    A Ray that does not start is published as the reason, so the kernels say why
    instead of waiting; the exit code is then 1.
    """
    try:
        info = tasks.connect("local", dashboard=ray_dashboard)
    except Exception as exc:  # every kernel must learn why, not wait for ever
        tasks.publish_failure(address_file, str(exc))
        print(f"flowray dashboards: Ray did not start: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        tasks.publish_address(address_file, info)
        print(f"  ray      {info.address} (one cluster shared by every page)", flush=True)
        if info.dashboard_url:
            print(
                f"flowray dashboards: Ray's own dashboard (tasks, logs): {info.dashboard_url}",
                flush=True,
            )
        until.read()  # returns at end of file: the server stopped (or died)
    finally:
        release_cluster()
    return 0


_RAY_READY = threading.Event()  # this process has joined Ray and warmed its workers
_JOINING = threading.Lock()
_join_started = False


def warm_up_engine(engine: str = "ray") -> None:
    """Load what a first forecast needs while the user reads the page: numba's compiled
    kernel here, and (engine "ray") the connection and a warm worker per CPU.

    Best effort: a failure is logged, and the first Run reports the real problem.
    """
    global _join_started
    from flowray.core.engine import Question
    from flowray.core.forecast import run_local
    from flowray.core.scenario import Scenario

    try:
        run_local(Scenario(throughput=[1, 2, 3], backlog=3), Question("when"), 64, 0)
        if engine == "ray":
            tasks.ensure_connected()
            tasks.warm_up(hold_seconds=0.05)
            _RAY_READY.set()
    except Exception as exc:
        log.warning("warming up the engine failed (the first forecast will say why): %s", exc)
        with _JOINING:
            _join_started = False  # the next Run tries again


def page_engine() -> str:
    """The engine a page's Run uses: "ray" once this process has joined Ray and warmed a
    worker per CPU; until then "serial" (this process), while Ray is joined in the background.

    A page's first Run therefore shows numbers at once instead of waiting 10-20 s
    for Ray (and a page kernel that nobody runs never joins Ray, which keeps an
    idle server small). Both engines give the same numbers for the same inputs
    and seed (jobs are chunked by the number of runs alone).
    """
    global _join_started
    if _RAY_READY.is_set() and tasks.is_connected():
        return "ray"
    with _JOINING:
        start = not _join_started
        _join_started = True
    if start:
        threading.Thread(
            target=warm_up_engine, args=("ray",), name="flowray-join-ray", daemon=True
        ).start()
    return "serial"


def release_cluster() -> None:
    """Disconnect this process from Ray; a local Ray it started stops."""
    tasks.shutdown()


# ---------------------------------------------------------------------------------------
# Cluster commands (`flowray cluster status|health`): connect as asked, report, disconnect.
# ---------------------------------------------------------------------------------------


def open_cluster(
    address: str | None = None, *, local: bool = False, token_path: str | None = None
) -> bool:
    """Connect for a one-off cluster command; True when this call made the connection."""
    if tasks.is_connected():  # inside a session that is already connected: use it
        tasks.ensure_connected()
        return False
    if local:
        tasks.connect("local", dashboard=True)
        return True
    target = address or load_settings().ray_address
    if not target:
        raise InputError(
            "address",
            None,
            "no cluster address; set FLOWRAY_RAY_ADDRESS (or pass --address), or use --local "
            "to check a private local Ray",
        )
    tasks.connect(target, token_path=token_path)
    return True


def close_cluster() -> None:
    tasks.shutdown()


def cluster_report() -> tuple[Any, Any, list[Any]]:
    """(status, connection info, exposed ports) of the connected cluster, as tasks reports them.

    The exposed ports are the listening sockets of the cluster's processes on
    this machine that other machines can reach (`tasks.RayListener`, bound to
    a wildcard or a non-loopback address); a local Ray started by flowray has
    none, a node started with `ray start` has several (docs/cluster.md, Ports).
    """
    status, info = tasks.cluster_status(), tasks.cluster_info()
    return status, info, tasks.exposed_listeners(tasks.ray_listeners())


def health_check_nodes() -> list[Any]:
    return tasks.health_check_nodes()
