"""saferlhf.pipeline (no kfp): config resolution for the pipeline parameters, the stage adapter, publishing."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from saferlhf.artifacts import Layout
from saferlhf.errors import UserError
from saferlhf.pipeline import DriftDetected, monitor_payload, monitor_step, parse_params, publish, resolve_config, \
    section_payloads
from saferlhf.pipeline.config import stage_config
from saferlhf.pipeline.steps import log_metrics, run_stage, step_io
from tests.conftest import REPO


def test_parameters_override_the_yaml_and_unset_ones_keep_it():
    demo = resolve_config(str(REPO / "configs" / "demo.yaml"))
    cfg = resolve_config(str(REPO / "configs" / "demo.yaml"), {"probe": {"max_prompts_per_probe": 3}},
                         {"seed": 7, "rl_steps": 5, "objective": "lagrangian", "reward_epochs": 0, "target_kl": 0.0})
    assert cfg.rl.max_steps == 5 and cfg.rl.objective == "lagrangian" and cfg.probe.max_prompts_per_probe == 3
    assert cfg.reward.num_epochs == demo.reward.num_epochs and cfg.rl.target_kl == demo.rl.target_kl  # unset
    assert cfg.data.seed == cfg.reward.seed == cfg.rl.seed == 7


def test_zero_is_a_value_not_unset():
    """`seed=0` and `min_unsafe_reduction=0.0` are real settings; only each parameter's own default means unset."""
    cfg = resolve_config("", params={"seed": 0, "min_unsafe_reduction": 0.0, "max_probe_risk": 0.0,
                                     "rl_steps": 0, "target_kl": 0.0})
    assert cfg.data.seed == cfg.rl.seed == 0
    assert cfg.registry.min_unsafe_reduction == 0.0 and cfg.registry.max_probe_risk == 0.0
    assert cfg.rl.max_steps == resolve_config("").rl.max_steps  # 0 is rl_steps' default: unset


def test_every_payload_carries_the_yamls_tracking_settings():
    """A stage step tracks to the YAML's MLflow server and experiment, not RegistryConfig() defaults."""
    cfg = resolve_config("registry:\n  tracking_uri: http://mlflow:5000\n  experiment: team-a\n")
    for section in ("reward", "rl", "monitor"):
        _, _, tracking = stage_config(section_payloads(cfg, [section], "v")[section])
        assert (tracking.tracking_uri, tracking.experiment) == ("http://mlflow:5000", "team-a")


def test_config_by_name_inline_text_and_errors():
    assert resolve_config("demo") == resolve_config(str(REPO / "configs" / "demo.yaml"))
    assert resolve_config("rl:\n  max_steps: 9\n").rl.max_steps == 9
    with pytest.raises(UserError, match="config 'nope' not found"):
        resolve_config("nope")
    with pytest.raises(UserError, match=r"rl\.max_steps"):
        resolve_config("", params={"rl_steps": -5})
    with pytest.raises(UserError, match="unknown pipeline parameter"):
        resolve_config("", params={"rl_stepz": 3})


def test_payload_round_trip_clears_artifact_paths():
    cfg = resolve_config("", {"reward": {"output_dir": "/elsewhere", "num_epochs": 2}})
    payload = section_payloads(cfg, ["reward"], "abc")["reward"]
    assert json.loads(payload)["code_version"] == "abc"
    section, reward, _ = stage_config(payload)
    assert section == "reward" and reward.num_epochs == 2 and reward.output_dir is None


def test_parse_params():
    assert parse_params(["a=3", "b=x", "c={\"rl\": {\"max_steps\": 2}}", "d=true"]) == \
        {"a": 3, "b": "x", "c": {"rl": {"max_steps": 2}}, "d": True}
    with pytest.raises(UserError, match="name=value"):
        parse_params(["oops"])


