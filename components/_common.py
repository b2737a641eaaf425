"""What every component shares: the project image, the decorator, per-step resources and retries.

Components are lightweight Python components on the project's own image: the function body is shipped in the
pipeline spec and imports only `saferlhf` (installed in the image), so `install_kfp_package=False` and no
`packages_to_install`. The runtime glue they call lives in `saferlhf.pipeline` (no kfp there)."""

from __future__ import annotations

import os

from kfp import dsl

import saferlhf
from saferlhf.stages import STAGE, resources

BASE_IMAGE = os.environ.get("SAFERLHF_IMAGE", f"saferlhf:{saferlhf.__version__}")
# The CUDA build of the same image (Dockerfile target `pipeline-gpu`, e.g. saferlhf-gpu:<version>) for the steps that
# can take GPUs. Unset (the default): every step runs on BASE_IMAGE, so a CPU cluster never pulls a multi-GB image;
# set it when compiling for GPU node pools. (The `gpus` parameter is chosen per run, the image per compile.)
GPU_IMAGE = os.environ.get("SAFERLHF_GPU_IMAGE", "")


def component(func):
    """`dsl.component` on the project image; a stage whose pod takes GPUs (`Resources.gpu` in the stage table, e.g.
    train-reward, train-rl) on GPU_IMAGE when set. The stage is the function's name with dashes."""
    stage = func.__name__.replace("_", "-")
    gpu = stage in STAGE and STAGE[stage].resources.gpu
    return dsl.component(func, base_image=GPU_IMAGE if gpu and GPU_IMAGE else BASE_IMAGE, install_kfp_package=False)

# Transient failures (node pre-emption, OOM-kill on a busy node): retry with exponential back-off.
RETRY = {"num_retries": 2, "backoff_duration": "5s", "backoff_factor": 2.0, "backoff_max_duration": "60s"}


def configure(task: dsl.PipelineTask, name: str, gpus=None, accelerator: str = "nvidia.com/gpu",
              cache: bool = True, retry: bool = True) -> dsl.PipelineTask:
    """Set the step's CPU/memory requests and limits, retries and caching; `gpus` (a pipeline parameter,
    0 = CPU only) requests accelerators for the steps that train. `cache=False` for a step whose data changes
    behind the same inputs (the monitor's growing log); `retry=False` where a failure is a finding (drift)."""
    size = resources(name)  # the stage table's (saferlhf.stages), sized from the demo/full runs on 2 cores
    task.set_caching_options(cache)
    if retry:
        task.set_retry(**RETRY)
    task.set_cpu_request(size.cpu_request).set_cpu_limit(size.cpu_limit)
    task.set_memory_request(size.memory_request).set_memory_limit(size.memory_limit)
    if gpus is not None and size.gpu:
        task.set_accelerator_type(accelerator).set_accelerator_limit(gpus)
    return task
