"""GitHub (REST v3): pull requests merged into the default branch, and issues closed.

A merged pull request is the unit of flowray's bundled throughput series, so
`items="pulls"` (the default) counts the same thing the demo data counts. Issues
(`items="issues"` or `"both"`) count as done when closed as completed; an issue
closed as "not planned" is not throughput. A milestone is the item's parent (the
feature it belongs to). Pages follow the Link header; an incremental sync asks
for what was updated since the last one. GitHub Enterprise is the same API
under `api_url` (https://HOST/api/v3).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flowray.connectors.base import (
    DONE,
    STARTED,
    TODO,
    TrackerItem,
    TrackerMalformedResponse,
    WorkflowMap,
    parse_tracker_time,
)
from flowray.connectors.http import HttpClient, Secret, check_base_url, link_next, read_secret
from flowray.core.validation import choice
from flowray.exceptions import InputError

KIND = "github"
TOKEN_VARIABLE = "GITHUB_TOKEN"
DEFAULT_API_URL = "https://api.github.com"
ITEMS = ("pulls", "issues", "both")
PAGE_SIZE = 100
_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


def default_workflow() -> WorkflowMap:
    """GitHub's states as this connector names them: open, draft, merged, closed, not planned.

    An open pull request is work started; a draft too; an open issue is to do.
    """
    return WorkflowMap(
        KIND,
        states={
            "open issue": TODO,
            "open": STARTED,
            "draft": STARTED,
            "merged": DONE,
            "closed": DONE,
            "closed unmerged": TODO,
            "not planned": TODO,
        },
        default=TODO,
    )


def check_repo(repo: Any) -> str:
    if not isinstance(repo, str) or not _REPO.match(repo.strip()):
        raise InputError("repo", repo, "must be OWNER/NAME, e.g. octo-org/octo-repo")
    return repo.strip()


@dataclass
class GitHubConnector:
    """Reads one repository. `token` is optional (public repositories, low rate limit)."""

    repo: str
    api_url: str = DEFAULT_API_URL
    items: str = "pulls"
    workflow: WorkflowMap | None = None
    token: Secret | None = None
    sleep: Callable[[float], None] | None = None
    max_tries: int = 5
    max_wait: float = 120.0
    kind: str = KIND

    def __post_init__(self) -> None:
        self.repo = check_repo(self.repo)
        self.api_url = check_base_url("api_url", self.api_url)
        self.items = choice("items", self.items, ITEMS)
        self.workflow = self.workflow or default_workflow()

    @property
    def description(self) -> str:
        where = "" if self.api_url == DEFAULT_API_URL else f" at {self.api_url}"
        what = {
            "pulls": "merged pull requests",
            "issues": "closed issues",
            "both": "pull requests and issues",
        }
        return f"GitHub {self.repo}{where}: {what[self.items]}"

    def _client(self) -> HttpClient:
        token = self.token
        options: dict[str, Any] = {"max_tries": self.max_tries, "max_wait": self.max_wait}
        if self.sleep is not None:
            options["sleep"] = self.sleep
        return HttpClient(
            self.api_url,
            auth=(lambda: f"Bearer {token.reveal()}") if token else None,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            **options,
        )

    def fetch(self, since: dt.datetime | None) -> Iterator[list[TrackerItem]]:
        with self._client() as http:
            base = f"/repos/{self.repo}"
            branch = self._default_branch(http, base)
            if self.items in ("pulls", "both"):
                yield from self._pulls(http, base, branch, since)
            if self.items in ("issues", "both"):
                yield from self._issues(http, base, since)

    @staticmethod
    def _default_branch(http: HttpClient, base: str) -> str:
        answer = http.get(base)
        branch = answer.data.get("default_branch") if isinstance(answer.data, dict) else None
        if not isinstance(branch, str) or not branch:
            raise TrackerMalformedResponse("the repository has no default_branch", answer.page)
        return branch

    def _pulls(
        self, http: HttpClient, base: str, branch: str, since: dt.datetime | None
    ) -> Iterator[list[TrackerItem]]:
        """Pull requests into the default branch, most recently updated first.

        The pulls list has no `since` filter: pages are read until one reaches a
        pull request updated before `since`.
        """
        params: Mapping[str, Any] | None = {
            "state": "all",
            "base": branch,
            "sort": "updated",
            "direction": "desc",
            "per_page": PAGE_SIZE,
        }
        path: str | None = f"{base}/pulls"
        while path is not None:
            answer = http.get(path, params)
            rows = _rows(answer.data, answer.page)
            page: list[TrackerItem] = []
            older = False
            for row in rows:
                item = self._pull(row, answer.page)
                if since is not None and item.updated < since:
                    older = True
                    break
                page.append(item)
            yield page
            if older:
                return
            path, params = link_next(answer.headers), None

    def _issues(
        self, http: HttpClient, base: str, since: dt.datetime | None
    ) -> Iterator[list[TrackerItem]]:
        params: dict[str, Any] = {
            "state": "all",
            "sort": "updated",
            "direction": "asc",
            "per_page": PAGE_SIZE,
        }
        if since is not None:
            params["since"] = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        path: str | None = f"{base}/issues"
        query: Mapping[str, Any] | None = params
        while path is not None:
            answer = http.get(path, query)
            rows = _rows(answer.data, answer.page)
            # the issues list also returns pull requests; they are read from /pulls
            yield [self._issue(r, answer.page) for r in rows if "pull_request" not in r]
            path, query = link_next(answer.headers), None

    def _common(self, row: Mapping[str, Any], page: str) -> dict[str, Any]:
        number = row.get("number")
        if not isinstance(number, int):
            raise TrackerMalformedResponse(f"an item has number {number!r}", page)
        milestone = row.get("milestone")
        labels = row.get("labels") or []
        return {
            "key": f"{self.repo}#{number}",
            "title": str(row.get("title") or ""),
            "created": parse_tracker_time(f"#{number} created_at", row.get("created_at"), page),
            "updated": parse_tracker_time(f"#{number} updated_at", row.get("updated_at"), page),
            "parent_key": (
                f"{self.repo}/milestone/{milestone['number']}"
                if isinstance(milestone, dict) and "number" in milestone
                else None
            ),
            "labels": tuple(str(label.get("name")) for label in labels if isinstance(label, dict)),
        }

    def _pull(self, row: Any, page: str) -> TrackerItem:
        if not isinstance(row, dict):
            raise TrackerMalformedResponse("a pull request is not an object", page)
        common = self._common(row, page)
        merged_at = row.get("merged_at")
        if merged_at:
            status = "merged"
        elif row.get("state") == "closed":
            status = "closed unmerged"
        else:
            status = "draft" if row.get("draft") else "open"
        return self._item(common, "pull request", status, merged_at or row.get("closed_at"), page)

    def _issue(self, row: Any, page: str) -> TrackerItem:
        if not isinstance(row, dict):
            raise TrackerMalformedResponse("an issue is not an object", page)
        common = self._common(row, page)
        if row.get("state") == "closed":
            status = "not planned" if row.get("state_reason") == "not_planned" else "closed"
        else:
            status = "open issue"
        kind = row.get("type")
        item_type = (
            str(kind.get("name")) if isinstance(kind, dict) and kind.get("name") else "issue"
        )
        return self._item(common, item_type, status, row.get("closed_at"), page)

    def _item(
        self, common: dict[str, Any], item_type: str, status: str, closed: Any, page: str
    ) -> TrackerItem:
        """GitHub keeps no status history on the list endpoints: an item opened is started when
        its state says so (a pull request is work in progress from the moment it is opened),
        and done when it was merged / closed as completed."""
        assert self.workflow is not None
        category = self.workflow.category(status)
        started = common["created"] if category in (STARTED, DONE) else None
        done = None
        if category == DONE:
            done = parse_tracker_time(f"{common['key']} closed", closed, page) if closed else None
            done = done or common["updated"]
        return TrackerItem(item_type=item_type, status=status, started=started, done=done, **common)


def _rows(data: Any, page: str) -> list[Any]:
    if not isinstance(data, list):
        raise TrackerMalformedResponse("expected a JSON list of items", page)
    return data


def from_settings(
    settings: Mapping[str, Any], workflow: WorkflowMap, **options: Any
) -> GitHubConnector:
    """The connector a saved source describes; the token comes from GITHUB_TOKEN (optional)."""
    environ = options.pop("environ", None)
    token = read_secret(TOKEN_VARIABLE, environ=environ, required=False)
    return GitHubConnector(
        repo=settings.get("repo"),  # type: ignore[arg-type]
        api_url=settings.get("api_url") or DEFAULT_API_URL,
        items=settings.get("items") or "pulls",
        workflow=workflow,
        token=token,
        **options,
    )


def settings_for(repo: str, api_url: str | None = None, items: str = "pulls") -> dict[str, Any]:
    """What a GitHub source stores: never a token."""
    return {
        "repo": check_repo(repo),
        "api_url": check_base_url("api_url", api_url or DEFAULT_API_URL),
        "items": choice("items", items, ITEMS),
    }