def test_run_stage_links_inputs_and_moves_outputs(tmp_path: Path, tiny_layout):
    """A real stage (dataset generation) through the adapter: outputs land in the artifact folder."""
    payload = section_payloads(resolve_config(""), ["data"], "t")["data"]
    out = tmp_path / "task" / "dataset"
    result = run_stage(payload, "generate-data", {}, {"data_dir": str(out)}, str(tmp_path / "scratch"))
    assert (out / "safety_labels.csv").read_bytes() == tiny_layout.labels.read_bytes()
    assert result.labels_path == str(out / "safety_labels.csv")  # paths in the result follow the move
    assert not (tmp_path / "scratch").exists()


def test_step_io_requires_every_artifact():
    with pytest.raises(RuntimeError, match="lacks artifacts"):
        step_io("train-rl", {"dataset": "/d", "rl_policy": "/r"})


def test_metrics_are_logged_and_written(tmp_path: Path):
    logged = {}
    art = SimpleNamespace(path=str(tmp_path / "m"), log_metric=lambda k, v: logged.__setitem__(k, v))
    numbers = log_metrics(art, {"a": 1, "b.c": 2.5, "f": float("nan")})
    assert numbers == logged == {"a": 1.0, "b.c": 2.5}
    assert json.loads(Path(art.path).read_text()) == numbers


def test_publish_copies_into_the_layout(tmp_path: Path):
    src = tmp_path / "run"
    (src / "rm" / "plots").mkdir(parents=True)
    (src / "rm" / "metrics.json").write_text('{"pairwise_accuracy": 0.9}')
    (src / "onnx").mkdir()
    (src / "onnx" / "model.onnx").write_text("onnx")
    (src / "probes.json").write_text("{}")
    layout = Layout(tmp_path / "outputs")
    done = publish({"reward_model": str(src / "rm"), "reward_onnx": str(src / "onnx"),
                    "probes_report": str(src / "probes.json")}, layout)
    assert (layout.reward_model / "metrics.json").is_file() and (layout.reward_onnx / "model.onnx").is_file()
    assert layout.probes_report.read_text() == "{}" and set(done) == {"reward_model", "reward_onnx", "probes_report"}
    publish({"reward_model": str(src / "rm")}, layout)  # republishing the model keeps its ONNX export
    assert (layout.reward_onnx / "model.onnx").is_file()


def test_monitor_payload_sets_the_monitor_section():
    payload = monitor_payload("monitor:\n  min_records: 20\n  window: 7d\n", {"monitor": {"drift_method": "psi"}},
                              "v1", window="", min_records=0, max_drift_share=0.3)
    section, cfg, _ = stage_config(payload)
    assert section == "monitor" and json.loads(payload)["code_version"] == "v1"
    assert (cfg.window, cfg.min_records, cfg.max_drift_share, cfg.drift_method) == ("7d", 20, 0.3, "psi")  # unset keep
    assert stage_config(monitor_payload("", None, "v1", window="500"))[1].window == "500"
    with pytest.raises(UserError, match="unknown monitor parameter"):
        monitor_payload("", None, "v1", windw="1h")
    with pytest.raises(UserError, match="monitor.window"):
        monitor_payload("", None, "v1", window="yesterday")


