"""The one HTTP client of every connector: timeouts, bounded retries, named errors, no leaks.

Trackers fail in a few known ways (an expired token, a typo in the query, a
rate limit, a bad gateway); each becomes a named `TrackerError` that says which
page failed. A page is named by its URL with any secret-looking query value
removed, and no message, log record or exception ever holds the token: the
token lives in a `Secret`, whose repr is a mask, and in the request headers.
Retries back off exponentially, honour Retry-After and the rate-limit reset,
and stop after `max_tries` or when the wait would exceed `max_wait`, so a sync
never hangs.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from flowray.connectors.base import (
    TrackerAuthError,
    TrackerBadQuery,
    TrackerError,
    TrackerForbidden,
    TrackerMalformedResponse,
    TrackerNotFound,
    TrackerRateLimited,
    TrackerUnavailable,
)
from flowray.exceptions import InputError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_SECRET_PARAM = re.compile(r"token|key|secret|password|passwd|auth|sig|code", re.IGNORECASE)


class Secret:
    """A token that never prints: repr and str are a mask; `reveal()` is for the header only."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source  # where it came from (a variable name), safe to show

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(from {self.source}, ***)"

    __str__ = __repr__


def read_secret(
    variable: str, *, environ: Mapping[str, str] | None = None, required: bool = True
) -> Secret | None:
    """The secret in environment variable `variable`, or in the file named by `variable`_FILE.

    Secrets never come from the command line (shell history, `ps`). A secret file
    must be readable by its owner only (mode 600 or 400): anything wider is refused.
    """
    env = os.environ if environ is None else environ
    value = env.get(variable, "").strip()
    if value:
        return Secret(value, variable)
    file_variable = f"{variable}_FILE"
    path_text = env.get(file_variable, "").strip()
    if path_text:
        path = Path(path_text).expanduser()
        try:
            info = path.stat()
        except OSError:
            raise InputError(file_variable, path_text, "must name an existing file") from None
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InputError(
                file_variable,
                path_text,
                f"must be readable by its owner only (chmod 600), not mode {stat.filemode(info.st_mode)}",
            )
        text = path.read_text(encoding="utf-8").strip()
        if not text:
            raise InputError(file_variable, path_text, "must not be empty")
        return Secret(text, file_variable)
    if required:
        raise InputError(
            variable, None, f"must be set in the environment (or {file_variable} name a file)"
        )
    return None


def check_base_url(field: str, url: Any) -> str:
    """An https URL (plain http only for this machine), with no credentials and no query."""
    if not isinstance(url, str) or not url.strip():
        raise InputError(field, url, "must be a URL such as https://example.atlassian.net")
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise InputError(field, url, "must be a URL such as https://example.atlassian.net")
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise InputError(field, url, "must use https (plain http only for 127.0.0.1/localhost)")
    if parts.username or parts.password:
        raise InputError(
            field, redact_url(url), "must not hold credentials: use the token variable"
        )
    if parts.query or parts.fragment:
        raise InputError(field, redact_url(url), "must have no query or fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def redact_url(url: str) -> str:
    """The URL with user info dropped and secret-looking query values replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode(
        [
            (name, "***" if _SECRET_PARAM.search(name) else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


@dataclass(frozen=True)
class RetryLater:
    """What an `interpret` hook returns for a refusal worth retrying (a rate limit in the
    tracker's own dialect): why, and how long to wait (None: the usual backoff)."""

    reason: str
    wait: float | None = None


# (status, headers, decoded body or None) -> a named error, a retry, or None for the defaults
Interpret = Callable[[int, Mapping[str, str], Any], "TrackerError | RetryLater | None"]


@dataclass(frozen=True)
class Response:
    """A decoded JSON answer with the headers a connector needs (Link, rate limits)."""

    data: Any
    headers: Mapping[str, str]
    page: str  # the redacted URL


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - current).total_seconds())


