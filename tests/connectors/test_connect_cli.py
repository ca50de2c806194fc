"""`flowray connect` and `flowray sync` refuse bad input by name, and take no secret as an option."""

from __future__ import annotations

import pytest

from flowray.cli import main
from flowray.cli.connect_cmds import trackers


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["github", "--repo", "not a repo"], "error: repo: got 'not a repo'; must be OWNER/NAME"),
        (
            ["github", "--repo", "a/b", "--api-url", "http://ghe.acme.com/api/v3"],
            "api_url: got 'http://ghe.acme.com/api/v3'; must use https",
        ),
        (
            ["jira", "--url", "https://acme.atlassian.net", "--jql", " "],
            "jql: got ''; must not be empty",
        ),
        (
            ["jira", "--url", "https://u:pw@acme.atlassian.net", "--jql", "project = X"],
            "must not hold credentials",
        ),
    ],
)
def test_bad_connect_input_is_a_named_error(args, words, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JIRA_API_TOKEN", "tok-123456")
    db = tmp_path / "ledger.duckdb"
    code = main(["connect", args[0], "--project", "p", *args[1:], "--db", str(db)])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err
    assert "pw@" not in err


def test_no_tracker_takes_a_token_on_the_command_line(capsys):
    for command in trackers():
        with pytest.raises(SystemExit):
            main(["connect", command.name, "--help"])
        text = capsys.readouterr().out
        assert "--token" not in text and "--password" not in text
        assert command.secrets.split()[0] in text  # the help names the variable instead


def test_sync_without_a_ledger_says_so_and_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "nowhere.duckdb"
    assert main(["sync", "--db", str(missing)]) == 2
    assert "no ledger" in capsys.readouterr().err.lower()
    assert not missing.exists()


def test_sync_with_no_source_says_how_to_add_one(tmp_path, capsys):
    from flowray.store import Store

    db = tmp_path / "ledger.duckdb"
    Store(db).add_project("web")
    assert main(["sync", "--db", str(db)]) == 0
    assert "no tracker source: add one with `flowray connect" in capsys.readouterr().out
