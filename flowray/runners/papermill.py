"""The scheduled batch: run notebooks/batch_forecast.ipynb with papermill into a dated report.

`flowray batch` (and cron or a systemd timer, see docs/batch.md) calls
`run_batch_notebook`: it checks the parameters against the notebook's own
`parameters` cell, reserves `reports/<date>/batch_forecast.ipynb` (or
`batch_forecast-2.ipynb`, `-3`... when an earlier run of the same day is
there, so no report is ever overwritten), executes the notebook in a fresh
kernel, and writes an HTML copy next to it, also when the run fails, so the
failing cell can be read in a browser.

The notebook does the work through flowray.pipeline; this module only runs
it, so it imports neither ray nor duckdb.
"""

from __future__ import annotations

import ast
import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowray.exceptions import FlowrayError, InputError

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
# the repository's notebook, or the copy an installed wheel carries (pyproject: force-include)
_BUNDLED_NOTEBOOK = (
    Path(__file__).resolve().parents[1] / "bundled" / "notebooks" / "batch_forecast.ipynb"
)
DEFAULT_NOTEBOOK = (
    NOTEBOOKS_DIR / "batch_forecast.ipynb"
    if (NOTEBOOKS_DIR / "batch_forecast.ipynb").is_file()
    else _BUNDLED_NOTEBOOK
)
DEFAULT_REPORTS_DIR = Path("reports")
ALERTS_TAG = "alerts"  # the batch notebook's cell whose output the CLI echoes (e.g. into cron mail)
MAX_SAME_DAY_RUNS = 10_000
MAX_CELL_TIMEOUT_S = 7 * 24 * 3600.0  # a cell limit beyond a week is a typo
SUMMARY_SUFFIX = (
    ".summary.json"  # next to the report: the outcome per project, written by the notebook
)


class BatchError(FlowrayError):
    """The batch could not be started (missing notebook, unwritable reports folder)."""


# -- parameters ------------------------------------------------------------------------


def parse_parameter_value(text: str) -> Any:
    """A `-p` value read exactly as papermill's command line reads it.

    "True"/"False" -> bool, "None" -> None, then int, then float, else the text.
    """
    if text == "True":
        return True
    if text == "False":
        return False
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def notebook_parameters(notebook: str | Path) -> dict[str, dict[str, Any]]:
    """The notebook's declared parameters: name -> {"type", "default", "help"} (papermill's inference)."""
    import papermill

    path = Path(notebook)
    if not path.is_file():
        raise BatchError(f"notebook {path} not found; give one with --notebook")
    declared = papermill.inspect_notebook(str(path))
    return {
        name: {
            "type": info.get("inferred_type_name", "None"),
            "default": info.get("default"),
            "help": info.get("help", ""),
        }
        for name, info in declared.items()
    }


def _coerce(name: str, raw: Any, declared_type: str) -> Any:
    """A parsed value checked against the type the parameters cell declares.

    Text values stay text for `str` parameters (a project filter "2026" must not
    become the int 2026); ints are accepted for `float` parameters; `list` and
    `dict` parameters read a Python literal ("[3, 4]").
    """
    text = raw if isinstance(raw, str) else None
    value = parse_parameter_value(raw) if text is not None else raw
    if declared_type == "str":
        if text is not None:
            return text
        if isinstance(value, str):
            return value
        raise InputError(name, value, "must be text")
    if declared_type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(name, raw, "must be a whole number")
        return value
    if declared_type == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(name, raw, "must be a number")
        return float(value)
    if declared_type == "bool":
        words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        if text is not None and text.strip().lower() in words:  # `-p sync_trackers false`
            return words[text.strip().lower()]
        if not isinstance(value, bool):
            raise InputError(name, raw, "must be True or False")
        return value
    if declared_type in ("list", "dict") and text is not None:
        try:
            value = ast.literal_eval(text)  # literals only: never evaluates code
        except (ValueError, SyntaxError):
            raise InputError(
                name, raw, f"must be a Python {declared_type} literal, e.g. [3, 4]"
            ) from None
        if type(value).__name__ != declared_type:
            raise InputError(name, raw, f"must be a {declared_type}")
    return value


def resolve_parameters(
    pairs: Iterable[tuple[str, Any]] | Mapping[str, Any] | None,
    declared: Mapping[str, Mapping[str, Any]],
    notebook_name: str = "the notebook",
) -> dict[str, Any]:
    """Name/value pairs (text as typed after `-p`, or Python values) checked against `declared`.

    An unknown name is an error rather than papermill's warning: a scheduled
    job that silently ignores `-p runz 5000` would run for months unnoticed.
    """
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs or ())
    out: dict[str, Any] = {}
    for name, raw in items:
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise InputError(
                "parameter", name, f"is not a parameter of {notebook_name} (known: {known})"
            )
        out[name] = _coerce(name, raw, str(declared[name].get("type")))
    return out


