"""`flowray dashboard`: options, the errors it reports before starting anything, and its one Ray."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flowray import pipeline
from flowray.cli import app_cmds, build_parser
from flowray.exceptions import FlowrayError, InputError
from flowray.runners.voila import describe_server

FLOWRAY = [sys.executable, "-c", "import sys; from flowray.cli import main; sys.exit(main())"]


def run_flowray(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A subprocess with a timeout: if a check failed to fire, Voila would start and block.
    return subprocess.run([*FLOWRAY, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_dashboard_defaults(monkeypatch):
    for name in ("FLOWRAY_DASHBOARD_HOST", "FLOWRAY_DASHBOARD_PORT"):
        monkeypatch.delenv(name, raising=False)
    args = build_parser().parse_args(["dashboard"])
    assert (args.host, args.port, args.db, args.no_browser) == ("127.0.0.1", 8866, None, False)
    assert args.dashboards is None
    assert args.cull_idle_timeout > 0 and args.cull_interval > 0


def test_dashboard_options_parse(tmp_path):
    args = build_parser().parse_args(
        [
            "dashboard",
            "--port",
            "9001",
            "--host",
            "127.0.0.2",
            "--db",
            str(tmp_path / "x.duckdb"),
            "--no-browser",
            "--dashboards",
            str(tmp_path),
            "--cull-idle-timeout",
            "30",
        ]
    )
    assert (args.port, args.host, args.no_browser) == (9001, "127.0.0.2", True)
    assert args.db == tmp_path / "x.duckdb"
    assert args.dashboards == tmp_path
    assert args.cull_idle_timeout == 30


def test_busy_port_exits_2_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_flowray("dashboard", "--no-browser", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 2
    assert f"port: got {port}; is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_dashboards_dir_exits_2(tmp_path):
    result = run_flowray(
        "dashboard", "--no-browser", "--dashboards", str(tmp_path / "missing"), cwd=tmp_path
    )
    assert result.returncode == 2
    assert "dashboards_dir" in result.stderr and "Traceback" not in result.stderr


# -- one Ray for every page: run_dashboard with the cluster and Voila replaced ----------------


class FakeCluster:
    """Stands in for pipeline.share_cluster_with_kernels / release_cluster (no Ray started)."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.starts = 0
        self.releases = 0

    def share(self, ray_dashboard: bool | None = None) -> dict[str, str]:
        self.starts += 1
        self.ray_dashboard = ray_dashboard
        if self.starts <= self.failures:
            raise FlowrayError("could not start a local Ray: timed out during startup")
        return {"FLOWRAY_RAY_ADDRESS": "127.0.0.1:6380", "RAY_AUTH_MODE": "token"}

    def release(self) -> None:
        self.releases += 1