def test_monitor_step_writes_its_outputs_and_fails_on_drift(tmp_path: Path, tiny_layout):
    """The monitor component's body on generated logs (no kfp): normal traffic passes; a surge with fail_on_drift
    raises after the report, snapshot and metrics are written, and leaves error.txt for `pipeline run` to quote."""
    from saferlhf.data.loader import LABEL_COLUMNS, load_labels
    from saferlhf.reward.evaluate import reference_frame
    from saferlhf.signals import DEFAULT_WEIGHTS
    from tests.unit.test_monitor import log_records, write_log

    labels = load_labels(tiny_layout.labels)
    test = labels[labels["split"] == "test"].reset_index(drop=True)
    surge = labels[labels["category"].isin(["jailbreak", "adversarial"]) & (labels["response_type"] == "unsafe")]
    reference = tmp_path / "reference_scores.parquet"
    reference_frame(test, test[LABEL_COLUMNS].to_numpy(), DEFAULT_WEIGHTS).to_parquet(reference, index=False)
    payload = monitor_payload("", None, "t", window="")
    for name, rows, fail in (("normal", test, True), ("surge", surge, True), ("reported", surge, False)):
        log = write_log(tmp_path / name / "predictions.jsonl", log_records(rows, 300, seed=1))
        task = tmp_path / "runs" / name
        metrics = SimpleNamespace(path=str(task / "metrics"), log_metric=lambda k, v: None)
        report, snapshot = task / "report", task / "snapshot"
        if name == "surge":
            with pytest.raises(DriftDetected, match="drifted signals .*safety"):
                monitor_step(payload, str(log), str(reference), fail, str(report), str(snapshot), metrics)
            assert (task / "error.txt").read_text().startswith("DriftDetected: drift detected: ")
        else:
            summary = monitor_step(payload, str(log), str(reference), fail, str(report), str(snapshot), metrics)
            assert summary["passed"] is (name == "normal") and summary["report"] == str(report)
        assert "<html" in report.read_text()[:2000].lower()
        assert json.loads(snapshot.read_text())["summary"]["records"] == 300
        numbers = json.loads(Path(metrics.path).read_text())
        assert numbers["passed"] == float(name == "normal") and "safety.drift_score" in numbers
        assert not (task / "monitoring").exists()  # the scratch folder is gone
    with pytest.raises(UserError, match="no drift reference"):
        monitor_step(payload, str(log), "", True, str(tmp_path / "x" / "report"), str(tmp_path / "x" / "s"), metrics)


