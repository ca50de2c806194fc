"""The Jira connector against a local server answering like Cloud v3 and Data Center v2."""

from __future__ import annotations

import base64
import datetime as dt
import logging

import pytest

from flowray.connectors.base import TrackerBadQuery, TrackerMalformedResponse, TrackerUnavailable
from flowray.connectors.http import Secret
from flowray.connectors.jira import JiraConnector, default_workflow, incremental_jql, settings_for
from flowray.exceptions import InputError

from .conftest import Reply
from .payloads import JIRA_STATUSES, jira_issue, jira_moves

TOKEN = "ATATT3xFfGF0T4l2s9Q8kZ1cY7pZ"
EMAIL = "mia@example.com"
UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def cloud_issues() -> tuple[list, list]:
    page1 = [
        jira_issue(
            "FLOW-1",
            status="Done",
            created="2025-03-01 09:00",
            updated="2025-03-06 10:00",
            moves=[("2025-03-03 09:00", "In Progress"), ("2025-03-06 10:00", "Done")],
            resolved="2025-03-06 10:00",
            parent="FLOW-100",
            labels=("api",),
        ),
        # done, re-opened, back in progress: not done any more
        jira_issue(
            "FLOW-2",
            status="In Progress",
            created="2025-03-01 09:00",
            updated="2025-03-09 10:00",
            moves=[
                ("2025-03-02 09:00", "In Progress"),
                ("2025-03-04 09:00", "Done"),
                ("2025-03-08 09:00", "Reopened"),
                ("2025-03-09 10:00", "In Progress"),
            ],
        ),
    ]
    page2 = [
        # a long history: the search shows the last 2 entries, the changelog endpoint the rest
        jira_issue(
            "FLOW-3",
            status="Done",
            created="2025-03-01 09:00",
            updated="2025-03-12 10:00",
            moves=[
                ("2025-03-02 09:00", "In Progress"),
                ("2025-03-05 09:00", "In Review"),
                ("2025-03-07 09:00", "In Progress"),
                ("2025-03-12 10:00", "Done"),
            ],
            resolved="2025-03-12 10:00",
            keep_histories=2,
            issuetype="Bug",
        ),
    ]
    return page1, page2


def serve_cloud(tracker, fail_page2: bool = False) -> None:
    page1, page2 = cloud_issues()
    tracker.on("GET", "/rest/api/3/status", Reply(200, JIRA_STATUSES))

    def search(request):
        if request.body.get("nextPageToken") == "CAEaAggD":
            if fail_page2:
                return Reply(500, {"errorMessages": ["Internal server error"]})
            return Reply(
                200, {"issues": page2, "isLast": True}
            )  # no nextPageToken on the last page
        return Reply(200, {"issues": page1, "nextPageToken": "CAEaAggD", "isLast": False})

    tracker.on("POST", "/rest/api/3/search/jql", search)
    full = jira_moves(
        [
            ("2025-03-02 09:00", "In Progress"),
            ("2025-03-05 09:00", "In Review"),
            ("2025-03-07 09:00", "In Progress"),
            ("2025-03-12 10:00", "Done"),
        ]
    )

    def changelog(request):
        start = int(request.query["startAt"][0])
        values = full[start : start + 3]
        return Reply(
            200,
            {
                "self": "x",
                "maxResults": 3,
                "startAt": start,
                "total": len(full),
                "isLast": start + 3 >= len(full),
                "values": values,
            },
        )

    tracker.on("GET", "/rest/api/3/issue/FLOW-3/changelog", changelog)


def cloud(tracker, sleeps, **kwargs) -> JiraConnector:
    return JiraConnector(
        tracker.url,
        "project = FLOW ORDER BY rank",
        flavor="cloud",
        token=Secret(TOKEN, "JIRA_API_TOKEN"),
        email=EMAIL,
        sleep=sleeps.append,
        **kwargs,
    )


