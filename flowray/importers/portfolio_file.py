"""Portfolio files: a TOML description of teams and an ordered list of features.

    start = "2026-01-05"
    target = "2026-03-30"
    period_days = 7
    level = 85
    feature_sizes = [8, 13, 20, 34]    # past feature sizes, for features without a size
    blackouts = [["2026-12-24", "2027-01-01"]]   # every team

    [[teams]]
    name = "web"
    project = "web"                     # stored history; or throughput = [3, 5, 0, 4];
    feature_wip = 2                     # or estimate = {low = 2, likely = 4, high = 7}
    blackouts = [["2026-02-16", "2026-02-20"]]

    [[features]]
    name = "Login"
    size = 12                           # or [10, 20], or left out: drawn from feature_sizes
    done = 3
    teams = ["web"]                     # or size = {web = 8, api = 4}

A team's `project` is read through the `history` callable the caller gives
(the command line reads the ledger); this module reads files only. Unknown
keys are refused by name, so a typo never silently changes the forecast.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from flowray.core.portfolio import Feature, Portfolio, PortfolioTeam
from flowray.exceptions import InputError

TOP_KEYS = frozenset(
    {
        "start",
        "target",
        "period_days",
        "level",
        "feature_sizes",
        "blackouts",
        "max_periods",
        "teams",
        "features",
    }
)
TEAM_KEYS = frozenset({"name", "project", "throughput", "estimate", "feature_wip", "blackouts"})
FEATURE_KEYS = frozenset({"name", "size", "done", "teams"})


class HistoryPeriod(NamedTuple):
    """One stored period of a team's history: its start, items done and length in days."""

    period_start: dt.date
    items: int
    period_days: int


History = Callable[[str], Sequence[Any]]
"""project name -> its periods, oldest first (objects with period_start, items, period_days)."""


