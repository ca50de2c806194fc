"""The release plan page: which features of an ordered list make the target date, at the level?

A stored portfolio (teams, their throughput, the features in priority order)
is picked from the ledger and edited here: the order, each feature's size and
teams, each team's features at once, the target date and the level. Every box
is checked as typed (its problem named under it; Run stays off until all are
valid). Run follows the job with live progress and Cancel (`JobPanel`); the
answer is a table of features with the cut line drawn across it, each
feature's chance of making the target, and a chart of their date ranges. Every
probability on the page comes from the same simulated runs (the cut line is
the joint chance of all the features above it, never a product of the
per-feature ones). A change of input greys the answer as stale; the next run
says what moved since the one before.

Where the plans come from is a `PlanSource` (list / load / save): the ledger
through `flowray.pipeline` by default, or plans held in memory
(`MemorySource`, for notebooks and tests).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import ipywidgets as widgets

from flowray import pipeline
from flowray.core.limits import MAX_ITEMS, MAX_SEED
from flowray.core.portfolio import MAX_FEATURE_WIP
from flowray.core.validation import finite_number, text
from flowray.exceptions import InputError
from flowray.text import format_probability, long_date, period_word, short_date
from flowray.widgets import charts, fields
from flowray.widgets.base import (
    JobPanel,
    describe_error,
    field_label,
    run_and_cancel_buttons,
    run_blockers_html,
    section,
    title,
)
from flowray.widgets.forecast_view import DETAILS_TITLE
from flowray.widgets.html import escape, html_table
from flowray.widgets.scenario_form import MAX_FORM_RUNS, POLL_SECONDS, PROGRESS_STEPS

if TYPE_CHECKING:  # pragma: no cover - typing only
    from flowray.core.portfolio import Feature, Portfolio, PortfolioTeam
    from flowray.core.portfolio_results import PortfolioResult

__all__ = ["FeaturesPanel", "LedgerSource", "MemorySource", "PlanSource", "plan_field_label"]

DEFAULT_RUNS = 100_000
"""Simulated futures per run: a second or two of work, steady to a tenth of a point."""
DEFAULT_PLAN = "Release plan"
"""The plan picked first when the ledger holds it (the demo's)."""
RUNS_TITLE = "Number of runs"

SIZE_MODES = (
    ("A known number of items", "known"),
    ("A range of items", "range"),
    ("Unknown: drawn from past features", "unknown"),
)
PER_TEAM_MODE = ("Each team's items, as stored", "per_team")

STALE_WORDS = "Inputs changed: the greyed answer is the last run's. Press Run again for one that matches them."
RUNNING_WORDS = "Running: the answer appears here as the simulated futures come in."
FAILED_WORDS = "No answer: the run failed (the reason is above). Press Run to try again."
EMPTY_WORDS = "Pick a release plan, check the list, and press Run."


# -- where the plans live ---------------------------------------------------------------------------
class PlanSource(Protocol):
    """Stored plans: their names, one plan, and where a finished answer is kept."""

    def names(self) -> list[str]: ...

    def load(self, name: str) -> Portfolio: ...

    def save(
        self,
        name: str,
        portfolio: Portfolio,
        result: PortfolioResult,
        *,
        forecast_name: str | None = None,
    ) -> int: ...


class LedgerSource:
    """The plans stored in the ledger (FLOWRAY_DB unless `db_path`), through flowray.pipeline."""

    def __init__(self, db_path: str | Path | None = None) -> None:
        self.db_path = db_path

    def names(self) -> list[str]:
        return list(pipeline.list_portfolios(self.db_path))

    def load(self, name: str) -> Portfolio:
        return pipeline.load_portfolio(name, self.db_path)

    def save(
        self,
        name: str,
        portfolio: Portfolio,
        result: PortfolioResult,
        *,
        forecast_name: str | None = None,
    ) -> int:
        return int(
            pipeline.save_portfolio_forecast(
                name, portfolio, result, self.db_path, forecast_name=forecast_name
            )
        )


class MemorySource:
    """Plans held in memory (a notebook's own, or a test's); saves are kept in `saved`."""

    def __init__(self, plans: Mapping[str, Portfolio]) -> None:
        self.plans = dict(plans)
        self.saved: list[tuple[str, Portfolio, PortfolioResult, str | None]] = []

    def names(self) -> list[str]:
        return list(self.plans)

    def load(self, name: str) -> Portfolio:
        if name not in self.plans:
            raise InputError("portfolio", name, f"is not one of {', '.join(self.plans)}")
        return self.plans[name]

    def save(
        self,
        name: str,
        portfolio: Portfolio,
        result: PortfolioResult,
        *,
        forecast_name: str | None = None,
    ) -> int:
        self.saved.append((name, portfolio, result, forecast_name))
        return len(self.saved)


# -- field names in the page's words ----------------------------------------------------------------
_FEATURE_FIELD = re.compile(
    r"^features\[(?P<name>.*)\]\.(?P<part>size\.low|size\.high|size|teams|done)$"
)
_TEAM_FIELD = re.compile(r"^teams\[(?P<name>.*)\]\.feature_wip$")
_FEATURE_PARTS = {
    "size": "Size of {}",
    "size.low": "Size of {} (from)",
    "size.high": "Size of {} (up to)",
    "teams": "Teams of {}",
    "done": "Items done of {}",
}
_PLAN_LABELS = {
    "target": "Target date",
    "level": "Confidence level (%)",
    "portfolio": "Release plan",
    "name": "Name in the ledger",
}


def plan_field_label(field: str) -> str:
    """'features[Login].size.high' -> 'Size of Login (up to)'; 'teams[web].feature_wip' ->
    'Features at once for web'; other fields as the other pages name them."""
    if match := _FEATURE_FIELD.match(field):
        return _FEATURE_PARTS[match["part"]].format(match["name"])
    if match := _TEAM_FIELD.match(field):
        return f"Features at once for {match['name']}"
    return _PLAN_LABELS.get(field) or field_label(field)


# -- checks --------------------------------------------------------------------------------------------
def check_level(field: str, value: Any) -> float:
    """A confidence level in percent, strictly between 0 and 100 (as the portfolio requires)."""
    level = finite_number(field, value, 0, 100)
    if not 0 < level < 100:
        raise InputError(field, value, "must lie strictly between 0 and 100 (percent)")
    return level


def check_teams(known: list[str]) -> fields.Check:
    """Team names separated by commas, each a team of the plan, none twice, at least one."""

    def check(field: str, value: str) -> tuple[str, ...]:
        names = split_teams(str(value), known)
        if not names:
            raise InputError(field, value, f"name at least one team ({', '.join(known)})")
        for name in names:
            if name not in known:
                raise InputError(
                    field, value, f"'{name}' is not a team of this plan ({', '.join(known)})"
                )
        if len(set(names)) != len(names):
            raise InputError(field, value, "must not name a team twice")
        return tuple(names)

    return check


def split_teams(value: str, known: list[str]) -> list[str]:
    """'web, api' -> ['web', 'api']; a known name that holds a comma ('R,D') is read whole."""
    longest_first = sorted(known, key=len, reverse=True)
    names = []
    rest = value.strip().strip(",").strip()
    while rest:
        name = next(
            (
                k
                for k in longest_first
                if rest.startswith(k) and (rest == k or rest[len(k) :].lstrip().startswith(","))
            ),
            rest.split(",", 1)[0].strip(),
        )
        if name:
            names.append(name)
        rest = rest[len(name) :].strip().lstrip(",").strip()
        if not name:  # an empty part between two commas
            rest = rest.lstrip(",").strip()
    return names


def _size_words(size: Any) -> str:
    if isinstance(size, tuple):
        return f"{size[0]}-{size[1]}"
    return str(size)


class FeatureRow:
    """One feature of the list as the page edits it: its order buttons, size and teams."""

    def __init__(self, feature: Feature, teams: list[str], can_draw_sizes: bool) -> None:
        self.feature = feature
        name = feature.name
        where = f"features[{name}]"
        self.number = widgets.HTML("", layout=widgets.Layout(width="28px"))
        self.name = widgets.HTML(
            f"<b>{escape(name)}</b>", layout=widgets.Layout(width="190px", overflow="hidden")
        )
        self.up = widgets.Button(
            description="↑", tooltip=f"Move {name} up", layout=widgets.Layout(width="34px")
        )
        self.down = widgets.Button(
            description="↓", tooltip=f"Move {name} down", layout=widgets.Layout(width="34px")
        )
        per_team = isinstance(feature.size, Mapping)
        options = list(SIZE_MODES if can_draw_sizes else SIZE_MODES[:2])
        if per_team:
            options.append(PER_TEAM_MODE)
        size = feature.size
        mode = (
            "per_team"
            if per_team
            else "unknown"
            if size is None
            else "range"
            if isinstance(size, tuple)
            else "known"
        )
        if mode == "unknown" and not can_draw_sizes:
            mode = "known"  # cannot happen for a stored plan (it would not load); kept safe
        self.mode = widgets.Dropdown(
            options=options,
            value=mode,
            tooltip=f"Size of {name}",
            layout=widgets.Layout(width="250px"),
        )
        low: Any = ""
        high: Any = ""
        if isinstance(size, tuple):
            low, high = size
        elif isinstance(size, int):
            low, high = size, size
        self.low = fields.CheckedText(
            f"{where}.size" if mode != "range" else f"{where}.size.low",
            fields.whole(0, MAX_ITEMS),
            value=low,
            label=plan_field_label,
            placeholder="items",
            tooltip=f"Size of {name} (items)",
            layout=widgets.Layout(width="70px"),
        )
        self.high = fields.CheckedText(
            f"{where}.size.high",
            fields.whole(0, MAX_ITEMS),
            value=high,
            label=plan_field_label,
            placeholder="up to",
            tooltip=f"Size of {name}: up to (items)",
            layout=widgets.Layout(width="70px"),
        )
        self.teams = fields.CheckedText(
            f"{where}.teams",
            check_teams(teams),
            value=", ".join(feature.teams),
            label=plan_field_label,
            tooltip=f"Teams of {name} (names separated by commas)",
            layout=widgets.Layout(width="200px"),
        )
        self.stored = widgets.HTML("")
        self.extra = widgets.HTML("")
        if feature.done:
            self.extra.value = (
                f"<span style='color:#555;font-size:12px'>{feature.done} items already done "
                "(taken off the size)</span>"
            )
        self.row = widgets.HBox(
            [
                self.number,
                self.name,
                self.up,
                self.down,
                self.mode,
                # a fixed width: hiding the size boxes must not shift the teams column
                widgets.HBox(
                    [self.low, self.high, self.stored], layout=widgets.Layout(width="150px")
                ),
                self.teams,
                self.extra,
            ],
            layout=widgets.Layout(align_items="center"),
        )
        self.box = widgets.VBox([self.row, self.low.message, self.high.message, self.teams.message])
        self.refresh()

    def refresh(self) -> None:
        """Show the boxes the chosen size needs; name the first box after it."""
        mode = self.mode.value
        self.low.set_visible(mode in ("known", "range"))
        self.high.set_visible(mode == "range")
        self.low.field = f"features[{self.feature.name}].size" + (".low" if mode == "range" else "")
        per_team = mode == "per_team"
        self.teams.disabled = per_team
        if per_team and isinstance(self.feature.size, Mapping):
            sizes = ", ".join(f"{t} {_size_words(v)}" for t, v in self.feature.size.items())
            self.stored.value = f"<span style='font-size:13px'>{escape(sizes)} items</span>"
        else:
            self.stored.value = ""

    def boxes(self) -> list[fields.CheckedText]:
        return [self.low, self.high, self.teams]

    def boxes_in_use(self) -> list[fields.CheckedText]:
        mode = self.mode.value
        boxes = {"known": [self.low], "range": [self.low, self.high]}.get(mode, [])
        return boxes + ([] if mode == "per_team" else [self.teams])

    def controls(self, first: bool, last: bool) -> list[widgets.Widget]:
        """What the busy state toggles (an edge's move button stays off)."""
        out: list[widgets.Widget] = [self.mode, *self.boxes_in_use()]
        out += [] if first else [self.up]
        out += [] if last else [self.down]
        return out

    def problems(self) -> dict[fields.CheckedText, InputError]:
        in_use = self.boxes_in_use()
        found = {box: p for box in in_use if (p := box.problem()) is not None}
        if self.high in in_use and self.low not in found and self.high not in found:
            low, high = self.low.read(), self.high.read()
            if high < low:
                found[self.high] = InputError(
                    self.high.field,
                    self.high.value,
                    f"must be at least the size it runs from ({low})",
                )
        return found

    def read(self) -> Feature:
        """The feature as the row now says (call once `problems()` is empty)."""
        mode = self.mode.value
        feature = self.feature
        if mode == "per_team":
            return feature
        size: Any = None
        if mode == "known":
            size = self.low.read()
        elif mode == "range":
            size = (self.low.read(), self.high.read())
        return dataclasses.replace(feature, size=size, teams=self.teams.read())


# -- the panel --------------------------------------------------------------------------------------------
class FeaturesPanel(JobPanel):
    """Pick a plan, edit its ordered list, Run (progress, Cancel), read the cut line, Save."""

    def __init__(
        self,
        db_path: str | Path | None = None,
        *,
        source: PlanSource | None = None,
        plan: str | None = None,
        runs: int = DEFAULT_RUNS,
        seed: int = 0,
        engine: str = "ray",
        poll_seconds: float = POLL_SECONDS,
        warm_up: bool = False,
    ) -> None:
        """`source`: where plans come from (default: the ledger at `db_path`); `plan`: the one
        picked first (default "Release plan" when stored); `engine`: "ray" (the dashboards,
        one cluster for every page) or "serial" (this process); `warm_up`: join Ray while the
        page is read, so the first Run starts sooner."""
        super().__init__()
        if warm_up and engine == "ray":  # the kernel here; Ray is joined on the first Run
            threading.Thread(
                target=pipeline.warm_up_engine,
                args=("serial",),
                name="flowray-warm-up",
                daemon=True,
            ).start()
        self.source: PlanSource = source if source is not None else LedgerSource(db_path)
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.plan_name: str | None = None
        self.portfolio: Portfolio | None = None  # the plan as loaded (before the page's edits)
        self.rows: list[FeatureRow] = []
        self.wip: dict[str, fields.CheckedText] = {}
        self.result: PortfolioResult | None = None  # the complete answer on screen (not stale)
        self.shown: PortfolioResult | None = None  # the answer on screen, final or partial
        self.shown_final = False
        self.stale = False
        self._moved_html = ""  # what moved since the run before the one on screen
        self.last_complete: PortfolioResult | None = None  # what the next run is compared with
        self.saved_id: int | None = None
        self.partial_updates = 0
        self.input_problems: list[InputError] = []
        self._loading = False

        self.picker = widgets.Dropdown(
            options=[],
            description="Release plan",
            layout=widgets.Layout(width="380px"),
            style={"description_width": "110px"},
        )
        self.reload_button = widgets.Button(
            description="Reload",
            tooltip="Read the list of stored plans again (your edits stay)",
            layout=widgets.Layout(width="80px"),
        )
        self.plan_info = widgets.HTML("")
        self.target = fields.CheckedText(
            "target",
            fields.date(required=True),
            description="Target date",
            hint=fields.date_in_words,
            label=plan_field_label,
            layout=widgets.Layout(width="260px"),
            style={"description_width": "110px"},
        )
        self.level = fields.CheckedText(
            "level",
            check_level,
            value="85",
            description="Confidence (%)",
            label=plan_field_label,
            tooltip="How sure the plan must be: 85 means 85 of 100 simulated futures",
            layout=widgets.Layout(width="200px"),
            style={"description_width": "110px"},
        )
        self.runs = fields.CheckedText(
            "runs",
            fields.whole(1, MAX_FORM_RUNS),
            value=runs,
            description=field_label("runs"),
            layout=widgets.Layout(width="320px"),
            style={"description_width": "initial"},
            tooltip="More simulated futures: steadier answers, a longer wait.",
        )
        self.seed = fields.CheckedText(
            "seed",
            fields.whole(0, MAX_SEED),
            value=seed,
            description=field_label("seed"),
            layout=widgets.Layout(width="320px"),
            style={"description_width": "initial"},
            tooltip=(
                "The random seed: the same number with the same inputs gives exactly the same "
                "answer; another number gives another draw of simulated futures."
            ),
        )
        self.teams_box = widgets.VBox([])
        self.features_box = widgets.VBox([])
        # -- actions ----------------------------------------------------------------------------
        self.run_button, self.cancel_button = run_and_cancel_buttons("Run", "110px")
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, layout=widgets.Layout(width="240px")
        )
        self.progress_text = widgets.Label("")
        self.save_name = widgets.Text(
            placeholder="Name in the ledger (optional)", layout=widgets.Layout(width="220px")
        )
        self.save_button = widgets.Button(
            description="Save",
            button_style="success",
            disabled=True,
            tooltip="Keep this answer in the ledger, with the list it was run on",
            layout=widgets.Layout(width="90px"),
        )
        self.problems_text = widgets.HTML("")
        # -- the answer ---------------------------------------------------------------------------
        self.headline = widgets.HTML(f"<div style='color:#666;font-size:15px'>{EMPTY_WORDS}</div>")
        self.why = widgets.HTML("")
        self.table = widgets.HTML("")
        self.chart = charts.feature_range_chart()
        self.chart.widget.layout.display = "none"
        self.moved = widgets.HTML("")
        self.details_html = widgets.HTML("")
        self.details = widgets.Accordion(children=[self.details_html], titles=(DETAILS_TITLE,))
        self.details.selected_index = None
        self.details.layout.display = "none"

        self.run_button.on_click(self.action(self.start_run))
        self.cancel_button.on_click(self.on_cancel)
        self.save_button.on_click(self.action(self.save))
        self.reload_button.on_click(self.action(self.load_names))
        self.picker.observe(self.guarded(lambda change: self.select(change["new"])), names="value")
        for box in (self.target, self.level, self.runs, self.seed):
            box.observe(self.guarded(self.inputs_changed), names="value")

        self.widget = self._build_layout()
        try:
            self.load_names(prefer=plan)
        except Exception as exc:  # the page still shows; the status line says what is wrong
            self.show_error(exc)
        self.check_inputs()

    # -- layout ---------------------------------------------------------------------------------------
    def _build_layout(self) -> widgets.Widget:
        runs = widgets.Accordion(
            children=[widgets.VBox([self.runs.box, self.seed.box])], titles=(RUNS_TITLE,)
        )
        runs.selected_index = None
        header = widgets.HTML(
            "<div style='display:flex;color:#555;font-size:12px;font-weight:600'>"
            "<span style='width:28px'>#</span><span style='width:262px'>Feature (first = most "
            "important)</span><span style='width:254px'>Size</span>"
            "<span style='width:150px'>Items</span><span>Teams</span></div>"
        )
        plan = widgets.VBox(
            [
                widgets.HBox([self.picker, self.reload_button]),
                self.plan_info,
                section("The release"),
                widgets.HBox([self.target.box, self.level.box]),
                section("Teams: how many features each works on at once"),
                self.teams_box,
                section("Features, in priority order"),
                header,
                self.features_box,
                runs,
            ]
        )
        actions = widgets.HBox(
            [self.run_button, self.cancel_button, self.progress, self.progress_text],
            layout=widgets.Layout(align_items="center"),
        )
        saving = widgets.HBox(
            [self.save_name, self.save_button], layout=widgets.Layout(align_items="center")
        )
        answer = widgets.VBox(
            [
                section("The answer"),
                self.headline,
                self.why,
                self.table,
                self.moved,
                self.chart.widget,
                self.details,
            ]
        )
        return widgets.VBox(
            [
                title(
                    "Release plan",
                    "Which features make the release date, and how sure is that? Every answer "
                    "comes from thousands of simulated futures built from each team's past throughput.",
                ),
                plan,
                widgets.HBox(
                    [actions, saving],
                    layout=widgets.Layout(justify_content="space-between", width="1180px"),
                ),
                self.status,
                self.problems_text,
                answer,
            ],
            layout=widgets.Layout(width="1200px"),
        )

    # -- plans ------------------------------------------------------------------------------------------
    def load_names(self, prefer: str | None = None) -> None:
        """Fill the plan picker from the source; keep the plan shown, else `prefer`, else the demo's."""
        names = self.source.names()
        current = self.picker.value
        choice = next(
            (n for n in (current, prefer, DEFAULT_PLAN) if n and n in names),
            names[0] if names else None,
        )
        self._loading = True
        try:
            self.picker.options = names
            self.picker.value = choice
        finally:
            self._loading = False
        if not names:
            self.show_info(
                "No release plans stored yet: save one with `flowray portfolio FILE --save` "
                "or seed the demo ledger with `flowray demo`."
            )
            self.check_inputs()
            return
        if choice != self.plan_name:
            self.select(choice)

    def select(self, name: str | None) -> None:
        """Load plan `name` into the editor; the last plan's answer goes (it answered another list)."""
        if self._loading or name is None or name == self.plan_name:
            return
        portfolio = self.source.load(name)
        self.plan_name = name
        self.portfolio = portfolio
        self.last_complete = None
        self.result = None
        self.saved_id = None
        self.save_button.disabled = True
        self._loading = True  # filling the boxes is not an edit of the answer on screen
        try:
            self._fill_editor(portfolio)
        finally:
            self._loading = False
        self.clear_answer(f"Check the list of {name}, then press Run.")
        self.show_info(
            f"Loaded {name}: {len(portfolio.features)} features, {len(portfolio.teams)} teams."
        )
        self.check_inputs()

    def _fill_editor(self, portfolio: Portfolio) -> None:
        unit = portfolio.period_days
        team_names = [t.name for t in portfolio.teams]
        self.wip = {}
        team_rows = []
        for team in portfolio.teams:
            box = fields.CheckedText(
                f"teams[{team.name}].feature_wip",
                fields.whole(1, MAX_FEATURE_WIP),
                value=team.feature_wip,
                description=team.name,
                label=plan_field_label,
                tooltip=f"Features at once for {team.name}",
                layout=widgets.Layout(width="220px"),
                style={"description_width": "140px"},
            )
            box.observe(self.guarded(self.inputs_changed), names="value")
            self.wip[team.name] = box
            team_rows.append(
                widgets.VBox(
                    [
                        widgets.HBox(
                            [box, widgets.HTML(_team_words(team, unit))],
                            layout=widgets.Layout(align_items="center"),
                        ),
                        box.message,
                    ]
                )
            )
        self.teams_box.children = team_rows
        can_draw = bool(portfolio.feature_sizes)
        self.rows = [FeatureRow(f, team_names, can_draw) for f in portfolio.features]
        for row in self.rows:
            row.up.on_click(self.action(functools.partial(self.move, row, -1)))
            row.down.on_click(self.action(functools.partial(self.move, row, +1)))
            row.mode.observe(
                self.guarded(functools.partial(self._mode_changed, row)), names="value"
            )
            for control in (row.low, row.high, row.teams):
                control.observe(self.guarded(self.inputs_changed), names="value")
        self._layout_rows()
        self.target.value = portfolio.target if portfolio.target is not None else ""
        self.level.value = f"{portfolio.level:g}"
        self.plan_info.value = _plan_words(portfolio)

    def _layout_rows(self) -> None:
        for i, row in enumerate(self.rows):
            row.number.value = f"<b>{i + 1}</b>"
            row.up.disabled = self.busy or i == 0
            row.down.disabled = self.busy or i == len(self.rows) - 1
        self.features_box.children = [row.box for row in self.rows]

    def _mode_changed(self, row: FeatureRow, _change: Any = None) -> None:
        row.refresh()
        self.inputs_changed()

    def move(self, row: FeatureRow, step: int) -> None:
        """Move a feature up (-1) or down (+1) the list; the answer on screen becomes stale."""
        i = self.rows.index(row)
        j = i + step
        if not 0 <= j < len(self.rows):
            return
        self.rows[i], self.rows[j] = self.rows[j], self.rows[i]
        self._layout_rows()
        self.inputs_changed()

    @property
    def order(self) -> list[str]:
        """The features' names in the order the page shows them."""
        return [row.feature.name for row in self.rows]

    # -- checking the inputs -------------------------------------------------------------------------
    def checked_boxes(self) -> list[fields.CheckedText]:
        rows = [box for row in self.rows for box in row.boxes()]
        return [self.target, self.level, *self.wip.values(), *rows, self.runs, self.seed]

    def field_problems(self) -> dict[fields.CheckedText, InputError]:
        problems: dict[fields.CheckedText, InputError] = {}
        for box in [self.target, self.level, *self.wip.values(), self.runs, self.seed]:
            if (problem := box.problem()) is not None:
                problems[box] = problem
        for row in self.rows:
            problems.update(row.problems())
        portfolio = self.portfolio
        if portfolio is not None and self.target not in problems:
            day = self.target.read()
            if day < portfolio.start:
                problems[self.target] = InputError(
                    "target",
                    self.target.value,
                    f"must not be before the start ({long_date(portfolio.start)})",
                )
            elif (day - portfolio.start).days // portfolio.period_days > portfolio.max_periods:
                last = portfolio.period_end(portfolio.max_periods)
                problems[self.target] = InputError(
                    "target",
                    self.target.value,
                    f"must be on or before {long_date(last)} (the horizon)",
                )
        return problems

    def problems(self) -> list[InputError]:
        """Every reason the page cannot run now, first on the page first (empty: Run may run)."""
        if self.portfolio is None:
            return [InputError("portfolio", None, "pick a stored release plan")]
        by_box = self.field_problems()
        return [by_box[box] for box in self.checked_boxes() if box in by_box]

    def check_inputs(self) -> list[InputError]:
        """Name each problem under its box, list the fields that hold Run back, enable Run only when none."""
        by_box = self.field_problems()
        for box in self.checked_boxes():
            box.show_problem(by_box.get(box))
        problems = self.problems()
        self.input_problems = problems
        names = (
            ", ".join(dict.fromkeys(self._where(p) for p in problems))
            if problems and self.portfolio is not None
            else ""
        )
        self.problems_text.value = run_blockers_html(names)
        self.run_button.disabled = self.busy or bool(problems)
        return problems

    def _where(self, problem: InputError) -> str:
        label = plan_field_label(problem.field)
        return f"{label} (under {RUNS_TITLE})" if problem.field in ("runs", "seed") else label

    def inputs_changed(self, _change: Any = None) -> None:
        """An input changed: check again, and grey an answer made from other inputs."""
        if self._loading:
            return
        self.check_inputs()
        if self.shown is not None and not self.stale:
            self.stale = True
            self.result = None
            self.save_button.disabled = True
            self._render()
            self.show_info(STALE_WORDS)

    def build_portfolio(self) -> Portfolio:
        """The plan as the page now says: the order, sizes, teams, features at once, target, level."""
        problems = self.problems()
        if problems:
            raise problems[0]
        assert self.portfolio is not None
        teams = tuple(
            dataclasses.replace(team, feature_wip=self.wip[team.name].read())
            for team in self.portfolio.teams
        )
        return self.portfolio.with_changes(
            teams=teams,
            features=tuple(row.read() for row in self.rows),
            target=self.target.read(),
            level=self.level.read(),
        )

    # -- busy state ---------------------------------------------------------------------------------
    def all_controls(self) -> list[widgets.Widget]:
        rows = [
            control
            for i, row in enumerate(self.rows)
            for control in row.controls(i == 0, i == len(self.rows) - 1)
        ]
        return [
            self.picker,
            self.reload_button,
            self.target,
            self.level,
            *self.wip.values(),
            *rows,
            self.runs,
            self.seed,
            self.save_name,
            self.run_button,
        ]

    def after_busy_change(self, busy: bool) -> None:
        """Cancel only while a run is followed; Save only for a complete, current, unsaved answer."""
        self.cancel_button.disabled = True
        self.save_button.disabled = busy or not self.can_save()
        if not busy:
            self.check_inputs()

    def can_save(self) -> bool:
        return (
            self.result is not None
            and self.result.complete
            and not self.stale
            and self.saved_id is None
        )

    def show_error(self, exc: BaseException | str) -> None:
        """As every panel, with the page's names of a feature's and a team's fields."""
        if isinstance(exc, InputError):
            exc_text = describe_error(exc, plan_field_label)
            super().show_error(exc_text)
            return
        super().show_error(exc)

    # -- run, follow, cancel -------------------------------------------------------------------------
    def start_run(self) -> Any:
        """Check the list, start the job, follow it in the background (returns at once)."""
        portfolio = self.build_portfolio()
        runs, seed = self.runs.read(), self.seed.read()
        self.result = None
        self.saved_id = None
        self.save_button.disabled = True
        self.clear_answer(RUNNING_WORDS)
        self.reset_job()
        self.partial_updates = 0
        self.progress.value = 0
        self.progress.max = PROGRESS_STEPS
        self.progress.bar_style = ""
        self.progress_text.value = f"0 of {runs:,} runs"
        # "ray": Ray once this process has joined it, this process until then (same numbers).
        engine = pipeline.page_engine() if self.engine == "ray" else self.engine
        self.show_info(
            "Starting the run on the compute cluster..."
            if engine == "ray"
            else "Starting the run..."
        )
        return self.start_background(
            lambda: self.follow_job(lambda: self._submit(portfolio, runs, seed, engine))
        )

    def _submit(self, portfolio: Portfolio, runs: int, seed: int, engine: str) -> Any:
        from flowray.jobs.portfolio import submit_portfolio

        return submit_portfolio(pipeline.engine_named(engine), portfolio, runs, seed)

    def on_started(self, job: Any) -> None:
        self.show_info("Running: the answer below updates as batches of simulated futures finish.")

    def show_progress(self, progress: Any) -> None:
        self.progress.max = PROGRESS_STEPS
        self.progress.value = min(
            PROGRESS_STEPS, max(self.progress.value, round(progress.fraction * PROGRESS_STEPS))
        )
        self.progress_text.value = (
            f"{progress.runs_done:,} of {progress.runs_total:,} runs ({progress.fraction:.0%})"
        )

    def show_partial(self, job: Any) -> None:
        partial = job.partial()
        if partial is not None and partial.runs > 0 and not partial.complete:
            self.show_answer(partial, final=False)
            self.partial_updates += 1

    def on_done(self, result: Any) -> None:
        before = self.last_complete
        self.result = result
        self.last_complete = result
        self.show_answer(result, final=True, before=before)
        self.show_success(
            f"Done: {result.runs:,} simulated futures. Save it to keep it in the ledger."
        )

    def on_cancelled(self, progress: Any) -> None:
        self.progress.bar_style = "warning"
        if self.shown is None:
            self.clear_answer(
                "No answer: the run was cancelled before any simulated futures finished."
            )
        self.show_info(
            f"Cancelled after {progress.runs_done:,} of {progress.runs_total:,} runs. "
            "The numbers shown use only the runs finished before the cancel, and cannot be saved."
        )

    def on_failed(self) -> None:
        self.progress.bar_style = "danger"
        self.clear_answer(FAILED_WORDS)

    # -- save ------------------------------------------------------------------------------------------
    def save(self) -> int:
        """Keep the answer on screen (complete and current) in the ledger; returns its forecast id."""
        result = self.result
        if result is None or not self.can_save() or self.plan_name is None:
            raise InputError(
                "forecast", None, "run the plan to the end (and unchanged) before saving it"
            )
        name = text("name", self.save_name.value) or None
        self.saved_id = self.source.save(
            self.plan_name, result.portfolio, result, forecast_name=name
        )
        self.save_name.value = ""
        self.show_success(f"Saved as forecast #{self.saved_id}.")
        return self.saved_id

    # -- the answer ------------------------------------------------------------------------------------
    def clear_answer(self, words: str) -> None:
        """Take the last answer off the page and say why in its place."""
        self.shown = None
        self.shown_final = False
        self.stale = False
        self.headline.value = f"<div style='color:#666;font-size:15px'>{escape(words)}</div>"
        for part in (self.why, self.table, self.moved, self.details_html):
            part.value = ""
        self.chart.widget.layout.display = "none"
        self.details.layout.display = "none"

    def show_answer(
        self, result: PortfolioResult, *, final: bool, before: PortfolioResult | None = None
    ) -> None:
        """Show `result` (final or so far); with `before`, what moved since that run."""
        self.shown = result
        self.shown_final = final
        self.stale = False
        self._moved_html = moved_words(before, result) if final and before is not None else ""
        self._render()

    def _render(self) -> None:
        result = self.shown
        if result is None:
            return
        final, stale = self.shown_final, self.stale
        grey = "opacity:0.45;" if stale else ""
        so_far = (
            ""
            if final
            else f" <span style='color:#888;font-size:14px'>(so far, from {result.runs:,} runs)</span>"
        )
        stale_note = (
            "<div style='color:#b26a00;font-weight:600;font-size:13px'>Stale: the inputs changed "
            "since this answer. Press Run for one that matches them.</div>"
            if stale
            else ""
        )
        self.headline.value = (
            f"{stale_note}<div style='{grey}font-size:22px;font-weight:700;color:#4a148c'>"
            f"{escape(cut_line_words(result))}{so_far}</div>"
        )
        self.why.value = f"<div style='{grey}font-size:13px;color:#333;margin:4px 0'>{escape(why_words(result))}</div>"
        self.table.value = f"<div style='{grey}'>{features_table(result)}</div>"
        self.moved.value = (
            f"<div style='{grey}'>{self._moved_html}</div>" if self._moved_html else ""
        )
        self.chart.widget.layout.display = None
        charts.show_feature_ranges(
            self.chart,
            charts.feature_ranges(result),
            "When each feature is done"
            + ("" if final else " (so far)")
            + (" (stale)" if stale else ""),
            stale=stale,
        )
        self.details.layout.display = None
        self.details_html.value = details_html(result)


