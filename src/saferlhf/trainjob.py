"""Kubeflow Trainer v2: the `TrainJob` body that runs a distributed stage (reward training, policy init, RL) on
`num_nodes` nodes with `gpus_per_node` GPUs each, as a pure function of the stage table and its parameters.

The job uses the `torch-distributed` ClusterTrainingRuntime: Trainer injects the torchrun rendezvous settings
(PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK, PET_MASTER_ADDR/PORT) into every node, so the container command is
plain `torchrun -m saferlhf.cli ...` (the same CLI command as in a pod). Validated in tests against the CRD's
openAPIV3Schema (tests/schemas/trainer_trainjob_v1alpha1.json). Pure: no Kubernetes client, no I/O."""

from __future__ import annotations

import re

from saferlhf.errors import UserError
from saferlhf.stages import STAGE

API_VERSION = "trainer.kubeflow.org/v1alpha1"
PLURAL = "trainjobs"
RUNTIME = "torch-distributed"
GPU_RESOURCE = "nvidia.com/gpu"
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # DNS-1035 label: the JobSet and its pods are named after it


def trainjob_body(stage: str, name: str, image: str, config_path: str, output_root: str, *, num_nodes: int = 1,
                  gpus_per_node: int = 0, namespace: str | None = None, runtime: str = RUNTIME,
                  env: dict[str, str] | None = None) -> dict:
    """The TrainJob for `stage` (a stage-table name with `distributed=True`). gpus_per_node 0 = one CPU process
    per node (gloo); N > 0 = N processes per node, one GPU each (NCCL)."""
    if stage not in STAGE or not STAGE[stage].distributed:
        runnable = ", ".join(s for s, v in STAGE.items() if v.distributed)
        raise UserError(f"TrainJob stage must be one of {runnable}; got {stage!r}")
    if not _NAME.fullmatch(name) or len(name) > 63:
        raise UserError(f"TrainJob name must be a DNS-1035 label (lower case, digits, '-', <= 63 chars); got {name!r}")
    if num_nodes < 1 or gpus_per_node < 0:
        raise UserError(f"num_nodes must be >= 1 and gpus_per_node >= 0; got {num_nodes}, {gpus_per_node}")
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
    return {
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
