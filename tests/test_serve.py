"""flowray.runners.voila without starting a server: options, Voila's command line, kernel env, template."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flowray.exceptions import InputError
from flowray.runners import voila as serve

REPO_ROOT = Path(__file__).resolve().parents[1]


def plan(tmp_path: Path, **options) -> serve.DashboardServer:
    return serve.plan_dashboard_server(tmp_path / "ledger.duckdb", tmp_path, **options)


def test_defaults_bind_loopback_with_a_random_token(tmp_path):
    server = plan(tmp_path)
    assert server.host == "127.0.0.1"
    assert server.port == 8866
    assert len(server.token) >= 32 and server.token != plan(tmp_path).token
    assert server.url == f"http://127.0.0.1:8866/?token={server.token}"
    assert f"--Voila.token={server.token}" in serve.build_voila_argv(server)
    assert server.token not in repr(server)
    assert server.cull_idle_timeout == serve.DEFAULT_CULL_IDLE_TIMEOUT
    assert server.cull_connected is False


def test_an_operators_token_is_used_and_none_or_empty_cannot_turn_it_off(tmp_path):
    own = "my-own-token_0123456789"
    server = plan(tmp_path, token=own)
    assert server.token == own
    assert server.url.endswith(f"?token={own}")
    for nothing in (None, ""):
        assert len(plan(tmp_path, token=nothing).token) >= 32


@pytest.mark.parametrize("bad", ["short", "sixteen chars!!!", "x" * 15, "tok/with/slashes-0123"])
def test_a_bad_token_names_the_field_but_never_shows_the_token(tmp_path, bad):
    with pytest.raises(InputError) as excinfo:
        plan(tmp_path, token=bad)
    assert excinfo.value.field == "token"
    assert bad not in str(excinfo.value)
    assert f"<{len(bad)} characters, hidden>" in str(excinfo.value)


def test_the_token_setting_is_read_through_config_and_hidden_from_kernels(tmp_path, monkeypatch):
    from flowray.config import DASHBOARD_TOKEN_VARIABLE, load_settings

    monkeypatch.setenv(DASHBOARD_TOKEN_VARIABLE, "from-the-environment-0123")
    settings = load_settings()
    assert settings.dashboard_token == "from-the-environment-0123"
    assert "from-the-environment" not in repr(settings)
    monkeypatch.setenv(DASHBOARD_TOKEN_VARIABLE, "")
    assert load_settings().dashboard_token is None
    server = plan(tmp_path)
    env = serve.kernel_environment(server, {DASHBOARD_TOKEN_VARIABLE: "x" * 20, "KEEP": "1"})
    assert DASHBOARD_TOKEN_VARIABLE not in env and env["KEEP"] == "1"


@pytest.mark.parametrize(
    ("host", "names"),
    [
        ("127.0.0.1", ["localhost"]),
        ("::1", ["localhost"]),
        ("localhost", ["localhost"]),
        ("box.lan", ["localhost", "box.lan"]),
        ("192.168.1.10", ["localhost"]),
        ("0.0.0.0", list(dict.fromkeys(["localhost", socket.gethostname(), socket.getfqdn()]))),
    ],
)
def test_host_check_settings_turn_jupyter_servers_check_on(host, names):
    assert serve.host_check_settings(host) == {
        "allow_remote_access": False,
        "local_hostnames": names,
    }


@pytest.mark.parametrize(
    ("header", "bound", "admitted"),
    [
        ("192.168.1.10:8866", "192.168.1.10", True),
        ("192.168.1.10", "192.168.1.10", True),
        ("192.168.1.11:8866", "192.168.1.10", False),
        ("evil.example:8866", "192.168.1.10", False),
        ("10.0.0.7:8866", "0.0.0.0", True),  # bound to every address: any address
        ("[fe80::1]:8866", "::", True),
        ("[fe80::1]:8866", "0.0.0.0", False),  # an IPv4 server is not reached by IPv6
        ("evil.example", "0.0.0.0", False),  # DNS rebinding sends a name, never an address
        ("127.0.0.1.evil.example", "0.0.0.0", False),
        ("localhost:8866", "127.0.0.1", False),  # names and loopback are jupyter_server's part
        ("192.168.1.10", "box.lan", False),
    ],
)
def test_bound_address_admitted(header, bound, admitted):
    assert serve.bound_address_admitted(header, bound) is admitted


class FakeRequest:
    def __init__(self, host: str) -> None:
        self.host = host


def host_check(handler_class, host: str, bound: str) -> bool:
    """The Host check of a wrapped handler class, on a stand-in request (no server)."""
    import logging

    fake = type("Fake", (), {})()
    fake.request = FakeRequest(host)
    fake.settings = serve.host_check_settings(bound)
    fake.log = logging.getLogger("test")
    return handler_class.check_host(fake)


@pytest.mark.parametrize(
    ("bound", "header", "answered"),
    [
        ("127.0.0.1", "127.0.0.1:8866", True),
        ("127.0.0.1", "localhost", True),
        ("127.0.0.1", "[::1]:8866", True),
        ("127.0.0.1", "evil.example:8866", False),
        ("127.0.0.1", "192.168.1.10:8866", False),
        ("192.168.1.10", "192.168.1.10:8866", True),
        ("192.168.1.10", "evil.example", False),
        ("192.168.1.10", "192.168.1.11", False),
        ("0.0.0.0", "192.168.1.10:8866", True),
        ("0.0.0.0", f"{socket.gethostname()}:8866", True),
        ("0.0.0.0", "evil.example:8866", False),
        ("box.lan", "box.lan:8866", True),
        ("box.lan", "evil.example:8866", False),
    ],
)
def test_every_handler_answers_only_hosts_naming_the_server(bound, header, answered):
    from jupyter_server.base.handlers import JupyterHandler
    from voila.static_file_handler import AllowListFileHandler

    class PageHandler(JupyterHandler):
        pass

    rules = [("/p", PageHandler), ("/f/(.*)", AllowListFileHandler, {"path": "/"})]
    for rule in serve.host_checked_handlers(rules, bound):
        assert host_check(rule[1], header, bound) is answered, rule[0]


def test_voilas_handlers_are_swapped_for_host_checked_ones_with_their_options():
    from jupyter_server.base.handlers import JupyterHandler
    from tornado import web
    from voila.static_file_handler import AllowListFileHandler, MultiStaticFileHandler

    class PageHandler(JupyterHandler):
        pass

    options = {"path": "/somewhere"}
    rules = [
        ("/voila/files/(.*)", AllowListFileHandler, options),
        ("/voila/static/(.*)", MultiStaticFileHandler, options),
        ("/voila/render/(.*)", PageHandler),
        ("/again/(.*)", AllowListFileHandler, options),
    ]
    swapped = serve.host_checked_handlers(rules, "127.0.0.1")
    assert [rule[0] for rule in swapped] == [rule[0] for rule in rules]
    assert swapped[0][2] is options and swapped[0][1] is swapped[3][1]
    for rule, original in zip(swapped, rules, strict=True):
        handler = rule[1]
        assert handler is not original[1] and issubclass(handler, original[1])
        assert issubclass(handler, web.RequestHandler)
    # A plain tornado handler gets jupyter_server's prepare-time check; a JupyterHandler has it.
    assert "prepare" in vars(swapped[0][1]) and "prepare" not in vars(swapped[2][1])


def test_tornado_settings_log_requests_with_the_token_scrubbed(tmp_path):
    from jupyter_server.log import log_request

    settings = serve.tornado_settings(plan(tmp_path))
    assert settings["log_function"] is log_request
    assert settings["allow_remote_access"] is False


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


def test_non_loopback_host_requires_a_random_token_and_warns(tmp_path):
    first = plan(tmp_path, host="0.0.0.0")
    second = plan(tmp_path, host="0.0.0.0")
    assert len(first.token) >= 24 and first.token != second.token
    assert first.url.endswith(f"?token={first.token}")
    assert f"--Voila.token={first.token}" in serve.build_voila_argv(first)
    assert "WARNING" in serve.describe_server(first)
    assert "WARNING" not in serve.describe_server(plan(tmp_path))


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
        "--Voila.open_browser=False",  # serve_dashboards opens the URL with the token
        "--VoilaConfiguration.template=flowray",
        "--VoilaConfiguration.allow_template_override=NO",
        "--VoilaConfiguration.show_tracebacks=False",
        "--MappingKernelManager.cull_idle_timeout=42",
        "--MappingKernelManager.cull_interval=7",
        "--MappingKernelManager.cull_connected=False",
    ):
        assert expected in argv
    assert [arg for arg in argv if arg.startswith("--Voila.token")] == [
        f"--Voila.token={server.token}"
    ]
    assert "--Voila.open_browser=False" in serve.build_voila_argv(plan(tmp_path, open_browser=True))


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

    assert serve.set_xsrf_cookie(FakeHandler()) is None
    assert FakeHandler.reads == 1


def test_the_page_handler_sets_the_xsrf_cookie_as_it_prepares(monkeypatch):
    """The page's prepare runs Voila's own (login, Host check), then sets the cookie."""
    import asyncio

    from voila.handler import VoilaHandler

    calls: list[str] = []

    async def voila_prepare(self):
        calls.append("voila's prepare")

    monkeypatch.setattr(VoilaHandler, "prepare", voila_prepare)
    monkeypatch.setattr(serve, "set_xsrf_cookie", lambda handler: calls.append("cookie"))
    ((_, page_handler),) = serve.host_checked_handlers(
        [(r"/voila/render/(.*)", VoilaHandler)], "127.0.0.1"
    )
    assert issubclass(page_handler, VoilaHandler)
    asyncio.run(page_handler.prepare(object.__new__(page_handler)))
    assert calls == ["voila's prepare", "cookie"]


def test_start_up_lines_give_every_page_the_database_and_the_shared_ray(tmp_path):
    for name in ("b.ipynb", "a.ipynb", "_hidden.ipynb", "cluster.ipynb", "forecast.ipynb"):
        (tmp_path / name).write_text("{}")
    server = plan(tmp_path, port=9000, kernel_env={"FLOWRAY_RAY_ADDRESS": "127.0.0.1:6379"})
    text = serve.describe_server(server)
    lines = text.splitlines()
    assert lines[0] == f"flowray dashboards: http://127.0.0.1:9000/?token={server.token}"
    assert text.count(server.token) == 1  # only in the one URL printed for the user
    assert lines[2:6] == [
        f"  page     http://127.0.0.1:9000/voila/render/{name}"
        for name in ("forecast.ipynb", "cluster.ipynb", "a.ipynb", "b.ipynb")
    ]
    assert f"  database {tmp_path.resolve() / 'ledger.duckdb'} (does not exist yet)" in lines
    assert "  ray      127.0.0.1:6379 (one cluster shared by every page)" in lines
    assert "ray" not in serve.describe_server(plan(tmp_path)).split("database")[1]


def test_page_urls_leave_the_token_to_the_cookie(tmp_path):
    server = plan(tmp_path, host="0.0.0.0", port=9000)
    assert server.page_url("forecast.ipynb") == "http://0.0.0.0:9000/voila/render/forecast.ipynb"
    assert plan(tmp_path, host="::1", port=9000).url.startswith("http://[::1]:9000/?token=")


def test_the_browser_opens_a_private_redirect_to_the_url_with_the_token(tmp_path, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(serve.webbrowser, "open", lambda url, new=0: opened.append(url))
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        server = plan(tmp_path, port=listening.getsockname()[1])
        redirect = serve.open_browser_when_listening(server, timeout=30)
        for _ in range(300):
            if opened:
                break
            threading.Event().wait(0.1)
    assert opened == [redirect.as_uri()]  # the token is not on a browser command line
    assert redirect.stat().st_mode & 0o777 == 0o600
    assert f'url={server.url}"' in redirect.read_text()
    redirect.unlink()


# -- a real server on 127.0.0.1: who it answers ----------------------------------------------

SERVE_SCRIPT = """
import sys
from pathlib import Path
from flowray.runners.voila import plan_dashboard_server, serve_dashboards

