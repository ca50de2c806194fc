"""Settings read from the environment: the only reader of FLOWRAY_* variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: The dashboards' access token chosen by the operator (else a random one per serve).
DASHBOARD_TOKEN_VARIABLE = "FLOWRAY_DASHBOARD_TOKEN"


@dataclass(frozen=True)
class Settings:
    """Run-time settings; every field has a laptop-friendly default."""

    db_path: Path
    ray_address: str | None
    ray_num_cpus: int | None
    ray_object_store_bytes: int
    ray_dashboard: bool
    dashboard_host: str
    dashboard_port: int
    dashboard_token: str | None = field(default=None, repr=False)  # a secret: never printed
    # Where a dashboard server writes its shared Ray's address once that Ray is up
    # (kernels started before then wait for it instead of starting a Ray of their own).
    ray_address_file: Path | None = None


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def load_settings() -> Settings:
    """Read FLOWRAY_* (and RAY_ADDRESS as a fallback for the cluster address)."""
    env = os.environ
    return Settings(
        db_path=Path(env.get("FLOWRAY_DB") or "flowray.duckdb"),
        ray_address=env.get("FLOWRAY_RAY_ADDRESS") or env.get("RAY_ADDRESS") or None,
        ray_num_cpus=_int_or_none(env.get("FLOWRAY_RAY_NUM_CPUS")),
        ray_object_store_bytes=int(env.get("FLOWRAY_RAY_OBJECT_STORE_MB") or 256) * 1024 * 1024,
        ray_dashboard=env.get("FLOWRAY_RAY_DASHBOARD", "0") in ("1", "true", "yes"),
        dashboard_host=env.get("FLOWRAY_DASHBOARD_HOST") or "127.0.0.1",
        dashboard_port=int(env.get("FLOWRAY_DASHBOARD_PORT") or 8866),
        dashboard_token=env.get(DASHBOARD_TOKEN_VARIABLE) or None,
        ray_address_file=Path(env["FLOWRAY_RAY_ADDRESS_FILE"])
        if env.get("FLOWRAY_RAY_ADDRESS_FILE")
        else None,
    )
