"""Where the local Ray that flowray starts listens and keeps its files, and what it sends out.

Against the shared local Ray (`ray_session`, dashboard on, so the widest local
setup): every listening socket of its processes is on loopback (docs/cluster.md
lists no exception for a local Ray), its temp dir is owner-only and not
/tmp/ray, usage stats are off in every Ray process, and the metrics agent's
Prometheus endpoint is not started; another process joins it at its loopback
address (as the dashboard kernels do). Without Ray: the temp dir checks, and the
warning `flowray cluster status` prints for a port other machines can reach,
fed with made-up socket lists.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from flowray import tasks
from flowray.cli import main
from flowray.exceptions import FlowrayError
from flowray.jobs.status import ClusterInfo, ClusterStatus

# -- against the shared local Ray ---------------------------------------------------


def _tree_listeners() -> set[tuple[str, int, int]]:
    """(address, port, pid) of every listening TCP socket of this process and its descendants.

    The local Ray is started by this test process, so its GCS, raylet,
    dashboard, agents and workers are all below it: measured here with psutil
    directly, independently of flowray.tasks.ray_listeners().
    """
    me = psutil.Process()
    found: set[tuple[str, int, int]] = set()
    for proc in [me, *me.children(recursive=True)]:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((conn.laddr.ip, conn.laddr.port, proc.pid))
        except psutil.Error:  # a worker that exited while we looked
            continue
    return found


def _node() -> object:
    import ray

    return ray._private.worker.global_worker.node


def test_every_ray_socket_of_the_local_session_is_on_loopback(ray_session):
    tasks.health_check()  # at least one worker is up and listening
    measured = _tree_listeners()
    reported = tasks.ray_listeners()
    gcs_port = int(ray_session.address.rsplit(":", 1)[1])
    names = {x.process for x in reported}

    # the scan is real: it finds the GCS, the raylet and a worker, and agrees with psutil
    assert gcs_port in {port for _, port, _ in measured}
    assert {"gcs_server", "raylet"} <= names, names
    assert any(name.startswith("ray::") for name in names), names
    missing = measured - {(x.address, x.port, x.pid) for x in reported}
    assert not [m for m in missing if psutil.pid_exists(m[2])], missing  # only exited workers

    outside = sorted(x for x in measured if not tasks.is_loopback(x[0]))
    assert outside == []  # docs/cluster.md: a local Ray keeps no port open to other machines
    assert tasks.exposed_listeners(reported) == []
    assert ray_session.address.startswith(f"{tasks.LOOPBACK}:")


def test_the_temp_dir_is_owner_only_and_not_tmp_ray(ray_session):
    node = _node()
    temp_dir = Path(node.get_temp_dir_path())  # type: ignore[attr-defined]
    session_dir = Path(node.get_session_dir_path())  # type: ignore[attr-defined]
    assert temp_dir == tasks.local_ray_temp_dir()
    assert not temp_dir.is_relative_to("/tmp/ray") and temp_dir != Path("/tmp/ray")
    assert session_dir.parent == temp_dir
    for folder in (temp_dir.parent, temp_dir, session_dir):
        info = folder.lstat()
        assert stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid(), folder
    # The owner-only parent is what keeps other users out: Ray makes its own temp dir
    # 0777 again whenever any local Ray starts in it (another test's, a kernel's), and
    # flowray closes it after its own start only, so the folders inside are not asserted.
    assert stat.S_IMODE(temp_dir.parent.lstat().st_mode) == 0o700
    sockets = [p for p in (session_dir / "sockets").iterdir() if p.is_socket()]
    assert sockets  # the raylet's and the object store's sockets live here, so the path fits
    assert all(len(os.fsencode(p)) <= tasks.UNIX_SOCKET_PATH_MAX_BYTES for p in sockets)


def _usage_stats_setting() -> str | None:
    """Runs on a worker: the usage-stats switch as the worker process sees it."""
    return os.environ.get("RAY_USAGE_STATS_ENABLED")


def test_usage_stats_are_off_in_every_ray_process(ray_session):
    checked = set()
    for proc in tasks._session_processes():
        if proc.pid == os.getpid():
            continue  # this driver: /proc shows its environment at exec, so ask Ray below
        try:
            env, name = proc.environ(), proc.name()
        except psutil.Error:  # exited while we looked
            continue
        if not env:  # renamed processes (setproctitle) overwrite their environment block
            continue
        assert env.get("RAY_USAGE_STATS_ENABLED") == "0", (proc.pid, name)
        checked.add(name)
    assert {"gcs_server", "raylet", "python"} <= checked, checked  # python: dashboard, monitor

    import ray
    from ray._common.usage import usage_lib

    assert usage_lib.usage_stats_enabled() is False  # this driver
    on_workers = ray.get([ray.remote(_usage_stats_setting).remote() for _ in range(4)])
    assert on_workers == ["0"] * 4


def _answers_metrics(port: int) -> str | None:
    """The body of http://127.0.0.1:<port>/metrics when it is Prometheus text, else None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as reply:
            body = reply.read(2_000_000).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException, ValueError):  # gRPC ports do not speak HTTP/1
        return None
    return body if "# TYPE" in body else None