server = plan_dashboard_server(Path(sys.argv[1]), Path(sys.argv[2]), port=int(sys.argv[3]))
sys.exit(serve_dashboards(server))
"""
#: A dashboard whose kernel has nothing to import: the page renders in seconds.
TRIVIAL_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "c1",
            "metadata": {},
            "outputs": [],
            "source": "print(6 * 7)",
        }
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
_URL_LINE = re.compile(r"^flowray dashboards: (http://127\.0\.0\.1:(\d+)/)\?token=(\S+)$", re.M)
_KERNEL_ID = re.compile(r'"kernelId":\s*"([0-9a-f-]{36})"')


class LiveServer:
    """`serve_dashboards` in a child process (no Ray) on a free port with its printed token."""

    def __init__(self, workdir: Path) -> None:
        dashboards = workdir / "dashboards"
        dashboards.mkdir()
        (dashboards / "answer.ipynb").write_text(json.dumps(TRIVIAL_NOTEBOOK))
        (dashboards / "chart.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # an allow-listed file
        self.tmpdir = workdir / "tmp"  # Voila keeps kernel connection files here
        self.tmpdir.mkdir()
        self.log_path = workdir / "serve.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWRAY_")}
        env.update(TMPDIR=str(self.tmpdir), PYTHONUNBUFFERED="1")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SERVE_SCRIPT, str(workdir / "x.duckdb"), str(dashboards)]
                + [str(port)],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.port = port
        self.token = ""
        for _ in range(1200):  # up to about 2 minutes on a loaded machine
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log()}")
            match = _URL_LINE.search(self.log())
            if match and self.answers():
                self.token = match.group(3)
                assert int(match.group(2)) == port
                return
            threading.Event().wait(0.1)
        raise TimeoutError(f"server not ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def request(
        self,
        path: str,
        *,
        host: str | None = None,
        headers: dict[str, str] | None = None,
        method: str = "GET",
    ) -> tuple[int, dict[str, str], str]:
        """One request over http.client (no redirects followed, no cookies kept)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.putrequest(method, path, skip_host=True)
            connection.putheader("Host", host if host is not None else f"127.0.0.1:{self.port}")
            for name, value in (headers or {}).items():
                connection.putheader(name, value)
            connection.endheaders()
            response = connection.getresponse()
            body = response.read().decode(errors="replace") if response.status != 101 else ""
            headers = {k.lower(): v for k, v in response.getheaders()}
            cookies = [c.split(";", 1)[0] for c in response.msg.get_all("Set-Cookie") or []]
            headers["set-cookie"] = "; ".join(cookies)  # every cookie set, name=value only
            return response.status, headers, body
        finally:
            connection.close()

    def kernel_pids(self) -> list[int]:
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                state = (proc / "stat").read_text().rsplit(") ", 1)[1][:1]
            except (OSError, IndexError):
                continue
            if str(self.tmpdir) in cmdline and "ipykernel" in cmdline and state != "Z":
                found.append(int(proc.name))
        return found

    def stop(self) -> None:
        kernels = self.kernel_pids()
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for pid in kernels:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    if not Path("/proc").is_dir():
        pytest.skip("kernel processes are found via /proc")
    server = LiveServer(tmp_path_factory.mktemp("serve"))
    yield server
    server.stop()


