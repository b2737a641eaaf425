"""The compiled pipelines' Kubernetes settings (kfp-kubernetes), applied to every task once a `@dsl.pipeline` body
has laid out its recipe, so a new step gets them without an edit here:

- env from the ConfigMap/Secret of the run's namespace (MLFLOW_TRACKING_URI and, where an MLflow needs them, its
  credentials), every reference optional so the step's own guard names a missing ConfigMap;
- the security context kfp-kubernetes can express (runAsUser/runAsGroup 10001, runAsNonRoot); KFP's backend
  compiler (>= 2.17) adds allowPrivilegeEscalation: false, drop ALL and seccomp RuntimeDefault itself; what
  neither can set is listed in docs/cluster.md;
- GPU steps (those requesting accelerators): tolerations and a node selector resolved at run time by a small
  `gpu-placement` step, empty when `gpus` = 0;
- `mount_prediction_log`: the scorer's prediction-log PVC, for the monitor step;
- `mount_trainjob_volume`: the ReadWriteMany PVC a step that runs as a TrainJob shares with the TrainJob's nodes.

Names default to saferlhf.pipeline.platform's (which manifests/ creates); `saferlhf pipeline compile
--config-map/--secret` compiles for other names (`build`)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass

from kfp import dsl, kubernetes
from kfp.dsl import graph_component, pipeline_context

from components._common import configure
from components.platform import gpu_placement
from saferlhf.pipeline import platform as names


@dataclass(frozen=True)
class Platform:
    config_map: str = names.CONFIG_MAP
    secret: str = names.SECRET
    # The training steps' TrainJob variants (a dsl.If/Else on trainjob_nodes, joined by dsl.OneOf). False for
    # kfp.local runs (LOCAL): kfp.local 2.17 cannot resolve a dsl.OneOf of artifacts ("Expected 1 artifact in
    # ArtifactSelectorSpec. Got: 2") and has no cluster to run a TrainJob on; its training steps are the in-pod
    # tasks of the compiled spec, under the same names.
    trainjob: bool = True


_current = Platform()
LOCAL = Platform(trainjob=False)


def current() -> Platform:
    """The settings the pipeline being built uses."""
    return _current


@contextlib.contextmanager
def using(settings: Platform) -> Iterator[None]:
    """Build pipelines with these names instead of the defaults (`apply` reads them while a pipeline is built)."""
    global _current
    previous, _current = _current, settings
    try:
        yield
    finally:
        _current = previous


def build(pipeline: graph_component.GraphComponent, settings: Platform) -> graph_component.GraphComponent:
    """`pipeline` (a @dsl.pipeline, built once when its module was imported, with the defaults) built again with
    `settings`; the same object when they are the defaults."""
    if settings == Platform():
        return pipeline
    with using(settings):
        return graph_component.GraphComponent(copy.deepcopy(pipeline.component_spec), pipeline.pipeline_func,
                                              pipeline.display_name if hasattr(pipeline, "display_name") else None,
                                              pipeline.pipeline_config)


def requests_accelerators(task: dsl.PipelineTask) -> bool:
    resources = task.container_spec.resources if task.container_spec else None
    return resources is not None and resources.accelerator_count is not None


def apply(gpus=None, gpu_tolerations=None, gpu_node_selector=None) -> None:
    """Set env, security context and (given the pipeline's `gpus`, `gpu_tolerations`, `gpu_node_selector`
    parameters) GPU placement on every task of the pipeline being defined. Call last in the pipeline body."""
    tasks = list(pipeline_context.Pipeline.get_default_pipeline().tasks.values())
    gpu_tasks = [t for t in tasks if requests_accelerators(t)]
    if gpu_tasks and gpus is not None:
        placement = configure(gpu_placement(gpus=gpus, tolerations=gpu_tolerations, node_selector=gpu_node_selector),
                              "gpu-placement")
        tasks.append(placement)
        for task in gpu_tasks:
            kubernetes.add_toleration_json(task, placement.outputs["tolerations"])
            kubernetes.add_node_selector_json(task, placement.outputs["node_selector"])
    for task in tasks:
        kubernetes.use_config_map_as_env(task, _current.config_map, names.CONFIG_MAP_ENV, optional=True)
        kubernetes.use_secret_as_env(task, _current.secret, names.SECRET_ENV, optional=True)
        task.set_env_variable(names.CONFIG_MAP_NAME_ENV, _current.config_map)
        kubernetes.set_security_context(task, run_as_user=names.RUN_AS_USER, run_as_group=names.RUN_AS_GROUP,
                                        run_as_non_root=True)


def mount_prediction_log(task: dsl.PipelineTask, pvc_name) -> dsl.PipelineTask:
    """Mount the scorer's prediction-log PVC (`pvc_name`: a pipeline parameter) where the monitor reads it.
    kfp-kubernetes has no readOnly for PVC mounts: the step only reads, but the mount is writable."""
    return kubernetes.mount_pvc(task, pvc_name=pvc_name, mount_path=names.PREDICTION_LOG_MOUNT)


def mount_trainjob_volume(task: dsl.PipelineTask, pvc_name) -> dsl.PipelineTask:
    """Mount the `trainjob_pvc` parameter's PVC where the TrainJob's nodes mount it too (names.TRAINJOB_MOUNT,
    which saferlhf.pipeline.trainjob writes into the TrainJob's runtimePatches). Only on the TrainJob variant of a
    step, inside the pipeline's trainjob branch: KFP resolves a parameter's claim name when it starts the pod, and
    an empty name (the in-pod default) would fail that pod instead of mounting nothing."""
    return kubernetes.mount_pvc(task, pvc_name=pvc_name, mount_path=names.TRAINJOB_MOUNT)
