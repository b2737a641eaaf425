"""Provenance behind the dashboard: which run, config and commit produced what a page shows, whether each stage
is fresh, and whether the registry's champion was gated on the numbers now on disk.

Pure (no streamlit import); MLflow is imported inside the one function that reads runs. Each stage's record is the
one its report embeds (`saferlhf.provenance`: written time, config hash, commit, the upstream records it
consumed); file times are used only for a report written before reports carried one. Times are UTC."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from saferlhf import stages
from saferlhf.artifacts import Layout
from saferlhf.dashboard_data import STAGE_BY_KEY, STAGES, NotReady, load_result, num
from saferlhf.results import InputRecord

GATE_TOLERANCE = 1e-4  # gate metrics are stored rounded to 6 digits; below this two values are the same number


@dataclass(frozen=True)
class StageRecord:
    """What identifies one stage's output: its report file, when it was written, the config hash of the run that
    wrote it, the upstream records it consumed, and the MLflow run logged for it (when tracking was on).
    `recorded`: the time and hash come from the report's embedded record (False: a report from before records,
    timed by its file and hashed from its embedded config)."""

    stage: str
    path: Path
    written: pd.Timestamp | None
    config_hash: str | None = None
    seconds: float | None = None
    run_id: str | None = None
    git_commit: str | None = None
    run_config_hash: str | None = None
    notes: tuple[str, ...] = field(default=())
    recorded: bool = False
    consumed: dict[str, InputRecord] = field(default_factory=dict)

    def line(self) -> str:
        """One Markdown line for a page caption."""
        if self.written is None:
            return f"**{STAGE_BY_KEY[self.stage].label}**: `{self.path.name}` not written yet"
        when = _fmt(self.written) + ("" if self.recorded else " (file time: the report has no record)")
        parts = [f"**{STAGE_BY_KEY[self.stage].label}**: `{self.path.name}` written {when}"]
        if self.config_hash:
            parts.append(f"config `{self.config_hash}`")
        if self.run_id:
            parts.append(f"MLflow run `{self.run_id[:12]}`")
        if self.git_commit:
            parts.append(f"commit `{self.git_commit[:10]}`")
        return " · ".join(parts + list(self.notes))


def _fmt(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def json_hash(obj: Any) -> str:
    """Short sha256 of an object's canonical JSON: `saferlhf.tracking.config_hash` for a config already dumped."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def report_record(layout: Layout, stage: str, runs: dict[str, dict] | None = None) -> StageRecord:
    """The stage's record from its own report (embedded provenance; for an older report its file time and
    embedded config) plus its MLflow run in `runs` (stage -> newest run, `tracked_runs`)."""
    path = stages.STAGE[stage].report_path(layout)
    try:
        res = load_result(layout, stage)
    except NotReady:
        res = None
    run = (runs or {}).get(stage) or {}
    if res is None:
        written = pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC") if path.exists() else None
        return StageRecord(stage, path, written, run_id=run.get("run_id"), git_commit=run.get("git_commit"),
                           run_config_hash=run.get("config_hash"))
    rec = res.provenance
    cfg = getattr(res, "config", None)  # older reports: the embedded config (evaluation, RL) is the only hash
    cfg_hash = rec.config_hash if rec else (json_hash(cfg) if isinstance(cfg, dict) and cfg else None)
    written = pd.Timestamp(rec.written) if rec else pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC")
    secs = getattr(res, "seconds", None)
    secs = secs if secs is not None else getattr(getattr(res, "summary", None), "seconds", None)
    notes = []
    if cfg_hash and run.get("config_hash") and run["config_hash"] != cfg_hash:
        notes.append(f"⚠ the newest MLflow `{stage}` run has config `{run['config_hash']}`, not this file's")
    return StageRecord(stage, path, written, cfg_hash, num(secs) if secs is not None else None,
                       run.get("run_id") or (rec.run_id if rec else None),
                       run.get("git_commit") or (rec.git_commit if rec else None), run.get("config_hash"),
                       tuple(notes), rec is not None, dict(rec.consumed) if rec else {})


