"""`flowray cluster status|health`, in-process against the shared local Ray, and without one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flowray.cli import main


def test_cluster_status_json(ray_session, capsys):
    assert main(["cluster", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["nodes_alive"] == 1 and status["nodes_dead"] == 0
    assert status["cpus_total"] == ray_session.cpus
    assert status["address"] == ray_session.address
    for key in ("tasks_pending", "tasks_running", "tasks_finished", "object_store_bytes_total"):
        assert status[key] >= 0
    assert status["exposed_ports"] == []  # the local Ray listens on loopback only


def test_cluster_status_text(ray_session, capsys):
    assert main(["cluster", "status"]) == 0
    out = capsys.readouterr().out
    assert "1 alive, 0 dead" in out
    assert "flowray tasks" in out and "state API" in out
    assert "warning" not in out  # no Ray port of the local session is reachable from outside


def test_cluster_health_json_and_text(ray_session, capsys):
    assert main(["cluster", "health", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] is True
    (node,) = report["nodes"]
    assert node["versions_match"] and node["latency_ms"] > 0 and node["pid"] != os.getpid()
    assert main(["cluster", "health"]) == 0
    assert "healthy" in capsys.readouterr().out.splitlines()[-1]


def test_cluster_status_without_an_address_says_what_to_do():
    env = {k: v for k, v in os.environ.items() if k not in ("FLOWRAY_RAY_ADDRESS", "RAY_ADDRESS")}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("flowray")), "cluster", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "FLOWRAY_RAY_ADDRESS" in done.stderr and "Traceback" not in done.stderr
