"""Whole tables for export, and the file they go to.

The queries are fixed strings, never formatted (the table name picks one from
this list). The export file is checked before the ledger is read and written
so that nothing is ever lost: never over the ledger or its sidecar files
(whatever path, symlink or hard link names them), never over an existing file
unless asked, and always through a temporary file renamed into place, so a
crash leaves the old file whole and no half-written one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flowray.exceptions import InputError

# Exports read whole tables; the queries are fixed strings, never formatted.
EXPORT_QUERIES = {
    "users": "SELECT * FROM users ORDER BY user_id",
    "projects": "SELECT * FROM projects ORDER BY project_id",
    "throughput": "SELECT * FROM throughput ORDER BY project_id, period_start",
    "work_items": "SELECT * FROM work_items ORDER BY project_id, item_id",
    "forecasts": "SELECT * FROM forecasts ORDER BY forecast_id",
    "forecast_distribution": "SELECT * FROM forecast_distribution ORDER BY forecast_id, value",
    "actuals": "SELECT * FROM actuals ORDER BY actual_id",
    "forecast_scores": "SELECT * FROM forecast_scores ORDER BY forecast_id",
    "forecast_score_levels": "SELECT * FROM forecast_score_levels ORDER BY forecast_id, level",
    "calibration": "SELECT * FROM calibration ORDER BY project_id NULLS FIRST, level",
    "forecast_cdf": "SELECT * FROM forecast_cdf ORDER BY forecast_id, value",
    "forecast_plans": "SELECT * FROM forecast_plans ORDER BY plan_id",
    "throughput_revisions": "SELECT * FROM throughput_revisions ORDER BY project_id, revision",
    "throughput_revision_periods": "SELECT * FROM throughput_revision_periods "
    "ORDER BY project_id, revision, period_start",
    "portfolios": "SELECT * FROM portfolios ORDER BY portfolio_id",
    "portfolio_definitions": "SELECT * FROM portfolio_definitions ORDER BY portfolio_id, revision",
    "portfolio_features_done": "SELECT * FROM portfolio_features_done "
    "ORDER BY portfolio_id, done_on, feature",
    "portfolio_forecasts": "SELECT * FROM portfolio_forecasts ORDER BY portfolio_forecast_id",
    "portfolio_forecast_features": "SELECT * FROM portfolio_forecast_features "
    "ORDER BY portfolio_forecast_id, position",
    "portfolio_forecast_distribution": "SELECT * FROM portfolio_forecast_distribution "
    "ORDER BY portfolio_forecast_id, position, value",
    "portfolio_feature_scores": "SELECT * FROM portfolio_feature_scores "
    "ORDER BY portfolio_forecast_id, position",
    "portfolio_feature_score_levels": "SELECT * FROM portfolio_feature_score_levels "
    "ORDER BY portfolio_forecast_id, position, level",
}
EXPORT_TABLES = tuple(EXPORT_QUERIES)
EXPORT_FORMATS = ("parquet", "csv")

EXISTS_RULE = "exists; pass --force to replace it"

# Filesystems without hard links answer os.link with one of these; the export then
# falls back to a checked rename.
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}


def export_query(table: str) -> str:
    """The fixed query of an exportable table or view, or an InputError naming the choices."""
    if table not in EXPORT_QUERIES:
        raise InputError("table", table, f"must be one of {list(EXPORT_TABLES)}")
    return EXPORT_QUERIES[table]


def _same_file(a: Path, b: Path) -> bool:
    """True when `a` and `b` name one file: the same resolved path (symlinks and `..`
    followed) or, for files that exist, the same inode (a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def export_target(
    out: str | os.PathLike[str], *, protected: Iterable[Path], force: bool = False
) -> Path:
    """The file an export may write, checked before any data is read.

    `protected` are the ledger and its sidecar files: never written, even with
    `force`. Without `force` an existing file is left alone. A folder, or a
    missing parent folder, is a named error instead of a writer's traceback.
    """
    shown = str(out)
    target = Path(out).expanduser()
    if target.is_dir():
        raise InputError("out", shown, "is a folder; give a file name, e.g. projects.parquet")
    if not target.parent.is_dir():
        raise InputError("out", shown, "its folder does not exist")
    for guarded in protected:
        if _same_file(target, guarded):
            raise InputError(
                "out",
                shown,
                f"is the ledger or one of its sidecar files ({guarded.name}); "
                "an export never replaces them, even with --force",
            )
    if (target.exists() or target.is_symlink()) and not force:
        raise InputError("out", shown, EXISTS_RULE)
    return target


def _write(data: Any, handle: Any, format: str) -> None:
    if format == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(data, handle)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(data, handle)


def _place(temporary: str, target: Path, *, force: bool) -> None:
    """Move the finished temporary file to `target` in one step.

    With `force` a rename replaces whatever is there. Without it a hard link
    creates the name only if nobody has meanwhile (the kernel checks and creates
    in one step), so a file that appeared after the first check is not lost.
    """
    if force:
        os.replace(temporary, target)
    else:
        try:
            os.link(temporary, target)
        except FileExistsError:
            raise InputError("out", str(target), EXISTS_RULE) from None
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            if target.exists() or target.is_symlink():
                raise InputError("out", str(target), EXISTS_RULE) from None
            os.replace(temporary, target)
        else:
            os.unlink(temporary)
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Flush the folder's entries, so the rename itself survives a power cut."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot sync a folder; the file itself is already on disk
    finally:
        os.close(fd)


def write_export(data: Any, target: Path, *, format: str, force: bool = False) -> Path:
    """Write a pyarrow table to `target` (from `export_target`) as Parquet or CSV.

    The data goes to a temporary file in the target's folder (owner-only, mode
    0600, like the ledger), is flushed to disk, then renamed into place: a crash
    leaves either the old file or the new one, never half of one.
    """
    if format not in EXPORT_FORMATS:
        raise InputError("format", format, f"must be one of {list(EXPORT_FORMATS)}")
    try:
        fd, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
    except OSError as exc:
        raise InputError("out", str(target), f"cannot be written: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            _write(data, handle, format)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        _place(temporary, target, force=force)
    except OSError as exc:  # a full disk, a folder made read-only meanwhile
        raise InputError("out", str(target), f"cannot be written: {exc.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return target
