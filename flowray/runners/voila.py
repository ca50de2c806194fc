"""Serve the dashboards/ notebooks with Voila, safely and offline.

`flowray dashboard` ends up in `serve_dashboards`, which runs Voila in this
process until SIGINT or SIGTERM. What it adds to a bare `voila dashboards/`:

- it binds 127.0.0.1 unless told otherwise, and refuses a busy port instead of
  silently moving to another one (Voila's default), so the printed URL is right;
- it requires an access token on every host, 127.0.0.1 included (a random one
  per serve unless the operator gives one), because a page view runs code and
  any local user or web page could otherwise reach the port; the token appears
  only in the one URL printed for the user, never in the request log;
- it turns on jupyter_server's Host check (`allow_remote_access=False`), which
  Voila's standalone app turns off, on every handler: a request whose Host
  header does not name this server (localhost or a loopback address when bound
  to loopback) gets 403 before any handler runs, so a web page cannot reach
  the dashboards through DNS rebinding;
- it culls kernels whose page has gone (Voila starts one kernel per page view
  and never stops it if the browser dies before its unload beacon);
- it serves the page through flowray's Voila template (flowray/jupyter_data),
  which drops the Font Awesome links to cdn.jsdelivr.net, so nothing is fetched
  from the internet: widget JavaScript comes from Voila's labextensions,
  plotly.js travels inside plotly's FigureWidget bundle;
- it sets the `_xsrf` cookie Voila's own "page closed, stop my kernel" beacon
  needs (without it that beacon is refused and every page view leaks a kernel);
- it hands the database path to every kernel as an absolute FLOWRAY_DB (kernels
  run in the dashboards directory, so a relative path would point elsewhere),
  plus any extra variables the caller passes (e.g. a Ray address).

This module imports neither ray nor duckdb; Voila is imported only when serving.
"""

from __future__ import annotations

import errno
import html
import ipaddress
import logging
import os
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
import webbrowser
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowray.config import DASHBOARD_TOKEN_VARIABLE
from flowray.exceptions import FlowrayError, InputError
from flowray.runners.kernel_pool import (
    CHECK_INTERVAL_S,
    DEFAULT_PREHEATED_PAGES,
    FILL_DELAY_S,
    FreshPool,
    ledger_stamp,
    pool_config,
)

#: Seconds without kernel activity, and with no browser connected, before a kernel is shut down.
DEFAULT_CULL_IDLE_TIMEOUT = 600
#: Seconds between two checks for idle kernels.
DEFAULT_CULL_INTERVAL = 60
#: Voila template shipped in flowray/jupyter_data/voila/templates/.
TEMPLATE_NAME = "flowray"
#: The pages listed first at start-up, in this order (the main question first).
PAGE_ORDER = ("forecast.ipynb", "features.ipynb", "portfolio.ipynb", "cluster.ipynb")
#: Files under the dashboards directory that Voila may serve as plain files (images, CSS).
FILE_ALLOWLIST = (r".*\.(png|jpg|jpeg|gif|svg|css)",)
#: Host names every server answers to, besides loopback addresses and the name it is bound to.
LOCAL_HOSTNAMES = ("localhost",)
#: Shortest token an operator may choose; the generated ones are 32 characters.
MIN_TOKEN_LENGTH = 16
#: Characters of a token: URL-safe, so it travels unescaped in the printed URL.
_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]+")

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the flowray package
JUPYTER_DATA_DIR = _PACKAGE_DIR / "jupyter_data"


