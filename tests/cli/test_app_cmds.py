"""`flowray dashboard` options and the errors it reports before starting anything."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from flowray.cli import build_parser

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