def test_the_metrics_export_endpoint_does_not_answer(ray_session):
    node = _node()
    assert node.metrics_export_port <= 0  # type: ignore[attr-defined]  # Ray's record: not started
    answering = {}
    for listener in tasks.ray_listeners():
        body = _answers_metrics(listener.port)
        if body is not None:
            answering[listener.port] = (listener.process, body)
    # Node and worker metrics (what the metrics agent exported) are nowhere to be read ...
    for process, body in answering.values():
        assert "ray_node_" not in body and "ray_tasks" not in body, process
    # ... and no Ray agent serves Prometheus text at all
    assert not any(process.startswith("ray::") for process, _ in answering.values()), answering


_JOIN = """
import json, os
from flowray import tasks
info = tasks.connect()  # FLOWRAY_RAY_ADDRESS: the test session's Ray, at 127.0.0.1
health = tasks.health_check(timeout=120)
mine = [x.to_dict() for x in tasks.ray_listeners() if x.pid == os.getpid()]
print(json.dumps({"info": info.to_dict(), "ok": health.versions_match, "mine": mine}))
tasks.shutdown()
"""


def test_another_process_joins_the_local_ray_at_its_loopback_address(ray_session):
    """As the dashboard kernels join the one local Ray of `flowray dashboard`."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(FLOWRAY_RAY_ADDRESS=ray_session.address, RAY_AUTH_MODE=ray_session.auth_mode)
    done = subprocess.run(
        [sys.executable, "-c", _JOIN], env=env, capture_output=True, text=True, timeout=400
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(lines[-1])
    assert report["info"]["address"] == ray_session.address
    assert report["info"]["started_locally"] is False and report["ok"] is True
    assert report["mine"]  # the joining driver's own gRPC server ...
    assert all(tasks.is_loopback(x["address"]) for x in report["mine"])  # ... on loopback too


# -- without Ray: the temp dir ------------------------------------------------------


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short folder under /tmp (pytest's tmp_path is too long for Ray's socket paths)."""
    path = Path(tempfile.mkdtemp(prefix="frt-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_temp_dir_is_made_owner_only(short_tmp, monkeypatch):
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(short_tmp))
    temp_dir = tasks.local_ray_temp_dir()
    assert temp_dir == short_tmp / f"flowray-{os.getuid()}" / "ray"
    assert stat.S_IMODE(temp_dir.parent.stat().st_mode) == 0o700


def test_a_temp_dir_open_to_others_is_closed(short_tmp, monkeypatch):
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(short_tmp))
    root = short_tmp / f"flowray-{os.getuid()}"
    root.mkdir()
    root.chmod(0o755)
    tasks.local_ray_temp_dir()
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_a_symlink_or_a_strangers_temp_dir_is_refused(short_tmp, monkeypatch):
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(short_tmp))
    elsewhere = short_tmp / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (short_tmp / f"flowray-{os.getuid()}").symlink_to(elsewhere)
    with pytest.raises(FlowrayError, match="not a plain folder"):
        tasks.local_ray_temp_dir()
    stranger = os.getuid() + 1
    monkeypatch.setattr(os, "getuid", lambda: stranger)  # now the folder is someone else's
    (short_tmp / f"flowray-{stranger}").mkdir(mode=0o700)
    with pytest.raises(FlowrayError, match="belongs to another user"):
        tasks.local_ray_temp_dir()


