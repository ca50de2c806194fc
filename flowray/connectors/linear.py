"""Linear (GraphQL): the issues of one team, by cursor pages, with their state dates.

One query, `issues(first, after, filter: {team: {key: {eq}}, updatedAt: {gt}})`,
read until `pageInfo.hasNextPage` is false. Each issue carries its state (name
and type: triage, backlog, unstarted, started, completed, canceled) and
Linear's own `startedAt` / `completedAt` / `canceledAt`, which give the dates
with no history. The issue's history (`issue(id) { history }`) is read only when
those cannot: a workflow map that names states (a team whose "In Review" counts
as done), or a started / completed issue missing its timestamp.

The parent issue is the feature an issue belongs to; with no parent, its
project is (key `project:<id>`). The cycle is kept as a label `cycle:<number>`.

Auth: the personal API key from LINEAR_API_KEY, sent as `Authorization: <key>`
(no "Bearer"). GraphQL answers errors with HTTP 200 and an `errors` list, and a
spent rate limit as HTTP 400 (or 429) with the code RATELIMITED: the first is
`TrackerGraphQLError`, the second is retried within the wait bound, like a 429.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flowray.connectors.base import (
    DONE,
    STARTED,
    TODO,
    TrackerAuthError,
    TrackerBadQuery,
    TrackerError,
    TrackerForbidden,
    TrackerItem,
    TrackerMalformedResponse,
    Transition,
    WorkflowMap,
    parse_tracker_time,
)
from flowray.connectors.http import (
    HttpClient,
    RetryLater,
    Secret,
    check_base_url,
    parse_retry_after,
    read_secret,
)
from flowray.exceptions import InputError

KIND = "linear"
TOKEN_VARIABLE = "LINEAR_API_KEY"
DEFAULT_API_URL = "https://api.linear.app/graphql"
PAGE_SIZE = 100  # Linear allows up to 250; 100 keeps each query's complexity modest
HISTORY_PAGE = 50
_TEAM = re.compile(r"^[A-Za-z0-9_]{1,10}$")

ISSUES_QUERY = """
query FlowrayIssues($first: Int!, $after: String, $filter: IssueFilter) {
  issues(first: $first, after: $after, filter: $filter, orderBy: updatedAt) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id identifier title createdAt updatedAt startedAt completedAt canceledAt
      state { name type }
      parent { identifier }
      project { id name }
      cycle { number }
      labels { nodes { name } }
    }
  }
}
""".strip()

HISTORY_QUERY = """
query FlowrayHistory($id: String!, $first: Int!, $after: String) {
  issue(id: $id) {
    history(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { createdAt toState { name type } }
    }
  }
}
""".strip()


class TrackerGraphQLError(TrackerBadQuery):
    """Linear answered with GraphQL `errors` (an unknown team, a field the schema lacks)."""


def default_workflow() -> WorkflowMap:
    """Linear's state types: triage, backlog and unstarted are to do; started is started;
    completed is done; canceled is never done (nor started, by its type)."""
    return WorkflowMap(
        KIND,
        states={},
        categories={
            "triage": TODO,
            "backlog": TODO,
            "unstarted": TODO,
            "started": STARTED,
            "completed": DONE,
            "canceled": TODO,
        },
        default=TODO,
    )


def check_team(team: Any) -> str:
    if not isinstance(team, str) or not _TEAM.match(team.strip()):
        raise InputError("team", team, "must be a Linear team key such as ENG")
    return team.strip().upper()


def _codes(errors: list[Any]) -> set[str]:
    out = set()
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        if isinstance(code, str):
            out.add(code.upper())
    return out


def _messages(errors: list[Any]) -> str:
    texts = [str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")]
    return "; ".join(texts)[:300]


def _reset_wait(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds until Linear's request or complexity budget refills (reset headers are epoch ms)."""
    waits = []
    for name in ("x-ratelimit-requests-reset", "x-ratelimit-complexity-reset"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            reset = float(value) / 1000.0
        except ValueError:
            continue
        waits.append(max(0.0, reset - (time.time() if now is None else now)))
    return max(waits) if waits else None


def interpret(
    status: int, headers: Mapping[str, str], body: Any
) -> TrackerError | RetryLater | None:
    """Linear's errors, which GraphQL sends in the body rather than in the status."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return None
    codes = _codes(errors)
    detail = _messages(errors)
    if "RATELIMITED" in codes:
        wait = _reset_wait(headers)
        if wait is None:
            wait = parse_retry_after(headers.get("retry-after"))
        return RetryLater(f"HTTP {status}: rate limited (RATELIMITED)", wait)
    if "AUTHENTICATION_ERROR" in codes or status == 401:
        return TrackerAuthError(
            f"HTTP {status}: the API key was refused (missing, wrong or revoked)"
        )
    if "FORBIDDEN" in codes or status == 403:
        return TrackerForbidden(f"HTTP {status}: this API key may not read it: {detail}")
    if status < 300 or status == 400:
        return TrackerGraphQLError(f"HTTP {status}: GraphQL errors: {detail}")
    return None


@dataclass
class LinearConnector:
    """Reads the issues of one Linear team."""

    team: str
    api_url: str = DEFAULT_API_URL
    workflow: WorkflowMap | None = None
    token: Secret | None = None
    sleep: Callable[[float], None] | None = None
    max_tries: int = 5
    max_wait: float = 120.0
    kind: str = KIND

    def __post_init__(self) -> None:
        self.team = check_team(self.team)
        self.api_url = check_base_url("api_url", self.api_url)
        self.workflow = self.workflow or default_workflow()

    @property
    def description(self) -> str:
        where = "" if self.api_url == DEFAULT_API_URL else f" at {self.api_url}"
        return f"Linear team {self.team}{where}"

    def _client(self) -> HttpClient:
        token = self.token
        options: dict[str, Any] = {"max_tries": self.max_tries, "max_wait": self.max_wait}
        if self.sleep is not None:
            options["sleep"] = self.sleep
        return HttpClient(
            self.api_url,
            auth=(lambda: token.reveal()) if token else None,
            interpret=interpret,
            **options,
        )

    def _query(
        self, http: HttpClient, query: str, variables: Mapping[str, Any], label: str
    ) -> tuple[dict[str, Any], str]:
        answer = http.post(
            self.api_url, {"query": query, "variables": dict(variables)}, label=label
        )
        body = answer.data
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise TrackerMalformedResponse("the GraphQL answer has no data", answer.page)
        return data, answer.page

    def fetch(self, since: dt.datetime | None) -> Iterator[list[TrackerItem]]:
        issue_filter: dict[str, Any] = {"team": {"key": {"eq": self.team}}}
        if since is not None:
            stamp = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            issue_filter["updatedAt"] = {"gt": stamp}
        after: str | None = None
        number = 0
        with self._client() as http:
            while True:
                number += 1
                data, page = self._query(
                    http,
                    ISSUES_QUERY,
                    {"first": PAGE_SIZE, "after": after, "filter": issue_filter},
                    f"page {number}",
                )
                nodes, has_next, after = _connection(data.get("issues"), "issues", page)
                yield [self._item(http, node, page) for node in nodes]
                if not has_next:
                    return
                if not after:
                    raise TrackerMalformedResponse(
                        "hasNextPage is true but endCursor is empty", page
                    )

    def _history(self, http: HttpClient, ident: str, key: str) -> list[Transition]:
        out: list[Transition] = []
        after: str | None = None
        number = 0
        while True:
            number += 1
            data, page = self._query(
                http,
                HISTORY_QUERY,
                {"id": ident, "first": HISTORY_PAGE, "after": after},
                f"{key} history page {number}",
            )
            issue = data.get("issue")
            if not isinstance(issue, dict):
                raise TrackerMalformedResponse(f"{key} has no issue in its history answer", page)
            nodes, has_next, after = _connection(issue.get("history"), "history", page)
            for node in nodes:
                state = node.get("toState") if isinstance(node, dict) else None
                if isinstance(state, dict) and isinstance(state.get("name"), str):
                    at = parse_tracker_time(f"{key} history createdAt", node.get("createdAt"), page)
                    out.append(Transition(at, state["name"], _text(state.get("type"))))
            if not has_next or not after:
                return out

    def _item(self, http: HttpClient, node: Any, page: str) -> TrackerItem:
        if not isinstance(node, dict) or not isinstance(node.get("identifier"), str):
            raise TrackerMalformedResponse("an issue has no identifier", page)
        key = node["identifier"]
        state = node.get("state")
        if not isinstance(state, dict) or not isinstance(state.get("name"), str):
            raise TrackerMalformedResponse(f"{key} has no state", page)
        status, state_type = state["name"], _text(state.get("type"))
        created = parse_tracker_time(f"{key} createdAt", node.get("createdAt"), page)
        stamps = {
            name: parse_tracker_time(f"{key} {name}", node.get(name), page)
            if node.get(name)
            else None
            for name in ("startedAt", "completedAt")
        }
        assert self.workflow is not None
        category = self.workflow.category(status, state_type)
        needs_history = bool(self.workflow.states) or (
            (category in (STARTED, DONE) and stamps["startedAt"] is None)
            or (category == DONE and stamps["completedAt"] is None)
        )
        if needs_history and isinstance(node.get("id"), str):
            started, done = self.workflow.dates(
                status,
                self._history(http, node["id"], key),
                status_category=state_type,
                created=created,
                resolved=stamps["completedAt"],
            )
        else:
            started = stamps["startedAt"]
            done = (stamps["completedAt"] or created) if category == DONE else None
            started = started or done
        if state_type == "canceled" and category == TODO:
            started = None  # canceled work was never delivered: neither started nor done
        parent = node.get("parent")
        project = node.get("project")
        if isinstance(parent, dict) and isinstance(parent.get("identifier"), str):
            parent_key: str | None = parent["identifier"]
        elif isinstance(project, dict) and isinstance(project.get("id"), str):
            parent_key = f"project:{project['id']}"
        else:
            parent_key = None
        labels_node = node.get("labels")
        label_nodes = labels_node.get("nodes") if isinstance(labels_node, dict) else None
        labels = [
            str(label["name"])
            for label in label_nodes or ()
            if isinstance(label, dict) and isinstance(label.get("name"), str)
        ]
        cycle = node.get("cycle")
        if isinstance(cycle, dict) and isinstance(cycle.get("number"), (int, float)):
            labels.append(f"cycle:{int(cycle['number'])}")
        return TrackerItem(
            key=key,
            title=str(node.get("title") or ""),
            item_type="issue",
            status=status,
            created=created,
            updated=parse_tracker_time(f"{key} updatedAt", node.get("updatedAt"), page),
            started=started,
            done=done,
            parent_key=parent_key,
            labels=tuple(labels),
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _connection(value: Any, name: str, page: str) -> tuple[list[Any], bool, str | None]:
    """(nodes, hasNextPage, endCursor) of a GraphQL connection, checked."""
    if not isinstance(value, dict):
        raise TrackerMalformedResponse(f"the answer has no {name} connection", page)
    nodes = value.get("nodes")
    info = value.get("pageInfo")
    if not isinstance(nodes, list) or not isinstance(info, dict):
        raise TrackerMalformedResponse(f"{name} has no nodes or pageInfo", page)
    has_next = info.get("hasNextPage")
    if not isinstance(has_next, bool):
        raise TrackerMalformedResponse(f"{name} pageInfo.hasNextPage is {has_next!r}", page)
    cursor = info.get("endCursor")
    return nodes, has_next, cursor if isinstance(cursor, str) else None


def from_settings(
    settings: Mapping[str, Any], workflow: WorkflowMap, **options: Any
) -> LinearConnector:
    """The connector a saved source describes; the key comes from LINEAR_API_KEY."""
    environ = options.pop("environ", None)
    token = read_secret(TOKEN_VARIABLE, environ=environ, required=True)
    return LinearConnector(
        team=settings.get("team"),  # type: ignore[arg-type]
        api_url=settings.get("api_url") or DEFAULT_API_URL,
        workflow=workflow,
        token=token,
        **options,
    )


def settings_for(team: str, api_url: str | None = None) -> dict[str, Any]:
    """What a Linear source stores: the team key and the API URL, never the key."""
    return {
        "team": check_team(team),
        "api_url": check_base_url("api_url", api_url or DEFAULT_API_URL),
    }
