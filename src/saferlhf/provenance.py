"""Each stage's own record, embedded in its report: when it was written, the config hash and commit of the run
that wrote it, and the record of every upstream stage as the run read it.

The stage runner (the CLI's stage commands and the KFP step, `saferlhf.cli.core` / `saferlhf.pipeline.steps`)
runs each stage inside `recorded`: `consumed` before the stage runs, `stamp` after it. Freshness then compares
records, never file times: copying, restoring or touching a file does not make a stage look newer, and a stage is
stale exactly when an upstream record is newer or not the one it consumed
(`saferlhf.dashboard_provenance.stage_status`)."""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from saferlhf.artifacts import Layout
from saferlhf.results import InputRecord, Provenance
from saferlhf.stages import STAGE, Stage, upstream

log = logging.getLogger(__name__)
# A file's mtime comes from the kernel's coarse clock (a few ms behind `datetime.now`), and some file systems keep
# whole seconds: a report written by this run may carry an mtime slightly before the run's start.
MTIME_SLACK = timedelta(seconds=2)


def embedded(stage: Stage, layout: Layout) -> Provenance | None:
    """The record embedded in the stage's report; None when the report is missing, unreadable or predates
    embedded records. Reads only the `provenance` block (a report with mistyped fields elsewhere still has one)."""
    try:
        data = json.loads(stage.report_path(layout).read_text(encoding="utf-8"))
        return Provenance.model_validate(data["provenance"]) if isinstance(data, dict) else None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None


def consumed(stage: Stage, layout: Layout) -> dict[str, InputRecord]:
    """upstream stage -> its record now, read before `stage` runs (upstream reports without a record are left
    out: nothing to compare with later)."""
    out = {}
    for name in upstream(stage):
        if (rec := embedded(STAGE[name], layout)) is not None:
            out[name] = InputRecord(written=rec.written, config_hash=rec.config_hash)
    return out


def stamp(stage: Stage, cfg: Any, layout: Layout, inputs: dict[str, InputRecord], started: datetime,
          run_id: str | None = None) -> Provenance | None:
    """Embed this run's record in the stage's report (rewritten atomically). Skipped, with a debug line, when the
    report at the stage table's place was not written by this run (missing, or older than `started`: the stage
    wrote to an explicit path elsewhere) or is not a JSON object."""
    from saferlhf.distributed import is_main
    from saferlhf.io import write_json
    from saferlhf.tracking import config_hash, git_commit

    if not is_main():  # rank 0 alone writes artifacts
        return None
    path = stage.report_path(layout)
    try:
        if datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) < started - MTIME_SLACK:
            raise FileNotFoundError(path)
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        log.debug("%s: no report of this run at %s, no record embedded", stage.name, path)
        return None
    if not isinstance(data, dict):
        return None
    rec = Provenance(stage=stage.name, written=datetime.now(timezone.utc), config_hash=config_hash(cfg),
                     run_id=run_id or data.get("run_id") or data.get("mlflow_run_id"), git_commit=git_commit(),
                     consumed=inputs)
    write_json(path, {**data, "provenance": rec.model_dump(mode="json")})
    return rec


@contextlib.contextmanager
def recorded(stage: Stage, cfg: Any, layout: Layout, keep: tuple[type[BaseException], ...] = ()):
    """Run the block as one run of `stage`, then embed its record in its report. `keep`: exceptions that end a
    run whose report stands (the monitor's exit 1 on drift): the record is embedded, the exception goes on."""
    inputs, started = consumed(stage, layout), datetime.now(timezone.utc)
    try:
        yield
    except keep:
        stamp(stage, cfg, layout, inputs, started)
        raise
    stamp(stage, cfg, layout, inputs, started)
