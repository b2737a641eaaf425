"""Kubeflow Trainer v2: the `TrainJob` body that runs a distributed stage (reward training, policy init, RL) on
`num_nodes` nodes with `gpus_per_node` GPUs each, as a pure function of the stage table and its parameters.

The job uses the `torch-distributed` ClusterTrainingRuntime: Trainer injects the torchrun rendezvous settings
(PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK, PET_MASTER_ADDR/PORT) into every node, so the container command is
plain `torchrun -m saferlhf.cli ...` (the same CLI command as in a pod). Validated in tests against the CRD's
openAPIV3Schema (tests/schemas/trainer_trainjob_v1alpha1.json). Pure: no Kubernetes client, no I/O.

Shared storage and placement go in `spec.runtimePatches` (the CRD's field at the pinned commit; it replaced
`podTemplateOverrides` in Trainer v2.2): one entry owned by `PATCH_MANAGER` that patches the runtime's `node`
replicated job: the volume and its mount in the `node` container, tolerations, node selector, pod security context
and a pod label. Env stays in `trainer.env`: Trainer's webhook rejects env for the `node` container in a patch."""

from __future__ import annotations

import re

from saferlhf.errors import UserError
from saferlhf.stages import STAGE

API_VERSION = "trainer.kubeflow.org/v1alpha1"
PLURAL = "trainjobs"
RUNTIME = "torch-distributed"
GPU_RESOURCE = "nvidia.com/gpu"
# The torch-distributed runtime's replicated job and container (kubeflow/trainer manifests/base/runtimes/
# torch_distributed.yaml): a patch naming anything else is rejected by Trainer's webhook.
NODE = "node"
PATCH_MANAGER = "saferlhf.io/pipeline"  # a domain-prefixed path, as the webhook requires of `manager`
NODE_LABEL = "saferlhf.io/trainjob-node"  # on every node pod: the NetworkPolicy that lets the nodes talk selects it
SHARED_VOLUME = "saferlhf-shared"
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # DNS-1035 label: the JobSet and its pods are named after it


def trainjob_body(stage: str, name: str, image: str, config_path: str, output_root: str, *, num_nodes: int = 1,
                  gpus_per_node: int = 0, namespace: str | None = None, runtime: str = RUNTIME,
                  env: dict[str, str] | None = None, pvc: str | None = None, mount_path: str | None = None,
                  tolerations: list[dict] | None = None, node_selector: dict[str, str] | None = None,
                  run_as: int | None = None) -> dict:
    """The TrainJob for `stage` (a stage-table name with `distributed=True`). gpus_per_node 0 = one CPU process
    per node (gloo); N > 0 = N processes per node, one GPU each (NCCL). `pvc` mounted at `mount_path` on every
    node: where the config, inputs and outputs are (the launching pipeline step mounts it at the same path)."""
    if stage not in STAGE or not STAGE[stage].distributed:
        runnable = ", ".join(s for s, v in STAGE.items() if v.distributed)
        raise UserError(f"TrainJob stage must be one of {runnable}; got {stage!r}")
    if not _NAME.fullmatch(name) or len(name) > 63:
        raise UserError(f"TrainJob name must be a DNS-1035 label (lower case, digits, '-', <= 63 chars); got {name!r}")
    if num_nodes < 1 or gpus_per_node < 0:
        raise UserError(f"num_nodes must be >= 1 and gpus_per_node >= 0; got {num_nodes}, {gpus_per_node}")
    if bool(pvc) != bool(mount_path):
        raise UserError(f"a TrainJob volume needs both a PVC and a mount path; got pvc={pvc!r}, "
                        f"mount_path={mount_path!r}")
    s = STAGE[stage]
    res = s.resources
    resources = {"requests": {"cpu": res.cpu_request, "memory": res.memory_request},
                 "limits": {"cpu": res.cpu_limit, "memory": res.memory_limit}}
    if gpus_per_node:
        resources["requests"][GPU_RESOURCE] = resources["limits"][GPU_RESOURCE] = str(gpus_per_node)
    env = {"HF_HUB_OFFLINE": "1", **(env or {})}
    metadata = {"name": name, "labels": {"app.kubernetes.io/part-of": "saferlhf", "saferlhf.io/stage": stage}}
    if namespace:
        metadata["namespace"] = namespace
    body = {
        "apiVersion": API_VERSION, "kind": "TrainJob", "metadata": metadata,
        "spec": {
            "runtimeRef": {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime", "name": runtime},
            "trainer": {
                "image": image,
                "command": ["torchrun", "-m", "saferlhf.cli", "--config", config_path, "--output-root", output_root,
                            *s.command, "--device", "cuda" if gpus_per_node else "cpu"],
                "numNodes": num_nodes,
                "numProcPerNode": max(gpus_per_node, 1),
                "resourcesPerNode": resources,
                "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
            },
        },
    }
    pod = node_pod_patch(pvc, mount_path, tolerations, node_selector, run_as)
    if pod:
        body["spec"]["runtimePatches"] = [{"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {"spec": {
            "replicatedJobs": [{"name": NODE, "template": {"spec": {"template": pod}}}]}}}}]
    return body


def node_pod_patch(pvc: str | None = None, mount_path: str | None = None, tolerations: list[dict] | None = None,
                   node_selector: dict[str, str] | None = None, run_as: int | None = None) -> dict:
    """The pod template patch of the `node` job (strategic merge: lists merge by name), {} when there is nothing
    to patch. `run_as`: the pipeline steps' user and group, so files the nodes write on the shared volume belong
    to the user the launching step reads them as."""
    spec: dict = {}
    if pvc:
        spec["volumes"] = [{"name": SHARED_VOLUME, "persistentVolumeClaim": {"claimName": pvc}}]
        spec["containers"] = [{"name": NODE, "volumeMounts": [{"name": SHARED_VOLUME, "mountPath": mount_path}]}]
    if tolerations:
        spec["tolerations"] = list(tolerations)
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if run_as is not None:
        spec["securityContext"] = {"runAsUser": run_as, "runAsGroup": run_as, "runAsNonRoot": True}
    return {"metadata": {"labels": {NODE_LABEL: "true"}}, "spec": spec} if spec else {}
