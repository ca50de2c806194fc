"""Answers shaped like the documented APIs (GitHub REST v3, Jira Cloud v3, Jira Data Center v2).

Only the fields the connectors read are filled in, with the names, nesting and
value formats of the real answers (timestamps as each API writes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REPO = "octo-org/octo-repo"


def gh_label(name: str) -> dict[str, Any]:
    return {"id": 208045946, "name": name, "color": "f29513", "default": False}


def gh_milestone(number: int, title: str) -> dict[str, Any]:
    return {"number": number, "title": title, "state": "open", "due_on": None}


def gh_pull(
    number: int,
    *,
    created: str,
    updated: str,
    merged: str | None = None,
    closed: str | None = None,
    state: str | None = None,
    draft: bool = False,
    labels: tuple[str, ...] = (),
    milestone: dict[str, Any] | None = None,
    base: str = "main",
) -> dict[str, Any]:
    return {
        "url": f"https://api.github.com/repos/{REPO}/pulls/{number}",
        "id": 1000 + number,
        "number": number,
        "state": state or ("closed" if (merged or closed) else "open"),
        "locked": False,
        "title": f"Pull request {number}",
        "user": {"login": "octocat", "id": 1},
        "labels": [gh_label(n) for n in labels],
        "milestone": milestone,
        "draft": draft,
        "created_at": created,
        "updated_at": updated,
        "closed_at": closed or merged,
        "merged_at": merged,
        "merge_commit_sha": "e5bd3914e2e596debea16f433f57875b5b90bcd6" if merged else None,
        "head": {"ref": f"feature-{number}", "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"},
        "base": {"ref": base, "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"},
    }


def gh_issue(
    number: int,
    *,
    created: str,
    updated: str,
    closed: str | None = None,
    state_reason: str | None = None,
    labels: tuple[str, ...] = (),
    milestone: dict[str, Any] | None = None,
    is_pull: bool = False,
) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "url": f"https://api.github.com/repos/{REPO}/issues/{number}",
        "id": 2000 + number,
        "number": number,
        "state": "closed" if closed else "open",
        "state_reason": state_reason or ("completed" if closed else None),
        "title": f"Issue {number}",
        "user": {"login": "octocat", "id": 1},
        "labels": [gh_label(n) for n in labels],
        "milestone": milestone,
        "comments": 0,
        "created_at": created,
        "updated_at": updated,
        "closed_at": closed,
    }
    if is_pull:
        issue["pull_request"] = {
            "url": f"https://api.github.com/repos/{REPO}/pulls/{number}",
            "merged_at": closed,
        }
    return issue


def gh_repo(default_branch: str = "main") -> dict[str, Any]:
    return {"id": 1296269, "full_name": REPO, "private": False, "default_branch": default_branch}


# -- Jira ---------------------------------------------------------------------------------------

JIRA_STATUSES = [
    {"id": "10000", "name": "To Do", "statusCategory": {"id": 2, "key": "new", "name": "To Do"}},
    {
        "id": "3",
        "name": "In Progress",
        "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"},
    },
    {
        "id": "10100",
        "name": "In Review",
        "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"},
    },
    {"id": "10001", "name": "Done", "statusCategory": {"id": 3, "key": "done", "name": "Done"}},
    {"id": "4", "name": "Reopened", "statusCategory": {"id": 2, "key": "new", "name": "To Do"}},
]
_IDS = {s["name"]: s["id"] for s in JIRA_STATUSES}
_CATEGORY = {s["name"]: s["statusCategory"] for s in JIRA_STATUSES}


def jira_time(text: str) -> str:
    """'2025-03-03 09:15' as Jira writes it: 2025-03-03T09:15:00.000+0000."""
    day, clock = text.split(" ")
    return f"{day}T{clock}:00.000+0000"


def jira_history(entry_id: int, when: str, old: str, new: str) -> dict[str, Any]:
    return {
        "id": str(entry_id),
        "author": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Mia Krystof"},
        "created": jira_time(when),
        "items": [
            {
                "field": "status",
                "fieldtype": "jira",
                "fieldId": "status",
                "from": _IDS[old],
                "fromString": old,
                "to": _IDS[new],
                "toString": new,
            }
        ],
    }


def jira_moves(moves: list[tuple[str, str]], start: str = "To Do") -> list[dict[str, Any]]:
    """Histories for a walk through statuses: [(when, new status), ...]."""
    out, current = [], start
    for i, (when, new) in enumerate(moves, start=1):
        out.append(jira_history(i, when, current, new))
        current = new
    return out


def jira_issue(
    key: str,
    *,
    status: str,
    created: str,
    updated: str,
    moves: list[tuple[str, str]] = (),  # type: ignore[assignment]
    resolved: str | None = None,
    parent: str | None = None,
    labels: tuple[str, ...] = (),
    issuetype: str = "Story",
    changelog_total: int | None = None,
    keep_histories: int | None = None,
    resolution: str | None = None,
) -> dict[str, Any]:
    histories = jira_moves(list(moves))
    shown = histories if keep_histories is None else histories[-keep_histories:]
    fields: dict[str, Any] = {
        "summary": f"Summary of {key}",
        "issuetype": {"id": "10001", "name": issuetype, "subtask": False},
        "status": {"id": _IDS[status], "name": status, "statusCategory": _CATEGORY[status]},
        "created": jira_time(created),
        "updated": jira_time(updated),
        "resolutiondate": jira_time(resolved) if resolved else None,
        # Jira's resolution object: {"self", "id", "description", "name"}; null while unresolved
        "resolution": (
            {"id": "10001", "name": resolution or "Done", "description": "Work has been completed."}
            if resolved
            else None
        ),
        "labels": list(labels),
        "parent": (
            {
                "id": "10400",
                "key": parent,
                "fields": {"summary": "Epic", "issuetype": {"name": "Epic"}},
            }
            if parent
            else None
        ),
    }
    return {
        "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
        "id": str(abs(hash(key)) % 100000),
        "self": f"https://your-domain.atlassian.net/rest/api/3/issue/{key}",
        "key": key,
        "fields": fields,
        "changelog": {
            "startAt": 0,
            "maxResults": len(shown),
            "total": changelog_total if changelog_total is not None else len(histories),
            "histories": shown,
        },
    }


# -- Azure DevOps (REST 7.1) --------------------------------------------------------------------

ADO_ORG = "/fabrikam"
ADO_PROJECT = "Fabrikam Fiber"
ADO_API = f"{ADO_ORG}/Fabrikam%20Fiber/_apis/wit"  # the project name, percent-encoded in the path
ADO_HOST = "https://dev.azure.com/fabrikam"

AGILE_STATES = {
    "count": 5,
    "value": [
        {"name": "New", "color": "b2b2b2", "category": "Proposed"},
        {"name": "Active", "color": "007acc", "category": "InProgress"},
        {"name": "Resolved", "color": "ff9d00", "category": "Resolved"},
        {"name": "Closed", "color": "339933", "category": "Completed"},
        {"name": "Removed", "color": "ffffff", "category": "Removed"},
    ],
}


def ado_time(text: str) -> str:
    """'2025-03-03 09:15' as Azure DevOps writes it: 2025-03-03T09:15:00.117Z."""
    day, clock = text.split(" ")
    return f"{day}T{clock}:00.117Z"


def ado_wiql(ids: list[int]) -> dict[str, Any]:
    return {
        "queryType": "flat",
        "queryResultType": "workItem",
        "asOf": "2025-03-20T10:00:00.45Z",
        "columns": [
            {
                "referenceName": "System.Id",
                "name": "ID",
                "url": f"{ADO_HOST}/_apis/wit/fields/System.Id",
            }
        ],
        "sortColumns": [
            {
                "field": {
                    "referenceName": "System.ChangedDate",
                    "name": "Changed Date",
                    "url": f"{ADO_HOST}/_apis/wit/fields/System.ChangedDate",
                },
                "descending": False,
            }
        ],
        "workItems": [{"id": i, "url": f"{ADO_HOST}/_apis/wit/workItems/{i}"} for i in ids],
    }


@dataclass
class AdoItem:
    """One work item: its batch answer and its revisions, from a walk through states."""

    ident: int
    created: str
    walk: list[tuple[str, str]]  # [(when, new state), ...] after "New" at `created`
    item_type: str = "User Story"
    parent: int | None = None
    parent_as_link: bool = False  # an old server: no System.Parent, a Hierarchy-Reverse link
    tags: tuple[str, ...] = ()
    extra_revisions: int = 0  # revisions that change other fields (a title edit, a comment)

    @property
    def state(self) -> str:
        return self.walk[-1][1] if self.walk else "New"

    @property
    def changed(self) -> str:
        return self.walk[-1][0] if self.walk else self.created

    def fields(self, rev: int, state: str, when: str) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "System.AreaPath": ADO_PROJECT,
            "System.TeamProject": ADO_PROJECT,
            "System.IterationPath": f"{ADO_PROJECT}\\Sprint 1",
            "System.WorkItemType": self.item_type,
            "System.State": state,
            "System.Reason": "New" if rev == 1 else "Moved",
            "System.CreatedDate": ado_time(self.created),
            "System.CreatedBy": {
                "displayName": "Jamal Hartnett",
                "uniqueName": "jamal@fabrikam.com",
            },
            "System.ChangedDate": ado_time(when),
            "System.Title": f"Work item {self.ident}",
        }
        if self.tags:
            fields["System.Tags"] = "; ".join(self.tags)
        if self.parent is not None and not self.parent_as_link:
            fields["System.Parent"] = self.parent
        if state == "Closed":
            fields["Microsoft.VSTS.Common.ClosedDate"] = ado_time(when)
        return fields

    def revisions(self) -> list[dict[str, Any]]:
        steps = [(self.created, "New")]
        steps.extend([(self.created, "New")] * self.extra_revisions)  # edits, same state
        steps.extend(self.walk)
        return [
            {
                "id": self.ident,
                "rev": rev,
                "fields": self.fields(rev, state, when),
                "url": f"{ADO_HOST}/_apis/wit/workItems/{self.ident}/revisions/{rev}",
            }
            for rev, (when, state) in enumerate(steps, start=1)
        ]

    def batch_row(self) -> dict[str, Any]:
        revisions = self.revisions()
        row: dict[str, Any] = {
            "id": self.ident,
            "rev": len(revisions),
            "fields": self.fields(len(revisions), self.state, self.changed),
            "url": f"{ADO_HOST}/_apis/wit/workItems/{self.ident}",
        }
        if self.parent is not None:
            row["relations"] = [
                {
                    "rel": "System.LinkTypes.Hierarchy-Reverse",
                    "url": f"{ADO_HOST}/_apis/wit/workItems/{self.parent}",
                    "attributes": {"isLocked": False, "name": "Parent"},
                }
            ]
        return row


def serve_ado(
    tracker: Any,
    items: list[AdoItem],
    *,
    fail_batch: int | None = None,
    states: Any = AGILE_STATES,
) -> None:
    """WIQL -> ids (oldest change first), workitemsbatch (<= 200 ids), revisions by $top/$skip."""
    from .conftest import Reply

    by_id = {i.ident: i for i in items}
    ordered = sorted(items, key=lambda i: (i.changed, i.ident))
    tracker.on("POST", f"{ADO_API}/wiql", Reply(200, ado_wiql([i.ident for i in ordered])))
    batches = []

    def batch(request: Any) -> Any:
        batches.append(request.body["ids"])
        if fail_batch is not None and len(batches) >= fail_batch:
            return Reply(500, {"message": "TF400898: An Internal Error Occurred."})
        rows = [by_id[i].batch_row() if i in by_id else None for i in request.body["ids"]]
        return Reply(200, {"count": len(rows), "value": rows})

    tracker.on("POST", f"{ADO_API}/workitemsbatch", batch)
    for item in items:

        def revisions(request: Any, item: AdoItem = item) -> Any:
            top = int(request.query["$top"][0])
            skip = int(request.query.get("$skip", ["0"])[0])
            values = item.revisions()[skip : skip + top]
            return Reply(200, {"count": len(values), "value": values})

        tracker.on("GET", f"{ADO_API}/workItems/{item.ident}/revisions", revisions)
    for kind in {i.item_type for i in items}:
        tracker.on(
            "GET",
            f"{ADO_API}/workitemtypes/{kind.replace(' ', '%20')}/states",
            Reply(200, states),
        )


# -- Linear (GraphQL) ---------------------------------------------------------------------------

LINEAR_PATH = "/graphql"


def linear_time(text: str) -> str:
    """'2025-03-03 09:15' as Linear writes it: 2025-03-03T09:15:00.000Z."""
    day, clock = text.split(" ")
    return f"{day}T{clock}:00.000Z"


STATE_TYPES = {
    "Triage": "triage",
    "Backlog": "backlog",
    "Todo": "unstarted",
    "In Progress": "started",
    "In Review": "started",
    "Done": "completed",
    "Canceled": "canceled",
}


def linear_issue(
    identifier: str,
    *,
    state: str,
    created: str,
    updated: str,
    started: str | None = None,
    completed: str | None = None,
    canceled: str | None = None,
    parent: str | None = None,
    project: str | None = None,
    cycle: int | None = None,
    labels: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "id": f"uuid-{identifier.lower()}",
        "identifier": identifier,
        "title": f"Issue {identifier}",
        "createdAt": linear_time(created),
        "updatedAt": linear_time(updated),
        "startedAt": linear_time(started) if started else None,
        "completedAt": linear_time(completed) if completed else None,
        "canceledAt": linear_time(canceled) if canceled else None,
        "state": {"name": state, "type": STATE_TYPES[state]},
        "parent": {"identifier": parent} if parent else None,
        "project": {"id": f"proj-{project.lower()}", "name": project} if project else None,
        "cycle": {"number": cycle} if cycle is not None else None,
        "labels": {"nodes": [{"name": n} for n in labels]},
    }


def linear_page(nodes: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
    return {
        "data": {
            "issues": {
                "pageInfo": {"hasNextPage": cursor is not None, "endCursor": cursor},
                "nodes": nodes,
            }
        }
    }


def linear_history(moves: list[tuple[str, str]], cursor: str | None = None) -> dict[str, Any]:
    """An issue's history page: [(when, to state), ...], with the state moves only."""
    return {
        "data": {
            "issue": {
                "history": {
                    "pageInfo": {"hasNextPage": cursor is not None, "endCursor": cursor},
                    "nodes": [
                        {
                            "createdAt": linear_time(when),
                            "toState": {"name": name, "type": STATE_TYPES[name]},
                        }
                        for when, name in moves
                    ],
                }
            }
        }
    }


def serve_linear(
    tracker: Any,
    pages: list[list[dict[str, Any]]],
    fail_page: int | None = None,
    histories: dict[str, list[dict[str, Any]]] | None = None,
) -> None:
    """Issues by cursor: page N is asked with after = "cursor-N-1"; `histories` maps an
    issue id to its history pages (page N asked with after = "h-N-1")."""
    from .conftest import Reply

    def graphql(request: Any) -> Any:
        if "FlowrayHistory" in request.body["query"]:
            after = request.body["variables"].get("after")
            number = 1 if after is None else int(after.split("-")[1]) + 1
            return Reply(200, (histories or {})[request.body["variables"]["id"]][number - 1])
        after = request.body["variables"].get("after")
        number = 1 if after is None else int(after.split("-")[1]) + 1
        if number == fail_page:
            return Reply(500, {"errors": [{"message": "Internal server error"}]})
        cursor = f"cursor-{number}" if number < len(pages) else None
        return Reply(200, linear_page(pages[number - 1], cursor))

    tracker.on("POST", LINEAR_PATH, graphql)
