"""The stage table: what each stage *is*, written once.

Per stage: its name (the one run name everywhere: KFP step, MLflow run, dashboard node), its config section, its
run function (`fn(cfg, layout) -> result`), the `Layout` places it reads and writes, its typed result and the report
file that result is dumped to, its CLI words, whether it logs its own tracking run, the resources its pod asks
for, whether it runs a model on the shared device setting and whether it can run as several processes. The CLI
commands, the KFP steps' I/O, publishing, tracking, the dashboard's stage graph and the Makefile's `demo-stages` derive
from this table (tests/unit/test_stages.py checks the ones that cannot import it).

Pure data: importing this module imports no stage code (run functions and result models load on first use)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from saferlhf.artifacts import Layout


@dataclass(frozen=True)
class Resources:
    """A pod's CPU/memory requests and limits; `gpu`: takes the pipeline's `gpus` parameter."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    gpu: bool = False


@dataclass(frozen=True)
class Stage:
    name: str
    section: str
    run: str  # "module:function", called as function(cfg, layout)
    result: str  # class name in saferlhf.results, or "module:Class"
    inputs: tuple[str, ...]  # Layout places read (upstream artifacts)
    outputs: tuple[str, ...]  # Layout places written (its artifacts)
    report: str  # Layout place, optionally "/<file>": the result's JSON dump (the proof that it ran)
    command: tuple[str, ...]  # CLI words: `saferlhf policy train-rl`
    title: str
    label: str
    resources: Resources
    help: str  # the CLI command's help
    tracking: Literal["stage", "own"] = "stage"  # "own": the stage logs its own MLflow run
    pipeline: str = "saferlhf"  # the compiled pipeline that runs it ("": the CLI only)
    device: bool = False  # runs a model on the shared `device`/`precision` setting (its section is a ComputeConfig)
    distributed: bool = False  # runs under torchrun/accelerate with several processes (`--nproc N`, a TrainJob)

    def run_fn(self) -> Callable:
        module, _, func = self.run.partition(":")
        return getattr(importlib.import_module(module), func)

    def result_model(self) -> type:
        module, _, cls = self.result.rpartition(":")
        return getattr(importlib.import_module(module or "saferlhf.results"), cls)

    def report_path(self, layout: Layout) -> Path:
        attr, _, rest = self.report.partition("/")
        base = getattr(layout, attr)
        return base / rest if rest else base

    def load_result(self, layout: Layout):
        """The typed result from this stage's report file (UserError naming the file when unreadable)."""
        return self.result_model().load(self.report_path(layout))

    @property
    def cli(self) -> str:
        return "saferlhf " + " ".join(self.command)


