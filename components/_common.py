"""What every component shares: the project image, the decorator, per-step resources and retries.

Components are lightweight Python components on the project's own image: the function body is shipped in the
pipeline spec and imports only `saferlhf` (installed in the image), so `install_kfp_package=False` and no
`packages_to_install`. The runtime glue they call lives in `saferlhf.pipeline` (no kfp there)."""

from __future__ import annotations

import functools
import os

from kfp import dsl

import saferlhf

BASE_IMAGE = os.environ.get("SAFERLHF_IMAGE", f"saferlhf:{saferlhf.__version__}")

component = functools.partial(dsl.component, base_image=BASE_IMAGE, install_kfp_package=False)

# step -> (cpu request, cpu limit, memory request, memory limit); sized from the demo/full runs on 2 cores.
RESOURCES = {
    "resolve-config": ("250m", "1", "512Mi", "1Gi"),
    "generate-data": ("500m", "1", "1Gi", "2Gi"),
    "train-reward": ("2", "4", "6Gi", "12Gi"),
    "init-policy": ("2", "4", "4Gi", "8Gi"),
    "train-rl": ("2", "4", "8Gi", "16Gi"),
    "plan-assessments": ("100m", "500m", "256Mi", "512Mi"),
    "assess-policies": ("2", "4", "6Gi", "12Gi"),
    "export-onnx": ("1", "2", "4Gi", "8Gi"),
    "promotion-gate": ("250m", "1", "1Gi", "2Gi"),
    "register": ("500m", "1", "2Gi", "4Gi"),
    "gpu-placement": ("100m", "500m", "256Mi", "512Mi"),  # pipelines/platform.py: GPU steps' tolerations
    # the drift-monitor pipeline: the CronJob's size (100,000 log records take ~21 s on 2 cores)
    "resolve-monitor-config": ("250m", "1", "512Mi", "1Gi"),
    "monitor-drift": ("500m", "1", "1Gi", "2Gi"),
}
# Transient failures (node pre-emption, OOM-kill on a busy node): retry with exponential back-off.
RETRY = {"num_retries": 2, "backoff_duration": "5s", "backoff_factor": 2.0, "backoff_max_duration": "60s"}


def configure(task: dsl.PipelineTask, name: str, gpus=None, accelerator: str = "nvidia.com/gpu",
              cache: bool = True, retry: bool = True) -> dsl.PipelineTask:
    """Set the step's CPU/memory requests and limits, retries and caching; `gpus` (a pipeline parameter,
    0 = CPU only) requests accelerators for the steps that train. `cache=False` for a step whose data changes
    behind the same inputs (the monitor's growing log); `retry=False` where a failure is a finding (drift)."""
    cpu_req, cpu_lim, mem_req, mem_lim = RESOURCES[name]
    task.set_caching_options(cache)
    if retry:
        task.set_retry(**RETRY)
    task.set_cpu_request(cpu_req).set_cpu_limit(cpu_lim).set_memory_request(mem_req).set_memory_limit(mem_lim)
    if gpus is not None:
        task.set_accelerator_type(accelerator).set_accelerator_limit(gpus)
    return task
