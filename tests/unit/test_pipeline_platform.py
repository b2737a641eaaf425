"""The compiled pipelines' Kubernetes platform spec, read with kfp's and kfp-kubernetes' own protos (PlatformSpec,
KubernetesExecutorConfig: a strict parse, so a mistyped field fails): MLflow env from the ConfigMap/Secret on every
step, the security context, GPU placement only on the steps that request GPUs, the monitor's prediction-log PVC.
Then the in-pod guard: a compiled step started with the environment KFP's executor template gives every pod
(KFP_POD_NAME, KFP_POD_UID) and no tracking URI exits 1 with one line naming the ConfigMap. No cluster here: what
the KFP driver and kubelet do with this spec (resolve the refs, admit the pod) is not exercised."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb
from kfp.pipeline_spec import pipeline_spec_pb2

from saferlhf.errors import UserError
from saferlhf.pipeline import platform
from tests.conftest import REPO

COMPILED = {"saferlhf": REPO / "pipelines" / "saferlhf_pipeline.yaml",
            "monitor": REPO / "pipelines" / "monitor_pipeline.yaml"}
SAFERLHF = str(REPO / ".venv" / "bin" / "saferlhf")


def load(path: Path) -> tuple[pipeline_spec_pb2.PipelineSpec, dict[str, k8s_pb.KubernetesExecutorConfig]]:
    """(pipeline spec, executor label -> its Kubernetes config) from a compiled two-document YAML."""
    spec_doc, platform_doc = yaml.safe_load_all(path.read_text())
    spec = json_format.ParseDict(spec_doc, pipeline_spec_pb2.PipelineSpec())
    plat = json_format.ParseDict(platform_doc, pipeline_spec_pb2.PlatformSpec())
    executors = plat.platforms["kubernetes"].deployment_spec.executors
    return spec, {label: json_format.ParseDict(json_format.MessageToDict(cfg), k8s_pb.KubernetesExecutorConfig())
                  for label, cfg in executors.items()}


def containers(spec: pipeline_spec_pb2.PipelineSpec) -> dict[str, dict]:
    """executor label -> its container (image, command, resources, env) from the deployment spec."""
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    return {label: e["container"] for label, e in executors.items() if "container" in e}


@pytest.fixture(scope="module", params=sorted(COMPILED))
def compiled(request):
    return (request.param, *load(COMPILED[request.param]))


def test_every_step_takes_mlflow_env_from_the_configmap_and_secret(compiled):
    _, spec, k8s = compiled
    execs = containers(spec)
    assert execs and set(k8s) == set(execs), "a step without Kubernetes settings"
    for label, cfg in k8s.items():
        (cm,) = cfg.config_map_as_env
        assert cm.config_map_name_parameter.runtime_value.constant.string_value == platform.CONFIG_MAP, label
        assert {e.config_map_key: e.env_var for e in cm.key_to_env} == platform.CONFIG_MAP_ENV
        assert cm.optional, f"{label}: a missing ConfigMap would hang the pod in CreateContainerConfigError"
        (secret,) = cfg.secret_as_env
        assert secret.secret_name_parameter.runtime_value.constant.string_value == platform.SECRET, label
        assert {e.secret_key: e.env_var for e in secret.key_to_env} == platform.SECRET_ENV
        assert secret.optional
        assert "MLFLOW_TRACKING_URI" in platform.CONFIG_MAP_ENV.values()
        env = {e["name"]: e["value"] for e in execs[label].get("env", [])}
        assert env[platform.CONFIG_MAP_NAME_ENV] == platform.CONFIG_MAP  # what the guard names


def test_every_step_runs_as_the_image_user(compiled):
    _, _, k8s = compiled
    for label, cfg in k8s.items():
        sc = cfg.security_context
        assert (sc.run_as_user, sc.run_as_group, sc.run_as_non_root) == (10001, 10001, True), label
        assert cfg.HasField("security_context")


def test_gpu_placement_only_on_steps_that_request_gpus(compiled):
    name, spec, k8s = compiled
    execs = containers(spec)
    gpu = {label for label, c in execs.items() if "accelerator" in c.get("resources", {})}
    assert gpu == ({"exec-train-reward", "exec-train-rl"} if name == "saferlhf" else set())
    for label, cfg in k8s.items():
        if label not in gpu:
            assert not cfg.tolerations and not cfg.HasField("node_selector"), label
            continue
        # the training steps sit in the in-pod branch (a nested DAG): gpu-placement's outputs reach them as the
        # branch's inputs, which the branch group takes from gpu-placement (below)
        (tol,) = cfg.tolerations
        assert tol.toleration_json.component_input_parameter == "pipelinechannel--gpu-placement-tolerations"
        sel = cfg.node_selector.node_selector_json
        assert sel.component_input_parameter == "pipelinechannel--gpu-placement-node_selector"
    if name == "saferlhf":
        place = spec.root.dag.tasks["gpu-placement"]
        wired = {k: v.component_input_parameter for k, v in place.inputs.parameters.items()}
        assert wired == {"gpus": "gpus", "tolerations": "gpu_tolerations", "node_selector": "gpu_node_selector"}
        (group,) = [t for t in spec.root.dag.tasks.values() if "pipelinechannel--gpu-placement-tolerations"
                    in t.inputs.parameters]
        assert "gpu-placement" in group.dependent_tasks
        for key in ("tolerations", "node_selector"):
            out = group.inputs.parameters[f"pipelinechannel--gpu-placement-{key}"].task_output_parameter
            assert (out.producer_task, out.output_parameter_key) == ("gpu-placement", key)
        defaults = spec.root.input_definitions.parameters
        assert list(defaults["gpu_tolerations"].default_value.list_value.values[0].string_value.split(":")) == \
            ["nvidia.com/gpu", "NoSchedule"]


def test_monitor_step_mounts_the_prediction_log_where_it_reads(compiled):
    name, spec, k8s = compiled
    mounted = {label: list(cfg.pvc_mount) for label, cfg in k8s.items() if cfg.pvc_mount}
    if name != "monitor":  # only the TrainJob variants mount a volume (test_pipeline_compile.py checks which)
        assert set(mounted) == {"exec-train-reward-2", "exec-train-rl-2"}
        assert all(m.mount_path == platform.TRAINJOB_MOUNT for ms in mounted.values() for m in ms)
        return
    (mount,) = mounted.pop("exec-monitor-drift")
    assert not mounted
    params = spec.root.input_definitions.parameters
    assert mount.mount_path == params["log"].default_value.string_value == platform.PREDICTION_LOG_MOUNT
    assert mount.pvc_name_parameter.component_input_parameter == "log_volume"
    assert params["log_volume"].default_value.string_value == platform.PREDICTION_LOG_PVC


def test_compile_flags_rename_the_configmap_and_secret(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "SAFERLHF_IMAGE"}
    r = subprocess.run([SAFERLHF, "pipeline", "compile", "-o", str(tmp_path), "--config-map", "team-a-mlflow",
                        "--secret", "team-a-mlflow-auth"], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    for path in COMPILED.values():
        spec, k8s = load(tmp_path / path.name)
        for label, cfg in k8s.items():
            assert cfg.config_map_as_env[0].config_map_name == "team-a-mlflow", label
            assert cfg.secret_as_env[0].secret_name == "team-a-mlflow-auth", label
            env_vars = {e["name"]: e["value"] for e in containers(spec)[label]["env"]}
            assert env_vars[platform.CONFIG_MAP_NAME_ENV] == "team-a-mlflow"
    bad = subprocess.run([SAFERLHF, "pipeline", "compile", "-o", str(tmp_path), "--config-map", "Team_A"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: --config-map 'Team_A' is not a Kubernetes object name (lower-case letters, digits, '-', '.')"]


# ---------------------------------------------------------------- GPU placement (the gpu-placement step's body)


def test_gpu_placement_is_empty_on_cpu_runs_and_parsed_on_gpu_runs():
    assert platform.gpu_placement(0, platform.GPU_TOLERATIONS, {"pool": "gpu"}) == ([], {})
    tols, sel = platform.gpu_placement(1, ["nvidia.com/gpu:NoSchedule", "pool=a100:NoExecute",
                                           {"key": "spot", "operator": "Exists"}], {"pool": "gpu"})
    assert tols == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "pool", "operator": "Equal", "value": "a100", "effect": "NoExecute"},
                    {"key": "spot", "operator": "Exists"}]
    assert sel == {"pool": "gpu"}


@pytest.mark.parametrize("tolerations, selector, match", [
    (["nvidia.com/gpu"], {}, r"gpu_tolerations\[0\]: 'nvidia.com/gpu' is not key\[=value\]:effect"),
    (["nvidia.com/gpu:NoRun"], {}, r"gpu_tolerations\[0\]: operator must be"),
    ([{"key": "a", "opertor": "Exists"}], {}, r"gpu_tolerations\[0\] must be key\[=value\]:effect or a mapping"),
    ([{"key": "a", "operator": "Exists", "value": "b"}], {}, r"operator Exists takes no value"),
    ("nvidia.com/gpu:NoSchedule", {}, r"gpu_tolerations must be a list"),
    ([], {"pool": 1}, r"gpu_node_selector must map label names to string values"),
])
def test_bad_gpu_placement_fails_in_one_line(tolerations, selector, match):
    with pytest.raises(UserError, match=match) as e:
        platform.gpu_placement(2, tolerations, selector)
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------- the in-pod guard


def _executor_command(path: Path, label: str) -> tuple[list[str], dict[str, str]]:
    spec, _ = load(path)
    c = containers(spec)[label]
    return c["command"] + c["args"], {e["name"]: e["value"] for e in c.get("env", [])}


def run_compiled_step(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The compiled resolve-config step, started as KFP's launcher starts it: the spec's own command (sh writes the
    embedded component source to a file, then `python3 -m kfp.dsl.executor_main`), `{{$}}` replaced by an
    ExecutorInput, the spec's container env plus `env`; python3 is this venv's (the image's, on a cluster)."""
    command, spec_env = _executor_command(COMPILED["saferlhf"], "exec-resolve-config")
    outputs = {n: {"outputFile": str(tmp_path / n)} for n in
               ("data", "reward", "policy", "rl", "evaluate", "probe", "export", "registry")}
    params = {"config": "demo", "overrides": {}, "code_version": "test", "seed": -1, "reward_epochs": 0,
              "policy_epochs": 0, "rl_steps": 0, "objective": "", "target_kl": 0.0, "min_unsafe_reduction": -1.0,
              "max_over_refusal_increase": -1.0, "max_probe_risk": -1.0}
    executor_input = {"inputs": {"parameterValues": params},
                      "outputs": {"parameters": outputs, "outputFile": str(tmp_path / "executor_output.json")}}
    command = [json.dumps(executor_input) if a == "{{$}}" else a for a in command]
    tmp_path.mkdir(parents=True, exist_ok=True)
    base = {"PATH": f"{REPO / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "SAFERLHF_CONFIG_DIR": str(REPO / "configs")}
    return subprocess.run(command, cwd=tmp_path, env={**base, **spec_env, **env}, capture_output=True, text=True,
                          timeout=180)


KFP_POD = {"KFP_POD_NAME": "saferlhf-abc12-system-container-impl-123", "KFP_POD_UID": "0b5e2c1e-7a3c-4f0e-9d1e"}


def test_a_step_in_a_kfp_pod_without_tracking_uri_exits_in_one_line(tmp_path: Path):
    r = run_compiled_step(tmp_path, KFP_POD)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    assert r.stderr.strip().splitlines() == [
        "error: pipeline config: no MLflow tracking URI in this Kubeflow pod: MLFLOW_TRACKING_URI comes from key "
        f"mlflow-tracking-uri of ConfigMap '{platform.CONFIG_MAP}' in the run's namespace, which is missing or "
        "lacks it (see docs/cluster.md)"]
    assert not (tmp_path / "executor_output.json").exists()


def test_the_same_step_runs_with_the_configmap_env_or_outside_a_pod(tmp_path: Path):
    with_uri = run_compiled_step(tmp_path / "pod", {**KFP_POD, "MLFLOW_TRACKING_URI": "http://saferlhf-mlflow:5000"})
    assert with_uri.returncode == 0, with_uri.stderr[-3000:]
    written = json.loads((tmp_path / "pod" / "executor_output.json").read_text())["parameterValues"]
    assert json.loads(written["registry"])["section"] == "registry"
    local = run_compiled_step(tmp_path / "local", {})  # kfp.local: no pod variables, the embedded default applies
    assert local.returncode == 0, local.stderr[-3000:]


def test_stage_and_register_steps_check_before_any_work(tmp_path: Path, monkeypatch):
    from saferlhf.pipeline.config import resolve_config, section_payloads
    from saferlhf.pipeline.steps import run_stage

    payloads = section_payloads(resolve_config(""), ["data", "registry"], "test")
    for key, value in KFP_POD.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(platform.CONFIG_MAP_NAME_ENV, "team-a-mlflow")
    for section, step in (("data", "generate-data"), ("registry", "register")):
        with pytest.raises(SystemExit, match=f"error: {section}: .*ConfigMap 'team-a-mlflow'"):
            run_stage(payloads[section], step, {}, {}, str(tmp_path / section))
        assert not (tmp_path / section).exists()  # stopped before the scratch layout was made
