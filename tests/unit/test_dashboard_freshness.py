"""Stage freshness from each stage's own record (issue 21): the record the runner embeds in a report
(`saferlhf.provenance`) decides done / stale, never a file time. Outputs are written by the project's own code:
the data stage's run function and the dashboard fixture writers, each run inside the runner's `recorded`."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from saferlhf import dashboard_provenance as dp
from saferlhf import provenance
from saferlhf.artifacts import Layout
from saferlhf.config import DataConfig
from saferlhf.stages import STAGE, STAGES
from tests.fixtures import dashboard_outputs as fx


def _generate(layout: Layout, seed: int = 42) -> None:
    from saferlhf.data import run_generate

    cfg = DataConfig(seed=seed)
    with fx.recorded(layout, "generate-data", cfg):
        run_generate(cfg, layout)


def _status(layout: Layout) -> dict[str, str]:
    return {k: v[0] for k, v in dp.stage_status(dp.records(layout)).items()}


def _old_mtime_rule(layout: Layout) -> dict[str, str]:
    """The rule this replaces (kept here to show the test tells them apart): stale when an upstream report's
    file is newer than the stage's."""
    mtime = {s.name: (p.stat().st_mtime if (p := s.report_path(layout)).exists() else None) for s in STAGES}
    return {s.name: "missing" if mtime[s.name] is None else
            "stale" if any(mtime[u] is not None and mtime[u] > mtime[s.name] for u in dp.STAGE_BY_KEY[s.name].upstream)
            else "done" for s in STAGES}


@pytest.fixture()
def ran(tmp_path) -> Layout:
    """data -> reward model -> RL run -> evaluation, in pipeline order, each with its record."""
    layout = Layout(tmp_path / "outputs")
    _generate(layout)
    fx.reward_metrics(layout)
    fx.training_stats(layout, steps=3)
    fx.evaluation_results(layout)
    return layout


def test_reports_embed_the_runs_record(ran):
    rep = json.loads(STAGE["train-reward"].report_path(ran).read_text())["provenance"]
    data = json.loads(STAGE["generate-data"].report_path(ran).read_text())["provenance"]
    from saferlhf.tracking import config_hash

    assert data["stage"] == "generate-data" and data["config_hash"] == config_hash(DataConfig())
    assert rep["consumed"] == {"generate-data": {"written": data["written"], "config_hash": data["config_hash"]}}
    rec = dp.report_record(ran, "train-reward")
    assert rec.recorded and rec.config_hash == rep["config_hash"] and "file time" not in rec.line()


def test_done_missing_and_the_graph(ran):
    st = _status(ran)
    assert st["generate-data"] == st["train-reward"] == st["train-rl"] == st["evaluate"] == "done"
    assert st["init-policy"] == st["probe"] == "missing"
    dot = dp.pipeline_dot(dp.pipeline_status(dp.records(ran)))
    assert dot.startswith("digraph") and '"train-reward" -> "train-rl";' in dot
    assert '"init-policy" -> "train-rl";' in dot
    assert dot.count("->") == sum(len(s.upstream) for s in dp.STAGES)


def test_touching_an_upstream_file_changes_nothing(ran):
    """`touch` (a copy, a checkout, a backup restore) moves file times, not records: the old rule called every
    downstream stage stale here."""
    before = _status(ran)
    later = STAGE["evaluate"].report_path(ran).stat().st_mtime + 3600
    for name in ("generate-data", "train-reward"):
        os.utime(STAGE[name].report_path(ran), (later, later))
    assert _old_mtime_rule(ran)["train-rl"] == "stale"  # what the file-time rule said
    assert _status(ran) == before


def test_a_new_upstream_record_makes_its_consumers_stale(ran):
    fx.reward_metrics(ran)  # the reward model is retrained (a new record, same config)
    table = dp.pipeline_status(dp.records(ran)).set_index("key")
    assert table.loc["train-reward", "status"] == "done" and table.loc["generate-data", "status"] == "done"
    assert table.loc["train-rl", "status"] == "stale" and "train-reward" in table.loc["train-rl", "why"]
    assert table.loc["evaluate", "status"] == "stale"  # it read the reward model too
    fx.training_stats(ran, steps=3)  # the RL run is redone on the new reward model
    st = _status(ran)
    assert st["train-rl"] == "done" and st["evaluate"] == "stale"  # the evaluation still predates both


def test_an_upstream_config_other_than_the_one_consumed_is_stale_whatever_the_times(tmp_path):
    """The data report is restored (`cp -p`, times kept) from an older run with another seed: neither its record
    nor its file is newer than the reward model's, yet it is not the data the reward model was trained on."""
    older = Layout(tmp_path / "older")
    _generate(older, seed=7)
    layout = Layout(tmp_path / "outputs")
    _generate(layout)
    fx.reward_metrics(layout)
    report = STAGE["generate-data"].report_path(layout)
    shutil.copy2(STAGE["generate-data"].report_path(older), report)
    recs = dp.records(layout)
    assert recs["generate-data"].written < recs["train-reward"].written  # older by record
    assert _old_mtime_rule(layout)["train-reward"] == "done"  # and by file time: the old rule sees nothing
    table = dp.pipeline_status(recs).set_index("key")
    assert table.loc["train-reward", "status"] == "stale" and "config" in table.loc["train-reward", "why"]
    assert table.loc["generate-data", "status"] == "done"


def test_a_stale_stage_makes_its_downstream_stale(ran):
    """The drift monitor reads only the ONNX export; the export reads the reward model. A retrained reward model
    makes the export stale, and the monitor through it."""
    from saferlhf.io import write_json
    from saferlhf.results import ExportResult, MonitorResult

    for name, result in (("export-onnx", ExportResult(passed=True)), ("monitor-drift", MonitorResult(passed=True))):
        with fx.recorded(ran, name):
            write_json(STAGE[name].report_path(ran), result.model_dump(mode="json"))
    assert _status(ran)["monitor-drift"] == "done"
    fx.reward_metrics(ran)
    st = dp.stage_status(dp.records(ran))
    assert st["export-onnx"][0] == "stale"
    assert st["monitor-drift"] == ("stale", "export-onnx is stale")


def test_a_report_without_a_record_falls_back_to_its_file_time(tmp_path):
    from saferlhf.io import write_json

    layout = Layout(tmp_path)
    write_json(STAGE["train-reward"].report_path(layout), {"ece": {}})  # written before reports had records
    rec = dp.report_record(layout, "train-reward")
    assert not rec.recorded and rec.written is not None and "file time" in rec.line()


def test_the_cli_runner_embeds_the_record(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from saferlhf.cli import app
    from saferlhf.tracking import config_hash

    monkeypatch.setenv("SAFERLHF_TRACKING", "0")
    res = CliRunner().invoke(app, ["--output-root", str(tmp_path), "data", "generate", "--seed", "3"])
    assert res.exit_code == 0, res.output
    rec = provenance.embedded(STAGE["generate-data"], Layout(tmp_path))
    assert rec is not None and rec.stage == "generate-data" and rec.config_hash == config_hash(DataConfig(seed=3))


def test_no_record_for_a_report_the_run_did_not_write(tmp_path):
    """A stage that wrote to an explicit path elsewhere leaves the table's report as it was (no stale file gets
    this run's record)."""
    from saferlhf.io import write_json

    layout = Layout(tmp_path)
    path = STAGE["train-reward"].report_path(layout)
    write_json(path, {"ece": {}})
    os.utime(path, (1, 1))
    with fx.recorded(layout, "train-reward"):
        pass
    assert "provenance" not in json.loads(path.read_text())