# -- words ------------------------------------------------------------------------------------------------
def _team_words(team: PortfolioTeam, unit: int) -> str:
    if team.throughput is not None:
        n = len(team.throughput)
        words = f"forecast from {n} {period_word(unit, n)} of its history"
    elif team.estimate is not None:
        estimate = team.estimate
        words = f"forecast from an estimate: {estimate.low} to {estimate.high} items a {period_word(unit, 1)}"
    else:
        return (
            "<span style='color:#b42318;font-size:13px'>no history and no estimate: "
            "its features cannot be forecast</span>"
        )
    if team.blackouts:
        words += "; no work " + ", ".join(
            f"{short_date(b.first)} to {short_date(b.last)}" for b in team.blackouts
        )
    return f"<span style='color:#555;font-size:13px'>{escape(words)}</span>"


def _plan_words(portfolio: Portfolio) -> str:
    parts = [
        f"Starts {long_date(portfolio.start)}",
        f"{len(portfolio.features)} features, {len(portfolio.teams)} teams",
    ]
    if portfolio.feature_sizes:
        parts.append(
            f"{len(portfolio.feature_sizes)} past feature sizes to draw unknown sizes from"
        )
    if portfolio.blackouts:
        parts.append(
            "nobody works "
            + ", ".join(
                f"{short_date(b.first)} to {short_date(b.last)}" for b in portfolio.blackouts
            )
        )
    return f"<div style='color:#555;font-size:13px'>{escape('; '.join(parts))}.</div>"