@dataclass(frozen=True)
class DashboardServer:
    """Everything that defines one Voila server; build it with `plan_dashboard_server`."""

    dashboards_dir: Path
    host: str
    port: int
    db_path: Path
    open_browser: bool = False
    cull_idle_timeout: int = DEFAULT_CULL_IDLE_TIMEOUT
    cull_interval: int = DEFAULT_CULL_INTERVAL
    cull_connected: bool = False
    token: str = field(default="", repr=False)  # a repr can end up in a log
    kernel_env: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "WARNING"  # the server's log: what an operator acts on; "INFO" for more
    # Pages rendered ahead of time in a pooled kernel, kept fresh (flowray.runners.kernel_pool).
    preheated_pages: tuple[str, ...] = DEFAULT_PREHEATED_PAGES

    @property
    def url(self) -> str:
        """Address of the dashboard list with the token: the one URL that carries it."""
        return f"{self.page_url('')}?token={self.token}"

    def page_url(self, notebook: str) -> str:
        """Address of one dashboard page (e.g. "forecast.ipynb"), without the token:
        a browser that opened `url` holds the login cookie; "" is the list."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        path = f"voila/render/{notebook}" if notebook else ""
        return f"http://{host}:{self.port}/{path}"

    def pages(self) -> list[str]:
        """The dashboards served (not _x or .x notebooks): PAGE_ORDER first, then by name."""
        names = [
            p.name for p in self.dashboards_dir.glob("*.ipynb") if not p.name.startswith(("_", "."))
        ]
        rank = {name: i for i, name in enumerate(PAGE_ORDER)}
        return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))


def find_dashboards_dir() -> Path:
    """The dashboards: the repository's dashboards/ next to the package source, or the copy
    that an installed wheel carries inside the package (flowray/bundled/dashboards)."""
    for candidate in (_PACKAGE_DIR.parent / "dashboards", _PACKAGE_DIR / "bundled" / "dashboards"):
        if candidate.is_dir():
            return candidate
    raise InputError(
        "dashboards_dir",
        str(_PACKAGE_DIR.parent / "dashboards"),
        "no dashboards directory next to the flowray package or inside it; pass --dashboards DIR",
    )


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token(token: str) -> str:
    """An operator's own token, if usable: long enough and URL-safe.

    The error shows the token's length, never the token itself.
    """
    if len(token) < MIN_TOKEN_LENGTH or not _TOKEN_PATTERN.fullmatch(token):
        raise InputError(
            "token",
            f"<{len(token)} characters, hidden>",
            f"must be at least {MIN_TOKEN_LENGTH} characters of A-Z, a-z, 0-9, '-' and '_'",
        )
    return token


def host_check_settings(host: str) -> dict[str, Any]:
    """jupyter_server's Host check (tornado settings) for a server bound to `host`.

    jupyter_server answers a Host naming a loopback address or one of
    `local_hostnames` (with or without the port) and refuses any other with
    403. Bound to a name, that name is admitted too; bound to all addresses,
    this machine's own names. An IP address other than loopback cannot be
    admitted this way: `bound_address_admitted` does that.
    """
    names = list(LOCAL_HOSTNAMES)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        names.append(host)
    else:
        if address.is_unspecified:
            names += [socket.gethostname(), socket.getfqdn()]
    return {"allow_remote_access": False, "local_hostnames": list(dict.fromkeys(names))}


def bound_address_admitted(host_header: str, bound: str) -> bool:
    """True when a request's Host is an IP address this server is bound to.

    The one case jupyter_server's check cannot admit: a non-loopback address
    (`--host 192.168.1.10`, or any address of the machine when bound to all
    of them, `0.0.0.0`). A DNS-rebinding page always sends its own domain
    name, never an address, so admitting addresses keeps it out.
    """
    match = re.fullmatch(r"(.*?)(:\d+)?", host_header)
    name = match.group(1) if match else host_header
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        requested = ipaddress.ip_address(name)
        listening = ipaddress.ip_address(bound)
    except ValueError:
        return False
    return requested == listening or (
        listening.is_unspecified and requested.version == listening.version
    )


def tornado_settings(server: DashboardServer) -> dict[str, Any]:
    """Settings Voila applies to its tornado application (after its own, so these win).

    Voila's standalone app sets `allow_remote_access=True`; this turns the
    Host check back on (see `host_check_settings`), and logs requests through
    jupyter_server's `log_request`, which scrubs `token` from logged URLs
    (tornado's default would log a refused request's URL, token included).
    """
    from jupyter_server.log import log_request

    return {**host_check_settings(server.host), "log_function": log_request}


def host_checked_handlers(rules: Sequence[Any], bound: str) -> list[Any]:
    """Voila's URL rules, every handler checking the Host for a server bound to `bound`.

    Each handler class is swapped for a subclass whose Host check is
    jupyter_server's (`host_check_settings`) plus `bound_address_admitted`.
    Voila serves its page shell (`/voila/static/`, `/voila/templates/`) and the
    allow-listed files next to the dashboards (`/voila/files/`) with plain
    tornado file handlers, which make no Host check at all: their subclasses
    make it first (403 for a foreign Host). Like jupyter_server's own static
    files those need no token: they hold no notebook, data or kernel.
    """
    from jupyter_server.base.handlers import JupyterHandler
    from tornado import web
    from voila.handler import VoilaHandler

    def check_host(self: Any) -> bool:
        return bound_address_admitted(self.request.host, bound) or bool(
            JupyterHandler.check_host(self)
        )

    checked: dict[type, type] = {}

    def with_host_check(handler: Any) -> type:
        if handler in checked:
            return checked[handler]
        namespace: dict[str, Any] = {
            "__doc__": f"{handler.__name__} behind the Host check.",
            "check_host": check_host,
        }
        if not issubclass(handler, JupyterHandler):  # its prepare makes no Host check

            def prepare(self: Any) -> Any:
                if not self.check_host():
                    raise web.HTTPError(403)
                return handler.prepare(self)

            namespace.update(log=JupyterHandler.log, prepare=prepare)
        elif issubclass(handler, VoilaHandler):  # the page: it also sets the `_xsrf` cookie

            async def prepare_page(self: Any) -> None:
                await handler.prepare(self)
                set_xsrf_cookie(self)

            namespace["prepare"] = prepare_page
        checked[handler] = type(handler.__name__, (handler,), namespace)
        return checked[handler]

    swapped = []
    for rule in rules:
        handler = rule[1] if isinstance(rule, tuple) and len(rule) > 1 else None
        if isinstance(handler, type) and issubclass(handler, web.RequestHandler):
            rule = (rule[0], with_host_check(handler), *rule[2:])
        swapped.append(rule)
    return swapped


def check_port_free(host: str, port: int) -> None:
    """Fail with a clear message now rather than let Voila pick another port silently."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InputError(
                    "port", port, "is already in use; pick another with --port"
                ) from exc
            if exc.errno == errno.EADDRNOTAVAIL:
                raise InputError("host", host, "is not an address of this machine") from exc
            raise FlowrayError(f"cannot listen on {host}:{port}: {exc}") from exc


