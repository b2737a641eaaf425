"""A distributed pipeline step (train-reward, train-rl) run as a Kubeflow Trainer TrainJob instead of in its own pod.

`run_stage` calls `launch` in place of the stage's `fn(cfg, layout)`, with the Layout's root on the ReadWriteMany
volume the step and every TrainJob node mount at the same path (`TRAINJOB_MOUNT`): run_stage has already linked
the upstream artifacts into that Layout (a copy: another file system), `launch` writes the stage's config section
as a YAML config beside them, creates the TrainJob whose nodes run the stage's own CLI command under torchrun on
that config and root, waits for it (`saferlhf.trainjob_launch.run_trainjob`: node 0's logs kept, its reason in one
line when it fails, deleted unless `keep`), then reads the typed result from the report the stage's rank 0
wrote. run_stage then tracks it and moves the outputs into the KFP artifacts as for an in-pod step. No kfp here."""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from saferlhf.config import RegistryConfig, StageConfig
from saferlhf.errors import UserError
from saferlhf.pipeline.platform import RUN_AS_USER, TRAINJOB_MOUNT, gpu_placement, in_kfp_pod
from saferlhf.stages import STAGE, Stage

log = logging.getLogger(__name__)

CONFIG_FILE = "trainjob-config.yaml"  # beside the Layout's places in the shared folder, never one of them
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class TrainJobSettings:
    """How a step runs as a TrainJob: the pipeline's trainjob_* parameters, resolved. `api` None: the pod's
    in-cluster API and service-account token; `namespace` "": the pod's own, where the PVC is (PVCs are
    namespaced, so the TrainJob must run beside it)."""

    name: str  # the TrainJob's name and its folder on the volume
    nodes: int
    pvc: str
    image: str
    gpus_per_node: int = 0
    keep: bool = False
    tolerations: tuple[dict, ...] = ()
    node_selector: dict[str, str] = field(default_factory=dict)
    mount: str = TRAINJOB_MOUNT
    namespace: str = ""
    api: object | None = None  # saferlhf.trainjob_launch.KubeAPI
    poll_s: float = 10.0
    timeout_s: float = 24 * 3600.0

    @property
    def root(self) -> Path:
        """The run-unique folder on the shared volume: the Layout root of the step and of the nodes."""
        return Path(self.mount) / self.name


def check_trainjob_params(nodes: int, gpus_per_node: int, pvc: str, image: str, cluster: bool | None = None) -> None:
    """The trainjob_* pipeline parameters, checked by the config step before anything trains (one line each).
    `cluster`: the step runs in a KFP pod (default: as the pod's env says); kfp.local has no TrainJobs."""
    if nodes < 0 or gpus_per_node < 0:
        raise UserError(f"trainjob_nodes and trainjob_gpus_per_node must be >= 0; got {nodes}, {gpus_per_node}")
    if nodes and not (in_kfp_pod() if cluster is None else cluster):
        raise UserError(f"trainjob_nodes={nodes}: TrainJobs run on a Kubeflow cluster; a local run (kfp.local) "
                        "trains in its own processes, leave trainjob_nodes at 0")
    if nodes and not pvc.strip():
        raise UserError(f"trainjob_nodes={nodes} needs trainjob_pvc: a ReadWriteMany PVC in the run's namespace "
                        "that the step and the TrainJob's nodes share (docs/gpu-distributed.md)")
    if nodes and not image.strip():
        raise UserError(f"trainjob_nodes={nodes} needs trainjob_image: the image of the TrainJob's nodes")


def job_name(step: str, uid: str | None = None) -> str:
    """`saferlhf-<step>-<12 hex>`, unique per pod attempt (KFP_POD_UID on a cluster, else random): a retried
    attempt gets its own TrainJob and folder, never one a previous attempt left behind. A DNS-1035 label."""
    uid = re.sub(r"[^0-9a-f]", "", (uid or os.environ.get("KFP_POD_UID") or uuid.uuid4().hex).lower())
    return f"saferlhf-{step}-{(uid or uuid.uuid4().hex)[:12]}"


def trainjob_settings(step: str, nodes: int, gpus_per_node: int, pvc: str, image: str, keep: bool = False,
                      tolerations: list | None = None, node_selector: dict | None = None,
                      **extra) -> TrainJobSettings | None:
    """The settings of `step` from the pipeline parameters; None when trainjob_nodes is 0 (in-pod training).
    Tolerations and node selector as for the in-pod GPU steps (`gpu_placement`: none when no GPUs)."""
    if nodes <= 0:
        return None
    if not STAGE[step].distributed:
        raise UserError(f"step {step!r} cannot run as a TrainJob (not a distributed stage)")
    check_trainjob_params(nodes, gpus_per_node, pvc, image, cluster=True)  # the config step checked where it runs
    tols, selector = gpu_placement(gpus_per_node, list(tolerations or []), dict(node_selector or {}))
    settings = TrainJobSettings(job_name(step), nodes, pvc, image, gpus_per_node, keep, tuple(tols), selector, **extra)
    if not Path(settings.mount).is_dir():
        raise UserError(f"step {step}: the TrainJob volume (PVC {pvc!r}) is not mounted at {settings.mount}")
    return settings


def write_node_config(path: Path, section: str, cfg: StageConfig) -> Path:
    """The YAML the nodes' CLI reads: the stage's section (artifact paths already cleared: the nodes use the
    Layout's places under --output-root) and tracking off: the launching step tracks the result once, with the
    MLflow env of its ConfigMap, which the nodes do not have."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {section: cfg.model_dump(mode="json"), "registry": RegistryConfig(tracking=False).model_dump(mode="json")}
    path.write_text(yaml.safe_dump(body, sort_keys=True))
    return path


def launch(settings: TrainJobSettings, stage: Stage, cfg: StageConfig, layout, log_file: Path):
    """Run `stage` on `layout` (rooted at settings.root, inputs in place) as a TrainJob; its typed result."""
    from saferlhf.trainjob import trainjob_body
    from saferlhf.trainjob_launch import KubeAPI, pod_namespace, run_trainjob

    if Path(layout.root) != settings.root:
        raise RuntimeError(f"TrainJob layout {layout.root} is not on the shared volume folder {settings.root}")
    namespace = settings.namespace or pod_namespace()
    config = write_node_config(settings.root / CONFIG_FILE, stage.section, cfg)
    body = trainjob_body(stage.name, settings.name, settings.image, str(config), str(settings.root),
                         num_nodes=settings.nodes, gpus_per_node=settings.gpus_per_node, namespace=namespace,
                         env={"SAFERLHF_TRACKING": "0"}, pvc=settings.pvc, mount_path=settings.mount,
                         tolerations=list(settings.tolerations), node_selector=settings.node_selector,
                         run_as=RUN_AS_USER)
    api = settings.api or KubeAPI.from_cluster()
    try:
        run_trainjob(api, body, namespace, poll_s=settings.poll_s, timeout_s=settings.timeout_s, keep=settings.keep,
                     log_file=log_file)
    finally:  # node 0's log in the step's own log too, where the KFP UI shows it
        if log_file.is_file():
            tail = log_file.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            log.info("TrainJob %s node 0, last %d log lines (all: %s):\n%s", settings.name, len(tail), log_file,
                     "\n".join(tail))
    return stage.load_result(layout)
