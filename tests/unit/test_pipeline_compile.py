"""The compiled pipeline: a valid PipelineSpec by kfp's own proto, not stale, and every component wired to the stage
config and Layout places its stage declares (saferlhf.stages)."""

from __future__ import annotations

import importlib
import os
import subprocess
import typing
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from saferlhf.artifacts import Layout
from saferlhf.config import Config
from saferlhf.pipeline.config import PARAM_FIELDS
from saferlhf.stages import ASSESSMENTS, STAGE, pipeline_stages, place_of
from tests.conftest import REPO

COMPILED = REPO / "pipelines" / "saferlhf_pipeline.yaml"
MONITOR_COMPILED = REPO / "pipelines" / "monitor_pipeline.yaml"
TRAINING_STEPS = tuple(s.name for s in pipeline_stages() if s.resources.gpu)  # the steps that take `gpus`
# their TrainJob variants (the dsl.Else branch of trainjob_nodes; KFP names a component's second task `<name>-2`)
TRAINJOB_STEPS = tuple(f"{s}-2" for s in TRAINING_STEPS)
TRAINJOB_PARAMS = {"trainjob_nodes": 0, "trainjob_gpus_per_node": 0, "trainjob_pvc": "", "trainjob_keep": False}
STEPS = {s.name: s for s in pipeline_stages()}


def load_spec(path: Path) -> pipeline_spec_pb2.PipelineSpec:
    """The first YAML document (the second is the Kubernetes platform spec, tests/unit/test_pipeline_platform.py);
    strict parse: an unknown or mistyped field anywhere fails."""
    return json_format.ParseDict(next(yaml.safe_load_all(path.read_text())), pipeline_spec_pb2.PipelineSpec())


@pytest.fixture(scope="module")
def spec() -> pipeline_spec_pb2.PipelineSpec:
    return load_spec(COMPILED)


def all_tasks(spec) -> dict[str, pipeline_spec_pb2.PipelineTaskSpec]:
    """Every task of the root DAG and of the nested DAGs (loop body, condition branches)."""
    tasks = dict(spec.root.dag.tasks)
    for comp in spec.components.values():
        if comp.WhichOneof("implementation") == "dag":
            tasks.update(comp.dag.tasks)
    return tasks


def test_compiled_yaml_is_not_stale(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "SAFERLHF_IMAGE"}  # the default image tag is checked in
    r = subprocess.run([str(REPO / ".venv/bin/saferlhf"), "pipeline", "compile", "-o", str(tmp_path)], cwd=REPO,
                       env=env, check=True, capture_output=True, text=True, timeout=120)
    assert r.stdout.splitlines() == [str(tmp_path / p.name) for p in (COMPILED, MONITOR_COMPILED)]  # one line each
    for compiled in (COMPILED, MONITOR_COMPILED):
        assert (tmp_path / compiled.name).read_text() == compiled.read_text(), \
            f"pipelines/{compiled.name} is stale: run `saferlhf pipeline compile`"


def test_spec_reads_like_the_recipe(spec):
    tasks = all_tasks(spec)
    expected = {"resolve-config", "generate-data", "init-policy", "contrast-data", "train-reward", "train-rl", "plan-assessments",
                "assess-policies", "export-onnx", "promotion-gate", "register", "register-2"}
    assert expected <= set(tasks)
    loops = [t for t in spec.root.dag.tasks.values() if t.WhichOneof("iterator") == "parameter_iterator"]
    assert len(loops) == 1 and loops[0].iterator_policy.parallelism_limit == 2
    conditions = [t.trigger_policy.condition for t in tasks.values() if t.trigger_policy.condition]
    assert sum("promotion-gate-passed" in c for c in conditions) == 2  # dsl.If and dsl.Else on the gate
    assert not {"register", "register-2"} & set(spec.root.dag.tasks)  # registration only inside the branches


def test_every_step_has_resources_retries_and_caching(spec):
    executors = spec.deployment_spec.fields["executors"].struct_value.fields
    for name, task in all_tasks(spec).items():
        comp = spec.components[task.component_ref.name]
        if comp.WhichOneof("implementation") != "executor_label":
            continue
        assert task.caching_options.enable_cache, name
        # a TrainJob variant is not retried: its runtime restarted the nodes already; a retry reruns all of them
        assert (task.retry_policy.max_retry_count >= 1) == (name not in TRAINJOB_STEPS), name
        container = executors[comp.executor_label].struct_value.fields["container"].struct_value.fields
        resources = container["resources"].struct_value.fields
        for key in ("cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit"):
            assert key in resources, (name, key)
        assert ("accelerator" in resources) == (name in TRAINING_STEPS), name
        assert container["image"].string_value.startswith("saferlhf:")
        assert "pip install" not in " ".join(v.string_value for v in container["command"].list_value.values)


