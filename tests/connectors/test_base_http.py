"""The common interface: workflow maps, secrets, URLs and the HTTP client's retries and errors."""

from __future__ import annotations

import datetime as dt
import logging
import os

import pytest

from flowray.connectors.base import (
    DONE,
    STARTED,
    TODO,
    TrackerAuthError,
    TrackerBadQuery,
    TrackerMalformedResponse,
    TrackerNotFound,
    TrackerRateLimited,
    TrackerUnavailable,
    Transition,
    WorkflowMap,
    workflow_from_toml,
)
from flowray.connectors.http import (
    HttpClient,
    Secret,
    check_base_url,
    link_next,
    parse_retry_after,
    read_secret,
    redact_url,
)
from flowray.exceptions import InputError

from .conftest import Reply

TOKEN = "ghp_SECRETtoken1234567890"
UTC = dt.UTC


def at(day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, tzinfo=UTC)


JIRA_LIKE = WorkflowMap(
    "jira",
    states={"in review": STARTED},
    categories={"new": TODO, "indeterminate": STARTED, "done": DONE},
)


def test_the_state_name_wins_over_the_category_and_unknown_states_fall_to_the_default():
    workflow = JIRA_LIKE.with_overrides({"done": ["Released"], "todo": ["Parked"]})
    assert workflow.category("Released", "indeterminate") == DONE
    assert workflow.category("PARKED", "indeterminate") == TODO
    assert workflow.category("In Progress", "indeterminate") == STARTED
    assert workflow.category("Something new") == TODO


def test_started_is_the_first_move_out_of_todo_and_done_the_last_move_into_done():
    history = [
        Transition(at(3), "In Progress", "indeterminate"),
        Transition(at(4), "Done", "done"),
        Transition(at(5), "In Progress", "indeterminate"),
        Transition(at(7), "Done", "done"),
    ]
    started, done = JIRA_LIKE.dates("Done", history, status_category="done")
    assert (started, done) == (at(3), at(7))


def test_a_reopened_item_is_not_done():
    history = [Transition(at(3), "In Progress"), Transition(at(4), "Done")]
    workflow = WorkflowMap("x", states={"in progress": STARTED, "done": DONE, "reopened": TODO})
    started, done = workflow.dates("Reopened", [*history, Transition(at(6), "Reopened")])
    assert started == at(3) and done is None


def test_a_done_item_without_a_done_transition_uses_its_resolution_date():
    started, done = JIRA_LIKE.dates("Done", [], status_category="done", resolved=at(9))
    assert started is None and done == at(9)


def test_the_toml_override_prefers_the_table_of_its_source(tmp_path):
    path = tmp_path / "workflow.toml"
    path.write_text(
        '[workflow]\nstarted = ["Doing"]\n\n[workflow.jira]\nstarted = ["In QA"]\ndone = ["Shipped"]\n'
    )
    jira = workflow_from_toml(path, JIRA_LIKE)
    assert jira.category("In QA") == STARTED and jira.category("Shipped") == DONE
    assert jira.category("Doing") == TODO  # the generic table is not used when jira has its own
    other = workflow_from_toml(path, WorkflowMap("github"))
    assert other.category("doing") == STARTED
    assert jira.overrides(JIRA_LIKE) == {"done": ["shipped"], "started": ["in qa"]}


def test_a_state_listed_twice_or_an_unknown_category_is_refused_by_name(tmp_path):
    with pytest.raises(InputError, match="workflow.done.*already listed under started"):
        JIRA_LIKE.with_overrides({"started": ["QA"], "done": ["qa"]})
    with pytest.raises(InputError, match="workflow: got 'shipped'"):
        JIRA_LIKE.with_overrides({"shipped": ["Done"]})
    bad = tmp_path / "bad.toml"
    bad.write_text("[workflow\n")
    with pytest.raises(InputError, match="workflow_file.*not valid TOML"):
        workflow_from_toml(bad, JIRA_LIKE)


def test_secrets_come_from_the_environment_or_an_owner_only_file(tmp_path):
    assert read_secret("T", environ={"T": TOKEN}).reveal() == TOKEN
    assert TOKEN not in repr(read_secret("T", environ={"T": TOKEN}))
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    os.chmod(path, 0o644)
    with pytest.raises(InputError, match="T_FILE.*owner only") as caught:
        read_secret("T", environ={"T_FILE": str(path)})
    assert TOKEN not in str(caught.value)
    os.chmod(path, 0o600)
    assert read_secret("T", environ={"T_FILE": str(path)}).reveal() == TOKEN
    with pytest.raises(InputError, match="T: got None; must be set"):
        read_secret("T", environ={})
    assert read_secret("T", environ={}, required=False) is None


@pytest.mark.parametrize(
    "url, rule",
    [
        ("http://jira.example.com", "must use https"),
        ("ftp://jira.example.com", "must be a URL"),
        ("https://me:pw@jira.example.com", "must not hold credentials"),
        ("https://jira.example.com?token=abc", "no query"),
    ],
)
def test_base_urls_are_https_without_credentials(url, rule):
    with pytest.raises(InputError, match=rule) as caught:
        check_base_url("url", url)
    assert "pw@" not in str(caught.value) and "abc" not in str(caught.value)