def records(layout: Layout, runs: dict[str, dict] | None = None) -> dict[str, StageRecord]:
    """stage -> its record, every stage of the table."""
    return {s.key: report_record(layout, s.key, runs) for s in STAGES}


# ---------------------------------------------------------------- freshness
def stale_reason(rec: StageRecord, up: StageRecord) -> str | None:
    """Why `rec` is stale against its upstream stage's record `up` (None: it is not): the upstream record is
    newer, or is not the one `rec` consumed (another config hash or another write)."""
    if up.written is None or rec.written is None:
        return None
    seen = rec.consumed.get(up.stage)
    if seen is not None and up.recorded:
        if seen.config_hash != up.config_hash:
            return f"{up.stage} config {up.config_hash}, consumed {seen.config_hash}"
        if seen.written is not None and pd.Timestamp(seen.written) != up.written:
            return f"{up.stage} rewritten {_fmt(up.written)} after it was consumed"
    if up.written > rec.written:
        return f"{up.stage} written after it ({_fmt(up.written)})"
    return None


def stage_status(recs: dict[str, StageRecord]) -> dict[str, tuple[str, str]]:
    """stage -> (done / stale / missing, why): stale when an upstream record is newer than the stage's or is not
    the one it consumed, or when an upstream stage is itself stale (the table lists upstream stages first)."""
    out: dict[str, tuple[str, str]] = {}
    for s in STAGES:
        rec = recs.get(s.key)
        if rec is None or rec.written is None:
            out[s.key] = ("missing", "")
            continue
        why = next((w for u in s.upstream if u in recs and (w := stale_reason(rec, recs[u]))), None)
        why = why or next((f"{u} is stale" for u in s.upstream if out.get(u, ("",))[0] == "stale"), None)
        out[s.key] = ("stale", why) if why else ("done", "")
    return out


def pipeline_status(recs: dict[str, StageRecord]) -> pd.DataFrame:
    """One row per stage: status done / stale / missing (`stage_status`), why, record time, report, command."""
    status = stage_status(recs)
    rows = [{"stage": s.label, "key": s.key, "status": status[s.key][0], "why": status[s.key][1],
             "updated": r.written.strftime("%Y-%m-%d %H:%M UTC") if (r := recs.get(s.key)) and r.written else "",
             "artifact": str(r.path) if r else "", "command": s.command} for s in STAGES]
    return pd.DataFrame(rows)


_STATUS_COLOUR = {"done": "#c8e6c9", "stale": "#ffe0b2", "missing": "#eeeeee"}


