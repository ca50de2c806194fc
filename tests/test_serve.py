"""flowray.runners.voila without starting a server: options, Voila's command line, kernel env, template."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from flowray.exceptions import InputError
from flowray.runners import voila as serve

REPO_ROOT = Path(__file__).resolve().parents[1]


def plan(tmp_path: Path, **options) -> serve.DashboardServer:
    return serve.plan_dashboard_server(tmp_path / "ledger.duckdb", tmp_path, **options)


def test_defaults_bind_loopback_without_token(tmp_path):
    server = plan(tmp_path)
    assert server.host == "127.0.0.1"
    assert server.port == 8866
    assert server.token == ""
    assert server.url == "http://127.0.0.1:8866/"
    assert server.cull_idle_timeout == serve.DEFAULT_CULL_IDLE_TIMEOUT
    assert server.cull_connected is False


def test_dashboards_dir_defaults_to_the_repository_one():
    server = serve.plan_dashboard_server(Path("x.duckdb"))
    assert server.dashboards_dir == (REPO_ROOT / "dashboards").resolve()
    assert {"forecast.ipynb", "portfolio.ipynb", "cluster.ipynb"} <= {
        p.name for p in server.dashboards_dir.glob("*.ipynb")
    }


def test_relative_db_path_becomes_absolute_because_kernels_run_elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    server = serve.plan_dashboard_server(Path("ledger.duckdb"), tmp_path)
    assert server.db_path == tmp_path.resolve() / "ledger.duckdb"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.10", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, loopback):
    assert serve.is_loopback(host) is loopback


def test_non_loopback_host_requires_a_random_token(tmp_path):
    first = plan(tmp_path, host="0.0.0.0")
    second = plan(tmp_path, host="0.0.0.0")
    assert len(first.token) >= 24 and first.token != second.token
    assert first.url.endswith(f"?token={first.token}")
    assert f"--Voila.token={first.token}" in serve.build_voila_argv(first)
    assert "WARNING" in serve.describe_server(first)


@pytest.mark.parametrize(
    ("option", "value"),
    [("port", 0), ("port", 70000), ("cull_idle_timeout", 0), ("cull_interval", -1), ("host", "")],
)
def test_bad_options_name_the_field(tmp_path, option, value):
    with pytest.raises(InputError) as excinfo:
        plan(tmp_path, **{option: value})
    assert excinfo.value.field == option
    assert excinfo.value.value == value


def test_missing_dashboards_dir_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="dashboards_dir"):
        serve.plan_dashboard_server(tmp_path / "db", tmp_path / "nope")


def test_voila_argv_pins_port_template_and_culling(tmp_path):
    server = plan(tmp_path, port=9123, cull_idle_timeout=42, cull_interval=7)
    argv = serve.build_voila_argv(server)
    assert argv[0] == str(tmp_path.resolve())
    for expected in (
        "--Voila.ip=127.0.0.1",
        "--Voila.port=9123",
        "--Voila.port_retries=0",
        "--Voila.open_browser=False",
        "--VoilaConfiguration.template=flowray",
        "--VoilaConfiguration.allow_template_override=NO",
        "--VoilaConfiguration.show_tracebacks=False",
        "--MappingKernelManager.cull_idle_timeout=42",
        "--MappingKernelManager.cull_interval=7",
        "--MappingKernelManager.cull_connected=False",
    ):
        assert expected in argv
    assert not any(arg.startswith("--Voila.token") for arg in argv)


def test_kernel_environment_carries_db_template_path_and_extras(tmp_path):
    server = plan(tmp_path, kernel_env={"FLOWRAY_RAY_ADDRESS": "127.0.0.1:6379"})
    base = {"JUPYTER_PATH": os.pathsep.join(["/a", str(serve.JUPYTER_DATA_DIR)]), "KEEP": "1"}
    before = dict(base)
    env = serve.kernel_environment(server, base)
    assert base == before  # the caller's mapping is not modified
    assert env["FLOWRAY_DB"] == str(tmp_path.resolve() / "ledger.duckdb")
    assert env["FLOWRAY_RAY_ADDRESS"] == "127.0.0.1:6379"
    assert env["JUPYTER_PATH"].split(os.pathsep) == [str(serve.JUPYTER_DATA_DIR), "/a"]
    assert env["KEEP"] == "1"
    assert env["PLOTLY_RENDERER"] == "plotly_mimetype"
    assert serve.kernel_environment(server, {"PLOTLY_RENDERER": "png"})["PLOTLY_RENDERER"] == "png"


def test_flowray_template_links_nothing_outside_the_server():
    template_dir = serve.JUPYTER_DATA_DIR / "voila" / "templates" / serve.TEMPLATE_NAME
    files = sorted(template_dir.iterdir())
    assert {f.name for f in files} >= {"conf.json", "index.html.j2", "page.html"}
    for path in files:
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", path.read_text()), path


def test_voila_finds_the_flowray_template_on_the_jupyter_path(monkeypatch):
    from voila.paths import collect_template_paths

    monkeypatch.setenv("JUPYTER_PATH", str(serve.JUPYTER_DATA_DIR))
    paths = collect_template_paths(["voila", "nbconvert"], serve.TEMPLATE_NAME, prune=True)
    assert paths[0] == str(serve.JUPYTER_DATA_DIR / "voila" / "templates" / "flowray")
    assert any(p.endswith(os.path.join("voila", "templates", "lab")) for p in paths)


def test_busy_port_is_refused_with_a_clear_message():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match="already in use") as excinfo:
            serve.check_port_free("127.0.0.1", port)
    assert excinfo.value.field == "port"


def test_xsrf_hook_reads_the_token_so_tornado_sets_the_cookie():
    class FakeHandler:
        reads = 0

        @property
        def xsrf_token(self) -> bytes:
            FakeHandler.reads += 1
            return b"token"

    assert serve.set_xsrf_cookie(FakeHandler(), notebook=None, cwd="/") is None
    assert FakeHandler.reads == 1


def test_start_up_lines_give_every_page_the_database_and_the_shared_ray(tmp_path):
    for name in ("b.ipynb", "a.ipynb", "_hidden.ipynb", "cluster.ipynb", "forecast.ipynb"):
        (tmp_path / name).write_text("{}")
    server = plan(tmp_path, port=9000, kernel_env={"FLOWRAY_RAY_ADDRESS": "127.0.0.1:6379"})
    lines = serve.describe_server(server).splitlines()
    assert lines[0] == "flowray dashboards: http://127.0.0.1:9000/"
    assert lines[1:5] == [
        f"  page     http://127.0.0.1:9000/voila/render/{name}"
        for name in ("forecast.ipynb", "cluster.ipynb", "a.ipynb", "b.ipynb")
    ]
    assert f"  database {tmp_path.resolve() / 'ledger.duckdb'} (does not exist yet)" in lines
    assert "  ray      127.0.0.1:6379 (one cluster shared by every page)" in lines
    assert "ray" not in serve.describe_server(plan(tmp_path)).split("database")[1]


def test_page_urls_carry_the_token_when_one_is_required(tmp_path):
    server = plan(tmp_path, host="0.0.0.0", port=9000)
    assert server.page_url("forecast.ipynb") == (
        f"http://0.0.0.0:9000/voila/render/forecast.ipynb?token={server.token}"
    )
