"""`flowray dashboard`: options, the errors it reports before starting anything, and its one Ray."""

from __future__ import annotations

import argparse
import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flowray import pipeline, tasks
from flowray.cli import app_cmds, build_parser
from flowray.exceptions import FlowrayError, InputError
from flowray.pipeline import cluster as pipeline_cluster
from flowray.runners import ray_keeper
from flowray.runners.voila import describe_server
from flowray.tasks import ClusterInfo

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


class FakeKeeper:
    """Stands in for runners.ray_keeper (no process, no Ray): publishes when told, records stop()."""

    def __init__(self) -> None:
        self.starts = 0
        self.stops = 0
        self.ray_dashboard: bool | None = None
        self.address_file: Path | None = None

    def start(self, address_file: Path, *, ray_dashboard: bool = False) -> FakeKeeper:
        self.starts += 1
        self.address_file, self.ray_dashboard = address_file, ray_dashboard
        return self

    def publish(self, address: str = "127.0.0.1:6380") -> None:
        assert self.address_file is not None
        tasks.publish_address(self.address_file, info_at(address))

    def stop(self) -> int:
        self.stops += 1
        return 0


def info_at(address: str) -> ClusterInfo:
    return ClusterInfo(
        address=address,
        started_locally=True,
        client_mode=False,
        nodes=1,
        cpus=2.0,
        dashboard_url=None,
        ray_version="test",
        auth_mode="token",
    )


@pytest.fixture
def cluster(monkeypatch) -> FakeKeeper:
    fake = FakeKeeper()
    monkeypatch.setattr(ray_keeper, "start_ray_keeper", fake.start)
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


def test_the_dashboard_serves_before_its_ray_is_up_and_kernels_wait_for_the_address(
    tmp_path, monkeypatch, cluster
):
    seen: list[str] = []

    def serve(server):
        address_file = Path(server.kernel_env["FLOWRAY_RAY_ADDRESS_FILE"])
        assert set(server.kernel_env) == {"FLOWRAY_RAY_ADDRESS_FILE", "RAY_AUTH_MODE"}
        assert server.kernel_env["RAY_AUTH_MODE"] == "token"  # Ray's default, said from the start
        assert address_file == cluster.address_file
        assert not address_file.exists()  # serving while Ray is still starting
        assert (address_file.parent.stat().st_mode & 0o777) == 0o700
        assert cluster.stops == 0
        cluster.publish()
        seen.append(tasks.wait_for_published_address(address_file, timeout=30))
        assert (address_file.stat().st_mode & 0o777) == 0o600
        return 0

    monkeypatch.setattr(app_cmds, "serve_dashboards", serve)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    assert app_cmds.run_dashboard(dashboard_args(tmp_path)) == 0
    assert seen == ["127.0.0.1:6380"]
    assert (cluster.starts, cluster.stops) == (1, 1)
    assert cluster.ray_dashboard is True  # the cluster page counts every page's tasks through it
    assert not cluster.address_file.parent.exists()  # the private folder goes with the server

    monkeypatch.setattr(app_cmds, "serve_dashboards", lambda server: 0)
    app_cmds.run_dashboard(dashboard_args(tmp_path, "--no-ray-dashboard"))
    assert cluster.ray_dashboard is False


def test_ray_stops_even_when_serving_fails(tmp_path, monkeypatch, cluster):
    def serve(server):
        raise RuntimeError("voila crashed")

    monkeypatch.setattr(app_cmds, "serve_dashboards", serve)
    with pytest.raises(RuntimeError, match="voila crashed"):
        app_cmds.run_dashboard(dashboard_args(tmp_path))
    assert cluster.stops == 1


def test_a_given_cluster_address_is_joined_not_started_nor_stopped(tmp_path, monkeypatch, cluster):
    monkeypatch.setenv("FLOWRAY_RAY_ADDRESS", "10.0.0.5:6379")
    served = []
    monkeypatch.setattr(app_cmds, "serve_dashboards", lambda server: served.append(server) or 0)
    assert app_cmds.run_dashboard(dashboard_args(tmp_path)) == 0
    assert served[0].kernel_env == {"FLOWRAY_RAY_ADDRESS": "10.0.0.5:6379"}
    assert (cluster.starts, cluster.stops) == (0, 0)


# -- the process that owns the shared Ray -----------------------------------------------------


class FakeConnect:
    """Stands in for tasks.connect / release_cluster in keep_shared_cluster (no Ray started)."""

    def __init__(self, fail_with: str | None = None) -> None:
        self.fail_with = fail_with
        self.dashboard: bool | None = None
        self.releases = 0

    def connect(self, address: str | None = None, *, dashboard: bool | None = None, **_: object):
        assert address == "local"
        self.dashboard = dashboard
        if self.fail_with:
            raise FlowrayError(self.fail_with)
        return info_at("127.0.0.1:6380")

    def release(self) -> None:
        self.releases += 1


def test_the_keeper_publishes_the_address_keeps_ray_until_its_input_ends_then_stops_it(
    tmp_path, monkeypatch, capsys
):
    fake = FakeConnect()
    monkeypatch.setattr(tasks, "connect", fake.connect)
    monkeypatch.setattr(pipeline_cluster, "release_cluster", fake.release)
    address_file = tmp_path / "ray-address.json"

    class Until(io.StringIO):
        def read(self, *args: object) -> str:  # the server is still up while this blocks
            assert tasks.wait_for_published_address(address_file, timeout=5) == "127.0.0.1:6380"
            assert fake.releases == 0
            return ""

    assert pipeline.keep_shared_cluster(address_file, ray_dashboard=True, until=Until()) == 0
    assert fake.releases == 1 and fake.dashboard is True
    assert "ray      127.0.0.1:6380 (one cluster shared by every page)" in capsys.readouterr().out


def test_a_ray_that_cannot_start_is_reported_to_the_kernels_instead_of_a_hang(
    tmp_path, monkeypatch, capsys
):
    fake = FakeConnect("could not start a local Ray: timed out during startup")
    monkeypatch.setattr(tasks, "connect", fake.connect)
    address_file = tmp_path / "ray-address.json"
    assert pipeline.keep_shared_cluster(address_file, ray_dashboard=False, until=io.StringIO()) == 1
    with pytest.raises(FlowrayError) as caught:
        tasks.wait_for_published_address(address_file, timeout=5)
    assert "did not start" in str(caught.value) and "timed out during startup" in str(caught.value)
    assert "Ray did not start" in capsys.readouterr().err


def test_a_kernel_waits_a_bounded_time_for_an_address_that_never_comes(tmp_path):
    with pytest.raises(FlowrayError, match="did not start within"):
        tasks.wait_for_published_address(tmp_path / "never.json", timeout=0.3)


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


def test_the_keepers_ray_yields_the_cpu_to_the_server_and_the_pages(tmp_path, monkeypatch):
    niced: list[int] = []
    kept: list[tuple[Path, bool]] = []
    monkeypatch.setattr(ray_keeper.os, "nice", niced.append)
    monkeypatch.setattr(
        pipeline,
        "keep_shared_cluster",
        lambda path, *, ray_dashboard, until: kept.append((path, ray_dashboard)) or 0,
    )
    address_file = tmp_path / "ray-address.json"
    assert ray_keeper.main(["--address-file", str(address_file), "--ray-dashboard"]) == 0
    assert niced == [ray_keeper.RAY_NICENESS] and ray_keeper.RAY_NICENESS > 0
    assert kept == [(address_file, True)]