def test_a_temp_dir_too_long_for_unix_sockets_falls_back_to_tmp(tmp_path, monkeypatch):
    long_dir = tmp_path / ("x" * 90)
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(long_dir))
    temp_dir = tasks.local_ray_temp_dir()
    assert temp_dir == Path("/tmp") / f"flowray-{os.getuid()}" / "ray"
    assert not long_dir.exists()


# -- without Ray: the warning of `flowray cluster status` ---------------------------

FAKE_SOCKETS = [
    tasks.RayListener("127.0.0.1", 8265, 101, "python"),
    tasks.RayListener("::ffff:127.0.0.1", 40001, 102, "gcs_server"),
    tasks.RayListener("::1", 40002, 103, "raylet"),
    tasks.RayListener("0.0.0.0", 44217, 104, "python"),
    tasks.RayListener("::", 6379, 105, "gcs_server"),
    tasks.RayListener("192.0.2.7", 52365, 106, "ray::DashboardAgent"),
    tasks.RayListener("fe80::1%eth0", 40003, 107, "ray::IDLE"),
]


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("::ffff:10.0.0.5", False),
        ("fe80::1%eth0", False),
    ],
)
def test_is_loopback(address, loopback):
    assert tasks.is_loopback(address) is loopback


def test_exposed_listeners_are_wildcards_and_outside_addresses():
    exposed = tasks.exposed_listeners(FAKE_SOCKETS)
    assert [(x.address, x.port) for x in exposed] == [
        ("::", 6379),
        ("fe80::1%eth0", 40003),
        ("0.0.0.0", 44217),
        ("192.0.2.7", 52365),
    ]


def _fake_cluster(monkeypatch, sockets):
    status = ClusterStatus(
        address="192.0.2.7:6379",
        nodes_alive=1,
        nodes_dead=0,
        cpus_total=2.0,
        cpus_in_use=0.0,
        object_store_bytes_total=1,
        object_store_bytes_used=0,
        tasks_pending=0,
        tasks_running=0,
        tasks_finished=0,
        tasks_failed=0,
        tasks_cancelled=0,
        tasks_source="driver",
        jobs_active=0,
        dashboard_url=None,
    )
    info = ClusterInfo("192.0.2.7:6379", False, False, 1, 2.0, None, "2.60.0", "token")
    monkeypatch.setattr(tasks, "is_connected", lambda: True)
    monkeypatch.setattr(tasks, "ensure_connected", lambda: info)
    monkeypatch.setattr(tasks, "cluster_status", lambda: status)
    monkeypatch.setattr(tasks, "cluster_info", lambda: info)
    monkeypatch.setattr(tasks, "ray_listeners", lambda: list(sockets))


def test_status_warns_about_each_port_reachable_from_outside(monkeypatch, capsys):
    _fake_cluster(monkeypatch, FAKE_SOCKETS)
    assert main(["cluster", "status"]) == 0
    warnings = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("warning")]
    assert len(warnings) == 4
    assert "Ray port 6379 (gcs_server, pid 105) listens on ::" in warnings[0]
    assert "Ray port 52365 (ray::DashboardAgent, pid 106) listens on 192.0.2.7" in warnings[3]
    assert all("docs/cluster.md" in w for w in warnings)
    assert not any(f"port {p} " in " ".join(warnings) for p in (8265, 40001, 40002))

    assert main(["cluster", "status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [x["port"] for x in report["exposed_ports"]] == [6379, 40003, 44217, 52365]
    assert report["exposed_ports"][0] == {
        "address": "::",
        "port": 6379,
        "pid": 105,
        "process": "gcs_server",
    }


def test_status_is_quiet_when_everything_is_on_loopback(monkeypatch, capsys):
    _fake_cluster(monkeypatch, [x for x in FAKE_SOCKETS if tasks.is_loopback(x.address)])
    assert main(["cluster", "status"]) == 0
    out = capsys.readouterr().out
    assert "1 alive, 0 dead" in out and "warning" not in out