def _io(comp: pipeline_spec_pb2.ComponentSpec) -> tuple[set[str], set[str], set[str]]:
    return (set(comp.input_definitions.artifacts), set(comp.output_definitions.artifacts),
            set(comp.input_definitions.parameters))


@pytest.mark.parametrize("step", [s for s in STEPS if s not in ASSESSMENTS])
def test_components_match_stage_configs(spec, step):
    """A step's component reads exactly the upstream artifacts its stage reads from the Layout, writes the
    ones it writes, and its stage function takes that section's config class."""
    s = STEPS[step]
    comp = spec.components[f"comp-{step}"]
    ins, outs, params = _io(comp)
    assert "stage" in params
    places = {place_of(a) for a in ins | outs if hasattr(Layout, place_of(a))}  # not metrics, report, decision
    assert places & {place_of(a) for a in ins} == set(s.inputs)
    assert places & {place_of(a) for a in outs} == set(s.outputs)
    assert {"metrics"} <= outs
    _check_stage_function(s)


@pytest.mark.parametrize("step", ASSESSMENTS)
def test_assessment_steps_match_stage_configs(spec, step):
    ins, outs, params = _io(spec.components["comp-assess-policies"])
    assert {"assessment", "stage"} <= params
    assert {place_of(a) for a in ins} == set(STEPS[step].inputs)
    assert {"results", "metrics", "report"} == outs
    _check_stage_function(STEPS[step])


def _check_stage_function(s) -> None:
    for place in s.inputs + s.outputs:
        assert isinstance(getattr(Layout(), place), Path), place
    cls = Config.model_fields[s.section].annotation
    module, _, name = s.run.partition(":")
    fn = getattr(importlib.import_module(module), name)
    hints = typing.get_type_hints(fn)
    first = next(iter(hints))
    assert hints[first] is cls, f"{s.run} takes {hints[first]}, the step's section is {s.section} ({cls.__name__})"
    assert hints.get("layout") is Layout


def test_config_step_emits_one_section_per_stage(spec):
    comp = spec.components["comp-resolve-config"]
    assert set(comp.output_definitions.parameters) == {s.section for s in STEPS.values()}
    pipeline_params = set(spec.root.input_definitions.parameters)
    assert set(PARAM_FIELDS) | {"seed", "config", "overrides", "code_version", "gpus", "gpu_tolerations",
                                "gpu_node_selector", "trainjob_image", *TRAINJOB_PARAMS} == pipeline_params
    for section, field in (t for targets in PARAM_FIELDS.values() for t in targets):
        assert field in Config.model_fields[section].annotation.model_fields, (section, field)


