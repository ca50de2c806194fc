"""Weekly throughput files (`week_start,throughput`), and any work-item export read as throughput."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from flowray.core.throughput import derive_throughput
from flowray.exceptions import InputError
from flowray.importers.work_items import (
    ImportReport,
    _decode,
    _detect_format,
    _existing_file,
    _find_column,
    _records,
    _sniff_delimiter,
    header_summary,
    read_work_items,
)

_PERIOD_COLUMNS = ("week_start", "period_start", "week", "date")
_VALUE_COLUMNS = ("throughput", "items", "count", "done", "value")


def _throughput_value(text: str, where: str) -> float:
    try:
        number = float(text.strip())
    except ValueError:
        raise InputError(where, text, "must be a number") from None
    if not math.isfinite(number) or number < 0:
        raise InputError(where, text, "must be a finite number >= 0")
    return number


def _read_period_rows(
    records: Sequence[tuple[int, list[str]]], date_index: int, value_index: int, source: str
) -> list[tuple[dt.date, float]]:
    rows: list[tuple[dt.date, float]] = []
    for line, cells in records:
        if all(not c.strip() for c in cells):
            continue
        if len(cells) <= max(date_index, value_index):
            raise InputError(f"{source} line {line}", cells, "has too few cells")
        try:
            day = dt.date.fromisoformat(cells[date_index].strip())
        except ValueError:
            raise InputError(
                f"{source} line {line}", cells[date_index], "must be a date written YYYY-MM-DD"
            ) from None
        value = _throughput_value(cells[value_index], f"{source} line {line}")
        if rows and day <= rows[-1][0]:
            raise InputError(
                f"{source} line {line}",
                cells[date_index],
                f"must come after {rows[-1][0].isoformat()} (dates ascending, no repeats)",
            )
        rows.append((day, value))
    if not rows:
        raise InputError("path", source, "has no throughput rows")
    return rows


def read_throughput_csv(path: str | Path) -> list[tuple[dt.date, float]]:
    """Read a `week_start,throughput` file (ISO dates ascending) into (period start, items) pairs.

    A period missing from the file is not invented: gaps are kept as they are.
    Any unreadable row raises InputError naming its line (a throughput history
    with a hole silently filled would mislead every forecast).
    """
    source = _existing_file(path)
    text, _ = _decode(source)
    records = list(_records(text, _sniff_delimiter(text), str(path)))
    if not records:
        raise InputError("path", str(path), "is empty")
    header = [h.strip() for h in records[0][1]]
    date_index = _find_column(header, _PERIOD_COLUMNS)
    value_index = _find_column(header, _VALUE_COLUMNS)
    if date_index is None or value_index is None:
        raise InputError(
            "path", str(path), f"needs columns week_start and throughput ({header_summary(header)})"
        )
    return _read_period_rows(records[1:], date_index, value_index, str(path))


@dataclass
class ThroughputHistory:
    """A throughput history from any supported file; `period_starts` is None for bare values.

    Iterating yields `(period_start, value)` pairs, oldest first, with
    `period_start` None for a one-column file, so `[v for _, v in history]`
    works whatever the file was.
    """

    values: list[float]
    period_starts: list[dt.date] | None
    period_days: int
    source: str  # "throughput_csv", "values" or "work_items"
    import_report: ImportReport | None = None

    def pairs(self) -> list[tuple[dt.date, float]]:
        if self.period_starts is None:
            raise InputError("period_starts", None, "this history has no dates (one-column file)")
        return list(zip(self.period_starts, self.values, strict=True))

    def __iter__(self) -> Iterator[tuple[dt.date | None, float]]:
        starts: Iterable[dt.date | None] = self.period_starts or [None] * len(self.values)
        return iter(zip(starts, self.values, strict=True))

    def __len__(self) -> int:
        return len(self.values)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_throughput_file(path: str | Path) -> ThroughputHistory:
    """Read whatever a user hands to `--throughput-file`.

    Accepts a `week_start,throughput` file, a one-column file of values (with a
    `throughput` header or none), or a work-item file (any format
    `read_work_items` knows), which is aggregated into ISO weeks with zero
    weeks filled; its import report travels along.
    """
    source = _existing_file(path)
    text, _ = _decode(source)
    records = list(_records(text, _sniff_delimiter(text), str(path)))
    if not records:
        raise InputError("path", str(path), "is empty")
    header = [h.strip() for h in records[0][1]]
    date_index = _find_column(header, _PERIOD_COLUMNS)
    value_index = _find_column(header, _VALUE_COLUMNS)
    if date_index is not None and value_index is not None and _detect_format(header) is None:
        rows = _read_period_rows(records[1:], date_index, value_index, str(path))
        starts = [d for d, _ in rows]
        steps = {(b - a).days for a, b in zip(starts, starts[1:], strict=False)}
        period_days = steps.pop() if len(steps) == 1 else 7
        return ThroughputHistory([v for _, v in rows], starts, period_days, "throughput_csv")
    non_empty = [(line, cells) for line, cells in records if any(c.strip() for c in cells)]
    if not non_empty:
        raise InputError("path", str(path), "holds only blank lines")
    if all(len(cells) == 1 for _, cells in non_empty):
        first = non_empty[0][1][0].strip()
        body = non_empty if _is_number(first) else non_empty[1:]
        if not _is_number(first) and _find_column([first], _VALUE_COLUMNS) is None:
            # The first line is not echoed: it may hold anything, a token included.
            raise InputError(
                "path", str(path), "a one-column file must be headed 'throughput' or hold numbers"
            )
        values = [_throughput_value(cells[0], f"{path} line {line}") for line, cells in body]
        if not values:
            raise InputError("path", str(path), "has no throughput values")
        return ThroughputHistory(values, None, 7, "values")
    report = read_work_items(source)
    weekly = derive_throughput(report.items)
    if not weekly:
        raise InputError("path", str(path), "has no done items to derive throughput from")
    return ThroughputHistory(
        [float(n) for _, n in weekly], [d for d, _ in weekly], 7, "work_items", report
    )