def _error_pt(result: PortfolioResult, p: float | None) -> str:
    """The Monte Carlo error of a probability, in percentage points."""
    half = result.probability_error(p)
    if half is None:
        return ""
    return "±<0.1 pt" if half * 100 < 0.05 else f"±{half * 100:.1f} pt"


def _level_words(level: float) -> str:
    return f"{level:g}%"


def _first_k(k: int) -> str:
    return "Feature 1 is" if k == 1 else f"Features 1-{k} are all"


def cut_line_words(result: PortfolioResult) -> str:
    """The headline: how many features of the list make the target, jointly, at the level."""
    portfolio = result.portfolio
    assert portfolio.target is not None
    target = long_date(portfolio.target)
    level = _level_words(portfolio.level)
    joint = result.all_done_by_target()
    k = result.cut_line()
    if k == 0:
        first = joint[0]
        if first is None:
            return f"Feature 1 ({result.feature_names[0]}) cannot be forecast, so no cut line can be drawn."
        return (
            f"Not even feature 1 ({result.feature_names[0]}) is {level} likely by {target}: "
            f"it is {format_probability(first)} {_error_pt(result, first)}."
        )
    p = joint[k - 1]
    return (
        f"{_first_k(k)} done by {target} with {format_probability(p or 0.0)} {_error_pt(result, p)}"
    )