def pipeline_dot(status: pd.DataFrame) -> str:
    """Graphviz DOT of the pipeline, each stage filled by its status."""
    by_key = status.set_index("key")
    lines = ["digraph pipeline {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    for s in STAGES:
        st_ = by_key.loc[s.key, "status"]
        lines.append(f'  "{s.key}" [label="{s.label}\\n{st_}", fillcolor="{_STATUS_COLOUR[st_]}"];')
    lines += [f'  "{u}" -> "{s.key}";' for s in STAGES for u in s.upstream]
    lines.append("}")
    return "\n".join(lines)


def records_table(records: dict[str, StageRecord]) -> pd.DataFrame:
    """One row per stage record: key, report file, written, config hash, MLflow run, commit."""
    rows = [{"key": r.stage, "report": r.path.name, "written": _fmt(r.written) if r.written is not None else "",
             "config": r.config_hash or "", "mlflow_run": r.run_id or "", "commit": (r.git_commit or "")[:10]}
            for r in records.values()]
    return pd.DataFrame(rows, columns=["key", "report", "written", "config", "mlflow_run", "commit"])


def tracked_runs(tracking_uri: str) -> dict[str, dict]:
    """Newest finished MLflow run per stage (tag `saferlhf.stage`): run_id, start time, config_hash, git_commit.
    {} when the store has no stage runs (tracking off)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    out: dict[str, dict] = {}
    if not exps:
        return out
    for run in client.search_runs(exps, "tags.`saferlhf.stage` != ''", order_by=["attributes.start_time DESC"],
                                  max_results=500):
        tags = run.data.tags
        stage = tags["saferlhf.stage"]  # the stage's run name in the stage table, which is the dashboard's key
        if stage not in out:
            out[stage] = {"run_id": run.info.run_id, "config_hash": tags.get("saferlhf.config_hash"),
                          "git_commit": tags.get("saferlhf.git_commit"),
                          "started": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC")}
    return out


# ---------------------------------------------------------------- champion vs what is on disk
def gate_disagreements(recorded: dict[str, float], on_disk: dict[str, float]) -> list[tuple[str, float, float]]:
    """(metric, value the version was gated on, value the outputs give now) for every metric both hold that
    differs.

    >>> gate_disagreements({"over_refusal": 0.375, "ece_max": 0.03}, {"over_refusal": 0.45, "ece_max": 0.03})
    [('over_refusal', 0.375, 0.45)]
    """
    out = []
    for k in sorted(set(recorded) & set(on_disk)):
        a, b = num(recorded[k]), num(on_disk[k])
        if not (math.isnan(a) or math.isnan(b)) and abs(a - b) > GATE_TOLERANCE:
            out.append((k, a, b))
    return out


# the stages whose outputs feed the gate metrics (saferlhf.registry.evidence)
GATED_STAGES = ("train-reward", "evaluate", "probe")


def champion_warnings(versions: pd.DataFrame, on_disk: dict[str, float], written: dict[str, pd.Timestamp | None]
                      ) -> list[str]:
    """One warning per champion whose recorded gate metrics disagree with `on_disk` (gate metrics recomputed from
    the outputs now) or that was registered before an output it was gated on was rewritten (`written`: stage ->
    report time)."""
    warnings = []
    mask = versions["aliases"].str.split(", ").apply(lambda a: "champion" in a)
    for _, row in versions[mask].iterrows():
        who = f"{row['model']} v{row['version']} (champion, registered {_fmt(row['created'])})"
        diffs = gate_disagreements(row.get("metrics") or {}, on_disk)
        if diffs:
            shown = ", ".join(f"{k} {a:.4g} → {b:.4g}" for k, a, b in diffs)
            warnings.append(f"{who} was gated on numbers that differ from the outputs on screen "
                            f"(registered → on disk): {shown}. Re-run `saferlhf registry register`.")
        newer = [f"{STAGE_BY_KEY[s].label} ({_fmt(t)})" for s in GATED_STAGES
                 if (t := written.get(s)) is not None and t > row["created"]]
        if newer and not diffs:
            warnings.append(f"{who} is older than outputs it was gated on: {', '.join(newer)} were rewritten "
                            "after it was registered.")
    return warnings


def registry_record(versions: pd.DataFrame) -> pd.Timestamp | None:
    """When the registry last registered a version (its own record, not the file time of `mlflow.db`, which any
    read or tracked run touches)."""
    return None if versions.empty else versions["created"].max()


def with_registry_record(status: pd.DataFrame, registered: pd.Timestamp | None,
                         written: dict[str, pd.Timestamp | None]) -> pd.DataFrame:
    """`pipeline_status` with the Registry row taken from the registry's own record: missing when
    no version is registered, stale when a gated stage's report is newer than the newest version."""
    status = status.copy()
    i = status.index[status["key"] == "register"]
    if not len(i):
        return status
    if registered is None:
        status.loc[i, ["status", "updated"]] = ["missing", ""]
        return status
    newer = any(t is not None and t > registered for s, t in written.items() if s in (*GATED_STAGES, "export-onnx"))
    status.loc[i, ["status", "updated"]] = ["stale" if newer else "done", registered.strftime("%Y-%m-%d %H:%M UTC")]
    return status
