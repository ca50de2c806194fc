"""Answers shaped like the documented APIs (GitHub REST v3, Jira Cloud v3, Jira Data Center v2).

Only the fields the connectors read are filled in, with the names, nesting and
value formats of the real answers (timestamps as each API writes them).
"""

from __future__ import annotations

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