def plan_dashboard_server(
    db_path: Path,
    dashboards_dir: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8866,
    open_browser: bool = False,
    cull_idle_timeout: int = DEFAULT_CULL_IDLE_TIMEOUT,
    cull_interval: int = DEFAULT_CULL_INTERVAL,
    cull_connected: bool = False,
    kernel_env: Mapping[str, str] | None = None,
    token: str | None = None,
    log_level: str = "WARNING",
    preheated_pages: Sequence[str] | None = None,
) -> DashboardServer:
    """Validate the options and resolve paths; starts nothing.

    `preheated_pages`: pages rendered ahead of time in a pooled kernel (None: the
    forecast page; () for none); pages not in the directory are left out.

    `token` is the operator's own access token; None or "" draws a random one.
    There is no way to serve without a token.
    """
    directory = Path(dashboards_dir) if dashboards_dir is not None else find_dashboards_dir()
    if not directory.is_dir():
        raise InputError("dashboards_dir", str(directory), "must be an existing directory")
    if not 0 < port < 65536:
        raise InputError("port", port, "must be between 1 and 65535")
    if not host:
        raise InputError("host", host, "must be an IP address or host name, e.g. 127.0.0.1")
    if cull_idle_timeout <= 0:
        raise InputError(
            "cull_idle_timeout", cull_idle_timeout, "must be a positive number of seconds"
        )
    if cull_interval <= 0:
        raise InputError("cull_interval", cull_interval, "must be a positive number of seconds")
    if log_level not in LOG_LEVELS:
        raise InputError("log_level", log_level, f"must be one of {', '.join(LOG_LEVELS)}")
    return DashboardServer(
        dashboards_dir=directory.resolve(),
        host=host,
        port=port,
        db_path=Path(db_path).expanduser().resolve(),
        open_browser=open_browser,
        cull_idle_timeout=cull_idle_timeout,
        cull_interval=cull_interval,
        cull_connected=cull_connected,
        # Anyone who can reach the port runs the dashboards' code, and on
        # 127.0.0.1 that is every local user: always require a secret token.
        token=check_token(token) if token else secrets.token_urlsafe(24),
        kernel_env=dict(kernel_env or {}),
        log_level=log_level,
        preheated_pages=tuple(
            page
            for page in (DEFAULT_PREHEATED_PAGES if preheated_pages is None else preheated_pages)
            if (directory / page).is_file()
        ),
    )


LOG_LEVELS = ("WARNING", "INFO", "DEBUG")
"""The server's log levels: WARNING says only what an operator acts on; INFO adds every
kernel started, culled and stopped."""