_POLICIES = ("data_dir", "base_policy", "rl_policy", "reward_model")
STAGES: tuple[Stage, ...] = (
    Stage("generate-data", "data", "saferlhf.data:run_generate", "DataResult", (), ("data_dir",),
          "data_dir/dataset_summary.json", ("data", "generate"), "Safety dataset", "Dataset",
          Resources("500m", "1", "1Gi", "2Gi"),
          'Generate prompts.json and safety_labels.csv (deterministic for a seed).'),
    Stage("init-policy", "policy", "saferlhf.policy:run_init", "PolicyResult", ("data_dir",), ("base_policy",),
          "base_policy/policy_summary.json", ("policy", "init"), "Base policy", "Base policy",
          Resources("2", "4", "4Gi", "8Gi"),
          "Build the base policy (small GPT-2 from scratch, or --model-name) on the dataset's prompt->response "
          "pairs.", device=True, distributed=True),
    Stage("contrast-data", "contrast", "saferlhf.policy.generate:run_contrast", "ContrastResult",
          ("data_dir", "base_policy"), ("contrast",), "contrast/contrast_summary.json", ("data", "contrast"),
          "The policy's own answers (RLCD)", "Policy answers", Resources("2", "4", "4Gi", "8Gi"),
          "The base policy answers the dataset's prompts under a safety- and a compliance-steering system prompt "
          "(RLCD); answers the refusal detector agrees with become labelled rows for the reward model "
          "(contrast/safety_labels_contrast.csv). Off unless contrast.enabled.", device=True),
    Stage("train-reward", "reward", "saferlhf.reward:run_train", "RewardResult", ("data_dir", "contrast"),
          ("reward_model",),
          "reward_model/metrics.json", ("reward", "train"), "Reward model", "Reward model",
          Resources("2", "4", "6Gi", "12Gi", gpu=True),
          'Train the four-head reward model on the train split, save it, evaluate it on the test split.',
          device=True, distributed=True),
    Stage("train-rl", "rl", "saferlhf.rl:run_train_rl", "RLResult", ("data_dir", "base_policy", "reward_model"),
          ("rl_policy",), "rl_policy/rl_summary.json", ("policy", "train-rl"), "RL policy", "RL policy",
          Resources("2", "4", "8Gi", "16Gi", gpu=True),
          'RL fine-tuning with TRL GRPO (PPO-clip + KL to the frozen base), adaptive KL, optional Lagrangian cost.',
          device=True, distributed=True),
    Stage("evaluate", "evaluate", "saferlhf.evaluate:run_evaluate", "EvaluationResult", _POLICIES, ("evaluation",),
          "evaluation/evaluation_results.json", ("evaluate",), "Evaluation: base vs RL policy", "Evaluation",
          Resources("2", "4", "6Gi", "12Gi"),
          "Compare base and RL policies on held-out prompts: unsafe %, reward shift, KL, toxicity/hallucination/"
          "compliance change, calibration, adversarial robustness, over-refusal -> evaluation_results.json + plots.",
          device=True),
    Stage("probe", "probe", "saferlhf.probes:run_probe", "ProbeResult", _POLICIES, ("probes_report",),
          "probes_report", ("probe",), "Safety probes: base vs RL policy", "Safety probes",
          Resources("2", "4", "6Gi", "12Gi"),
          "Run the seven safety probes on base and RL policies -> probes_report.json (add your prompts: "
          "--prompts-path).", device=True),
    Stage("benchmark", "benchmark", "saferlhf.benchmarks.run:run_benchmark",
          "saferlhf.benchmarks.report:BenchmarkReport", _POLICIES, ("benchmarks",), "benchmarks/report.json",
          ("benchmark",), "External safety benchmarks", "Benchmarks", Resources("2", "4", "6Gi", "12Gi"),
          "Base vs RL policy on external safety benchmarks (HarmBench, AdvBench, JailbreakBench, StrongREJECT, "
          "Do-Not-Answer, XSTest, OR-Bench files: --files [format[:expect]=]path,...), each response judged by "
          "every --judges -> benchmarks/report.json + plots (attack success / over-refusal with bootstrap 95% CIs)."),
    Stage("export-onnx", "export", "saferlhf.onnx_export:run_export", "ExportResult", ("data_dir", "reward_model"),
          ("reward_onnx",), "reward_onnx/export_report.json", ("reward", "export-onnx"), "ONNX export",
          "ONNX export", Resources("1", "2", "4Gi", "8Gi"),
          'Export the reward model to ONNX (fp32; `--quantize int8` adds INT8) and check parity against PyTorch.'),
    Stage("register", "registry", "saferlhf.registry:run_register", "RegisterResult",
          ("data_dir", "reward_model", "reward_onnx", "base_policy", "rl_policy", "evaluation", "probes_report",
           "benchmarks"),
          (), "registry_decisions", ("registry", "register"), "Registration", "Registry",
          Resources("500m", "1", "2Gi", "4Gi"),
          "Register the current reward model, ONNX export and RL policy as new versions (alias `challenger`); move "
          "`champion` to each one whose safety gates pass against the current champion.", tracking="own"),
    Stage("monitor-drift", "monitor", "saferlhf.monitor:run_monitor", "MonitorResult", ("reward_onnx",),
          ("monitoring",), "monitoring/summary.json", ("monitor", "run"), "Drift monitor", "Drift monitor",
          Resources("500m", "1", "1Gi", "2Gi"),
          "Evidently drift report of the log's window vs the reference; exit 0 when the tests pass, 1 on drift.",
          tracking="own", pipeline="saferlhf-drift-monitor"),
)
STAGE = {s.name: s for s in STAGES}
BY_SECTION = {s.section: s for s in STAGES}
# The pipeline's fan-out runs these stages as items of one `assess-policies` task, this many at a time.
ASSESSMENTS = ("evaluate", "probe", "benchmark")
# Assessments planned only where their section turns them on: stage -> the field that must be non-empty. Off, the
# plan is the other items alone, so a config without them runs (and caches) as before they existed.
OPTIONAL_ASSESSMENTS = {"benchmark": "files"}
ASSESS_PARALLELISM = 2
# Pipeline steps that are plumbing, not stages (config resolution, fan-out, gate): their pods' sizes.
PLUMBING = {
    "resolve-config": Resources("250m", "1", "512Mi", "1Gi"),
    "plan-assessments": Resources("100m", "500m", "256Mi", "512Mi"),
    "assess-policies": Resources("2", "4", "6Gi", "12Gi"),
    "promotion-gate": Resources("250m", "1", "1Gi", "2Gi"),
    "resolve-monitor-config": Resources("250m", "1", "512Mi", "1Gi"),
    "gpu-placement": Resources("100m", "500m", "256Mi", "512Mi"),  # pipelines/platform.py: GPU steps' tolerations
    # a training step run as a TrainJob: it copies artifacts to and from the shared volume and waits; the nodes train
    "trainjob-launch": Resources("250m", "1", "1Gi", "2Gi"),
}