def _unknown(field: str, table: Mapping[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise InputError(
            f"{field}.{extra[0]}", extra[0], f"is not a key here ({', '.join(sorted(allowed))})"
        )


def _tables(field: str, value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not value:
        raise InputError(field, value, f"needs at least one [[{field}]] table")
    for i, table in enumerate(value):
        if not isinstance(table, Mapping):
            raise InputError(f"{field}[{i}]", table, "must be a table")
    return value


def _size(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, Mapping):
        return {str(k): (tuple(v) if isinstance(v, list) else v) for k, v in value.items()}
    return value


def _team(
    i: int, table: Mapping[str, Any], history: History | None, period_days: Any
) -> PortfolioTeam:
    name = table.get("name")
    where = f"teams[{name if isinstance(name, str) and name.strip() else i}]"
    _unknown(where, table, TEAM_KEYS)
    project = table.get("project")
    throughput = table.get("throughput")
    starts: tuple[dt.date, ...] | None = None
    if project is not None:
        if throughput is not None or table.get("estimate") is not None:
            raise InputError(
                f"{where}.project", project, "give one of project, throughput or estimate"
            )
        if not isinstance(project, str) or not project.strip():
            raise InputError(f"{where}.project", project, "must be a project name")
        if history is None:
            raise InputError(
                f"{where}.project", project, "reads a stored history: give the ledger (--db PATH)"
            )
        periods = list(history(project.strip()))
        if not periods:
            raise InputError(f"{where}.project", project, "has no stored throughput history")
        for period in periods:
            if int(period.period_days) != int(period_days):
                raise InputError(
                    f"{where}.project",
                    project,
                    f"stores {period.period_days}-day periods; the portfolio's period_days is "
                    f"{period_days}",
                )
        throughput = [p.items for p in periods]
        starts = tuple(p.period_start for p in periods)
    elif throughput is not None and not isinstance(throughput, list):
        raise InputError(f"{where}.throughput", throughput, "must be a list of whole numbers")
    return PortfolioTeam(
        name=name,  # type: ignore[arg-type]  # PortfolioTeam checks it and names the field
        throughput=None if throughput is None else tuple(throughput),
        estimate=table.get("estimate"),
        feature_wip=table.get("feature_wip", 1),
        blackouts=tuple(table.get("blackouts", ())),
        history_starts=starts,
        project=None if project is None else project.strip(),
    )


def _feature(i: int, table: Mapping[str, Any]) -> Feature:
    name = table.get("name")
    where = f"features[{name if isinstance(name, str) and name.strip() else i}]"
    _unknown(where, table, FEATURE_KEYS)
    teams = table.get("teams", ())
    if not isinstance(teams, list | tuple):
        raise InputError(f"{where}.teams", teams, "must be a list of team names")
    return Feature(
        name=name,  # type: ignore[arg-type]  # Feature checks it and names the field
        size=_size(table.get("size")),
        done=table.get("done", 0),
        teams=tuple(teams),
    )


def parse_portfolio(
    data: Mapping[str, Any], *, history: History | None = None, **overrides: Any
) -> Portfolio:
    """A Portfolio from the parsed TOML tables; `overrides` replace top-level keys (None: keep)."""
    _unknown("file", data, TOP_KEYS)
    fields = {key: data[key] for key in TOP_KEYS - {"teams", "features"} if key in data}
    fields.update({k: v for k, v in overrides.items() if v is not None})
    period_days = fields.get("period_days", 7)
    teams = tuple(
        _team(i, t, history, period_days) for i, t in enumerate(_tables("teams", data.get("teams")))
    )
    features = tuple(
        _feature(i, t) for i, t in enumerate(_tables("features", data.get("features")))
    )
    for key in ("feature_sizes", "blackouts"):
        if key in fields and isinstance(fields[key], list):
            fields[key] = tuple(fields[key])
    if "start" not in fields:
        raise InputError("start", None, "is required (a date written YYYY-MM-DD)")
    return Portfolio(teams=teams, features=features, **fields)


def read_portfolio_file(
    path: str | os.PathLike[str], *, history: History | None = None, **overrides: Any
) -> Portfolio:
    """Read and check a portfolio file; an InputError names the key and the rule on bad input."""
    file = Path(path)
    if not file.is_file():
        raise InputError("file", str(path), "must be an existing portfolio file (TOML)")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError("file", str(path), "must be a UTF-8 text file (TOML)") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError("file", str(path), f"is not valid TOML ({exc})") from None
    return parse_portfolio(data, history=history, **overrides)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and every control character escaped."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_value(field: str, value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise InputError(field, value, "is not a value a portfolio file holds")
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date):
        return _toml_string(value.isoformat())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(f"{field}[{i}]", v) for i, v in enumerate(value)) + "]"
    raise InputError(field, type(value).__name__, "is not a value a portfolio file holds")


def dump_portfolio(definition: Mapping[str, Any], *, comments: Sequence[str] = ()) -> str:
    """The TOML text of a portfolio definition (the mapping `parse_portfolio` reads).

    Written here for this one shape (top-level values, then `[[teams]]` and
    `[[features]]` tables of strings, whole numbers and lists of them), so no
    TOML writer is needed; `tomllib` reads it back to the same mapping.
    Comments go at the top, each on one line, control characters escaped.
    """
    from flowray.text import printable

    _unknown("file", definition, TOP_KEYS)
    lines = [f"# {printable(line)}".rstrip() for line in comments]
    for key, value in definition.items():
        if key not in ("teams", "features"):
            lines.append(f"{_toml_key(key)} = {_toml_value(key, value)}")
    for section, allowed in (("teams", TEAM_KEYS), ("features", FEATURE_KEYS)):
        for i, table in enumerate(definition.get(section, ())):
            _unknown(f"{section}[{i}]", table, allowed)
            lines += ["", f"[[{section}]]"]
            for key, value in table.items():
                lines.append(f"{_toml_key(key)} = {_toml_value(f'{section}[{i}].{key}', value)}")
    return "\n".join(lines) + "\n"
