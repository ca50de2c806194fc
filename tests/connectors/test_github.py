"""The GitHub connector against a local server answering like REST v3."""

from __future__ import annotations

import datetime as dt

import pytest

from flowray.connectors.base import TrackerAuthError, TrackerUnavailable
from flowray.connectors.github import GitHubConnector, from_settings, settings_for
from flowray.connectors.http import Secret
from flowray.exceptions import InputError

from .conftest import Reply
from .payloads import REPO, gh_issue, gh_milestone, gh_pull, gh_repo

TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
PULLS = f"/repos/{REPO}/pulls"
ISSUES = f"/repos/{REPO}/issues"


def connector(tracker, sleeps, **kwargs) -> GitHubConnector:
    return GitHubConnector(
        REPO,
        api_url=tracker.url,
        token=Secret(TOKEN, "GITHUB_TOKEN"),
        sleep=sleeps.append,
        **kwargs,
    )


def serve_pulls(tracker) -> None:
    tracker.on("GET", f"/repos/{REPO}", Reply(200, gh_repo()))
    page1 = [
        gh_pull(
            7,
            created="2025-03-05T10:00:00Z",
            updated="2025-03-12T08:00:00Z",
            merged="2025-03-12T08:00:00Z",
            labels=("bug",),
            milestone=gh_milestone(3, "v1.2"),
        ),
        gh_pull(6, created="2025-03-04T10:00:00Z", updated="2025-03-11T08:00:00Z", draft=True),
    ]
    page2 = [
        gh_pull(
            5,
            created="2025-03-01T10:00:00Z",
            updated="2025-03-10T08:00:00Z",
            closed="2025-03-10T08:00:00Z",
        ),
        gh_pull(
            4,
            created="2025-02-20T10:00:00Z",
            updated="2025-03-03T23:30:00Z",
            merged="2025-03-03T23:30:00Z",
        ),
    ]

    def pulls(request):
        if request.query.get("page") == ["2"]:
            return Reply(200, page2, {"Link": f'<{{url}}{PULLS}?page=1>; rel="prev"'})
        return Reply(
            200,
            page1,
            {"Link": f'<{{url}}{PULLS}?page=2>; rel="next", <{{url}}{PULLS}?page=2>; rel="last"'},
        )

    tracker.on("GET", PULLS, pulls)


def test_merged_pull_requests_into_the_default_branch_are_done(tracker, no_sleep):
    serve_pulls(tracker)
    pages = list(connector(tracker, no_sleep).fetch(None))
    assert [len(p) for p in pages] == [2, 2]
    items = {i.key: i for p in pages for i in p}
    merged = items[f"{REPO}#7"]
    assert merged.done == dt.datetime(2025, 3, 12, 8, tzinfo=dt.UTC)
    assert merged.started == dt.datetime(2025, 3, 5, 10, tzinfo=dt.UTC)
    assert merged.labels == ("bug",) and merged.parent_key == f"{REPO}/milestone/3"
    assert merged.item_type == "pull request" and merged.status == "merged"
    assert items[f"{REPO}#6"].done is None and items[f"{REPO}#6"].started is not None  # a draft
    assert items[f"{REPO}#5"].done is None and items[f"{REPO}#5"].status == "closed unmerged"
    first = tracker.calls(PULLS)[0]
    assert first.query["base"] == ["main"] and first.query["sort"] == ["updated"]
    assert first.headers["authorization"] == f"Bearer {TOKEN}"


def test_an_incremental_read_stops_at_the_first_pull_updated_before_since(tracker, no_sleep):
    serve_pulls(tracker)
    since = dt.datetime(2025, 3, 11, 12, tzinfo=dt.UTC)
    pages = list(connector(tracker, no_sleep).fetch(since))
    assert [i.key for p in pages for i in p] == [f"{REPO}#7"]
    assert len(tracker.calls(PULLS)) == 1  # page 2 is never asked for


