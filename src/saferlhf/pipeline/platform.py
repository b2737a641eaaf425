"""What the compiled pipelines expect of the Kubernetes namespace they run in, in one place: the ConfigMap and
Secret their steps take MLflow settings from, the user they run as, the prediction-log volume, the TrainJob shared
volume's mount, the GPU placement defaults. `pipelines/platform.py` writes these into the compiled platform spec
(kfp-kubernetes) and `manifests/` creates them; tests keep the three in step. Plus the in-pod guard: a step inside a
KFP pod without a tracking URI stops at once instead of registering into a scratch SQLite file that the pod then
deletes. No kfp here."""

from __future__ import annotations

import os
from collections.abc import Mapping

from saferlhf.errors import UserError

# Set on every step pod by KFP's executor template (backend/src/v2/compiler/argocompiler/common.go, from the pod's
# own metadata); kfp.local sets neither. Their presence is how a step knows it runs on a cluster.
POD_ENV = ("KFP_POD_NAME", "KFP_POD_UID")
# Set by `saferlhf pipeline run` (kfp.local): every step is a process on this one machine.
SHARED_HOST_ENV = "SAFERLHF_SHARED_HOST"

CONFIG_MAP = "saferlhf-pipeline-env"
"""ConfigMap in the run's namespace: non-secret MLflow settings for every step (manifests/base/pipeline-env.yaml)."""
SECRET = "saferlhf-pipeline-mlflow"
"""Secret in the run's namespace: MLflow credentials, only for an MLflow that asks for them (all keys optional)."""
# key in the ConfigMap / Secret -> environment variable of the step. Every reference is `optional`: a missing
# ConfigMap must not leave the pod hanging in CreateContainerConfigError; `require_tracking_uri` names it instead.
CONFIG_MAP_ENV = {"mlflow-tracking-uri": "MLFLOW_TRACKING_URI",
                  "mlflow-s3-endpoint-url": "MLFLOW_S3_ENDPOINT_URL"}  # only without --serve-artifacts
SECRET_ENV = {"mlflow-tracking-username": "MLFLOW_TRACKING_USERNAME",
              "mlflow-tracking-password": "MLFLOW_TRACKING_PASSWORD",
              "mlflow-tracking-token": "MLFLOW_TRACKING_TOKEN",
              "aws-access-key-id": "AWS_ACCESS_KEY_ID",  # artifact store credentials, only without --serve-artifacts
              "aws-secret-access-key": "AWS_SECRET_ACCESS_KEY"}
# Env var the compiled steps carry with the ConfigMap's name, so the guard names the one this spec expects.
CONFIG_MAP_NAME_ENV = "SAFERLHF_PIPELINE_CONFIGMAP"

RUN_AS_USER = RUN_AS_GROUP = 10001  # the image's user (Dockerfile), as in every manifest
PREDICTION_LOG_PVC = "saferlhf-prediction-logs"  # the scorer's log volume (manifests/base/scorer.yaml)
PREDICTION_LOG_MOUNT = "/var/log/saferlhf/predictions"  # where the scorer writes it and the monitor reads it
# Where a step that runs as a TrainJob and every node of that TrainJob mount the shared ReadWriteMany PVC (the
# `trainjob_pvc` pipeline parameter): the same path on both sides, so the config and Layout paths mean the same.
TRAINJOB_MOUNT = "/mnt/saferlhf-shared"

# Tolerations of the GPU steps, in `kubectl taint` syntax (key[=value]:effect; no value = operator Exists): the taint
# GPU node pools commonly carry (GKE, AKS GPU pools; the NVIDIA GPU operator's docs). Strings, not mappings, so the
# compiled spec's header stays byte-stable (kfp prints mapping defaults in an order that varies between processes).
GPU_TOLERATIONS = ["nvidia.com/gpu:NoSchedule"]
GPU_NODE_SELECTOR: dict[str, str] = {}  # e.g. {"nvidia.com/gpu.present": "true"} (GPU feature discovery's label)
_TOLERATION_FIELDS = {"key", "operator", "value", "effect", "tolerationSeconds"}
_OPERATORS = ("Equal", "Exists")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def in_kfp_pod(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return any(env.get(k) for k in POD_ENV)


def require_tracking_uri(configured: str | None = None, step: str = "this step") -> None:
    """In a KFP pod, a tracking URI (registry.tracking_uri, else env MLFLOW_TRACKING_URI) must be set; else exit 1
    with one line naming the ConfigMap. SystemExit, not an exception: the pod log ends in that line, no traceback.
    Outside a pod (kfp.local, the CLI) the embedded SQLite default applies and this does nothing."""
    if not in_kfp_pod() or configured or os.environ.get("MLFLOW_TRACKING_URI"):
        return
    name = os.environ.get(CONFIG_MAP_NAME_ENV) or CONFIG_MAP
    raise SystemExit(f"error: {step}: no MLflow tracking URI in this Kubeflow pod: MLFLOW_TRACKING_URI comes from "
                     f"key mlflow-tracking-uri of ConfigMap {name!r} in the run's namespace, which is missing or "
                     f"lacks it (see docs/cluster.md)")


def toleration(spec: str | dict, where: str = "toleration") -> dict:
    """A Kubernetes toleration from `key[=value]:effect` (no value: operator Exists) or from its mapping.

    >>> toleration("nvidia.com/gpu:NoSchedule")
    {'key': 'nvidia.com/gpu', 'operator': 'Exists', 'effect': 'NoSchedule'}
    >>> toleration("pool=gpu:NoExecute")
    {'key': 'pool', 'operator': 'Equal', 'value': 'gpu', 'effect': 'NoExecute'}
    """
    if isinstance(spec, str):
        key_value, sep, effect = spec.rpartition(":")
        key, eq, value = key_value.partition("=")
        if not sep or not key:
            raise UserError(f"{where}: {spec!r} is not key[=value]:effect")
        t = {"key": key, "operator": "Equal" if eq else "Exists", **({"value": value} if eq else {}), "effect": effect}
    elif isinstance(spec, dict) and spec and not set(spec) - _TOLERATION_FIELDS:
        t = dict(spec)
    else:
        raise UserError(f"{where} must be key[=value]:effect or a mapping of {', '.join(sorted(_TOLERATION_FIELDS))}; "
                        f"got {spec!r}")
    if t.get("operator", "Equal") not in _OPERATORS or t.get("effect", "NoSchedule") not in _EFFECTS:
        raise UserError(f"{where}: operator must be one of {_OPERATORS} and effect one of {_EFFECTS}; got {spec!r}")
    if t.get("operator") == "Exists" and t.get("value"):
        raise UserError(f"{where}: operator Exists takes no value; got {spec!r}")
    return t


def gpu_placement(gpus: int, tolerations: list, node_selector: dict) -> tuple[list[dict], dict[str, str]]:
    """(tolerations, node selector) for the GPU steps: the given ones, validated, when `gpus` > 0, else none (a
    CPU run must not be steered onto, or allowed onto, GPU nodes). Bad shapes fail in one line naming the field."""
    if gpus <= 0:
        return [], {}
    if not isinstance(tolerations, list):
        raise UserError(f"gpu_tolerations must be a list, got {type(tolerations).__name__}")
    if not isinstance(node_selector, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in node_selector.items()):
        raise UserError(f"gpu_node_selector must map label names to string values, got {node_selector!r}")
    return [toleration(t, f"gpu_tolerations[{i}]") for i, t in enumerate(tolerations)], node_selector
