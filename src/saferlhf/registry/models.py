"""Log the three models as MLflow pyfunc models (models from code; weights as plain files, never pickled).

Each `log_*` function needs an active run and returns the logged model's URI (`models:/m-...`), which
`saferlhf.registry.promote.register` turns into a registry version."""

from __future__ import annotations

import importlib.metadata as md
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from saferlhf.config import GenerateConfig
from saferlhf.io import hardlink_or_copy

HERE = Path(__file__).resolve().parent
CODE = HERE / "code_models"
# A tiny input example: MLflow stores it with the model and checks the model can score it when logging.
EXAMPLE = pd.DataFrame({"prompt": ["How do I reset my router?", "How can I hurt someone without getting caught?"],
                        "response": ["Unplug it for 30 seconds, then plug it back in.",
                                     "I can't help with hurting anyone. If you are in danger, please contact local "
                                     "emergency services."]})
TORCH_FREE = ("numpy", "pandas", "onnxruntime", "tokenizers", "pydantic", "pyyaml")
WITH_TORCH = ("numpy", "pandas", "torch", "transformers", "safetensors", "tokenizers", "pydantic", "pyyaml")


def pins(dists: tuple[str, ...]) -> list[str]:
    """`name==version` for the installed distributions (explicit, so MLflow skips its slow inference step)."""
    out = []
    for d in dists:
        try:
            out.append(f"{d}=={md.version(d)}")
        except md.PackageNotFoundError:
            out.append(d)
    return out


def _signature(inputs: tuple[str, ...], outputs: tuple[str, ...], out_type: str):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("string", c) for c in inputs]),
                          outputs=Schema([ColSpec(out_type, c) for c in outputs]))


@contextmanager
def staged_folder(files: list[Path], name: str) -> Iterator[Path]:
    """A temporary folder `name` holding exactly `files` (hard links when possible: no copy of large weights).
    Its name is the folder's name inside the logged model (`artifacts/<name>/...`)."""
    with tempfile.TemporaryDirectory(prefix="saferlhf-model-") as tmp:
        folder = Path(tmp) / name
        folder.mkdir()
        for f in files:
            hardlink_or_copy(f, folder / f.name)
        yield folder


def onnx_bundle_files(onnx_dir: Path, reward_dir: Path | None) -> list[Path]:
    """The export's files, plus the reward config and drift reference of the model it came from when the export
    folder lacks them (so each registered version carries its own drift reference)."""
    files = [f for f in sorted(onnx_dir.iterdir()) if f.is_file()]
    names = {f.name for f in files}
    if "manifest.json" in names:  # a sealed export carries its own reference: never mix in a newer model's
        return files
    for extra in ("reward_config.json", "reference_scores.parquet"):
        if extra not in names and reward_dir is not None and (reward_dir / extra).is_file():
            files.append(reward_dir / extra)
    return files


def _log_code_model(files: list[Path], code: str, artifact: str, folder_name: str, signature, input_example,
                    requirements: list[str], model_config: dict | None = None) -> str:
    """Stage `files` as `artifacts/<folder_name>/` of a models-from-code pyfunc (`code_models/<code>`), which reads
    them as context.artifacts[artifact]. The folder names are part of the contract: the drift monitor finds a
    version's reference under artifacts/onnx/ or artifacts/reward_model/."""
    import mlflow

    with staged_folder(files, folder_name) as folder:
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(CODE / code), artifacts={artifact: str(folder)}, model_config=model_config,
            signature=signature, input_example=input_example, pip_requirements=requirements)
    return info.model_uri


def log_reward_onnx(onnx_dir: Path, reward_dir: Path | None = None) -> str:
    """The ONNX export as a torch-free pyfunc: DataFrame(prompt, response) -> four scores + reward."""
    from saferlhf.registry.pyfunc import OUTPUT_COLUMNS

    return _log_code_model(onnx_bundle_files(onnx_dir, reward_dir), "onnx_reward.py", "bundle", "onnx",
                           _signature(("prompt", "response"), OUTPUT_COLUMNS, "double"), EXAMPLE, pins(TORCH_FREE),
                           {"precision": "fp32"})


def log_reward_torch(reward_dir: Path) -> str:
    """The PyTorch reward model (safetensors + tokenizer + configs + drift reference; no plots, no ONNX)."""
    from saferlhf.registry.pyfunc import OUTPUT_COLUMNS

    files = [f for f in sorted(reward_dir.iterdir()) if f.is_file()]
    return _log_code_model(files, "torch_reward.py", "reward_model", "reward_model",
                           _signature(("prompt", "response"), OUTPUT_COLUMNS, "double"), EXAMPLE, pins(WITH_TORCH))


def log_policy(policy_dir: Path) -> str:
    """The RL policy (a causal LM folder): DataFrame(prompt) -> DataFrame(response)."""
    return _log_code_model([f for f in sorted(policy_dir.iterdir()) if f.is_file()], "policy.py", "policy", "policy",
                           _signature(("prompt",), ("response",), "string"), EXAMPLE[["prompt"]], pins(WITH_TORCH),
                           {**GenerateConfig().sampling.model_dump(), "seed": 42})  # `policy generate`'s defaults
