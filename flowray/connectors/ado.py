"""Azure DevOps Services and Server (REST API 7.1): work items of a WIQL query, with their revisions.

Three calls: the WIQL query (`POST {org}/{project}/_apis/wit/wiql`) returns the
matching work item ids only, and at most 20,000 of them (a larger result is
refused by the service, VS402337, which becomes `TrackerQueryTooLarge`); the items
are then read 200 at a time (`POST {org}/{project}/_apis/wit/workitemsbatch`, the
documented maximum), and each item's revisions
(`GET .../_apis/wit/workItems/{id}/revisions`, `$top`/`$skip`) give its state
history. The state categories of each work item type
(`GET .../_apis/wit/workitemtypes/{type}/states`) place custom states.

Auth: a personal access token from AZURE_DEVOPS_PAT, sent as basic auth with
an empty user name.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flowray.connectors.base import (
    DONE,
    STARTED,
    TODO,
    TrackerAuthError,
    TrackerBadQuery,
    TrackerError,
    TrackerItem,
    TrackerMalformedResponse,
    Transition,
    WorkflowMap,
    parse_tracker_time,
)
from flowray.connectors.http import HttpClient, RetryLater, Secret, check_base_url, read_secret
from flowray.core.validation import text
from flowray.exceptions import InputError

KIND = "ado"
TOKEN_VARIABLE = "AZURE_DEVOPS_PAT"
API_VERSION = "7.1"
BATCH_SIZE = 200  # workitemsbatch takes at most 200 ids
REVISIONS_PAGE = 200  # revisions are returned at most 200 at a time
WIQL_CAP = 20_000  # the most ids one WIQL query returns
PARENT_LINK = "System.LinkTypes.Hierarchy-Reverse"
REMOVED = "removed"
_PROJECT = re.compile(r"^[^\\/:*?\"<>|;#$%+,=\[\]{}]{1,64}$")
_PARENT_URL = re.compile(r"/workItems/(\d+)$", re.IGNORECASE)


class TrackerQueryTooLarge(TrackerBadQuery):
    """The WIQL query matches more than the 20,000 work items Azure DevOps returns at once."""


def default_workflow() -> WorkflowMap:
    """The states of the Agile, Scrum, Basic and CMMI processes, and Azure DevOps's categories.

    Agile: New / Active / Resolved / Closed / Removed; Scrum: New / Approved /
    Committed / Done / Removed; Basic: To Do / Doing / Done. Resolved (fixed,
    awaiting verification) is still in progress; done is the Completed category.
    Removed is to-do and an item removed now is neither started nor done. A custom
    state falls in by its category (Proposed, In Progress, Resolved, Completed,
    Removed), read from the work item type.
    """
    return WorkflowMap(
        KIND,
        states={
            "new": TODO,
            "approved": TODO,
            "to do": TODO,
            "proposed": TODO,
            "active": STARTED,
            "committed": STARTED,
            "doing": STARTED,
            "in progress": STARTED,
            "resolved": STARTED,
            "closed": DONE,
            "done": DONE,
            "removed": TODO,
        },
        categories={
            "proposed": TODO,
            "inprogress": STARTED,
            "resolved": STARTED,
            "completed": DONE,
            "removed": TODO,
        },
        default=TODO,
    )


def check_project(project: Any) -> str:
    name = text("ado_project", project, required=True)
    if not _PROJECT.match(name) or name.startswith(("_", ".")) or name.endswith("."):
        raise InputError(
            "ado_project", name, 'must be an Azure DevOps project name (no / \\ : * ? " < > | ...)'
        )
    return name


# -- WIQL -------------------------------------------------------------------------------------


def _keywords(query: str) -> list[tuple[int, str]]:
    """(position, keyword) of WHERE / ORDER BY / ASOF outside quoted literals ('' escapes ')."""
    out: list[tuple[int, str]] = []
    quote_char: str | None = None
    i = 0
    while i < len(query):
        char = query[i]
        if quote_char:
            if char == quote_char:
                if query[i + 1 : i + 2] == quote_char:
                    i += 2
                    continue
                quote_char = None
        elif char in "'\"":
            quote_char = char
        elif char == "[":
            end = query.find("]", i)
            i = len(query) if end < 0 else end + 1
            continue
        else:
            match = re.match(r"(where|order\s+by|asof)\b", query[i:], re.IGNORECASE)
            if match and (i == 0 or not (query[i - 1].isalnum() or query[i - 1] == "_")):
                out.append((i, re.sub(r"\s+", " ", match.group(1).lower())))
                i += len(match.group(0))
                continue
        i += 1
    if quote_char:
        raise InputError("wiql", query, "has an unclosed quoted literal")
    return out


def check_wiql(wiql: Any) -> str:
    """A flat `SELECT ... FROM WorkItems [WHERE ...] [ORDER BY ...]` query (no ASOF: a sync
    reads the present; link queries return links, not items)."""
    query = text("wiql", wiql, required=True)
    if len(query) > 32_000:
        raise InputError("wiql", query, "must be at most 32000 characters")
    if not re.match(r"^\s*select\s.+?\sfrom\s+workitems\b", query, re.IGNORECASE | re.DOTALL):
        raise InputError("wiql", query, "must be SELECT ... FROM WorkItems [WHERE ...]")
    if any(word == "asof" for _, word in _keywords(query)):
        raise InputError("wiql", query, "must not use ASOF: a sync reads the current state")
    return query


def incremental_wiql(wiql: str, since: dt.datetime | None) -> str:
    """The user's query, narrowed to items changed since the last sync, oldest change first.

    WIQL compares [System.ChangedDate] at day precision in the query's time zone,
    so the bound is the day before the cursor: a few items are read again,
    none is missed. The bound is a date this code formats; no user text is
    spliced into the query beyond the user's own WIQL, which is kept whole in
    parentheses.
    """
    words = _keywords(wiql)
    tail = next((pos for pos, word in words if word == "order by"), len(wiql))
    where = next((pos for pos, word in words if word == "where" and pos < tail), None)
    head = wiql[: where if where is not None else tail].rstrip()
    condition = wiql[where + len("where") : tail].strip() if where is not None else ""
    clauses = [f"({condition})"] if condition else []
    if since is not None:
        bound = (since.astimezone(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%d")
        clauses.append(f"[System.ChangedDate] >= '{bound}'")
    where_text = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return f"{head}{where_text} ORDER BY [System.ChangedDate] ASC"


# -- the connector ----------------------------------------------------------------------------


def _interpret(
    status: int, headers: Mapping[str, str], body: Any
) -> TrackerError | RetryLater | None:
    """Azure DevOps answers a refused token with 203 and its HTML sign-in page, not 401."""
    if status == 203 and not isinstance(body, (dict, list)):
        return TrackerAuthError("HTTP 203 (the sign-in page): the token was refused")
    return None


@dataclass
class AdoConnector:
    """Reads the work items of one WIQL query in one Azure DevOps project."""

    org_url: str
    project: str
    wiql: str
    workflow: WorkflowMap | None = None
    token: Secret | None = None
    sleep: Callable[[float], None] | None = None
    max_tries: int = 5
    max_wait: float = 120.0
    kind: str = KIND

    def __post_init__(self) -> None:
        self.org_url = check_base_url("org_url", self.org_url)
        self.project = check_project(self.project)
        self.wiql = check_wiql(self.wiql)
        self.workflow = self.workflow or default_workflow()

    @property
    def description(self) -> str:
        return f"Azure DevOps {self.org_url}/{self.project}: {self.wiql}"

    @property
    def _base(self) -> str:
        return f"{quote(self.project, safe='')}/_apis/wit"

    def _client(self) -> HttpClient:
        token = self.token
        options: dict[str, Any] = {"max_tries": self.max_tries, "max_wait": self.max_wait}
        if self.sleep is not None:
            options["sleep"] = self.sleep
        auth = (
            (lambda: "Basic " + base64.b64encode(f":{token.reveal()}".encode()).decode("ascii"))
            if token
            else None
        )
        return HttpClient(
            self.org_url,
            auth=auth,
            interpret=_interpret,
            secrets=(token,) if token else (),
            **options,
        )

    def fetch(self, since: dt.datetime | None) -> Iterator[list[TrackerItem]]:
        with self._client() as http:
            ids = self._ids(http, incremental_wiql(self.wiql, since))
            categories: dict[str, dict[str, str]] = {}
            for number, start in enumerate(range(0, len(ids), BATCH_SIZE), start=1):
                chunk = ids[start : start + BATCH_SIZE]
                answer = http.request(
                    "POST",
                    f"{self._base}/workitemsbatch",
                    params={"api-version": API_VERSION},
                    json_body={"ids": chunk, "$expand": "Relations", "errorPolicy": "Omit"},
                    label=f"batch {number}",
                )
                rows = _list(_object(answer.data, answer.page).get("value"), "value", answer.page)
                page: list[TrackerItem] = []
                for row in rows:
                    if row is None:
                        continue  # deleted between the query and the batch (errorPolicy Omit)
                    page.append(self._item(http, row, categories, answer.page))
                yield page

    def _ids(self, http: HttpClient, query: str) -> list[int]:
        try:
            answer = http.request(
                "POST",
                f"{self._base}/wiql",
                params={"api-version": API_VERSION},
                json_body={"query": query},
            )
        except TrackerBadQuery as exc:
            if "VS402337" in exc.message:
                raise TrackerQueryTooLarge(
                    f"the WIQL query matches more than {WIQL_CAP} work items, the most Azure "
                    "DevOps returns; narrow it (an area path, a work item type, "
                    "[System.ChangedDate] >= @Today - 365)",
                    exc.page,
                ) from None
            raise
        refs = _list(_object(answer.data, answer.page).get("workItems"), "workItems", answer.page)
        ids = []
        for ref in refs:
            ident = ref.get("id") if isinstance(ref, dict) else None
            if not isinstance(ident, int) or isinstance(ident, bool):
                raise TrackerMalformedResponse(
                    f"a work item reference has id {ident!r}", answer.page
                )
            ids.append(ident)
        if len(ids) >= WIQL_CAP:
            raise TrackerQueryTooLarge(
                f"the WIQL query returned {len(ids)} work items, Azure DevOps's cap: some may be "
                "missing; narrow it (an area path, a work item type, a [System.ChangedDate] bound)",
                answer.page,
            )
        return ids

    def _states(
        self, http: HttpClient, item_type: str, cache: dict[str, dict[str, str]]
    ) -> dict[str, str]:
        """State name (casefolded) -> category of one work item type, read once per sync."""
        if item_type in cache:
            return cache[item_type]
        out: dict[str, str] = {}
        try:
            answer = http.get(
                f"{self._base}/workitemtypes/{quote(item_type, safe='')}/states",
                {"api-version": API_VERSION},
            )
        except TrackerError:
            answer = None  # an old server or a narrow token: the state names decide
        values = answer.data.get("value") if answer and isinstance(answer.data, dict) else None
        for state in values if isinstance(values, list) else ():
            if isinstance(state, dict) and isinstance(state.get("name"), str):
                category = state.get("category")
                if isinstance(category, str):
                    out[state["name"].casefold()] = category
        cache[item_type] = out
        return out

    def _revisions(self, http: HttpClient, ident: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        skip = 0
        while True:
            answer = http.get(
                f"{self._base}/workItems/{ident}/revisions",
                {"$top": REVISIONS_PAGE, "$skip": skip, "api-version": API_VERSION},
            )
            values = _list(_object(answer.data, answer.page).get("value"), "value", answer.page)
            for value in values:
                if not isinstance(value, dict) or not isinstance(value.get("fields"), dict):
                    raise TrackerMalformedResponse(
                        f"{ident} has a revision with no fields", answer.page
                    )
                out.append(value)
            skip += len(values)
            if len(values) < REVISIONS_PAGE:
                return out

    def _item(
        self, http: HttpClient, row: Any, cache: dict[str, dict[str, str]], page: str
    ) -> TrackerItem:
        if not isinstance(row, dict) or not isinstance(row.get("id"), int):
            raise TrackerMalformedResponse("a work item has no id", page)
        ident = row["id"]
        fields = row.get("fields")
        if not isinstance(fields, dict):
            raise TrackerMalformedResponse(f"work item {ident} has no fields", page)
        item_type = str(fields.get("System.WorkItemType") or "")
        status = str(fields.get("System.State") or "")
        categories = self._states(http, item_type, cache) if item_type else {}
        transitions = []
        previous: str | None = None
        for revision in self._revisions(http, ident):
            values = revision["fields"]
            state = values.get("System.State")
            if not isinstance(state, str) or state == previous:
                continue
            previous = state
            at = parse_tracker_time(
                f"{ident} revision ChangedDate", values.get("System.ChangedDate"), page
            )
            transitions.append(Transition(at, state, categories.get(state.casefold())))
        created = parse_tracker_time(
            f"{ident} System.CreatedDate", fields.get("System.CreatedDate"), page
        )
        closed_text = fields.get("Microsoft.VSTS.Common.ClosedDate")
        closed = (
            parse_tracker_time(f"{ident} ClosedDate", closed_text, page) if closed_text else None
        )
        assert self.workflow is not None
        status_category = categories.get(status.casefold())
        started, done = self.workflow.dates(
            status, transitions, status_category=status_category, created=created, resolved=closed
        )
        removed = (status_category or status).strip().casefold() == REMOVED
        if removed and self.workflow.category(status, status_category) != DONE:
            started = None  # removed work was never delivered: neither started nor done
        tags = str(fields.get("System.Tags") or "")
        return TrackerItem(
            key=str(ident),
            title=str(fields.get("System.Title") or ""),
            item_type=item_type,
            status=status,
            created=created,
            updated=parse_tracker_time(
                f"{ident} System.ChangedDate", fields.get("System.ChangedDate"), page
            ),
            started=started,
            done=done,
            parent_key=_parent(fields, row.get("relations")),
            labels=tuple(tag.strip() for tag in tags.split(";") if tag.strip()),
        )


def _parent(fields: Mapping[str, Any], relations: Any) -> str | None:
    """System.Parent, or the Hierarchy-Reverse link on servers that predate that field."""
    parent = fields.get("System.Parent")
    if isinstance(parent, int) and not isinstance(parent, bool):
        return str(parent)
    for relation in relations if isinstance(relations, list) else ():
        if isinstance(relation, dict) and relation.get("rel") == PARENT_LINK:
            match = _PARENT_URL.search(str(relation.get("url") or ""))
            if match:
                return match.group(1)
    return None


def _object(data: Any, page: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TrackerMalformedResponse("expected a JSON object", page)
    return data


def _list(data: Any, name: str, page: str) -> list[Any]:
    if not isinstance(data, list):
        raise TrackerMalformedResponse(f"the answer has no {name} list", page)
    return data


def from_settings(
    settings: Mapping[str, Any], workflow: WorkflowMap, **options: Any
) -> AdoConnector:
    """The connector a saved source describes; the token comes from AZURE_DEVOPS_PAT."""
    environ = options.pop("environ", None)
    token = read_secret(TOKEN_VARIABLE, environ=environ, required=True)
    return AdoConnector(
        org_url=settings.get("org_url"),  # type: ignore[arg-type]
        project=settings.get("ado_project"),  # type: ignore[arg-type]
        wiql=settings.get("wiql"),  # type: ignore[arg-type]
        workflow=workflow,
        token=token,
        **options,
    )


def settings_for(org_url: str, project: str, wiql: str) -> dict[str, Any]:
    """What an Azure DevOps source stores: the organization (or collection), project and query."""
    return {
        "org_url": check_base_url("org_url", org_url),
        "ado_project": check_project(project),
        "wiql": check_wiql(wiql),
    }