def rate_limit_wait(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds until the rate limit resets when it is spent (x-ratelimit-remaining: 0)."""
    remaining = headers.get("x-ratelimit-remaining")
    reset = headers.get("x-ratelimit-reset")
    if remaining is None or reset is None:
        return None
    try:
        if int(remaining) > 0:
            return None
        return max(0.0, float(reset) - (time.time() if now is None else now))
    except ValueError:
        return None


class HttpClient:
    """JSON over HTTPS for one tracker site, with retries and named errors.

    `auth` is the value of the Authorization header (built from a `Secret`, kept
    out of every message). `sleep` is injectable so tests never wait. `interpret`
    lets a tracker whose errors do not follow HTTP (GraphQL's 200 with "errors",
    a rate limit sent as 400) name them, or ask for a retry, before the defaults.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Callable[[], str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_tries: int = 5,
        backoff: float = 1.0,
        max_wait: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        interpret: Interpret | None = None,
        secrets: tuple[Secret, ...] = (),
    ) -> None:
        import httpx

        # httpx logs every URL at INFO and httpcore traces at DEBUG: a query may hold a
        # secret, so their records stay off; this client logs redacted pages itself.
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.base_url = check_base_url("url", base_url)
        self._auth = auth
        self.max_tries = max_tries
        self.backoff = backoff
        self.max_wait = max_wait
        self._sleep = sleep
        self._interpret = interpret
        self._secrets = secrets  # raw values an encoded header hides (basic auth's token)
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json", "User-Agent": "flowray", **(headers or {})},
            follow_redirects=False,
            transport=transport,
            # HTTPS_PROXY / NO_PROXY and SSL_CERT_FILE, as a corporate network needs; never for
            # this machine, which a proxy must not see
            trust_env=(urlsplit(self.base_url).hostname or "") not in LOOPBACK_HOSTS,
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def url(self, path_or_url: str) -> str:
        """An absolute URL on this site; a full URL (a Link header's next page) must stay on it."""
        if path_or_url.startswith(("http://", "https://")):
            target = urlsplit(path_or_url)
            base = urlsplit(self.base_url)
            if (target.scheme, target.netloc) != (base.scheme, base.netloc):
                raise TrackerMalformedResponse(
                    "a next-page link points to another site; refused", redact_url(path_or_url)
                )
            return path_or_url
        return urljoin(self.base_url + "/", path_or_url.lstrip("/"))

    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, label: str | None = None
    ) -> Response:
        return self.request("GET", path, params=params, label=label)

    def post(self, path: str, body: Mapping[str, Any], *, label: str | None = None) -> Response:
        return self.request("POST", path, json_body=body, label=label)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
        label: str | None = None,
    ) -> Response:
        """One JSON request, retried on 429/5xx/network errors; a named error otherwise.

        `label` tells pages apart that share a URL (a POST search's page number).
        """
        import httpx

        url = self.url(path)
        request = self._client.build_request(method, url, params=params, json=json_body)
        page = redact_url(str(request.url))
        if method != "GET":
            page = f"{method} {page}"
        if label:
            page = f"{page} ({label})"
        if self._auth is not None:
            request.headers["Authorization"] = self._auth()
        last = ""
        for attempt in range(1, self.max_tries + 1):
            try:
                response = self._client.send(request)
            except httpx.TimeoutException:
                last, wait = "timed out", self._backoff(attempt)
            except httpx.TransportError as exc:
                last, wait = f"network error ({type(exc).__name__})", self._backoff(attempt)
            else:
                status = response.status_code
                verdict = self._verdict(status, response)
                if isinstance(verdict, TrackerError):
                    raise type(verdict)(self._scrub(verdict.message), page)
                spent = rate_limit_wait(response.headers)
                if isinstance(verdict, RetryLater):
                    if verdict.wait is not None and verdict.wait > self.max_wait:
                        raise TrackerRateLimited(
                            f"{verdict.reason}: the tracker asks to wait {verdict.wait:.0f} s "
                            f"(more than the {self.max_wait:.0f} s this sync waits); try later",
                            page,
                        )
                    last = verdict.reason
                    wait = verdict.wait if verdict.wait is not None else self._backoff(attempt)
                elif status < 300:
                    return Response(self._decode(response, page), response.headers, page)
                elif status in (403, 429) and spent is not None:
                    if spent > self.max_wait:
                        raise TrackerRateLimited(
                            f"the rate limit is spent and resets in {spent:.0f} s "
                            f"(more than the {self.max_wait:.0f} s this sync waits); try later",
                            page,
                        )
                    last, wait = f"rate limit spent (HTTP {status})", spent + 1.0
                elif status in RETRY_STATUSES or (
                    status == 403 and "retry-after" in response.headers
                ):  # GitHub's secondary rate limit is a 403 with Retry-After
                    after = parse_retry_after(response.headers.get("retry-after"))
                    if after is not None and after > self.max_wait:
                        raise TrackerRateLimited(
                            f"HTTP {status}: the server asks to retry in {after:.0f} s "
                            f"(more than the {self.max_wait:.0f} s this sync waits); try later",
                            page,
                        )
                    last = f"HTTP {status}"
                    wait = after if after is not None else self._backoff(attempt)
                else:
                    error = self._error(status, response, page)
                    raise type(error)(self._scrub(error.message), page)
            if attempt == self.max_tries:
                break
            log.warning(
                "%s %s: %s; retry %d of %d in %.1f s",
                method,
                page,
                last,
                attempt,
                self.max_tries - 1,
                wait,
            )
            self._sleep(wait)
        raise TrackerUnavailable(f"{last} after {self.max_tries} tries", page)

    def _scrub(self, text: str) -> str:
        """`text` with the Authorization value, its credential and any raw secret removed,
        should a server echo them."""
        pieces = [secret.reveal() for secret in self._secrets]
        if self._auth is not None:
            header = self._auth()
            pieces += [header, header.split(" ")[-1]]
        for piece in sorted(pieces, key=len, reverse=True):
            if len(piece) >= 6:
                text = text.replace(piece, "***")
        return text

    def _verdict(self, status: int, response: httpx.Response) -> TrackerError | RetryLater | None:
        """The tracker's own reading of an answer, when it has an `interpret` hook."""
        if self._interpret is None:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None  # a 2xx that is not JSON is still named malformed after the hook
        return self._interpret(status, response.headers, body)

    def _backoff(self, attempt: int) -> float:
        return min(self.max_wait, self.backoff * 2 ** (attempt - 1))

    @staticmethod
    def _decode(response: httpx.Response, page: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise TrackerMalformedResponse(
                f"HTTP {response.status_code} but the body is not JSON", page
            ) from None

    @staticmethod
    def _error(status: int, response: httpx.Response, page: str) -> TrackerError:
        detail = _error_detail(response)
        suffix = f": {detail}" if detail else ""
        if status == 401:
            return TrackerAuthError(
                "HTTP 401: the token was refused (missing, wrong or expired)", page
            )
        if status == 403:
            return TrackerForbidden(f"HTTP 403: this token may not read it{suffix}", page)
        if status == 404:
            return TrackerNotFound(f"HTTP 404: not found (or hidden from this token){suffix}", page)
        if status in (400, 422):
            return TrackerBadQuery(f"HTTP {status}: the tracker refused the query{suffix}", page)
        return TrackerError(f"HTTP {status}{suffix}", page)


def _error_detail(response: httpx.Response) -> str:
    """The tracker's own words about a refusal (Jira errorMessages, GitHub message), short."""
    try:
        body = response.json()
    except ValueError:
        return ""
    parts: list[str] = []
    if isinstance(body, dict):
        messages = body.get("errorMessages")
        if isinstance(messages, list):
            parts.extend(str(m) for m in messages)
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts.extend(f"{k}: {v}" for k, v in errors.items())
        if isinstance(body.get("message"), str):
            parts.append(body["message"])
    text = "; ".join(parts)
    return text[:300]


def link_next(headers: Mapping[str, str]) -> str | None:
    """The rel="next" URL of an RFC 8288 Link header (GitHub's pagination), if any."""
    value = headers.get("link")
    if not value:
        return None
    for part in value.split(","):
        match = re.match(r"\s*<([^>]+)>\s*;(.*)", part)
        if match and re.search(r'rel="?next"?', match.group(2)):
            return match.group(1)
    return None
