"""A tracker on 127.0.0.1 for the connector tests: no test reaches the internet.

`tracker` serves canned answers by (method, path): each route holds a queue of
responses (the last one repeats), or a function of the request. Every request is
recorded, so a test can check what was asked (pagination, JQL, auth header).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless `raw`
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


Route = list[Reply] | Callable[[Request], Reply]


class Tracker:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[Request] = []
        self.url = ""

    def on(self, method: str, path: str, *replies: Reply | Callable[[Request], Reply]) -> None:
        if len(replies) == 1 and callable(replies[0]) and not isinstance(replies[0], Reply):
            self.routes[(method, path)] = replies[0]
        else:
            self.routes[(method, path)] = [r for r in replies if isinstance(r, Reply)]

    def answer(self, request: Request) -> Reply:
        route = self.routes.get((request.method, request.path))
        if route is None:
            return Reply(404, {"message": "Not Found"})
        if callable(route):
            return route(request)
        return route.pop(0) if len(route) > 1 else route[0]

    def calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def tracker() -> Iterator[Tracker]:
    state = Tracker()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                json.loads(raw) if raw else None,
            )
            state.requests.append(request)
            reply = state.answer(request)
            body = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in reply.headers.items():
                self.send_header(name, value.replace("{url}", state.url))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def no_sleep() -> list[float]:
    """A sleep that records the waits instead of waiting."""
    return []