@pytest.fixture
def cluster(monkeypatch) -> FakeCluster:
    fake = FakeCluster()
    monkeypatch.setattr(pipeline, "share_cluster_with_kernels", fake.share)
    monkeypatch.setattr(pipeline, "release_cluster", fake.release)
    monkeypatch.setattr(
        pipeline, "connect_cluster", lambda: {"dashboard_url": "http://127.0.0.1:8265"}
    )
    for name in ("FLOWRAY_RAY_ADDRESS", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    return fake


def dashboard_args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    return build_parser().parse_args(
        [
            "dashboard",
            "--no-browser",
            "--port",
            str(free_port()),
            "--db",
            str(tmp_path / "x.duckdb"),
            *extra,
        ]
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_dashboard_starts_one_ray_hands_it_to_the_kernels_and_stops_it(
    tmp_path, monkeypatch, cluster, capsys
):
    served = []

    def serve(server):
        assert cluster.starts == len(served) + 1 and cluster.releases == len(served)  # Ray is up
        served.append(server)
        return 0

    monkeypatch.setattr(app_cmds, "serve_dashboards", serve)
    assert app_cmds.run_dashboard(dashboard_args(tmp_path)) == 0
    server = served[0]
    assert server.kernel_env == {"FLOWRAY_RAY_ADDRESS": "127.0.0.1:6380", "RAY_AUTH_MODE": "token"}
    assert "ray      127.0.0.1:6380 (one cluster shared by every page)" in describe_server(server)
    assert cluster.releases == 1
    assert cluster.ray_dashboard is True  # the cluster page counts every page's tasks through it
    assert "Ray's own dashboard (tasks, logs): http://127.0.0.1:8265" in capsys.readouterr().out

    app_cmds.run_dashboard(dashboard_args(tmp_path, "--no-ray-dashboard"))
    assert cluster.ray_dashboard is False


def test_ray_stops_even_when_serving_fails(tmp_path, monkeypatch, cluster):
    def serve(server):
        raise RuntimeError("voila crashed")

    monkeypatch.setattr(app_cmds, "serve_dashboards", serve)
    with pytest.raises(RuntimeError, match="voila crashed"):
        app_cmds.run_dashboard(dashboard_args(tmp_path))
    assert cluster.releases == 1


def test_a_given_cluster_address_is_joined_not_started_nor_stopped(tmp_path, monkeypatch, cluster):
    monkeypatch.setenv("FLOWRAY_RAY_ADDRESS", "10.0.0.5:6379")
    served = []
    monkeypatch.setattr(app_cmds, "serve_dashboards", lambda server: served.append(server) or 0)
    assert app_cmds.run_dashboard(dashboard_args(tmp_path)) == 0
    assert served[0].kernel_env == {"FLOWRAY_RAY_ADDRESS": "10.0.0.5:6379"}
    assert (cluster.starts, cluster.releases) == (0, 0)


def test_ray_start_is_retried_then_reported_in_one_line(tmp_path, monkeypatch, cluster, capsys):
    cluster.failures = 1
    env, started_here = app_cmds.start_shared_cluster(attempts=2)
    assert started_here and env["FLOWRAY_RAY_ADDRESS"] == "127.0.0.1:6380"
    assert cluster.starts == 2
    assert "trying again" in capsys.readouterr().out

    cluster.starts, cluster.failures = 0, 5
    with pytest.raises(FlowrayError, match="FLOWRAY_RAY_ADDRESS") as excinfo:
        app_cmds.start_shared_cluster(attempts=2)
    assert cluster.starts == 2 and "timed out during startup" in str(excinfo.value)


def test_bad_options_fail_before_ray_starts(tmp_path, monkeypatch, cluster):
    monkeypatch.setattr(app_cmds, "serve_dashboards", lambda server: pytest.fail("must not serve"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        args = dashboard_args(tmp_path)
        args.port = taken.getsockname()[1]
        with pytest.raises(InputError, match="already in use"):
            app_cmds.run_dashboard(args)
    args = dashboard_args(tmp_path, "--cull-interval", "0")
    with pytest.raises(InputError, match="cull_interval"):
        app_cmds.run_dashboard(args)
    assert cluster.starts == 0


# -- the access token: always on, the operator's own through FLOWRAY_DASHBOARD_TOKEN ----------


def test_dashboard_and_demo_serve_with_the_operators_token(tmp_path, monkeypatch, cluster):
    monkeypatch.setenv("FLOWRAY_DASHBOARD_TOKEN", "operator-chosen-token-0123")
    served = []
    monkeypatch.setattr(app_cmds, "serve_dashboards", lambda server: served.append(server) or 0)
    assert app_cmds.run_dashboard(dashboard_args(tmp_path)) == 0

    seeded = []
    monkeypatch.setattr(
        pipeline,
        "seed_demo",
        lambda db: seeded.append(db) or {"seeded": False, "projects": 4, "forecasts": 20},
    )
    demo = build_parser().parse_args(
        ["demo", "--no-browser", "--port", str(free_port()), "--db", str(tmp_path / "d.duckdb")]
    )
    assert demo.handler(demo) == 0
    assert seeded == [tmp_path / "d.duckdb"]
    for server in served:
        assert server.token == "operator-chosen-token-0123"
        first_line = describe_server(server).splitlines()[0]
        assert first_line == (
            f"flowray dashboards: http://127.0.0.1:{server.port}/?token=operator-chosen-token-0123"
        )


def test_without_a_setting_every_serve_draws_its_own_token(tmp_path, monkeypatch, cluster):
    monkeypatch.delenv("FLOWRAY_DASHBOARD_TOKEN", raising=False)
    served = []
    monkeypatch.setattr(app_cmds, "serve_dashboards", lambda server: served.append(server) or 0)
    app_cmds.run_dashboard(dashboard_args(tmp_path))
    app_cmds.run_dashboard(dashboard_args(tmp_path))
    assert all(len(server.token) >= 32 for server in served)
    assert served[0].token != served[1].token
    assert served[0].open_browser is False  # --no-browser


def test_a_bad_token_setting_exits_2_without_showing_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWRAY_DASHBOARD_TOKEN", "my secret!")
    result = run_flowray("dashboard", "--no-browser", "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 2
    assert "token: got '<10 characters, hidden>'" in result.stderr
    assert "my secret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
