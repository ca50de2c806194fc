"""What the cluster reports about itself: the connection, a health probe, nodes and tasks.

Plain records, so the pipeline, the CLI and the cluster page can show them
without importing Ray.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClusterInfo:
    """What `connect()` joined: enough to print, log, and find the dashboard."""

    address: str
    started_locally: bool
    client_mode: bool
    nodes: int
    cpus: float
    dashboard_url: str | None
    ray_version: str
    auth_mode: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HealthCheck:
    """The answer of one remote probe task, and how long the round trip took."""

    node_id: str
    host: str
    pid: int
    ray_version: str
    flowray_version: str
    timestamp: float
    latency_ms: float
    driver_ray_version: str
    driver_flowray_version: str

    @property
    def versions_match(self) -> bool:
        return (
            self.ray_version == self.driver_ray_version
            and self.flowray_version == self.driver_flowray_version
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["versions_match"] = self.versions_match
        return data


@dataclass(frozen=True)
class ClusterStatus:
    """Nodes, CPUs, object store and flowray tasks, as the cluster sees them now."""

    address: str
    nodes_alive: int
    nodes_dead: int
    cpus_total: float
    cpus_in_use: float
    object_store_bytes_total: int
    object_store_bytes_used: int | None
    tasks_pending: int
    tasks_running: int
    tasks_finished: int
    tasks_failed: int
    tasks_source: str
    jobs_active: int
    dashboard_url: str | None
    nodes: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    tasks_cancelled: int = 0  # stopped by a job's cancel(), not failures (state API only)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["nodes"] = [dict(n) for n in self.nodes]
        return data
