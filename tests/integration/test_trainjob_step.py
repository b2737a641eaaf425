"""CONTRACT TEST of a training step run as a TrainJob (trainjob_nodes >= 1): the real step body
(`saferlhf.pipeline.component_step` as components/reward.py calls it) against the loopback fake of the Kubernetes
API (tests/kube_fake.py; no API server or Kubeflow Trainer can run here). A tmp folder stands in for the
ReadWriteMany PVC mount: the fake's "node" sees it only when the body mounts that claim at that path, as a real
node would. The fast tests' node writes what the stage's rank 0 writes (its report and model folder); the slow
one runs the body's own command (real torchrun, real `saferlhf reward train`) with the rendezvous env Trainer sets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from saferlhf.config import load_config
from saferlhf.errors import UserError
from saferlhf.pipeline import component_step, section_payloads, trainjob_settings
from saferlhf.pipeline.config import resolve_config
from saferlhf.trainjob import NODE, PATCH_MANAGER
from tests.conftest import REPO, free_port
from tests.kube_fake import VALIDATOR, FakeKube, role_rules, serve

pytestmark = pytest.mark.contract
PVC = "team-shared-rwx"
TINY = {"num_epochs": 1, "max_train_samples": 64, "max_length": 32, "batch_size": 8, "warmup_steps": 1,
        "mc_dropout_passes": 2, "eval_batch_size": 64}


def _pod_patch(body: dict) -> dict:
    (patch,) = body["spec"]["runtimePatches"]
    assert patch["manager"] == PATCH_MANAGER
    (job,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert job["name"] == NODE  # the torch-distributed runtime's replicated job
    return job["template"]["spec"]["template"]["spec"]


def mounted_root(body: dict, mount: Path) -> Path | None:
    """The --output-root a node sees, or None when the body does not mount PVC at `mount` in the node container."""
    spec = _pod_patch(body)
    vols = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    (container,) = [c for c in spec["containers"] if c["name"] == NODE]
    mounts = {m["mountPath"]: vols.get(m["name"]) for m in container["volumeMounts"]}
    cmd = body["spec"]["trainer"]["command"]
    root = Path(cmd[cmd.index("--output-root") + 1])
    return root if mounts.get(str(mount)) == PVC and root.is_relative_to(mount) else None


def rank0_writes(mount: Path, seen: list):
    """A node that checks what it was given and writes what train-reward's rank 0 writes."""
    def node(body):
        root = mounted_root(body, mount)
        if root is None:
            return False, f"volume {PVC} not mounted at {mount}", ""
        cmd = body["spec"]["trainer"]["command"]
        cfg = load_config(cmd[cmd.index("--config") + 1])  # the stage's section, as the CLI reads it
        seen.append((cfg, sorted(p.name for p in (root / "data").iterdir())))
        model = root / "models" / "reward_model"
        model.mkdir(parents=True)
        (model / "model.safetensors").write_bytes(b"weights")
        (model / "metrics.json").write_text(json.dumps({"pairwise_accuracy": 0.9, "test_rows": 12}))
        return True, "jobs completed", "reward training done\n"
    return node