# -- where the report goes ----------------------------------------------------------------


def reserve_report_path(reports_dir: str | Path, day: dt.date, stem: str) -> Path:
    """Create (empty, exclusively) and return reports_dir/<day>/<stem>.ipynb, or <stem>-2, -3...

    Exclusive creation makes two runs started at the same moment pick
    different names instead of overwriting each other.
    """
    folder = Path(reports_dir) / day.isoformat()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"cannot create the reports folder {folder}: {exc}") from exc
    for number in range(1, MAX_SAME_DAY_RUNS + 1):
        name = f"{stem}.ipynb" if number == 1 else f"{stem}-{number}.ipynb"
        path = folder / name
        try:
            with path.open("x", encoding="utf-8"):
                return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise BatchError(f"cannot write a report in {folder}: {exc}") from exc
    raise BatchError(f"{folder} already holds {MAX_SAME_DAY_RUNS} reports of {stem}")


# -- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellFailure:
    """Where and why the notebook stopped (cell numbers as in the report notebook)."""

    cell_index: (
        int | None
    )  # 0-based position in the report notebook (papermill's added cells included)
    execution_count: int | None  # the "In [n]" shown next to the cell
    source: str
    error_name: str
    error_value: str

    def describe(self) -> str:
        where = "the notebook" if self.cell_index is None else f"cell index {self.cell_index}"
        if self.execution_count is not None:
            where += f" (In [{self.execution_count}])"
        text = f"{where} failed: {self.error_name}: {self.error_value}"
        if self.source.strip():
            shown = "\n".join("    " + line for line in self.source.strip().splitlines()[:12])
            text += f"\n{shown}"
        return text


@dataclass
class BatchRun:
    """One execution of the batch notebook and the files it left."""

    notebook: Path  # the executed copy (with outputs)
    html: Path | None
    parameters: dict[str, Any]
    elapsed_s: float
    failure: CellFailure | None = None
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, Any] | None = (
        None  # forecast / skipped / failed / alerts, when the notebook wrote it
    )

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def failed_projects(self) -> list[str]:
        return list((self.summary or {}).get("failed", []))

    def tagged_output(self, tag: str = ALERTS_TAG) -> str:
        """The plain-text output of the report's cells tagged `tag` ("" when none)."""
        import nbformat

        nb = nbformat.read(self.notebook, as_version=4)
        texts: list[str] = []
        for cell in nb.cells:
            if cell.cell_type != "code" or tag not in cell.get("metadata", {}).get("tags", []):
                continue
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    texts.append(output.get("text", ""))
                elif "data" in output and "text/plain" in output["data"]:
                    texts.append(output["data"]["text/plain"])
        return "\n".join(t.rstrip("\n") for t in texts)


def _failure_from(exc: BaseException) -> CellFailure:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return CellFailure(exc.cell_index, exc.exec_count, exc.source or "", exc.ename, exc.evalue)
    return CellFailure(
        None,
        None,
        "",
        type(exc).__name__,
        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
    )


def _locate_in_report(failure: CellFailure, report: Path) -> CellFailure:
    """The failing cell's index in the saved report.

    papermill numbers the cell before it puts its error banner on top of the
    report, so its index is one short of where a reader finds the cell.
    """
    import dataclasses

    import nbformat

    try:
        cells = nbformat.read(report, as_version=4).cells
    except Exception:
        return failure
    for index, cell in enumerate(cells):
        if (
            cell.cell_type == "code"
            and cell.get("execution_count") == failure.execution_count
            and cell.source == failure.source
        ):
            return dataclasses.replace(failure, cell_index=index)
    return failure