def test_cloud_search_follows_next_page_tokens_and_reads_status_history(tracker, no_sleep):
    serve_cloud(tracker)
    pages = list(cloud(tracker, no_sleep).fetch(None))
    assert [len(p) for p in pages] == [2, 1]
    items = {i.key: i for p in pages for i in p}
    one = items["FLOW-1"]
    assert (one.started, one.done) == (at("2025-03-03 09:00"), at("2025-03-06 10:00"))
    assert (
        one.parent_key == "FLOW-100" and one.labels == ("api",) and one.title == "Summary of FLOW-1"
    )
    reopened = items["FLOW-2"]
    assert reopened.done is None and reopened.started == at("2025-03-02 09:00")
    long = items["FLOW-3"]
    assert long.started == at("2025-03-02 09:00")  # only the full changelog knows this
    assert long.done == at("2025-03-12 10:00") and long.item_type == "Bug"
    searches = tracker.calls("/rest/api/3/search/jql")
    assert searches[0].body["expand"] == "changelog" and "nextPageToken" not in searches[0].body
    assert searches[0].body["jql"] == "project = FLOW ORDER BY updated ASC"
    assert searches[1].body["nextPageToken"] == "CAEaAggD"
    expected = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    assert searches[0].headers["authorization"] == expected
    assert len(tracker.calls("/rest/api/3/issue/FLOW-3/changelog")) == 2


def test_a_500_on_the_second_search_page_names_that_page(tracker, no_sleep):
    serve_cloud(tracker, fail_page2=True)
    with pytest.raises(TrackerUnavailable, match=r"HTTP 500 after 2 tries.*search/jql \(page 2\)"):
        list(cloud(tracker, no_sleep, max_tries=2).fetch(None))


def test_a_jql_typo_is_a_bad_query_in_jiras_own_words(tracker, no_sleep, caplog):
    tracker.on("GET", "/rest/api/3/status", Reply(200, JIRA_STATUSES))
    tracker.on(
        "POST",
        "/rest/api/3/search/jql",
        Reply(
            400,
            {
                "errorMessages": [
                    "Field 'sttaus' does not exist or you do not have permission to view it."
                ],
                "warningMessages": [],
            },
        ),
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TrackerBadQuery, match="Field 'sttaus' does not exist") as caught:
        list(cloud(tracker, no_sleep).fetch(None))
    assert TOKEN not in str(caught.value) and EMAIL not in str(caught.value)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_malformed_search_answers_are_named(tracker, no_sleep):
    tracker.on("GET", "/rest/api/3/status", Reply(200, JIRA_STATUSES))
    tracker.on("POST", "/rest/api/3/search/jql", Reply(200, {"values": []}))
    with pytest.raises(TrackerMalformedResponse, match="no issues list"):
        list(cloud(tracker, no_sleep).fetch(None))