def websocket_upgrade() -> dict[str, str]:
    return {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }


def test_a_live_server_answers_its_token_and_its_host_names(live):
    assert len(live.token) >= 32
    for host in (f"127.0.0.1:{live.port}", "127.0.0.1", f"localhost:{live.port}", "localhost"):
        status, headers, body = live.request(f"/?token={live.token}", host=host)
        assert status == 200, host
        assert "voila-tree-main" in body  # the dashboard list (it fetches the names from the API)
    # The first request with the token sets a login cookie that stands in for it.
    status, headers, _ = live.request(f"/?token={live.token}")
    (cookie,) = [c for c in headers["set-cookie"].split("; ") if c.startswith("username-")]
    assert cookie.startswith(f"username-127-0-0-1-{live.port}=")
    assert live.request("/", headers={"Cookie": cookie})[0] == 200
    assert live.request("/voila/api/contents", headers={"Cookie": cookie})[0] == 200
    status, _, body = live.request(
        "/voila/api/contents", headers={"Authorization": f"token {live.token}"}
    )
    assert status == 200 and "answer.ipynb" in body


def test_without_the_token_pages_go_to_the_login_form_and_the_api_is_refused(live):
    for path in ("/", "/?token=wrong-token-0123456789", "/voila/render/answer.ipynb"):
        status, headers, body = live.request(path)
        assert status == 302, path  # jupyter_server's login form, where the token can be typed
        assert headers["location"].startswith("/login?next=")
        assert "voila-tree-main" not in body and "username-" not in headers.get("set-cookie", "")
    assert live.request("/voila/api/contents")[0] == 403
    assert live.request("/voila/api/contents?token=wrong-token-0123456789")[0] == 403
    assert live.request("/voila/api/shutdown/x", method="POST")[0] == 403
    assert live.kernel_pids() == []