def write_html(notebook: Path) -> Path:
    """An HTML copy of an executed notebook, next to it."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    html = notebook.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def check_timeout(cell_timeout: Any) -> float | None:
    """None (no limit) or a number of seconds above 0 and at most MAX_CELL_TIMEOUT_S."""
    from flowray.core.validation import finite_number

    if cell_timeout is None:
        return None
    seconds = finite_number("timeout", cell_timeout, 0.0, MAX_CELL_TIMEOUT_S)
    if seconds <= 0:
        raise InputError(
            "timeout", cell_timeout, f"must be above 0 and at most {MAX_CELL_TIMEOUT_S:g} seconds"
        )
    return seconds


def read_summary(path: Path) -> dict[str, Any] | None:
    """The JSON outcome the notebook wrote (None when it wrote none or it is unreadable)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_batch_notebook(
    parameters: Iterable[tuple[str, Any]] | Mapping[str, Any] | None = None,
    *,
    db_path: str | Path | None = None,
    reports_dir: str | Path = DEFAULT_REPORTS_DIR,
    notebook: str | Path = DEFAULT_NOTEBOOK,
    day: dt.date | None = None,
    kernel_name: str | None = None,
    cell_timeout: float | None = None,
) -> BatchRun:
    """Execute the batch notebook into reports_dir/<day>/ and write its HTML copy.

    parameters: (name, value) pairs, as typed after `-p` or as Python values.
    db_path: shorthand for the `db_path` parameter (made absolute, so the
      report says which database it used). A failing cell does not raise: the
      returned run has `failure` set and its report shows the error.
    """
    import papermill

    source = Path(notebook)
    declared = notebook_parameters(source)
    values = resolve_parameters(parameters, declared, source.name)
    if db_path is not None:
        if "db_path" not in declared:
            raise InputError("db", str(db_path), f"{source.name} has no db_path parameter")
        if "db_path" in values and values["db_path"] not in ("", str(db_path)):
            raise InputError(
                "db", str(db_path), "give the database once: --db or -p db_path, not both"
            )
        values["db_path"] = str(Path(db_path).expanduser().resolve())
    cell_timeout = check_timeout(cell_timeout)
    from flowray.pipeline.batch import check_batch_parameters, check_ledger

    values = check_batch_parameters(values)  # every known batch parameter, before any report
    if "db_path" in declared:
        check_ledger(values.get("db_path") or None)
    output = reserve_report_path(reports_dir, day or dt.date.today(), source.stem)
    summary_path = output.with_suffix(SUMMARY_SUFFIX)
    if "summary_path" in declared:
        values["summary_path"] = str(summary_path.resolve())
    started = time.monotonic()
    failure: CellFailure | None = None
    try:
        papermill.execute_notebook(
            str(source),
            str(output),
            parameters=values,
            kernel_name=kernel_name,
            progress_bar=False,
            log_output=False,
            execution_timeout=cell_timeout,
        )
    except Exception as exc:  # a failing cell, a dead kernel, a timeout: all reported, none raised
        failure = _failure_from(exc)
    elapsed = time.monotonic() - started
    run = BatchRun(output, None, values, elapsed, failure)
    if "summary_path" in declared:
        run.summary = read_summary(summary_path)
        if run.summary is None and failure is None:
            run.warnings.append(f"the notebook wrote no summary to {summary_path}")
    if output.stat().st_size == 0:  # the kernel never started: nothing was written
        run.warnings.append("no notebook was written (the kernel did not start)")
        return run
    if failure is not None and failure.cell_index is not None:
        run.failure = _locate_in_report(failure, output)
    try:
        run.html = write_html(output)
    except Exception as exc:  # the .ipynb report stands on its own
        run.warnings.append(f"HTML copy not written: {type(exc).__name__}: {exc}")
    return run


def describe_run(run: BatchRun) -> list[str]:
    """Lines for a terminal or a cron mail."""
    lines = []
    if run.parameters:
        lines.append("parameters: " + ", ".join(f"{k}={v!r}" for k, v in run.parameters.items()))
    lines.append(f"report: {run.notebook}")
    if run.html is not None:
        lines.append(f"html:   {run.html}")
    lines.extend(f"warning: {w}" for w in run.warnings)
    if run.summary is not None:
        forecast = run.summary.get("forecast", [])
        lines.append(
            f"forecast: {len(forecast)} project(s)"
            + (": " + ", ".join(forecast) if forecast else "")
        )
        outlook = run.summary.get("outlook", [])
        if outlook:
            lines.append(
                f"  without a plan, forecast how many items: {', '.join(outlook)} "
                "(set a plan: flowray forecasts plan ID)"
            )
        portfolios = run.summary.get("portfolios", [])
        if portfolios:
            lines.append(f"portfolios: {len(portfolios)}: {', '.join(portfolios)}")
        for key in ("skipped", "failed"):
            entries = run.summary.get(key, [])
            lines.append(f"{key}: {len(entries)} project(s)")
            lines.extend(f"  - {entry}" for entry in entries)
        alerts = run.summary.get("alerts", [])
        lines.append("alerts: none" if not alerts else "alerts:")
        lines.extend(f"  - {entry}" for entry in alerts)
    lines.append(f"{'finished' if run.ok else 'FAILED'} in {run.elapsed_s:.1f} s")
    return lines