def why_words(result: PortfolioResult) -> str:
    """Why a feature's own chance can be higher than the cut line's: one feature alone against
    all the features down to it together, counted in the same runs (the widest gap is shown)."""
    joint = result.all_done_by_target()
    pairs = [
        (alone - together, k)
        for k in range(2, len(joint) + 1)
        if (together := joint[k - 1]) is not None
        and (alone := result.probability_by_target(k - 1)) is not None
    ]
    words = (
        "Each feature's chance below is that feature on its own; the cut line is the chance that "
        "all the features above it are done together, counted in the same simulated futures. "
        "Together is never more likely than the least likely of them alone"
    )
    if pairs:
        _, k = max(pairs)
        name = result.feature_names[k - 1]
        alone, together = result.probability_by_target(k - 1), joint[k - 1]
        words += (
            f": {name} on its own is {format_probability(alone or 0.0)} "
            f"{_error_pt(result, alone)}, features 1-{k} together "
            f"{format_probability(together or 0.0)} {_error_pt(result, together)}."
        )
    else:
        words += "."
    blocked = [
        name for name, no in zip(result.feature_names, result.cannot_forecast, strict=True) if no
    ]
    if blocked:
        words += f" The cut line cannot pass {blocked[0]}: one of its teams has no history and no estimate."
    return words