UNACTIONABLE = ("is not trusted",)
"""Log messages nobody can act on: Jupyter's notebook signatures mean nothing for dashboards
that the operator serves from their own folder."""


def drop_unactionable_lines(record: logging.LogRecord) -> bool:
    """A logging filter: False (drop) for a line in UNACTIONABLE."""
    message = record.getMessage()
    return not any(text in message for text in UNACTIONABLE)


UNIX_SOCKET_PATH_MAX_BYTES = 107
# What Voila adds to the temp dir for a kernel's socket: "/voila_xxxxxxxx/kernel-<uuid>-ipc-N".
KERNEL_SOCKET_TAIL_BYTES = len("/voila_xxxxxxxx/kernel-") + 36 + len("-ipc-10")


def kernel_sockets_fit(temp_dir: str) -> bool:
    """True when the kernels' unix sockets fit under `temp_dir` (else they talk over loopback TCP)."""
    return len(os.fsencode(temp_dir)) + KERNEL_SOCKET_TAIL_BYTES <= UNIX_SOCKET_PATH_MAX_BYTES


def build_voila_argv(server: DashboardServer) -> list[str]:
    """Voila's command line for `server`.

    It holds the token, so it is passed to Voila inside this process, never
    to a child process whose command line other users could read. The Host
    check and the request log are tornado settings (`tornado_settings`).
    """
    argv = [
        str(server.dashboards_dir),
        f"--Voila.ip={server.host}",
        f"--Voila.port={server.port}",
        "--Voila.port_retries=0",
        # Voila would open the URL without the token; `serve_dashboards` opens it with it.
        "--Voila.open_browser=False",
        f"--VoilaConfiguration.template={TEMPLATE_NAME}",
        # Only the operator's choices: a notebook cannot switch to a CDN-using template.
        "--VoilaConfiguration.allow_template_override=NO",
        "--VoilaConfiguration.show_tracebacks=False",
        f"--MappingKernelManager.cull_idle_timeout={server.cull_idle_timeout}",
        f"--MappingKernelManager.cull_interval={server.cull_interval}",
        f"--MappingKernelManager.cull_connected={server.cull_connected}",
        f"--Voila.log_level={logging.getLevelName(server.log_level)}",  # as a number
    ]
    if kernel_sockets_fit(tempfile.gettempdir()):
        # Kernels talk to the server over unix sockets beside their connection files (a
        # private folder in the temp dir), not over TCP ports every local user could reach.
        argv.append("--KernelManager.transport=ipc")
    argv += [f"--VoilaConfiguration.file_allowlist={pattern}" for pattern in FILE_ALLOWLIST]
    if server.preheated_pages:  # which pages: `kernel_pool.pool_config`, set in serve_dashboards
        argv += [
            "--VoilaConfiguration.preheat_kernel=True",
            f"--VoilaKernelManager.fill_delay={FILL_DELAY_S}",
        ]
    argv.append(f"--Voila.token={server.token}")
    return argv


