"""Names with control characters (ANSI escapes) are shown escaped in the terminal and on the pages."""

from __future__ import annotations

from flowray.cli import main
from flowray.text import printable
from flowray.widgets.html import escape, html_table

ANSI_NAME = "\x1b[31mRed\x1b[0m team\x07"


def test_printable_escapes_control_characters_only():
    assert printable(ANSI_NAME) == "\\x1b[31mRed\\x1b[0m team\\x07"
    assert printable("Équipe Zürich") == "Équipe Zürich"
    assert printable("two\nlines\tand\rreturn", keep="\n\t") == "two\nlines\tand\\rreturn"


def test_pages_escape_markup_and_control_characters():
    assert escape(ANSI_NAME + "<b>") == "\\x1b[31mRed\\x1b[0m team\\x07&lt;b&gt;"
    table = html_table(["project"], [[ANSI_NAME]])
    assert "\x1b" not in table and "\\x1b[31mRed" in table


def test_cli_prints_names_escaped(tmp_path, capsys):
    db = str(tmp_path / "ledger.duckdb")
    assert main(["project", "add", ANSI_NAME, "--db", db]) == 0
    assert main(["project", "list", "--db", db]) == 0
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err
    assert "\\x1b[31mRed" in captured.out