def test_data_center_pages_by_offset_with_a_bearer_token(tracker, no_sleep):
    page1, page2 = cloud_issues()
    full = jira_moves(
        [
            ("2025-03-02 09:00", "In Progress"),
            ("2025-03-05 09:00", "In Review"),
            ("2025-03-07 09:00", "In Progress"),
            ("2025-03-12 10:00", "Done"),
        ]
    )
    # Data Center has no changelog endpoint: the issue itself, expanded, carries all of it
    tracker.on(
        "GET",
        "/rest/api/2/issue/FLOW-3",
        Reply(
            200,
            {
                "key": "FLOW-3",
                "fields": {},
                "changelog": {"startAt": 0, "maxResults": 4, "total": 4, "histories": full},
            },
        ),
    )
    tracker.on("GET", "/rest/api/2/status", Reply(200, JIRA_STATUSES))

    def search(request):
        start = int(request.query["startAt"][0])
        issues = page1 if start == 0 else page2
        return Reply(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": 2,
                "total": 3,
                "issues": issues,
            },
        )

    tracker.on("GET", "/rest/api/2/search", search)
    connector = JiraConnector(
        tracker.url, "project = FLOW", token=Secret(TOKEN, "JIRA_API_TOKEN"), sleep=no_sleep.append
    )
    assert connector.flavor == "datacenter"
    items = [i for p in connector.fetch(dt.datetime(2025, 3, 5, 12, tzinfo=UTC)) for i in p]
    assert [i.key for i in items] == ["FLOW-1", "FLOW-2", "FLOW-3"]
    calls = tracker.calls("/rest/api/2/search")
    assert [c.query["startAt"] for c in calls] == [["0"], ["2"]]
    assert calls[0].query["jql"] == [
        '(project = FLOW) AND updated >= "2025-03-04 12:00" ORDER BY updated ASC'
    ]
    assert calls[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert items[2].started == at("2025-03-02 09:00")


def test_a_status_moved_by_the_workflow_map_changes_the_dates(tracker, no_sleep):
    serve_cloud(tracker)
    review_is_done = default_workflow().with_overrides({"done": ["In Review"]})
    items = {
        i.key: i for p in cloud(tracker, no_sleep, workflow=review_is_done).fetch(None) for i in p
    }
    # FLOW-3 is Done now; its last move into a done state is still the final one
    assert items["FLOW-3"].done == at("2025-03-12 10:00")


def test_incremental_jql_drops_the_users_order_and_reaches_back_a_day():
    since = dt.datetime(2025, 3, 10, 8, 30, tzinfo=UTC)
    assert incremental_jql("project = X order by Rank", since) == (
        '(project = X) AND updated >= "2025-03-09 08:30" ORDER BY updated ASC'
    )


def test_jira_settings_hold_no_secret_and_check_their_inputs():
    settings = settings_for("https://acme.atlassian.net", "project = FLOW")
    assert settings == {
        "url": "https://acme.atlassian.net",
        "jql": "project = FLOW",
        "flavor": "cloud",
    }
    with pytest.raises(InputError, match="jql: got ''; must not be empty"):
        settings_for("https://acme.atlassian.net", "  ")
    with pytest.raises(InputError, match="epic_field"):
        settings_for("https://jira.acme.com", "project = X", epic_field="Epic Link")


def test_an_issue_resolved_wont_do_is_closed_but_never_delivered(tracker, no_sleep):
    moves = [("2025-03-03 09:00", "In Progress"), ("2025-03-06 10:00", "Done")]
    issues = [
        jira_issue(
            key,
            status="Done",
            created="2025-03-01 09:00",
            updated="2025-03-06 10:00",
            moves=moves,
            resolved="2025-03-06 10:00",
            resolution=resolution,
        )
        for key, resolution in (("FLOW-7", "Done"), ("FLOW-8", "Won't Do"), ("FLOW-9", "Duplicate"))
    ]
    tracker.on("GET", "/rest/api/3/status", Reply(200, JIRA_STATUSES))
    tracker.on("POST", "/rest/api/3/search/jql", Reply(200, {"issues": issues, "isLast": True}))
    items = {i.key: i for page in cloud(tracker, no_sleep).fetch(None) for i in page}
    assert items["FLOW-7"].done == at("2025-03-06 10:00")
    assert items["FLOW-8"].done is None and items["FLOW-9"].done is None  # as `import items`
    assert items["FLOW-8"].started == at("2025-03-03 09:00")


def test_a_connector_built_from_settings_shows_no_secret():
    from flowray.connectors.jira import from_settings

    settings = settings_for("https://acme.atlassian.net", "project = FLOW")
    built = from_settings(
        settings, default_workflow(), environ={"JIRA_API_TOKEN": TOKEN, "JIRA_EMAIL": EMAIL}
    )
    assert built.email == EMAIL and built.token is not None
    for text in (built.description, repr(built)):
        assert TOKEN not in text
    assert EMAIL not in built.description and EMAIL not in repr(built)
    with pytest.raises(InputError, match="JIRA_API_TOKEN: got None; must be set"):
        from_settings(settings, default_workflow(), environ={})
