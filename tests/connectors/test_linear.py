"""The Linear connector against a local server answering like Linear's GraphQL API."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest

from flowray.connectors.base import (
    TrackerAuthError,
    TrackerMalformedResponse,
    TrackerRateLimited,
    TrackerUnavailable,
)
from flowray.connectors.http import Secret
from flowray.connectors.linear import (
    LinearConnector,
    TrackerGraphQLError,
    default_workflow,
    settings_for,
)
from flowray.exceptions import InputError

from .conftest import Reply
from .payloads import LINEAR_PATH, linear_history, linear_issue, linear_page, serve_linear

KEY = "lin_api_8Hq2ZpXw4NotShownAnywhere91"
UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def connector(tracker, sleeps, **kwargs) -> LinearConnector:
    return LinearConnector(
        "eng",
        api_url=tracker.url + LINEAR_PATH,
        token=Secret(KEY, "LINEAR_API_KEY"),
        sleep=sleeps.append,
        **kwargs,
    )


def team_pages() -> list[list[dict]]:
    return [
        [
            linear_issue(
                "ENG-1",
                state="Done",
                created="2025-03-01 09:00",
                updated="2025-03-06 10:00",
                started="2025-03-03 09:00",
                completed="2025-03-06 10:00",
                parent="ENG-100",
                cycle=12,
                labels=("api",),
            ),
            # completed once, re-opened: Linear's state says started again
            linear_issue(
                "ENG-2",
                state="In Progress",
                created="2025-03-01 09:00",
                updated="2025-03-09 10:00",
                started="2025-03-02 09:00",
                project="Checkout",
            ),
        ],
        [
            linear_issue(
                "ENG-3",
                state="Canceled",
                created="2025-03-01 09:00",
                updated="2025-03-05 09:00",
                started="2025-03-02 09:00",
                canceled="2025-03-05 09:00",
            ),
            linear_issue(
                "ENG-4", state="Backlog", created="2025-03-01 09:00", updated="2025-03-01 09:00"
            ),
        ],
    ]


def test_issues_of_a_team_by_cursor_with_their_dates_parent_project_and_cycle(tracker, no_sleep):
    serve_linear(tracker, team_pages())
    pages = list(connector(tracker, no_sleep).fetch(None))
    assert [len(p) for p in pages] == [2, 2]
    items = {i.key: i for p in pages for i in p}
    one = items["ENG-1"]
    assert (one.started, one.done) == (at("2025-03-03 09:00"), at("2025-03-06 10:00"))
    assert one.parent_key == "ENG-100" and one.labels == ("api", "cycle:12")
    assert one.status == "Done" and one.title == "Issue ENG-1"
    reopened = items["ENG-2"]
    assert reopened.done is None and reopened.started == at("2025-03-02 09:00")
    assert reopened.parent_key == "project:proj-checkout"  # no parent: the project is the feature
    assert (items["ENG-3"].started, items["ENG-3"].done) == (None, None)  # canceled
    assert (items["ENG-4"].started, items["ENG-4"].done) == (None, None)

    calls = tracker.calls(LINEAR_PATH)
    assert len(calls) == 2  # no history needed: Linear's own timestamps suffice
    first, second = (c.body["variables"] for c in calls)
    assert first["after"] is None and second["after"] == "cursor-1"
    assert first["filter"] == {"team": {"key": {"eq": "ENG"}}}
    assert calls[0].headers["authorization"] == KEY  # a personal key: no "Bearer"


def test_an_incremental_sync_filters_on_updated_at(tracker, no_sleep):
    serve_linear(tracker, [[]])
    assert list(
        connector(tracker, no_sleep).fetch(dt.datetime(2025, 3, 10, 8, 30, tzinfo=UTC))
    ) == [[]]
    variables = tracker.calls(LINEAR_PATH)[0].body["variables"]
    assert variables["filter"]["updatedAt"] == {"gt": "2025-03-10T08:30:00.000Z"}
    assert "$filter: IssueFilter" in tracker.calls(LINEAR_PATH)[0].body["query"]


def test_a_workflow_that_names_states_reads_the_history_with_its_reopenings(tracker, no_sleep):
    issue = linear_issue(
        "ENG-7",
        state="In Review",
        created="2025-03-01 09:00",
        updated="2025-03-12 09:00",
        started="2025-03-02 09:00",
    )
    moves = [
        ("2025-03-02 09:00", "In Progress"),
        ("2025-03-04 09:00", "In Review"),
        ("2025-03-06 09:00", "In Progress"),
    ]
    serve_linear(
        tracker,
        [[issue]],
        histories={
            "uuid-eng-7": [
                linear_history(moves, cursor="h-1"),
                linear_history([("2025-03-12 09:00", "In Review")]),
            ]
        },
    )
    review_is_done = default_workflow().with_overrides({"done": ["In Review"]})
    [[item]] = list(connector(tracker, no_sleep, workflow=review_is_done).fetch(None))
    # in review twice: the last move into it is the done date
    assert (item.started, item.done) == (at("2025-03-02 09:00"), at("2025-03-12 09:00"))
    histories = [c for c in tracker.calls(LINEAR_PATH) if "FlowrayHistory" in c.body["query"]]
    assert [c.body["variables"]["after"] for c in histories] == [None, "h-1"]


def test_graphql_errors_in_a_200_are_named_with_linears_words_and_no_key(tracker, no_sleep, caplog):
    tracker.on(
        "POST",
        LINEAR_PATH,
        Reply(
            200,
            {
                "errors": [
                    {
                        "message": 'Cannot query field "startedAtt" on type "Issue".',
                        "locations": [{"line": 4, "column": 7}],
                        "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
                    }
                ]
            },
        ),
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TrackerGraphQLError, match='Cannot query field "startedAtt"') as caught:
        list(connector(tracker, no_sleep).fetch(None))
    assert "page 1" in str(caught.value)
    for text in (str(caught.value), *(r.getMessage() for r in caplog.records)):
        assert KEY not in text


def test_a_rate_limit_sent_as_400_waits_for_the_reset_then_reads(tracker, no_sleep):
    reset_ms = int((time.time() + 30) * 1000)
    limited = Reply(
        400,
        {
            "errors": [
                {
                    "message": "Rate limit exceeded",
                    "extensions": {"code": "RATELIMITED", "userPresentableMessage": "Slow down"},
                }
            ]
        },
        {"X-RateLimit-Requests-Remaining": "0", "X-RateLimit-Requests-Reset": str(reset_ms)},
    )
    tracker.on("POST", LINEAR_PATH, limited, Reply(200, linear_page(team_pages()[1], None)))
    items = [i for p in connector(tracker, no_sleep).fetch(None) for i in p]
    assert len(items) == 2
    [wait] = no_sleep
    assert 25 < wait <= 31


def test_a_429_with_retry_after_is_retried_and_a_far_reset_fails_at_once(tracker, no_sleep):
    tracker.on(
        "POST",
        LINEAR_PATH,
        Reply(429, {"errors": [{"message": "Too many requests"}]}, {"Retry-After": "3"}),
        Reply(200, linear_page([], None)),
    )
    assert list(connector(tracker, no_sleep).fetch(None)) == [[]]
    assert no_sleep == [3.0]
    far = str(int((time.time() + 3600) * 1000))
    tracker.on(
        "POST",
        LINEAR_PATH,
        Reply(
            400,
            {"errors": [{"message": "Rate limit exceeded", "extensions": {"code": "RATELIMITED"}}]},
            {"X-RateLimit-Requests-Reset": far},
        ),
    )
    with pytest.raises(TrackerRateLimited, match="RATELIMITED.*try later"):
        list(connector(tracker, no_sleep).fetch(None))


def test_a_refused_key_is_an_auth_error_without_the_key(tracker, no_sleep):
    tracker.on(
        "POST",
        LINEAR_PATH,
        Reply(
            400,
            {
                "errors": [
                    {
                        "message": f"Authentication required, not authenticated: {KEY}",
                        "extensions": {"code": "AUTHENTICATION_ERROR"},
                    }
                ]
            },
        ),
    )
    with pytest.raises(TrackerAuthError, match="API key was refused") as caught:
        list(connector(tracker, no_sleep).fetch(None))
    assert KEY not in str(caught.value)
    tracker.on("POST", LINEAR_PATH, Reply(401, {"message": "Unauthorized"}))
    with pytest.raises(TrackerAuthError, match="HTTP 401"):
        list(connector(tracker, no_sleep).fetch(None))


def test_a_500_on_page_two_names_it_and_malformed_answers_are_named(tracker, no_sleep):
    serve_linear(tracker, team_pages(), fail_page=2)
    with pytest.raises(TrackerUnavailable, match=r"HTTP 500 after 2 tries.*graphql \(page 2\)"):
        list(connector(tracker, no_sleep, max_tries=2).fetch(None))
    tracker.on("POST", LINEAR_PATH, Reply(200, raw=b'{"data": {"issues": '))
    with pytest.raises(TrackerMalformedResponse, match="not JSON"):
        list(connector(tracker, no_sleep).fetch(None))
    tracker.on("POST", LINEAR_PATH, Reply(200, {"data": {"issues": {"nodes": []}}}))
    with pytest.raises(TrackerMalformedResponse, match="no nodes or pageInfo"):
        list(connector(tracker, no_sleep).fetch(None))


def test_settings_are_checked_and_hold_no_secret():
    assert settings_for("eng") == {"team": "ENG", "api_url": "https://api.linear.app/graphql"}
    with pytest.raises(InputError, match="team: got 'ENG-1'; must be a Linear team key"):
        settings_for("ENG-1")
    with pytest.raises(InputError, match="api_url"):
        settings_for("ENG", "http://api.linear.app/graphql")


def test_a_ratelimited_answer_without_reset_headers_honours_retry_after(tracker, no_sleep):
    tracker.on(
        "POST",
        LINEAR_PATH,
        Reply(
            400,
            {"errors": [{"message": "Rate limit exceeded", "extensions": {"code": "RATELIMITED"}}]},
            {"Retry-After": "4"},
        ),
        Reply(200, linear_page([], None)),
    )
    assert list(connector(tracker, no_sleep).fetch(None)) == [[]]
    assert no_sleep == [4.0]