def test_a_foreign_host_is_refused_even_with_the_token_and_starts_no_kernel(live):
    paths = ("/", "/voila/render/answer.ipynb", "/voila/api/contents", "/login")
    # Voila's plain tornado file handlers: the page shell and the allow-listed files.
    files = ("/voila/static/voila.js", "/voila/files/chart.png")
    for host in (
        "evil.example",
        f"evil.example:{live.port}",
        f"127.0.0.1.evil.example:{live.port}",
    ):
        for path in (*paths, *files):
            status, _, body = live.request(f"{path}?token={live.token}", host=host)
            assert status == 403, (host, path)
            assert "answer.ipynb" not in body and "voila-tree-main" not in body
    assert live.kernel_pids() == []
    for path in files:  # what was refused above is there, and needs no token
        assert live.request(path)[0] == 200, path


def test_the_kernel_api_and_websocket_need_the_token_and_the_host(live):
    status, _, page = live.request(f"/voila/render/answer.ipynb?token={live.token}")
    assert status == 200 and "42" in page  # the cell ran in a kernel
    kernel_id = _KERNEL_ID.search(page).group(1)
    assert len(live.kernel_pids()) == 1
    channels = f"/api/kernels/{kernel_id}/channels"
    assert live.request(f"/api/kernels/{kernel_id}")[0] == 403
    assert live.request(channels, headers=websocket_upgrade())[0] == 403
    assert (
        live.request(
            f"{channels}?token={live.token}", headers=websocket_upgrade(), host="evil.example"
        )[0]
        == 403
    )
    auth = {"Authorization": f"token {live.token}"}
    status, _, model = live.request(f"/api/kernels/{kernel_id}", headers=auth)
    assert status == 200 and json.loads(model)["id"] == kernel_id
    assert live.request(f"/api/kernels/{kernel_id}", headers=auth, host="evil.example")[0] == 403
    assert live.request(f"{channels}?token={live.token}", headers=websocket_upgrade())[0] == 101


def test_the_token_reaches_the_log_only_in_the_printed_url(live):
    # Refused requests are logged as warnings with their URL: the token must be scrubbed.
    assert (
        live.request(f"/voila/render/answer.ipynb?token={live.token}", host="evil.example")[0]
        == 403
    )
    assert live.request(f"/nowhere?token={live.token}")[0] == 404
    assert live.request(f"/?token={live.token}")[0] == 200
    log = live.log()
    assert "Blocking request with non-local 'Host' evil.example" in log
    assert "/nowhere?token=[secret]" in log
    assert log.count(live.token) == 1
    assert f"flowray dashboards: http://127.0.0.1:{live.port}/?token={live.token}" in log


def test_kernels_use_unix_sockets_only_where_their_paths_fit(tmp_path, monkeypatch):
    import tempfile

    assert serve.kernel_sockets_fit("/tmp")
    assert not serve.kernel_sockets_fit("/tmp/" + "x" * 60)
    server = plan(tmp_path)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: "/tmp")
    assert "--KernelManager.transport=ipc" in serve.build_voila_argv(server)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: "/tmp/" + "x" * 60)
    assert "--KernelManager.transport=ipc" not in serve.build_voila_argv(server)
