"""Syncing a project from a tracker: the same throughput as a CSV import, one transaction,
nothing written on failure, no secret anywhere."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random

import duckdb
import pytest

from flowray.cli import main
from flowray.pipeline.sync import connect_source, sync_project
from flowray.store import Store

from .conftest import Reply
from .payloads import JIRA_STATUSES, REPO, gh_pull, gh_repo, jira_issue

GH_TOKEN = "ghp_zX9q8SyncTokenNeverShown0042"
JIRA_TOKEN = "ATATT3xSyncJiraTokenNeverShown77"
PULLS = f"/repos/{REPO}/pulls"


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_pulls(count: int = 60, seed: int = 7) -> list[dict]:
    """Pull requests over about 12 weeks, merged at any hour (some just before midnight UTC),
    newest update first as the pulls list returns them; a few open or closed unmerged."""
    rng = random.Random(seed)
    start = dt.datetime(2025, 1, 6, tzinfo=dt.UTC)
    pulls = []
    for number in range(1, count + 1):
        created = start + dt.timedelta(hours=rng.randrange(0, 24 * 80))
        merged = created + dt.timedelta(hours=rng.randrange(1, 24 * 6), minutes=rng.choice([0, 59]))
        fate = rng.random()
        if fate < 0.1:
            pulls.append(gh_pull(number, created=iso(created), updated=iso(merged)))  # still open
        elif fate < 0.15:
            pulls.append(
                gh_pull(number, created=iso(created), updated=iso(merged), closed=iso(merged))
            )
        else:
            pulls.append(
                gh_pull(number, created=iso(created), updated=iso(merged), merged=iso(merged))
            )
    return sorted(pulls, key=lambda p: p["updated_at"], reverse=True)


def serve_github(
    tracker, pulls: list[dict], per_page: int = 25, fail_page: int | None = None
) -> None:
    tracker.on("GET", f"/repos/{REPO}", Reply(200, gh_repo()))

    def listing(request):
        page = int(request.query.get("page", ["1"])[0])
        if page == fail_page:
            return Reply(500, {"message": "Server Error"})
        rows = pulls[(page - 1) * per_page : page * per_page]
        last = (len(pulls) + per_page - 1) // per_page
        links = [f'<{{url}}{PULLS}?page={page + 1}>; rel="next"'] if page < last else []
        links.append(f'<{{url}}{PULLS}?page={last}>; rel="last"')
        return Reply(200, rows, {"Link": ", ".join(links)})

    tracker.on("GET", PULLS, listing)


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", GH_TOKEN)
    monkeypatch.setenv("JIRA_API_TOKEN", JIRA_TOKEN)
    monkeypatch.setenv("JIRA_EMAIL", "mia@example.com")


def snapshot(db) -> dict:
    """Everything a sync may change, to compare before and after."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()  # noqa: S608
            for table in ("work_items", "throughput", "throughput_revisions", "sources")
        }
    finally:
        con.close()


def all_text(db) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        ]
        return "\n".join(
            str(con.execute(f'SELECT * FROM "{t}"').fetchall())  # noqa: S608
            for t in tables
        )
    finally:
        con.close()