def test_issues_closed_as_completed_are_done_and_reopened_or_not_planned_are_not(tracker, no_sleep):
    tracker.on("GET", f"/repos/{REPO}", Reply(200, gh_repo("trunk")))
    tracker.on(
        "GET",
        ISSUES,
        Reply(
            200,
            [
                gh_issue(
                    10,
                    created="2025-03-01T09:00:00Z",
                    updated="2025-03-06T09:00:00Z",
                    closed="2025-03-06T09:00:00Z",
                    milestone=gh_milestone(2, "Search"),
                ),
                gh_issue(
                    11,
                    created="2025-03-01T09:00:00Z",
                    updated="2025-03-07T09:00:00Z",
                    closed="2025-03-07T09:00:00Z",
                    state_reason="not_planned",
                ),
                # closed, then re-opened: GitHub clears closed_at and the state is open again
                gh_issue(
                    12,
                    created="2025-03-01T09:00:00Z",
                    updated="2025-03-08T09:00:00Z",
                    state_reason="reopened",
                ),
                gh_issue(
                    13,
                    created="2025-03-01T09:00:00Z",
                    updated="2025-03-08T09:00:00Z",
                    closed="2025-03-08T09:00:00Z",
                    is_pull=True,
                ),
            ],
        ),
    )
    since = dt.datetime(2025, 3, 2, tzinfo=dt.UTC)
    items = {i.key: i for p in connector(tracker, no_sleep, items="issues").fetch(since) for i in p}
    assert set(items) == {f"{REPO}#10", f"{REPO}#11", f"{REPO}#12"}  # #13 is a pull request
    assert items[f"{REPO}#10"].done_on == dt.date(2025, 3, 6)
    assert items[f"{REPO}#10"].parent_key == f"{REPO}/milestone/2"
    assert items[f"{REPO}#11"].done is None and items[f"{REPO}#12"].done is None
    assert tracker.calls(ISSUES)[0].query["since"] == ["2025-03-02T00:00:00Z"]


def test_a_500_in_the_middle_of_the_pages_names_the_page(tracker, no_sleep):
    serve_pulls(tracker)

    def pulls(request):
        if request.query.get("page") == ["2"]:
            return Reply(500, {"message": "Server Error"})
        return Reply(
            200,
            [gh_pull(9, created="2025-03-01T00:00:00Z", updated="2025-03-02T00:00:00Z")],
            {"Link": f'<{{url}}{PULLS}?page=2>; rel="next"'},
        )

    tracker.on("GET", PULLS, pulls)
    pages = connector(tracker, no_sleep, max_tries=3).fetch(None)
    assert len(next(pages)) == 1
    with pytest.raises(
        TrackerUnavailable, match=r"HTTP 500 after 3 tries.*pulls\?page=2"
    ) as caught:
        next(pages)
    assert TOKEN not in str(caught.value)


def test_an_expired_token_is_a_named_error_without_the_token(tracker, no_sleep):
    tracker.on("GET", f"/repos/{REPO}", Reply(401, {"message": "Bad credentials", "status": "401"}))
    with pytest.raises(TrackerAuthError, match="token was refused") as caught:
        list(connector(tracker, no_sleep).fetch(None))
    assert TOKEN not in str(caught.value)


def test_settings_hold_no_token_and_rebuild_the_connector(tracker):
    settings = settings_for(REPO, tracker.url, "both")
    assert TOKEN not in repr(settings)
    built = from_settings(
        settings,
        __import__("flowray.connectors.github", fromlist=["x"]).default_workflow(),
        environ={"GITHUB_TOKEN": TOKEN},
    )
    assert built.repo == REPO and built.token is not None and TOKEN not in built.description
    with pytest.raises(InputError, match="repo: got 'not a repo'"):
        settings_for("not a repo")
    with pytest.raises(InputError, match="api_url.*must use https"):
        settings_for(REPO, "http://github.example.com/api/v3")
