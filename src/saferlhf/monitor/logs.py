"""Read the scorer's prediction log (JSONL, one scored item per line) and cut the monitoring window.

The log is written by the serving process while the monitor reads it, so a half-written or corrupted line is a
normal event: it is skipped and counted, never fatal. Only an empty or missing log is bad input.

Bounded memory: given the window, only what can fall in it is kept while reading (issue 15: loading every file
first peaked at 1.0 GB for 500k records, so the 2 Gi CronJob died near 1M and that read as a drift alert). A span
window skips rotated files last written before it starts and drops older lines as they are parsed; a count
window keeps a bounded deque of the newest lines, reading files newest first until it has enough.
`select_window` then cuts the exact window from what was kept, so the verdict equals a full read's."""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from saferlhf.errors import UserError
from saferlhf.signals import SIGNALS

log = logging.getLogger(__name__)

LOG_FILE = "predictions.jsonl"
ROTATED_GLOB = "predictions-*.jsonl"
NUMERIC_FIELDS: tuple[str, ...] = (*SIGNALS, "reward", "prompt_length", "response_length")
_SPAN_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass
class LogStats:
    """What reading the log found: files read, lines parsed, lines skipped (with the first few reasons)."""

    files: list[str] = field(default_factory=list)
    lines: int = 0
    records: int = 0
    skipped: int = 0
    examples: list[str] = field(default_factory=list)

    def skip(self, where: str, why: str) -> None:
        self.skipped += 1
        if len(self.examples) < 5:
            self.examples.append(f"{where}: {why}")


def log_files(path: str | Path) -> list[Path]:
    """The log file itself, or a folder's rotated predictions-*.jsonl (sorted) then predictions.jsonl."""
    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(p.glob(ROTATED_GLOB)) + ([p / LOG_FILE] if (p / LOG_FILE).is_file() else [])
        if not files:
            raise UserError(f"prediction log folder {p} holds no {LOG_FILE} or {ROTATED_GLOB}")
        return files
    raise UserError(f"prediction log not found: {p}")


