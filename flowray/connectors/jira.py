"""Jira Cloud and Jira Data Center: issues from a JQL query, with their status history.

Cloud reads `POST /rest/api/3/search/jql` (token pagination: `nextPageToken`,
`isLast`); Data Center / Server reads `GET /rest/api/2/search` (offset
pagination: `startAt`, `maxResults`, `total`). Both ask for `expand=changelog`;
a changelog cut short by the search (Cloud returns the latest 100 entries) is
read whole from `GET /rest/api/3/issue/{key}/changelog` (Cloud) or
`GET /rest/api/2/issue/{key}?expand=changelog` (Data Center). The status
categories of historical statuses come from `GET /rest/api/{2,3}/status`, so a
renamed or custom status lands in the right column without configuration.

Auth: JIRA_API_TOKEN with JIRA_EMAIL is Cloud's basic auth (email:API token);
JIRA_API_TOKEN alone is a Data Center personal access token (Bearer).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from flowray.connectors.base import (
    DONE,
    STARTED,
    TODO,
    TrackerError,
    TrackerItem,
    TrackerMalformedResponse,
    Transition,
    WorkflowMap,
    parse_tracker_time,
)
from flowray.connectors.http import HttpClient, Secret, check_base_url, read_secret
from flowray.core.item_states import is_removed
from flowray.core.validation import choice, text
from flowray.exceptions import InputError

KIND = "jira"
TOKEN_VARIABLE = "JIRA_API_TOKEN"
EMAIL_VARIABLE = "JIRA_EMAIL"
FLAVORS = ("cloud", "datacenter")
PAGE_SIZE = 100
FIELDS = (
    "summary",
    "issuetype",
    "status",
    "created",
    "updated",
    "resolutiondate",
    "resolution",
    "parent",
    "labels",
)
_ORDER_BY = re.compile(r"\border\s+by\b.*$", re.IGNORECASE | re.DOTALL)
_FIELD_ID = re.compile(r"^customfield_\d+$")


def default_workflow() -> WorkflowMap:
    """Jira's three status categories: new (to do), indeterminate (in progress), done.

    Every status belongs to one, so the defaults fit any workflow; a team whose
    "In Review" sits in Done, say, moves it back with an override.
    """
    return WorkflowMap(
        KIND,
        states={},
        categories={"new": TODO, "indeterminate": STARTED, "done": DONE, "undefined": TODO},
        default=TODO,
    )


def flavor_of(url: str) -> str:
    """Cloud for *.atlassian.net (and Atlassian's API gateway), Data Center otherwise."""
    host = (urlsplit(url).hostname or "").lower()
    return "cloud" if host.endswith((".atlassian.net", ".atlassian.com")) else "datacenter"


def check_jql(jql: Any) -> str:
    query = text("jql", jql, required=True)
    if len(query) > 10_000:
        raise InputError("jql", query, "must be at most 10000 characters")
    return query


def incremental_jql(jql: str, since: dt.datetime | None) -> str:
    """The user's query, narrowed to issues updated since the last sync, oldest change first.

    JQL compares at minute resolution in the user's time zone, so the bound goes
    back a day: re-reading a few issues costs little, missing one costs a forecast.
    """
    base = _ORDER_BY.sub("", jql).strip()
    if since is not None:
        bound = (since.astimezone(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
        base = f'({base}) AND updated >= "{bound}"'
    return f"{base} ORDER BY updated ASC"


@dataclass
class JiraConnector:
    """Reads the issues of one JQL query on one Jira site."""

    url: str
    jql: str
    flavor: str | None = None
    workflow: WorkflowMap | None = None
    token: Secret | None = None
    email: str | None = field(default=None, repr=False)  # personal data: kept out of repr
    epic_field: str | None = None  # Data Center's "Epic Link" custom field, e.g. customfield_10014
    sleep: Callable[[float], None] | None = None
    max_tries: int = 5
    max_wait: float = 120.0
    kind: str = KIND

    def __post_init__(self) -> None:
        self.url = check_base_url("url", self.url)
        self.jql = check_jql(self.jql)
        self.flavor = choice("flavor", self.flavor or flavor_of(self.url), FLAVORS)
        self.workflow = self.workflow or default_workflow()
        if self.epic_field is not None and not _FIELD_ID.match(str(self.epic_field)):
            raise InputError(
                "epic_field", self.epic_field, "must be a field id like customfield_10014"
            )

    @property
    def api(self) -> str:
        return "/rest/api/3" if self.flavor == "cloud" else "/rest/api/2"

    @property
    def description(self) -> str:
        label = "Jira Cloud" if self.flavor == "cloud" else "Jira Data Center"
        return f"{label} {self.url}: {self.jql}"

    def _auth_header(self) -> Callable[[], str] | None:
        token, email = self.token, self.email
        if token is None:
            return None
        if email:
            return lambda: (
                "Basic " + base64.b64encode(f"{email}:{token.reveal()}".encode()).decode("ascii")
            )
        return lambda: f"Bearer {token.reveal()}"

    def _client(self) -> HttpClient:
        options: dict[str, Any] = {"max_tries": self.max_tries, "max_wait": self.max_wait}
        if self.sleep is not None:
            options["sleep"] = self.sleep
        return HttpClient(self.url, auth=self._auth_header(), **options)

    def fetch(self, since: dt.datetime | None) -> Iterator[list[TrackerItem]]:
        query = incremental_jql(self.jql, since)
        with self._client() as http:
            categories = self._status_categories(http)
            pages = (
                self._cloud_pages(http, query)
                if self.flavor == "cloud"
                else self._dc_pages(http, query)
            )
            for issues, page in pages:
                yield [self._item(http, issue, categories, page) for issue in issues]

    def _fields(self) -> list[str]:
        return [*FIELDS, *([self.epic_field] if self.epic_field else [])]

    def _status_categories(self, http: HttpClient) -> dict[str, str]:
        """Status id and name -> category key, for the statuses a changelog names."""
        try:
            answer = http.get(f"{self.api}/status")
        except TrackerError:
            return {}  # a token that may not list statuses still reads issues: names decide
        out: dict[str, str] = {}
        if isinstance(answer.data, list):
            for status in answer.data:
                if not isinstance(status, dict):
                    continue
                category = (status.get("statusCategory") or {}).get("key")
                if isinstance(category, str):
                    for ident in (status.get("id"), status.get("name")):
                        if isinstance(ident, str):
                            out[ident.casefold()] = category
        return out

    def _cloud_pages(self, http: HttpClient, query: str) -> Iterator[tuple[list[Any], str]]:
        token: str | None = None
        number = 0
        while True:
            number += 1
            body: dict[str, Any] = {
                "jql": query,
                "fields": self._fields(),
                "expand": "changelog",
                "maxResults": PAGE_SIZE,
            }
            if token:
                body["nextPageToken"] = token
            answer = http.post(f"{self.api}/search/jql", body, label=f"page {number}")
            data = _object(answer.data, answer.page)
            yield _issues(data, answer.page), answer.page
            token = data.get("nextPageToken")
            if data.get("isLast", token is None) or not token:
                return

    def _dc_pages(self, http: HttpClient, query: str) -> Iterator[tuple[list[Any], str]]:
        start = 0
        while True:
            answer = http.get(
                f"{self.api}/search",
                {
                    "jql": query,
                    "startAt": start,
                    "maxResults": PAGE_SIZE,
                    "fields": ",".join(self._fields()),
                    "expand": "changelog",
                },
            )
            data = _object(answer.data, answer.page)
            issues = _issues(data, answer.page)
            yield issues, answer.page
            total = data.get("total")
            start += len(issues)
            if not issues or not isinstance(total, int) or start >= total:
                return

    def _item(
        self, http: HttpClient, issue: Any, categories: Mapping[str, str], page: str
    ) -> TrackerItem:
        if not isinstance(issue, dict) or not isinstance(issue.get("key"), str):
            raise TrackerMalformedResponse("an issue has no key", page)
        key = issue["key"]
        fields = issue.get("fields")
        if not isinstance(fields, dict):
            raise TrackerMalformedResponse(f"{key} has no fields", page)
        status = fields.get("status") or {}
        status_name = str(status.get("name") or "")
        status_category = (status.get("statusCategory") or {}).get("key")
        histories = self._histories(http, key, issue.get("changelog"), page)
        transitions = _transitions(key, histories, categories, page)
        created = parse_tracker_time(f"{key} created", fields.get("created"), page)
        resolved_text = fields.get("resolutiondate")
        resolved = (
            parse_tracker_time(f"{key} resolutiondate", resolved_text, page)
            if resolved_text
            else None
        )
        assert self.workflow is not None
        started, done = self.workflow.dates(
            status_name,
            transitions,
            status_category=status_category,
            created=created,
            resolved=resolved,
        )
        resolution = fields.get("resolution")
        resolution_name = resolution.get("name") if isinstance(resolution, dict) else None
        if done is not None and is_removed(status_name, resolution_name):
            done = None  # resolved as Won't Do, Duplicate...: closed, but never delivered
        parent = fields.get("parent")
        parent_key = parent.get("key") if isinstance(parent, dict) else None
        if parent_key is None and self.epic_field:
            epic = fields.get(self.epic_field)
            parent_key = epic if isinstance(epic, str) and epic else None
        issuetype = fields.get("issuetype") or {}
        labels = fields.get("labels") or []
        return TrackerItem(
            key=key,
            title=str(fields.get("summary") or ""),
            item_type=str(issuetype.get("name") or ""),
            status=status_name,
            created=created,
            updated=parse_tracker_time(f"{key} updated", fields.get("updated"), page),
            started=started,
            done=done,
            parent_key=parent_key,
            labels=tuple(str(label) for label in labels if isinstance(label, str)),
        )

    def _histories(self, http: HttpClient, key: str, changelog: Any, page: str) -> list[Any]:
        """Every changelog entry of the issue: the search's, or the whole one when it was cut."""
        if not isinstance(changelog, dict):
            return self._full_changelog(http, key)
        histories = changelog.get("histories")
        if not isinstance(histories, list):
            raise TrackerMalformedResponse(f"{key} changelog has no histories", page)
        total = changelog.get("total")
        if isinstance(total, int) and total > len(histories):
            return self._full_changelog(http, key)
        return histories

    def _full_changelog(self, http: HttpClient, key: str) -> list[Any]:
        path = quote(key, safe="")
        if self.flavor == "datacenter":
            answer = http.get(
                f"{self.api}/issue/{path}", {"expand": "changelog", "fields": "status"}
            )
            changelog = _object(answer.data, answer.page).get("changelog") or {}
            histories = changelog.get("histories") if isinstance(changelog, dict) else None
            if not isinstance(histories, list):
                raise TrackerMalformedResponse(f"{key} changelog has no histories", answer.page)
            return histories
        out: list[Any] = []
        start = 0
        while True:
            answer = http.get(
                f"{self.api}/issue/{path}/changelog", {"startAt": start, "maxResults": PAGE_SIZE}
            )
            data = _object(answer.data, answer.page)
            values = data.get("values")
            if not isinstance(values, list):
                raise TrackerMalformedResponse(f"{key} changelog page has no values", answer.page)
            out.extend(values)
            start += len(values)
            total = data.get("total")
            last = data.get("isLast")
            if not values or last is True or (isinstance(total, int) and start >= total):
                return out
            if last is None and total is None:
                return out


def _transitions(
    key: str, histories: list[Any], categories: Mapping[str, str], page: str
) -> list[Transition]:
    out = []
    for entry in histories:
        if not isinstance(entry, dict):
            raise TrackerMalformedResponse(
                f"{key} has a changelog entry that is not an object", page
            )
        for change in entry.get("items") or ():
            if not isinstance(change, dict) or change.get("field") != "status":
                continue
            name = str(change.get("toString") or "")
            ident = str(change.get("to") or "").casefold()
            category = categories.get(ident) or categories.get(name.casefold())
            at = parse_tracker_time(f"{key} changelog created", entry.get("created"), page)
            out.append(Transition(at, name, category))
    return out


def _object(data: Any, page: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TrackerMalformedResponse("expected a JSON object", page)
    return data


def _issues(data: Mapping[str, Any], page: str) -> list[Any]:
    issues = data.get("issues")
    if not isinstance(issues, list):
        raise TrackerMalformedResponse("the search answer has no issues list", page)
    return issues


def from_settings(
    settings: Mapping[str, Any], workflow: WorkflowMap, **options: Any
) -> JiraConnector:
    """The connector a saved source describes; JIRA_API_TOKEN (and JIRA_EMAIL) from the environment."""
    environ = options.pop("environ", None)
    token = read_secret(TOKEN_VARIABLE, environ=environ, required=True)
    email = read_secret(EMAIL_VARIABLE, environ=environ, required=False)
    return JiraConnector(
        url=settings.get("url"),  # type: ignore[arg-type]
        jql=settings.get("jql"),  # type: ignore[arg-type]
        flavor=settings.get("flavor"),
        workflow=workflow,
        token=token,
        email=email.reveal() if email else None,
        epic_field=settings.get("epic_field"),
        **options,
    )


def settings_for(
    url: str, jql: str, flavor: str | None = None, epic_field: str | None = None
) -> dict[str, Any]:
    """What a Jira source stores: the site, the query, the flavour; never a token or an email."""
    site = check_base_url("url", url)
    settings: dict[str, Any] = {
        "url": site,
        "jql": check_jql(jql),
        "flavor": choice("flavor", flavor or flavor_of(site), FLAVORS),
    }
    if epic_field:
        if not _FIELD_ID.match(epic_field):
            raise InputError("epic_field", epic_field, "must be a field id like customfield_10014")
        settings["epic_field"] = epic_field
    return settings