def features_table(result: PortfolioResult) -> str:
    """The features in order: 50% and level% dates, the chance by the target; the cut line drawn across."""
    portfolio = result.portfolio
    assert portfolio.target is not None
    level = _level_words(portfolio.level)
    unit = portfolio.period_days
    joint = result.all_done_by_target()
    k = result.cut_line()
    cell = "padding:4px 10px;border-bottom:1px solid #eee;white-space:nowrap"
    headers = [
        "#",
        "Feature",
        "Teams",
        "50% likely by",
        f"{level} likely by",
        f"Done by {short_date(portfolio.target)}",
    ]
    head = "".join(
        f"<th style='text-align:left;padding:4px 10px;border-bottom:2px solid #ccc'>{escape(h)}</th>"
        for h in headers
    )

    def cut_row() -> str:
        if k == 0 and joint[0] is None:
            words = "Cut line: none, feature 1 cannot be forecast"
        elif k == 0:
            words = (
                f"Cut line: not even feature 1 is {level} likely by {long_date(portfolio.target)}"
            )
        else:
            p = joint[k - 1]
            words = (
                f"Cut line: features 1-{k} all done by {long_date(portfolio.target)}: "
                f"{format_probability(p or 0.0)} {_error_pt(result, p)}"
            )
        return (
            f"<tr class='flowray-cut-line'><td colspan='{len(headers)}' style='border-top:3px solid #6a1b9a;"
            "border-bottom:3px solid #6a1b9a;color:#6a1b9a;font-weight:700;padding:3px 10px'>"
            f"{escape(words)}</td></tr>"
        )

    body = [cut_row()] if k == 0 else []
    for f, feature in enumerate(portfolio.features):
        above = f < k
        style = "background:#f1f8e9" if above else ""
        cells = [str(f + 1), feature.name, ", ".join(feature.teams)]
        if result.cannot_forecast[f]:
            teams = [
                t for t in feature.teams if not portfolio.teams[portfolio.names[t]].can_forecast
            ]
            row = "".join(f"<td style='{cell}'>{escape(c)}</td>" for c in cells)
            row += (
                f"<td colspan='3' style='{cell};color:#b42318'>cannot be forecast: "
                f"{escape(', '.join(teams))} has no throughput history and no estimate</td>"
            )
        else:
            for p in (50, portfolio.level):
                w = result.percentile(f, p)
                cells.append(
                    f"not within {portfolio.max_periods} {period_word(unit)}"
                    if w is None
                    else long_date(result.date_of(w))
                )
            chance = result.probability_by_target(f)
            cells.append(f"{format_probability(chance or 0.0)} {_error_pt(result, chance)}")
            row = "".join(f"<td style='{cell}'>{escape(c)}</td>" for c in cells)
        body.append(f"<tr style='{style}'>{row}</tr>")
        if k and f + 1 == k:
            body.append(cut_row())
    caption = (
        f"Start {long_date(portfolio.start)}; {result.runs:,} simulated futures. "
        f"Above the cut line: the features the release holds at {level}."
    )
    return (
        "<table style='border-collapse:collapse;font-size:13px;margin:4px 0'>"
        f"<caption style='caption-side:top;text-align:left;color:#555;padding:2px 0'>{escape(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def moved_words(before: PortfolioResult, after: PortfolioResult) -> str:
    """What moved since the last run: each feature's level% date before -> after, the cut line."""
    level = after.portfolio.level
    unit = after.portfolio.period_days
    old_names = set(before.feature_names)

    def when(result: PortfolioResult, name: str) -> int | None:
        return result.percentile(name, level)

    def words(result: PortfolioResult, w: int | None) -> str:
        return "not within the horizon" if w is None else long_date(result.date_of(w))

    horizon = after.portfolio.max_periods + 1
    rows = []
    for name in after.feature_names:
        f = after.feature_names.index(name)
        if name not in old_names or after.cannot_forecast[f]:
            continue
        if before.cannot_forecast[before.feature_names.index(name)]:
            continue
        old, new = when(before, name), when(after, name)
        if old == new and before.portfolio.start == after.portfolio.start:
            continue
        shift = (new if new is not None else horizon) - (old if old is not None else horizon)
        direction = "later" if shift > 0 else "earlier"
        by = f"{abs(shift)} {period_word(unit, abs(shift))} {direction}" if shift else "same date"
        rows.append((shift, (name, words(before, old), words(after, new), by)))
    old_k, new_k = before.cut_line(level), after.cut_line()
    cut = ""
    if old_k != new_k:
        cut = f" The cut line moved from after feature {old_k} to after feature {new_k}."
    if not rows:
        return (
            "<div style='font-size:13px;margin:6px 0'>Since the last run: no feature's "
            f"{_level_words(level)} date moved.{escape(cut)}</div>"
        )
    rows.sort(key=lambda item: -item[0])  # what slipped most first
    return html_table(
        ["Feature", f"{_level_words(level)} likely by, last run", "This run", "Moved"],
        [row for _, row in rows],
        row_styles=["color:#b42318" if shift > 0 else "color:#1a7f37" for shift, _ in rows],
        caption="What moved since the last run." + cut,
    )


def details_html(result: PortfolioResult) -> str:
    """The analyst's terms: runs and seed, each answer's Monte Carlo error, the joint curve."""
    portfolio = result.portfolio
    level = portfolio.level
    unit = portfolio.period_days
    joint = result.all_done_by_target()
    rows = []
    for f, name in enumerate(result.feature_names):
        if result.cannot_forecast[f]:
            rows.append((f + 1, name, "-", "-", "-", "-"))
            continue
        bands = []
        for p in (50, level):
            band = result.percentile_error(f, p)
            low, high = band["low"], band["high"]
            bands.append(
                "-" if low is None or high is None else f"{low}-{high} {period_word(unit)}"
            )
        p_target = result.probability_by_target(f)
        not_done = result.not_done(f) or 0.0
        rows.append(
            (
                f + 1,
                name,
                bands[0],
                bands[1],
                f"{(p_target or 0.0) * 100:.2f}% {_error_pt(result, p_target)}",
                f"{not_done:.2%}",
            )
        )
    curve = [
        (
            f"1-{k}",
            "-" if p is None else f"{p * 100:.2f}% {_error_pt(result, p)}",
        )
        for k, p in enumerate(joint, start=1)
    ]
    counts = result.features_done_by_target()
    return (
        html_table(
            None,
            [
                ("Runs (simulated futures)", f"{result.runs:,} of {result.runs_asked:,} asked"),
                ("Seed", str(result.seed)),
                ("Sampler", f"{result.sampler} on each team's whole history"),
                ("Target", f"{portfolio.target_periods} {period_word(unit)} after the start"),
            ],
            caption="The run",
        )
        + html_table(
            [
                "#",
                "Feature",
                "P50 (95% band)",
                f"P{level:g} (95% band)",
                "P(done by target)",
                "Not done in the horizon",
            ],
            rows,
            caption="Per feature: percentiles' order-statistic bands in periods, probabilities with "
            "their 95% Monte Carlo error.",
        )
        + html_table(
            ["Features", "P(all done by target)"],
            curve,
            caption="The joint curve: P(the first k all done by the target), from the same runs.",
        )
        + html_table(
            ["Features done by target", "Share of runs"],
            [(n, f"{share:.2%}") for n, share in counts.items() if share > 0],
            caption="How many features are done by the target (any of them, not only the first).",
        )
    )


def features_panel(db_path: str | Path | None = None, **options: Any) -> FeaturesPanel:
    return FeaturesPanel(db_path, **options)
