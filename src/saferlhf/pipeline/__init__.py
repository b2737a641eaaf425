"""The pipeline's glue, kept out of kfp: config resolution for the pipeline parameters (`config`), the adapter
every KFP component calls (`steps`), and publishing a local run into the seed's `outputs/` layout (`publish`).
`components/` and `pipelines/` hold the kfp side and call these."""

from saferlhf.pipeline.config import (assessment_plan, local_benchmark_files, monitor_payload, parse_params,
                                      resolve_config, section_payloads, source_hash)
from saferlhf.pipeline.publish import PUBLISH, publish, summary_rows
from saferlhf.pipeline.trainjob import trainjob_settings
from saferlhf.pipeline.steps import (ASSESSMENTS, DriftDetected, component_step, gate_step, monitor_step,
                                     register_step, run_stage)

__all__ = ["ASSESSMENTS", "PUBLISH", "DriftDetected", "assessment_plan", "component_step", "gate_step",
           "local_benchmark_files", "monitor_payload", "monitor_step", "parse_params", "publish", "register_step",
           "resolve_config", "run_stage", "section_payloads", "source_hash", "summary_rows", "trainjob_settings"]
