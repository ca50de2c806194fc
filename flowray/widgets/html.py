"""HTML pieces of the panels: small escaped tables and the "check the data" box."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from flowray.text import printable


def escape(value: Any) -> str:
    """Text for HTML: markup escaped, and control characters (ANSI escapes) shown as escapes."""
    return html.escape(printable(str(value)))


def html_table(
    headers: Sequence[str] | None,
    rows: Sequence[Sequence[Any]],
    *,
    row_styles: Sequence[str] | None = None,
    caption: str = "",
) -> str:
    """A small styled HTML table (no header row when `headers` is None); every cell is escaped."""
    head = "".join(
        f"<th style='text-align:left;padding:4px 10px;border-bottom:2px solid #ccc'>{escape(str(h))}</th>"
        for h in headers or ()
    )
    body = []
    for i, row in enumerate(rows):
        style = row_styles[i] if row_styles else ""
        cells = "".join(
            f"<td style='padding:3px 10px;border-bottom:1px solid #eee;white-space:nowrap'>{escape(str(c))}</td>"
            for c in row
        )
        body.append(f"<tr style='{style}'>{cells}</tr>")
    cap = (
        f"<caption style='caption-side:top;text-align:left;color:#555;padding:2px 0'>{escape(caption)}</caption>"
        if caption
        else ""
    )
    return (
        "<table style='border-collapse:collapse;font-size:13px;margin:4px 0'>"
        f"{cap}{f'<thead><tr>{head}</tr></thead>' if head else ''}<tbody>{''.join(body)}</tbody></table>"
    )


def warning_box(
    lines: Sequence[str], heading: str = "Check the data before trusting this forecast"
) -> str:
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return (
        "<div style='background:#fff8e1;border-left:4px solid #f0b400;padding:6px 12px;margin:6px 0;font-size:13px'>"
        f"<b>{escape(heading)}</b><ul style='margin:4px 0 0 0;padding-left:18px'>{items}</ul></div>"
    )