def real_command(mount: Path):
    """A node that runs the body's command as Trainer's torch runtime does: torchrun, PET_* rendezvous env."""
    def node(body):
        root = mounted_root(body, mount)
        if root is None:
            return False, f"volume {PVC} not mounted at {mount}", ""
        trainer = body["spec"]["trainer"]
        env = {**os.environ, **{e["name"]: e["value"] for e in trainer["env"]}, "OMP_NUM_THREADS": "1",
               "PET_NNODES": str(trainer["numNodes"]), "PET_NPROC_PER_NODE": str(trainer["numProcPerNode"]),
               "PET_NODE_RANK": "0", "PET_MASTER_ADDR": "127.0.0.1", "PET_MASTER_PORT": str(free_port()),
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        cmd = [str(Path(sys.executable).with_name(trainer["command"][0])), *trainer["command"][1:]]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        return r.returncode == 0, f"node 0 exited with code {r.returncode}", r.stdout + r.stderr
    return node


@pytest.fixture
def step(tmp_path, tiny_layout):
    """The train-reward step's artifacts (dataset from the session's generated data, an empty contrast folder: the
    contrast step off), its payload with a tiny reward config, and a folder standing in for the PVC mount."""
    mount = tmp_path / "pvc"
    mount.mkdir()
    (tmp_path / "contrast").mkdir()
    task = tmp_path / "task"
    task.mkdir()
    artifacts = {"dataset": str(tiny_layout.data_dir), "contrast": str(tmp_path / "contrast"),
                 "reward_model": str(task / "reward_model")}
    payload = section_payloads(resolve_config("", {"reward": TINY}), ["reward"], "test")["reward"]
    return SimpleNamespace(mount=mount, task=task, artifacts=artifacts, payload=payload,
                           metrics=SimpleNamespace(path=str(task / "metrics"), log_metric=lambda k, v: None))


def _run(step, api, nodes=2, **kw):
    settings = trainjob_settings("train-reward", nodes, 0, PVC, "saferlhf:test", mount=str(step.mount), namespace="ml",
                                 api=api, poll_s=0.05, timeout_s=900, **kw)
    return settings, component_step(step.payload, "train-reward", step.artifacts, step.metrics,
                                    str(step.task / "report.html"), trainjob=settings)


def test_step_runs_as_a_trainjob_and_its_outputs_land_in_the_artifacts(step):
    seen: list = []
    fake = FakeKube(node=rank0_writes(step.mount, seen))
    with serve(fake) as api:
        settings, result = _run(step, api)
    (body,) = fake.created
    VALIDATOR.validate(body)  # the fake would have answered 422 otherwise; said again here
    assert body["metadata"] == {"name": settings.name, "namespace": "ml", "labels": {
        "app.kubernetes.io/part-of": "saferlhf", "saferlhf.io/stage": "train-reward"}}
    assert body["spec"]["trainer"]["numNodes"] == 2 and body["spec"]["trainer"]["image"] == "saferlhf:test"
    assert {"name": "SAFERLHF_TRACKING", "value": "0"} in body["spec"]["trainer"]["env"]  # the step tracks, once
    # the node read the step's own config section and its inputs from the shared folder
    (cfg, data_files), = seen
    assert cfg.reward.max_train_samples == 64 and not cfg.registry.tracking
    assert {"prompts.json", "safety_labels.csv"} <= set(data_files)
    # outputs moved into the artifact, the typed result read from the report rank 0 wrote, the shared folder gone
    out = Path(step.artifacts["reward_model"])
    assert (out / "model.safetensors").read_bytes() == b"weights"
    assert result.pairwise_accuracy == 0.9 and json.loads((out / "metrics.json").read_text())["test_rows"] == 12
    assert "provenance" in json.loads((out / "metrics.json").read_text())  # the step's record, as in a pod
    assert list(step.mount.iterdir()) == []
    assert (step.task / f"{settings.name}-node0.log").read_text() == "reward training done\n"
    assert fake.jobs == {} and set(fake.calls) == role_rules(REPO)  # deleted; exactly the Role's verbs


def test_failed_trainjob_fails_the_step_with_its_reason_in_one_line(step):
    fake = FakeKube(node=lambda body: (False, "node 0 exited with code 1", "Traceback ...\nRuntimeError: OOM\n"))
    with serve(fake) as api, pytest.raises(UserError) as e:
        _run(step, api)
    name = fake.created[0]["metadata"]["name"]
    assert str(e.value) == f"TrainJob ml/{name} failed: BackoffLimitExceeded: node 0 exited with code 1"
    assert (step.task / "error.txt").read_text() == f"UserError: {e.value}\n"  # what `pipeline run` quotes
    assert "RuntimeError: OOM" in (step.task / f"{name}-node0.log").read_text()
    assert not Path(step.artifacts["reward_model"]).exists() and list(step.mount.iterdir()) == []
    assert fake.jobs == {}


def test_keep_keeps_the_failed_job_and_its_folder(step):
    fake = FakeKube(node=lambda body: (False, "node 1 lost", ""))
    with serve(fake) as api, pytest.raises(UserError, match="failed: BackoffLimitExceeded: node 1 lost"):
        _run(step, api, keep=True)
    (name,) = fake.jobs
    assert (step.mount / name / "trainjob-config.yaml").is_file() and (step.mount / name / "data").is_dir()


def test_bad_trainjob_parameters_are_one_line_errors(tmp_path):
    from saferlhf.pipeline.trainjob import check_trainjob_params

    with pytest.raises(UserError, match=r"^trainjob_nodes=2 needs trainjob_pvc: a ReadWriteMany PVC"):
        check_trainjob_params(2, 0, "", "img", cluster=True)
    with pytest.raises(UserError, match=r"^trainjob_nodes=2: TrainJobs run on a Kubeflow cluster; a local run"):
        check_trainjob_params(2, 0, PVC, "img", cluster=False)
    with pytest.raises(UserError, match=r"must be >= 0"):
        check_trainjob_params(-1, 0, PVC, "img", cluster=True)
    check_trainjob_params(0, 0, "", "", cluster=False)  # the default: in-pod training, nothing needed
    assert trainjob_settings("train-rl", 0, 0, "", "") is None
    with pytest.raises(UserError, match=r"is not mounted at /nonexistent"):
        trainjob_settings("train-rl", 1, 0, PVC, "img", mount="/nonexistent")
    with pytest.raises(UserError, match="cannot run as a TrainJob"):
        trainjob_settings("evaluate", 1, 0, PVC, "img", mount=str(tmp_path))


def test_gpu_nodes_get_the_gpu_steps_tolerations_and_node_selector(step):
    settings = trainjob_settings("train-rl", 2, 8, PVC, "img", tolerations=["nvidia.com/gpu:NoSchedule"],
                                 node_selector={"pool": "a100"}, mount=str(step.mount))
    assert settings.tolerations == ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
    assert settings.node_selector == {"pool": "a100"} and settings.root.parent == step.mount
    cpu = trainjob_settings("train-rl", 2, 0, PVC, "img", tolerations=["nvidia.com/gpu:NoSchedule"],
                            mount=str(step.mount))
    assert cpu.tolerations == () and cpu.name != settings.name  # a CPU job stays off GPU nodes; names unique


@pytest.mark.slow
def test_real_torchrun_node_trains_the_reward_model_into_the_artifact(step):
    """The body's own command, run as a node would run it: proves the config file, --output-root and the inputs
    laid out on the shared folder are what `saferlhf reward train` under torchrun needs."""
    fake = FakeKube(node=real_command(step.mount))
    with serve(fake) as api:
        settings, result = _run(step, api, nodes=1)  # one node: the fake starts no second one to rendezvous with
    out = Path(step.artifacts["reward_model"])
    assert (out / "metrics.json").is_file() and result.test_rows and result.pairwise_accuracy is not None
    assert any(out.glob("*.safetensors")) or any(out.rglob("*.safetensors"))
    assert "pairwise_accuracy" in (step.task / f"{settings.name}-node0.log").read_text()  # node 0's own output
