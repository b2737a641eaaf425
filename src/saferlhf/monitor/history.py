"""The drift history: one CSV row per monitor run, append-only.

Earlier rows are never rewritten: the new file is the old file's bytes plus one line, swapped in atomically, so a
crash mid-write leaves the previous history intact. The header is fixed by the first run; later runs write their
values in that header's order (a column the header lacks is dropped, one it has that the run lacks stays empty).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from saferlhf.io import atomic_write
from saferlhf.monitor.report import DRIFT_COLUMNS
from saferlhf.results import MonitorResult

HISTORY_FILE = MonitorResult.HISTORY_FILE
HISTORY_COLUMNS: tuple[str, ...] = (
    "time", "window", "records", "skipped_lines", "model_versions", "drift_share", "drifted_columns",
    *(f"{c}_{k}" for c in DRIFT_COLUMNS for k in ("score", "drifted")), "drift_method",
    "unsafe_rate", "unsafe_rate_ceiling", "refusal_rate", "passed", "failed_tests", "report",
)


def history_row(summary: dict) -> dict:
    """Flatten a monitor summary into the history's columns."""
    cols = summary["columns"]
    row = {
        "time": summary["time"], "window": summary["window"] or "all", "records": summary["records"],
        "skipped_lines": summary["skipped_lines"], "model_versions": ";".join(summary["model_versions"]),
        "drift_share": summary["drift_share"], "drifted_columns": ";".join(summary["drifted_columns"]),
        "drift_method": cols[DRIFT_COLUMNS[0]]["method"] if DRIFT_COLUMNS[0] in cols else "",
        "unsafe_rate": summary["unsafe_rate"], "unsafe_rate_ceiling": summary["unsafe_rate_ceiling"],
        "refusal_rate": summary["refusal_rate"], "passed": summary["passed"],
        "failed_tests": ";".join(summary["failed_tests"]), "report": summary["report"],
    }
    for c in DRIFT_COLUMNS:
        row[f"{c}_score"] = cols.get(c, {}).get("score")
        row[f"{c}_drifted"] = cols.get(c, {}).get("drifted")
    return row


def _header(path: Path) -> list[str] | None:
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh), None)


def append_history(path: Path, row: dict) -> Path:
    """Append `row` (a dict keyed by column) to the CSV at `path`, creating it with a header on first use."""
    header = _header(path)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header is None:
        header = list(HISTORY_COLUMNS)
        writer.writerow(header)
    writer.writerow(["" if row.get(c) is None else row.get(c) for c in header])
    old = path.read_bytes() if path.is_file() else b""
    if old and not old.endswith(b"\n"):
        old += b"\n"  # a torn last line stays as it was, on its own line

    def write(tmp: Path) -> None:
        tmp.write_bytes(old + buf.getvalue().encode("utf-8"))

    return atomic_write(path, write)
