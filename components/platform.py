"""Where the GPU steps may run: the pipeline's GPU tolerations and node selector when `gpus` > 0, none otherwise
(KFP resolves a task's tolerations and node selector from an upstream output at run time; `pipelines/platform.py`
wires them). The logic is `saferlhf.pipeline.platform.gpu_placement`."""

from typing import NamedTuple

from components._common import component


@component
def gpu_placement(gpus: int, tolerations: list, node_selector: dict) -> NamedTuple(
        "Placement", [("tolerations", list), ("node_selector", dict)]):
    """The GPU steps' tolerations and node selector: the pipeline's, validated, or none on a CPU-only run."""
    from collections import namedtuple

    from saferlhf.pipeline.platform import gpu_placement as place

    return namedtuple("Placement", ["tolerations", "node_selector"])(*place(gpus, tolerations, node_selector))