def test_a_github_sync_gives_the_throughput_of_importing_the_same_items_as_csv(
    tracker, env, tmp_path, capsys
):
    pulls = make_pulls()
    serve_github(tracker, pulls)
    synced, imported = tmp_path / "synced.duckdb", tmp_path / "imported.duckdb"
    assert (
        main(
            [
                "connect",
                "github",
                "--project",
                "web",
                "--repo",
                REPO,
                "--api-url",
                tracker.url,
                "--db",
                str(synced),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["sync", "--db", str(synced), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    csv = tmp_path / "items.csv"
    merged = [p for p in pulls if p["merged_at"]]
    csv.write_text(
        "item_id,done_date\n"
        + "".join(f"{REPO}#{p['number']},{p['merged_at'][:10]}\n" for p in merged)
    )
    assert main(["import", "items", str(csv), "--project", "web", "--db", str(imported)]) == 0
    from_sync = Store(synced).get_throughput("web")
    from_csv = Store(imported).get_throughput("web")
    assert from_sync == from_csv and sum(p.items for p in from_sync) == len(merged)
    assert len(tracker.calls(PULLS)) == 3  # 60 pulls, 25 a page
    stored = {r.item_id: r for r in Store(synced).get_work_items("web")}
    assert len(stored) == len(pulls)  # open and unmerged ones are kept as work items too
    assert GH_TOKEN not in all_text(synced)
    applied = report["sources"][0]["applied"]
    assert report["ok"] and applied["received"] == len(pulls) == applied["added"]


def test_a_500_halfway_changes_nothing_and_names_the_page(tracker, env, tmp_path, no_sleep):
    db = tmp_path / "ledger.duckdb"
    pulls = make_pulls()
    serve_github(tracker, pulls[20:])  # the older items first
    connect_source("web", "github", {"repo": REPO, "api_url": tracker.url, "items": "pulls"}, db)
    first = sync_project("web", db, sleep=no_sleep.append)
    assert first.ok and first.outcomes[0].applied.received == 40
    before = snapshot(db)
    serve_github(tracker, pulls, per_page=10, fail_page=3)
    second = sync_project("web", db, sleep=no_sleep.append, max_tries=2, full=True)
    assert not second.ok
    error = second.outcomes[0].error
    assert "HTTP 500 after 2 tries" in error and "pulls?page=3" in error
    assert "nothing was changed (2 pages read)" in error and GH_TOKEN not in error
    assert snapshot(db) == before


def test_an_incremental_sync_reads_only_changes_and_a_reopened_item_stops_counting(
    tracker, env, tmp_path, no_sleep
):
    db = tmp_path / "ledger.duckdb"
    tracker.on("GET", "/rest/api/3/status", Reply(200, JIRA_STATUSES))
    done = [("2025-03-03 09:00", "In Progress"), ("2025-03-06 10:00", "Done")]
    first_page = [
        jira_issue(
            "FLOW-1",
            status="Done",
            created="2025-03-01 09:00",
            updated="2025-03-06 10:00",
            moves=done,
            resolved="2025-03-06 10:00",
        ),
        jira_issue(
            "FLOW-2",
            status="Done",
            created="2025-03-01 09:00",
            updated="2025-03-13 10:00",
            moves=[("2025-03-10 09:00", "In Progress"), ("2025-03-13 10:00", "Done")],
            resolved="2025-03-13 10:00",
        ),
        jira_issue(
            "FLOW-3",
            status="In Progress",
            created="2025-03-01 09:00",
            updated="2025-03-12 10:00",
            moves=[("2025-03-12 10:00", "In Progress")],
        ),
    ]
    tracker.on("POST", "/rest/api/3/search/jql", Reply(200, {"issues": first_page, "isLast": True}))
    connect_source(
        "flow", "jira", {"url": tracker.url, "jql": "project = FLOW", "flavor": "cloud"}, db
    )
    first = sync_project("flow", db, sleep=no_sleep.append).outcomes[0].applied
    assert (first.added, first.done_total, first.open_total) == (3, 2, 1)
    store = Store(db)
    assert [p.items for p in store.get_throughput("flow")] == [1, 1]

    # FLOW-2 is re-opened, FLOW-3 is done: only they come back, updated since the last sync
    second_page = [
        jira_issue(
            "FLOW-2",
            status="Reopened",
            created="2025-03-01 09:00",
            updated="2025-03-17 08:00",
            moves=[
                ("2025-03-10 09:00", "In Progress"),
                ("2025-03-13 10:00", "Done"),
                ("2025-03-17 08:00", "Reopened"),
            ],
        ),
        jira_issue(
            "FLOW-3",
            status="Done",
            created="2025-03-01 09:00",
            updated="2025-03-18 10:00",
            moves=[("2025-03-12 10:00", "In Progress"), ("2025-03-18 10:00", "Done")],
            resolved="2025-03-18 10:00",
        ),
    ]
    tracker.on(
        "POST", "/rest/api/3/search/jql", Reply(200, {"issues": second_page, "isLast": True})
    )
    second = sync_project("flow", db, sleep=no_sleep.append).outcomes[0].applied
    jql = tracker.calls("/rest/api/3/search/jql")[-1].body["jql"]
    assert jql == '(project = FLOW) AND updated >= "2025-03-12 10:00" ORDER BY updated ASC'
    assert (second.added, second.changed, second.reopened, second.newly_done) == (
        0,
        2,
        ["FLOW-2"],
        ["FLOW-3"],
    )
    assert [(p.period_start, p.items) for p in store.get_throughput("flow")] == [
        (dt.date(2025, 3, 3), 1),
        (dt.date(2025, 3, 10), 0),
        (dt.date(2025, 3, 17), 1),
    ]
    assert second.history.revision == 1  # the history the first forecasts saw is kept
    assert [(p.period_start, p.items) for p in store.get_throughput_revision("flow", 1)] == [
        (dt.date(2025, 3, 3), 1),
        (dt.date(2025, 3, 10), 1),
    ]
    assert JIRA_TOKEN not in all_text(db) and "mia@example.com" not in all_text(db)


def test_an_expired_token_fails_the_sync_by_name_with_no_secret_in_output_or_logs(
    tracker, env, tmp_path, capsys, caplog
):
    db = tmp_path / "ledger.duckdb"
    serve_github(tracker, make_pulls(10))
    assert (
        main(
            [
                "connect",
                "github",
                "--project",
                "web",
                "--repo",
                REPO,
                "--api-url",
                tracker.url,
                "--db",
                str(db),
            ]
        )
        == 0
    )
    tracker.on("GET", f"/repos/{REPO}", Reply(401, {"message": "Bad credentials"}))
    caplog.set_level(logging.DEBUG)
    assert main(["sync", "--db", str(db)]) == 1
    out = capsys.readouterr()
    assert "FAILED: HTTP 401: the token was refused" in out.out
    assert f"/repos/{REPO}" in out.out and "nothing was changed" in out.out
    for text in (out.out, out.err, *(r.getMessage() for r in caplog.records)):
        assert GH_TOKEN not in text
    assert Store(db).get_work_items("web") == []


def test_connect_refuses_a_missing_token_and_a_secret_in_settings(
    tracker, tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("JIRA_API_TOKEN", raising=False)
    monkeypatch.delenv("JIRA_API_TOKEN_FILE", raising=False)
    db = tmp_path / "ledger.duckdb"
    code = main(
        [
            "connect",
            "jira",
            "--project",
            "flow",
            "--url",
            tracker.url,
            "--jql",
            "project = FLOW",
            "--db",
            str(db),
        ]
    )
    assert code == 2
    assert "JIRA_API_TOKEN: got None; must be set" in capsys.readouterr().err
    from flowray.exceptions import InputError

    monkeypatch.setenv("JIRA_API_TOKEN", JIRA_TOKEN)
    with pytest.raises(InputError, match="settings: got 'token'; must not hold a secret"):
        Store(db).connect_source("flow", "jira", {"url": tracker.url, "token": JIRA_TOKEN})


def test_the_workflow_file_is_kept_with_the_source_and_used_by_sync(
    tracker, env, tmp_path, no_sleep
):
    db = tmp_path / "ledger.duckdb"
    workflow = tmp_path / "workflow.toml"
    workflow.write_text('[workflow.jira]\ndone = ["In Review"]\n')
    tracker.on("GET", "/rest/api/3/status", Reply(200, JIRA_STATUSES))
    issue = jira_issue(
        "FLOW-9",
        status="In Review",
        created="2025-03-01 09:00",
        updated="2025-03-05 09:00",
        moves=[("2025-03-03 09:00", "In Progress"), ("2025-03-05 09:00", "In Review")],
    )
    tracker.on("POST", "/rest/api/3/search/jql", Reply(200, {"issues": [issue], "isLast": True}))
    source = connect_source(
        "flow",
        "jira",
        {"url": tracker.url, "jql": "project = FLOW", "flavor": "cloud"},
        db,
        workflow_file=workflow,
    )
    assert source.workflow == {"done": ["in review"]}
    applied = sync_project("flow", db, sleep=no_sleep.append).outcomes[0].applied
    assert applied.newly_done == ["FLOW-9"]
    row = Store(db).get_work_items("flow")[0]
    assert row.done_on == dt.date(2025, 3, 5) and row.started_on == dt.date(2025, 3, 3)


def test_the_batch_syncs_first_and_a_failed_sync_is_reported_while_stale_data_is_forecast(
    tracker, env, tmp_path, caplog
):
    from flowray.pipeline import run_batch

    db = tmp_path / "ledger.duckdb"
    serve_github(tracker, make_pulls())
    connect_source("web", "github", {"repo": REPO, "api_url": tracker.url, "items": "pulls"}, db)
    assert sync_project("web", db).ok
    before = snapshot(db)["work_items"]
    calls = len(tracker.requests)

    quiet = run_batch(db, runs=2000, sync=False)
    assert len(tracker.requests) == calls and quiet.failed == []

    tracker.on("GET", f"/repos/{REPO}", Reply(401, {"message": "Bad credentials"}))
    caplog.set_level(logging.WARNING)
    report = run_batch(db, runs=2000)  # sync defaults on: the ledger has a source
    assert len(tracker.requests) == calls + 1
    [line] = report.failed
    assert line.startswith("web: sync of GitHub octo-org/octo-repo")
    assert "HTTP 401" in line and "forecast on the items stored before (stale)" in line
    assert list(report.summary["project"]) == ["web"]  # still forecast
    assert snapshot(db)["work_items"] == before
    assert any("stale" in r.getMessage() for r in caplog.records)
    assert all(GH_TOKEN not in r.getMessage() for r in caplog.records)


def test_a_429_in_the_middle_of_a_sync_waits_as_asked_and_the_sync_completes(
    tracker, env, tmp_path, no_sleep
):
    db = tmp_path / "ledger.duckdb"
    pulls = make_pulls(30)
    serve_github(tracker, pulls, per_page=10)
    listing = tracker.routes[("GET", PULLS)]
    limited = []

    def once_limited(request):
        if request.query.get("page") == ["2"] and not limited:
            limited.append(request)
            return Reply(429, {"message": "secondary rate limit"}, {"Retry-After": "3"})
        return listing(request)

    tracker.on("GET", PULLS, once_limited)
    connect_source("web", "github", {"repo": REPO, "api_url": tracker.url, "items": "pulls"}, db)
    report = sync_project("web", db, sleep=no_sleep.append)
    assert report.ok and report.outcomes[0].applied.received == 30
    assert no_sleep == [3.0] and len(limited) == 1


def test_new_settings_restart_from_a_full_read_and_keys_sort_naturally(tmp_path):
    from flowray.records.sources import SyncedItem, natural_key

    db = tmp_path / "ledger.duckdb"
    store = Store(db)
    source = store.connect_source("web", "github", {"repo": REPO})
    moment = dt.datetime(2025, 3, 4, 12, 0)
    item = SyncedItem(
        "r#1", "t", "pull request", "merged", None, dt.date(2025, 3, 4), None, (), moment, moment
    )
    store.apply_sync(source.source_id, [item], cursor=moment)
    assert store.list_sources("web")[0].since == moment.replace(tzinfo=dt.UTC)
    assert store.connect_source("web", "github", {"repo": REPO}).last_cursor is not None
    moved = store.connect_source("web", "github", {"repo": "octo-org/other"})
    assert moved.source_id == source.source_id and moved.last_cursor is None
    assert sorted(["r#10", "r#9", "FLOW-10", "FLOW-2"], key=natural_key) == [
        "FLOW-2",
        "FLOW-10",
        "r#9",
        "r#10",
    ]