def kernel_environment(server: DashboardServer, base: Mapping[str, str]) -> dict[str, str]:
    """Environment for the Voila process, inherited by every dashboard kernel."""
    env = dict(base)
    env.update(server.kernel_env)
    # The token stays in the server: a dashboard's code has no use for it.
    env.pop(DASHBOARD_TOKEN_VARIABLE, None)
    env["FLOWRAY_DB"] = str(server.db_path)
    # Voila finds flowray's template through the Jupyter data path.
    paths = [str(JUPYTER_DATA_DIR)] + [
        p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p
    ]
    env["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    # fig.show() in a dashboard renders through the local jupyterlab-plotly extension.
    env.setdefault("PLOTLY_RENDERER", "plotly_mimetype")
    return env


def set_xsrf_cookie(handler: Any) -> None:
    """Give the page the `_xsrf` cookie its unload beacon needs (called as the page is prepared).

    On `beforeunload` Voila's page POSTs /voila/api/shutdown/<kernel> with the
    `_xsrf` cookie's value, but Voila 0.5 never sets that cookie, so the POST is
    refused (403) and every closed page leaves its kernel running until culled.
    Reading `handler.xsrf_token` makes tornado set the cookie on this response.
    (Not Voila's prelaunch hook: that cannot be used with pre-heated pages.)
    """
    handler.xsrf_token  # noqa: B018  (property with the side effect we want)


def describe_server(server: DashboardServer) -> str:
    """The lines printed at start-up: where to go, what is served, how to stop."""
    db_note = "" if server.db_path.exists() else " (does not exist yet)"
    lines = [
        f"flowray dashboards: {server.url}",
        "  open this URL first: its token signs this browser in (a cookie); keep it private",
        *(f"  page     {server.page_url(name)}" for name in server.pages()),
        f"  serving  {server.dashboards_dir}",
        f"  database {server.db_path}{db_note}",
    ]
    ray_address = server.kernel_env.get("FLOWRAY_RAY_ADDRESS")
    if ray_address:
        lines.append(f"  ray      {ray_address} (one cluster shared by every page)")
    lines += [
        f"  idle kernels stop after {server.cull_idle_timeout} s without a browser",
        "  press Ctrl+C to stop",
    ]
    if not is_loopback(server.host):
        lines.insert(
            1,
            f"  WARNING: listening on {server.host}, reachable from other machines; "
            "the token in the URL is required",
        )
    return "\n".join(lines)


def open_browser_when_listening(server: DashboardServer, timeout: float = 120.0) -> Path:
    """Open `server.url` in a web browser once the port accepts connections.

    As Jupyter does, the browser opens a private (0600) local HTML file that
    redirects to the URL, so the token is not on a browser command line that
    other users could read. Returns that file; the caller deletes it.
    """
    fd, name = tempfile.mkstemp(prefix="flowray-dashboards-", suffix=".html")
    redirect = Path(name)
    url = html.escape(server.url)
    with os.fdopen(fd, "w", encoding="utf-8") as page:
        page.write(
            f'<!doctype html><meta http-equiv="refresh" content="0;url={url}">'
            f'<a href="{url}">flowray dashboards</a>\n'
        )
    connect_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(server.host, server.host)

    def wait_then_open() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((connect_host, server.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        webbrowser.open(redirect.as_uri(), new=2)

    threading.Thread(target=wait_then_open, name="open-browser", daemon=True).start()
    return redirect


def keep_pool_fresh(kernel_manager: Any, db_path: Path) -> FreshPool:
    """Check the pre-heated pages every CHECK_INTERVAL_S on the server's loop (see kernel_pool)."""
    from tornado.ioloop import PeriodicCallback

    pool = FreshPool(kernel_manager, lambda: ledger_stamp(db_path))
    PeriodicCallback(pool.check, CHECK_INTERVAL_S * 1000).start()
    return pool


def serve_dashboards(server: DashboardServer, *, argv_extra: Sequence[str] = ()) -> int:
    """Run Voila for `server` in this process until SIGINT/SIGTERM; returns an exit code.

    Sets FLOWRAY_DB, JUPYTER_PATH and `server.kernel_env` in this process's
    environment (kernels inherit it). On SIGTERM or Ctrl+C Voila stops its
    loop and shuts every kernel down before this returns.
    """
    check_port_free(server.host, server.port)
    os.environ.pop(DASHBOARD_TOKEN_VARIABLE, None)
    os.environ.update(kernel_environment(server, os.environ))
    from voila.app import Voila  # heavy import, only when actually serving

    class FlowrayVoila(Voila):
        """Voila whose every handler checks the Host (see `host_checked_handlers`), with its
        pre-heated pages kept fresh (see `kernel_pool`)."""

        def init_handlers(self) -> list[Any]:
            if server.preheated_pages:  # the kernel manager exists from here on
                keep_pool_fresh(self.kernel_manager, server.db_path)
            return host_checked_handlers(super().init_handlers(), server.host)

    print(describe_server(server), flush=True)
    app = FlowrayVoila.instance()
    redirect: Path | None = None
    try:
        if server.preheated_pages:
            from traitlets.config import Config

            pools = Config()
            pools.VoilaKernelManager.kernel_pools_config = pool_config(server.preheated_pages)
            app.update_config(pools)
        app.initialize([*build_voila_argv(server), *argv_extra])
        app.log.addFilter(drop_unactionable_lines)
        app.tornado_settings = {**app.tornado_settings, **tornado_settings(server)}
        if server.open_browser:
            redirect = open_browser_when_listening(server)
        app.start()  # blocks until the loop stops; then kills the kernels
    finally:
        FlowrayVoila.clear_instance()
        if redirect is not None:
            redirect.unlink(missing_ok=True)
    print("flowray dashboards: stopped", file=sys.stderr, flush=True)
    return 0