def _file_rows(f: Path, stats: LogStats, keep, rows) -> None:
    """Append the records of `f` that `keep` accepts to `rows` (a list, or a bounded deque)."""
    stats.files.append(str(f))
    with f.open("r", encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            stats.lines += 1
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                stats.skip(f"{f.name}:{i}", f"not JSON ({e.msg})")
                continue
            if not isinstance(obj, dict):
                stats.skip(f"{f.name}:{i}", f"not a JSON object ({type(obj).__name__})")
                continue
            if keep(obj):
                obj["_line"] = f"{f.name}:{i}"
                rows.append(obj)


def _parse_lines(files: list[Path], stats: LogStats, window: int | timedelta | None = None,
                 model_version: str | None = None, now: datetime | None = None) -> list[dict]:
    start = None
    if isinstance(window, timedelta):
        start = (now or datetime.now(timezone.utc)) - window
        files = [f for f in files if datetime.fromtimestamp(f.stat().st_mtime, timezone.utc) >= start]
    # the scorer's timestamps (2026-12-01T21:20:00.123Z) compare as strings; other forms are kept for pandas
    start_s = start.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z" if start is not None else None

    def keep(obj: dict) -> bool:
        if model_version is not None and str(obj.get("model_version")) != model_version:
            return False
        ts = obj.get("timestamp")
        return start_s is None or not (isinstance(ts, str) and len(ts) == 24 and ts[-1] == "Z" and ts < start_s)

    if not isinstance(window, int):
        rows: list[dict] = []
        for f in files:
            _file_rows(f, stats, keep, rows)
        return rows
    # a count: the newest `window` lines (+ a margin for two workers' interleaved timestamps), newest file first
    need, parts = window + max(1000, window // 100), []
    for f in reversed(files):
        newest: deque = deque(maxlen=need)
        _file_rows(f, stats, keep, newest)
        parts.append(newest)
        need -= len(newest)
        if need <= 0:
            break
    return [r for part in reversed(parts) for r in part]


def _validate(df: pd.DataFrame, stats: LogStats) -> pd.DataFrame:
    """Coerce types column-wise (fast on 100k rows); rows with a missing/non-numeric field or bad time are skipped."""
    reason = pd.Series("", index=df.index)  # first problem found per row ("" = valid)

    def flag(valid: pd.Series, why: str) -> None:
        reason[~valid & reason.eq("")] = why

    for col in NUMERIC_FIELDS:
        raw = df[col] if col in df else pd.Series(None, index=df.index, dtype=object)
        vals = pd.to_numeric(raw, errors="coerce")
        # a boolean or string score is a corrupted record, not 0/1 or a number to parse
        vals[raw.map(lambda v: isinstance(v, (bool, str)))] = np.nan
        flag(vals.notna() & np.isfinite(vals), f"missing or non-numeric {col!r}")
        df[col] = vals
    raw_ts = df["timestamp"] if "timestamp" in df else pd.Series(None, index=df.index, dtype=object)
    df["timestamp"] = pd.to_datetime(raw_ts.where(raw_ts.map(lambda v: isinstance(v, str))), utc=True,
                                     errors="coerce", format="ISO8601")
    flag(df["timestamp"].notna(), "missing or invalid 'timestamp'")
    for where, why in zip(df.loc[reason.ne(""), "_line"], reason[reason.ne("")]):
        stats.skip(where, why)
    return df[reason.eq("")].copy()


def _refusal_column(df: pd.DataFrame) -> pd.Series:
    """The log's `refusal` flag (NaN where absent); falls back to is_refusal(response) when only text is logged."""
    out = pd.Series(np.nan, index=df.index, dtype=float)
    if "refusal" in df:
        flag = df["refusal"]
        ok = flag.map(lambda v: isinstance(v, bool))
        out[ok] = flag[ok].astype(float)
    if "response" in df and out.isna().any():
        from saferlhf.refusal import is_refusal

        missing = out.isna() & df["response"].map(lambda v: isinstance(v, str))
        out[missing] = df.loc[missing, "response"].map(is_refusal).astype(float)
    return out


def load_prediction_log(path: str | Path, window: str | None = None, model_version: str | None = None,
                        now: datetime | None = None) -> tuple[pd.DataFrame, LogStats]:
    """Valid records, oldest first: timestamp (UTC), model_version, the numeric fields and refusal (0/1/NaN).
    With `window` / `model_version`, at least every record `select_window` would pick (and a bounded few more)."""
    stats = LogStats()
    rows = _parse_lines(log_files(path), stats, parse_window(window) if window else None, model_version, now)
    if not rows and (window or model_version) and stats.lines > stats.skipped:  # records, none in the window:
        return pd.DataFrame(columns=["timestamp", "model_version", *NUMERIC_FIELDS, "refusal"]), stats  # caller says
    if not rows:
        raise UserError(f"prediction log {path} has no records ({stats.lines} lines, {stats.skipped} unreadable)")
    df = _validate(pd.DataFrame.from_records(rows), stats)
    df["refusal"] = _refusal_column(df)
    if "model_version" not in df:
        df["model_version"] = None
    df = df[["timestamp", "model_version", *NUMERIC_FIELDS, "refusal"]]
    df = df.sort_values("timestamp", kind="stable").reset_index(drop=True)
    stats.records = len(df)
    if stats.skipped:
        log.warning("prediction log: skipped %d corrupted line(s) of %d, e.g. %s", stats.skipped, stats.lines,
                    "; ".join(stats.examples[:3]))
    if df.empty:
        raise UserError(f"prediction log {path} has no valid records: all {stats.skipped} lines are corrupted "
                        f"(e.g. {stats.examples[0]})")
    return df, stats


def parse_window(window: str) -> int | timedelta:
    """`5000` -> 5000 (last N records); `24h` -> timedelta(hours=24)."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", window)
    if not m:
        raise UserError(f"--window must be a count (`5000`) or a span (`30m`, `24h`, `7d`), got {window!r}")
    n, unit = int(m.group(1)), m.group(2)
    return timedelta(**{_SPAN_UNITS[unit]: n}) if unit else n


def select_window(df: pd.DataFrame, window: str | None, now: datetime | None = None) -> pd.DataFrame:
    """The last N records, or those newer than now - span; None = everything."""
    if window is None:
        return df
    w = parse_window(window)
    if isinstance(w, int):
        return df.iloc[-w:]
    start = (now or datetime.now(timezone.utc)) - w
    return df[df["timestamp"] >= pd.Timestamp(start)]