def test_plain_http_is_allowed_on_this_machine_only():
    assert check_base_url("url", "http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert check_base_url("url", "http://localhost/jira") == "http://localhost/jira"


def test_page_names_drop_secret_query_values_and_user_info():
    shown = redact_url("https://u:p@x.test/a?access_token=abc&page=2&jql=project%3DX")
    assert "abc" not in shown and "u:p" not in shown
    assert "page=2" in shown and "access_token=***" in shown


def test_retry_after_reads_seconds_and_http_dates():
    now = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon") is None


def test_link_headers_give_the_next_page():
    header = '<https://x/repos/a/b/pulls?page=2>; rel="next", <https://x/repos/a/b/pulls?page=9>; rel="last"'
    assert link_next({"link": header}) == "https://x/repos/a/b/pulls?page=2"
    assert link_next({"link": '<https://x/p?page=1>; rel="prev"'}) is None


def client(tracker, sleeps, **kwargs) -> HttpClient:
    secret = Secret(TOKEN, "GITHUB_TOKEN")
    return HttpClient(
        tracker.url, auth=lambda: f"Bearer {secret.reveal()}", sleep=sleeps.append, **kwargs
    )


def test_429_is_retried_after_the_time_the_server_asks_for(tracker, no_sleep):
    tracker.on("GET", "/items", Reply(429, {}, {"Retry-After": "7"}), Reply(200, {"ok": True}))
    with client(tracker, no_sleep) as http:
        assert http.get("/items").data == {"ok": True}
    assert no_sleep == [7.0]
    assert tracker.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_5xx_backs_off_exponentially_then_fails_by_name(tracker, no_sleep):
    tracker.on("GET", "/items", Reply(503, {"message": "down"}))
    with client(tracker, no_sleep, max_tries=4, backoff=0.5) as http:
        with pytest.raises(TrackerUnavailable, match=r"HTTP 503 after 4 tries.*page: http://127"):
            http.get("/items", {"page": 3})
    assert no_sleep == [0.5, 1.0, 2.0]
    assert len(tracker.requests) == 4


def test_a_retry_after_longer_than_the_bound_fails_at_once(tracker, no_sleep):
    tracker.on("GET", "/items", Reply(429, {}, {"Retry-After": "3600"}))
    with client(tracker, no_sleep, max_wait=60) as http:
        with pytest.raises(TrackerRateLimited, match="retry in 3600 s"):
            http.get("/items")
    assert no_sleep == [] and len(tracker.requests) == 1


def test_a_spent_rate_limit_waits_for_the_reset_or_fails(tracker, no_sleep):
    import time

    soon, late = str(int(time.time()) + 5), str(int(time.time()) + 5000)
    tracker.on(
        "GET",
        "/items",
        Reply(
            403,
            {"message": "API rate limit exceeded"},
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": soon},
        ),
        Reply(200, []),
    )
    with client(tracker, no_sleep) as http:
        assert http.get("/items").data == []
    assert len(no_sleep) == 1 and 3 <= no_sleep[0] <= 7
    tracker.on(
        "GET", "/late", Reply(403, {}, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": late})
    )
    with client(tracker, no_sleep) as http:
        with pytest.raises(TrackerRateLimited, match="rate limit is spent"):
            http.get("/late")


@pytest.mark.parametrize(
    "status, error, words",
    [
        (401, TrackerAuthError, "token was refused"),
        (404, TrackerNotFound, "not found"),
        (400, TrackerBadQuery, "refused the query: Field 'sttaus' does not exist"),
    ],
)
def test_refusals_are_named_and_never_carry_the_token(
    tracker, no_sleep, caplog, status, error, words
):
    body = {"errorMessages": ["Field 'sttaus' does not exist"], "echo": TOKEN}
    tracker.on("GET", "/search", Reply(status, body))
    caplog.set_level(logging.DEBUG)
    with client(tracker, no_sleep) as http:
        with pytest.raises(error, match=words) as caught:
            http.get("/search", {"jql": "sttaus = Done", "access_token": TOKEN})
    text = str(caught.value)
    assert "/search" in text and TOKEN not in text and "access_token=***" in text
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_an_error_message_that_echoes_the_token_is_scrubbed(tracker, no_sleep):
    tracker.on("GET", "/x", Reply(403, {"message": f"token {TOKEN} lacks scope"}))
    with client(tracker, no_sleep) as http:
        with pytest.raises(Exception) as caught:
            http.get("/x")
    assert TOKEN not in str(caught.value) and "lacks scope" in str(caught.value)


def test_malformed_json_is_a_named_error(tracker, no_sleep):
    tracker.on("GET", "/items", Reply(200, raw=b"<html>proxy login</html>"))
    with client(tracker, no_sleep) as http:
        with pytest.raises(TrackerMalformedResponse, match="not JSON.*page: .*/items"):
            http.get("/items")


def test_a_next_page_on_another_site_is_refused(tracker, no_sleep):
    with client(tracker, no_sleep) as http:
        with pytest.raises(TrackerMalformedResponse, match="another site"):
            http.get("https://evil.example/steal")


def test_retries_are_logged_without_the_token(tracker, no_sleep, caplog):
    tracker.on("GET", "/items", Reply(502, {}), Reply(200, {}))
    caplog.set_level(logging.WARNING)
    with client(tracker, no_sleep) as http:
        http.get("/items", {"token": TOKEN})
    assert caplog.records and "HTTP 502" in caplog.records[0].getMessage()
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_githubs_secondary_rate_limit_403_with_retry_after_is_retried(tracker, no_sleep):
    tracker.on(
        "GET",
        "/items",
        Reply(403, {"message": "You have exceeded a secondary rate limit"}, {"Retry-After": "2"}),
        Reply(200, [1]),
    )
    with client(tracker, no_sleep) as http:
        assert http.get("/items").data == [1]
    assert no_sleep == [2.0]