def test_assessments_share_the_machines_cpus_under_the_local_runner(monkeypatch):
    """kfp.local runs the fan-out's assessments as processes on one machine: each gets its share of the CPUs
    (torch's one-thread-per-CPU default in each oversubscribes them); other steps and cluster pods are untouched."""
    import torch

    from saferlhf.pipeline.steps import SHARED_HOST_ENV, share_cpus
    from saferlhf.serve.scorer import cpu_limit
    from saferlhf.stages import ASSESS_PARALLELISM

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv(SHARED_HOST_ENV, raising=False)
        assert share_cpus("evaluate") is None and torch.get_num_threads() == before  # a pod on a cluster
        monkeypatch.setenv(SHARED_HOST_ENV, "1")
        assert share_cpus("train-rl") is None and torch.get_num_threads() == before  # runs alone
        for step in ("evaluate", "probe"):
            assert share_cpus(step) == max(1, cpu_limit() // ASSESS_PARALLELISM) == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


FIXTURE_BENCHMARKS = "tests/fixtures/benchmarks/"


def test_the_benchmark_is_planned_only_where_benchmark_files_are_configured():
    """No files (the demo): exactly the two items of the fan-out before the benchmark step, so their cache keys
    stand; with files, a third item carrying the benchmark section."""
    from saferlhf.pipeline import assessment_plan

    def plan(cfg):
        return assessment_plan(section_payloads(cfg, ["evaluate", "probe", "benchmark"], "v"))

    demo = resolve_config("demo")
    payloads = section_payloads(demo, ["evaluate", "probe"], "v")
    assert plan(demo) == [{"assessment": "evaluate", "stage": payloads["evaluate"]},
                          {"assessment": "probe", "stage": payloads["probe"]}]
    files = [{"path": FIXTURE_BENCHMARKS + "advbench_harmful_behaviors.csv", "format": "advbench"}]
    items = plan(resolve_config("demo", {"benchmark": {"files": files}}))
    assert [i["assessment"] for i in items] == ["evaluate", "probe", "benchmark"]
    assert stage_config(items[2]["stage"])[1].files[0].format == "advbench"


def test_local_runs_read_benchmark_files_from_their_directory(tmp_path: Path, monkeypatch):
    """kfp.local: relative paths become absolute against the run's directory (as `saferlhf benchmark` reads them)
    and a missing file stops resolve-config in one line; on a cluster the paths are left to the benchmark pod."""
    from saferlhf.pipeline import local_benchmark_files
    from saferlhf.pipeline.platform import SHARED_HOST_ENV

    rel = FIXTURE_BENCHMARKS + "xstest_prompts.csv"
    cfg = resolve_config("", {"benchmark": {"files": [rel, str(tmp_path / "absent.csv")]}})
    monkeypatch.delenv(SHARED_HOST_ENV, raising=False)
    assert local_benchmark_files(cfg, REPO) == cfg
    monkeypatch.setenv(SHARED_HOST_ENV, "1")
    with pytest.raises(UserError, match=r"^benchmark\.files\[1\]: .*absent\.csv not found \(relative paths are read "
                                        r"from .*\)$"):
        local_benchmark_files(cfg, REPO)
    one = cfg.model_copy(update={"benchmark": cfg.benchmark.model_copy(update={"files": cfg.benchmark.files[:1]})})
    assert local_benchmark_files(one, REPO).benchmark.files[0].path == str(REPO / rel)


def _assessment_outputs(root: Path, benchmark_regressions: int | None) -> list[tuple[str, str]]:
    """What the fan-out hands the gate: an evaluation folder, a probe report and, unless None, a benchmark folder
    whose report has that many regressions (metadata left empty: the gate tells them apart by their files)."""
    from saferlhf.benchmarks.report import BenchmarkReport, gate
    from saferlhf.io import write_json
    from tests.unit.test_benchmark_report import _records, _result

    write_json(root / "evaluation" / "evaluation_results.json", {
        "unsafe_output_pct_harmful": {"base": 50.0, "rl": 10.0, "reduction_pct": 80.0},
        "over_refusal": {"base_pct": 2.0, "rl_pct": 2.0, "change_points": 0.0}})
    write_json(root / "probes.json", {"summary": {"base_model_overall_risk": 0.4, "rl_model_overall_risk": 0.1}})
    outs = [("", str(root / "evaluation")), ("", str(root / "probes.json"))]
    if benchmark_regressions is not None:
        results = [_result(_records([False] * 40, [True] * 40), f"b{i}") for i in range(benchmark_regressions)]
        rep = BenchmarkReport(judges=["j"], samples=1, max_new_tokens=8, temperature=1.0, bootstrap=500, seed=0,
                              benchmarks=results, gate=gate(results), records_path="r.jsonl", plots=[], seconds=0.0)
        write_json(root / "bench" / "report.json", rep.model_dump(mode="json"))
        outs.append(("", str(root / "bench")))
    return outs


@pytest.mark.parametrize("regressions,required", [(None, False), (None, True), (1, False)])
def test_the_promotion_gate_applies_the_benchmark_gate_when_the_benchmark_ran(tmp_path: Path, regressions, required):
    from saferlhf.pipeline import gate_step
    from saferlhf.pipeline.steps import NOT_RUN_FILE

    (tmp_path / "reward").mkdir()
    (tmp_path / "reward" / "metrics.json").write_text(json.dumps({"pairwise_accuracy": 0.9, "ece_max": 0.05}))
    payload = section_payloads(resolve_config("", {"registry": {"require_benchmarks": required}}), ["registry"],
                               "v")["registry"]
    out = tmp_path / "gate"
    outputs = {k: str(out / k) for k in ("evaluate", "probe", "benchmark")}
    metrics = SimpleNamespace(path=str(out / "metrics"), log_metric=lambda k, v: None)
    result = gate_step(payload, _assessment_outputs(tmp_path, regressions), str(tmp_path / "reward"), outputs,
                       str(out / "decision.md"), metrics)
    gates = {g["name"]: g for g in result["gates"]}
    if regressions is None and not required:  # not configured: skipped, and nothing to publish
        assert "benchmarks_not_worse" not in gates and result["passed"], result["reason"]
        assert (out / "benchmark" / NOT_RUN_FILE).is_file()
        assert "benchmarks" not in publish({"benchmarks": outputs["benchmark"]}, Layout(tmp_path / "outputs"))
    else:  # required without a report, or a regression: evaluated and failed
        assert not gates["benchmarks_not_worse"]["passed"] and not result["passed"]
    if regressions:
        assert gates["benchmarks_not_worse"]["value"] == 1.0
        assert (out / "benchmark" / "report.json").is_file()
        assert "benchmarks_not_worse" in (out / "decision.md").read_text()