def _platform(path: Path = COMPILED) -> dict:
    return list(yaml.safe_load_all(path.read_text()))[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_training_steps_run_in_pod_by_default_or_as_trainjobs_with_the_shared_volume(spec):
    """trainjob_nodes 0 (the default) takes the in-pod branch: train-reward/train-rl as before (GPUs, no volume);
    >= 1 the other: the same components told to launch a TrainJob, the PVC mounted where the nodes mount it, no
    GPUs on the launching pod. Downstream steps read whichever branch ran (dsl.OneOf)."""
    from saferlhf.pipeline.platform import TRAINJOB_MOUNT

    params = spec.root.input_definitions.parameters
    for name, default in TRAINJOB_PARAMS.items():
        value = json_format.MessageToDict(params[name].default_value)
        assert value == default, (name, value)
    assert json_format.MessageToDict(params["trainjob_image"].default_value).startswith("saferlhf:")
    branches = [c for c in spec.components.values() if c.WhichOneof("implementation") == "dag"
                and set(c.dag.tasks) == {"condition-2", "condition-3"}]
    (group,) = branches
    conds = {t: group.dag.tasks[t].trigger_policy.condition for t in ("condition-2", "condition-3")}
    assert conds["condition-2"] == "int(inputs.parameter_values['pipelinechannel--trainjob_nodes']) < 1"
    assert conds["condition-3"] == f"!({conds['condition-2']})"
    assert set(spec.components["comp-condition-2"].dag.tasks) == set(TRAINING_STEPS)  # in-pod: the plain names
    assert set(spec.components["comp-condition-3"].dag.tasks) == set(TRAINJOB_STEPS)
    executors = _platform()
    for pod, job in zip(TRAINING_STEPS, TRAINJOB_STEPS):
        assert "pvcMount" not in executors[f"exec-{pod}"] and "tolerations" in executors[f"exec-{pod}"]
        (mount,) = executors[f"exec-{job}"]["pvcMount"]
        assert mount["mountPath"] == TRAINJOB_MOUNT
        assert mount["pvcNameParameter"] == {"componentInputParameter": "pipelinechannel--trainjob_pvc"}
        assert "tolerations" not in executors[f"exec-{job}"]  # the launcher takes no GPU node
        task = spec.components["comp-condition-3"].dag.tasks[job]
        passed = {k: v.component_input_parameter for k, v in task.inputs.parameters.items()}
        assert {k: f"pipelinechannel--{k}" for k in (*TRAINJOB_PARAMS, "trainjob_image")}.items() <= passed.items()
        in_pod = spec.components["comp-condition-2"].dag.tasks[pod].inputs.parameters
        assert not {k for k in in_pod if k.startswith("trainjob_")}  # the component's defaults: in-pod
    # downstream reads the branch that ran: the group outputs each model from both branches
    picked = {tuple(sorted((s.producer_subtask, s.output_artifact_key) for s in out.artifact_selectors))
              for out in group.dag.outputs.artifacts.values()}
    assert picked == {(("condition-2", f"pipelinechannel--{pod}-{art}"),
                       ("condition-3", f"pipelinechannel--{job}-{art}"))
                      for pod, job, art in zip(TRAINING_STEPS, TRAINJOB_STEPS, ("reward_model", "rl_policy"))}


def test_local_runs_build_the_in_pod_steps_alone():
    """kfp.local cannot resolve a dsl.OneOf of artifacts: `pipeline run` builds the pipeline without the TrainJob
    branch (platform.LOCAL), its training steps the in-pod tasks under the same names, every parameter kept."""
    from pipelines import platform
    from pipelines.saferlhf_pipeline import saferlhf_pipeline

    local = platform.build(saferlhf_pipeline, platform.LOCAL).pipeline_spec
    assert set(TRAINING_STEPS) <= set(local.root.dag.tasks)
    assert not any(t.startswith("train-") and t.endswith("-2") for t in all_tasks(local))
    assert set(local.root.input_definitions.parameters) == set(saferlhf_pipeline.pipeline_spec.root.input_definitions
                                                               .parameters)


def test_monitor_spec_reads_like_the_recipe():
    """resolve-monitor-config -> monitor-drift; the check is never cached (the log grows behind the same path) nor
    retried (drift is a finding), and has the CronJob's resources on the project image."""
    spec = load_spec(MONITOR_COMPILED)
    assert spec.pipeline_info.name == "saferlhf-drift-monitor"
    tasks = dict(spec.root.dag.tasks)
    assert set(tasks) == {"resolve-monitor-config", "monitor-drift"}
    check = tasks["monitor-drift"]
    assert list(check.dependent_tasks) == ["resolve-monitor-config"]
    assert not check.caching_options.enable_cache and check.retry_policy.max_retry_count == 0
    assert tasks["resolve-monitor-config"].caching_options.enable_cache
    _, outs, params = _io(spec.components["comp-monitor-drift"])
    assert {"stage", "log", "reference", "fail_on_drift"} == params
    assert {"report", "snapshot", "metrics"} == outs
    assert {"passed", "drifted"} == set(spec.components["comp-monitor-drift"].output_definitions.parameters)
    assert {"log", "log_volume", "reference", "window", "min_records", "max_drift_share", "fail_on_drift", "config",
            "overrides", "code_version"} == set(spec.root.input_definitions.parameters)
    container = spec.deployment_spec.fields["executors"].struct_value.fields["exec-monitor-drift"].struct_value \
        .fields["container"].struct_value.fields
    assert container["image"].string_value.startswith("saferlhf:")
    assert {"cpuLimit", "memoryLimit"} <= set(container["resources"].struct_value.fields)


def test_gpu_image_goes_to_the_gpu_steps_only(tmp_path: Path):
    """SAFERLHF_GPU_IMAGE at compile time: the steps that take `gpus` (and their TrainJob variants) run on the CUDA
    image, every other on the CPU one (unset, the default, is the checked-in YAML: test_compiled_yaml_is_not_stale)."""
    env = {k: v for k, v in os.environ.items() if k != "SAFERLHF_IMAGE"} | {"SAFERLHF_GPU_IMAGE": "saferlhf-gpu:t"}
    subprocess.run([str(REPO / ".venv/bin/saferlhf"), "pipeline", "compile", "-o", str(tmp_path)], cwd=REPO,
                   env=env, check=True, capture_output=True, text=True, timeout=120)
    spec = load_spec(tmp_path / COMPILED.name)
    executors = spec.deployment_spec.fields["executors"].struct_value.fields
    images = {}
    for name, task in all_tasks(spec).items():
        comp = spec.components[task.component_ref.name]
        if comp.WhichOneof("implementation") == "executor_label":
            container = executors[comp.executor_label].struct_value.fields["container"].struct_value.fields
            images[name] = container["image"].string_value
    # a TrainJob variant is the same component (a component has one image), and its nodes default to that image
    gpu_steps = TRAINING_STEPS + TRAINJOB_STEPS
    assert TRAINING_STEPS and all(images[s] == "saferlhf-gpu:t" for s in gpu_steps), images
    assert all(img.startswith("saferlhf:") for s, img in images.items() if s not in gpu_steps), images
    default = spec.root.input_definitions.parameters["trainjob_image"].default_value.string_value
    assert default == "saferlhf-gpu:t"
