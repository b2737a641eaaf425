"""Step 7: export the reward model to ONNX (parity-checked against PyTorch) for the scoring endpoint."""

from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components._common import component


@component
def export_onnx(stage: str, dataset: Input[Dataset], reward_model: Input[Model], reward_onnx: Output[Model],
                metrics: Output[Metrics], report: Output[HTML]):
    """`saferlhf.onnx_export.run_export` into the `reward_onnx` folder."""
    from saferlhf.pipeline import component_step

    component_step(stage, "export-onnx", {"dataset": dataset.path, "reward_model": reward_model.path,
                                          "reward_onnx": reward_onnx.path}, metrics, report.path)