# Pipeline artifact names that differ from the Layout place they hold (every other artifact is named as its place).
ARTIFACT_NAMES = {"data_dir": "dataset", "promotion_decision": "promotion"}


def artifact_name(place: str) -> str:
    return ARTIFACT_NAMES.get(place, place)


def place_of(artifact: str) -> str:
    """The Layout place a pipeline artifact (component input/output name) holds."""
    return {v: k for k, v in ARTIFACT_NAMES.items()}.get(artifact, artifact)


def published(pipeline: str = "saferlhf") -> dict[str, str]:
    """Pipeline output name -> Layout place, for every stage output of the pipeline and its promotion decision
    (in table order: the reward model before its onnx/ folder, which lives inside it)."""
    places = [p for s in pipeline_stages(pipeline) for p in s.outputs]
    if pipeline == "saferlhf":
        places.append("promotion_decision")
    return {artifact_name(p): p for p in places}


def resources(step: str) -> Resources:
    """The pod size of a pipeline step: a stage's own, else the plumbing step's."""
    return STAGE[step].resources if step in STAGE else PLUMBING[step]


def producers() -> dict[str, str]:
    """Layout place -> the stage that writes it."""
    return {place: s.name for s in STAGES for place in s.outputs}


def upstream(stage: Stage) -> tuple[str, ...]:
    """Stages whose outputs this stage reads, in table order."""
    made_by = producers()
    names = {made_by[p] for p in stage.inputs if p in made_by}
    return tuple(s.name for s in STAGES if s.name in names)


def pipeline_stages(pipeline: str = "saferlhf") -> tuple[Stage, ...]:
    return tuple(s for s in STAGES if s.pipeline == pipeline)


def demo_commands() -> list[str]:
    """`make demo-stages`: the main pipeline's stages as CLI commands, in order (export asks for INT8 as the
    pipeline's demo config does; the optional assessments are off in the demo config, and `saferlhf benchmark`
    without files is an error)."""
    return [s.cli + (" --quantize int8" if s.name == "export-onnx" else "") for s in pipeline_stages()
            if s.name not in OPTIONAL_ASSESSMENTS]
