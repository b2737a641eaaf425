"""MLflow pyfunc wrappers of the three registered models. They are logged as *models from code*
(`code_models/*.py` call `mlflow.models.set_model`), so MLflow never cloudpickles an object: weights travel as
plain files (ONNX, safetensors, tokenizer.json) in the model's `artifacts`.

Input: a DataFrame with `prompt` and `response` columns (the policy needs `prompt` only).
The ONNX wrapper imports onnxruntime and tokenizers only (no torch), like the scoring service it shares code with."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from saferlhf.signals import SIGNALS

OUTPUT_COLUMNS = (*SIGNALS, "reward")


def _pairs(model_input) -> tuple[list[str], list[str]]:
    df = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
    missing = {"prompt", "response"} - set(df.columns)
    if missing:
        raise ValueError(f"input needs columns prompt and response; missing {sorted(missing)}")
    return df["prompt"].astype(str).tolist(), df["response"].astype(str).tolist()


def _frame(scores: np.ndarray, reward: np.ndarray) -> pd.DataFrame:
    """(N, 4) scores + (N,) reward -> DataFrame with SIGNALS + reward columns (float64)."""
    out = pd.DataFrame(np.asarray(scores, dtype=np.float64), columns=list(SIGNALS))
    out["reward"] = np.asarray(reward, dtype=np.float64)
    return out


class OnnxRewardModel(mlflow.pyfunc.PythonModel):
    """Artifact `bundle`: the ONNX export folder (model.onnx, tokenizer.json, reward_config.json)."""

    def load_context(self, context) -> None:
        from saferlhf.serve.bundle import find_bundle_dir, load_bundle
        from saferlhf.serve.scorer import OnnxScorer

        precision = (context.model_config or {}).get("precision", "fp32")
        self.bundle = load_bundle(find_bundle_dir(Path(context.artifacts["bundle"])), precision)
        self.scorer = OnnxScorer(self.bundle.onnx_path, self.bundle.tokenizer_path, self.bundle.max_length)

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        from saferlhf.signals import combined_reward

        prompts, responses = _pairs(model_input)
        scores = self.scorer.scores(prompts, responses)  # (N, 4)
        return _frame(scores, combined_reward(scores, self.bundle.weights))


class TorchRewardModel(mlflow.pyfunc.PythonModel):
    """Artifact `reward_model`: the saved PyTorch reward-model folder (safetensors + tokenizer)."""

    def load_context(self, context) -> None:
        from saferlhf.reward.model import RewardScorer

        self.scorer = RewardScorer(context.artifacts["reward_model"])

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        prompts, responses = _pairs(model_input)
        scores = self.scorer.scores(prompts, responses)
        return _frame(scores, self.scorer.reward(prompts, responses) if len(prompts) else np.zeros(0))


class PolicyModel(mlflow.pyfunc.PythonModel):
    """Artifact `policy`: a saved causal LM folder. Input column `prompt`; output column `response`."""

    def load_context(self, context) -> None:
        from saferlhf.policy import load_policy

        self.model, self.tokenizer = load_policy(context.artifacts["policy"])
        from saferlhf.config import GenerateConfig

        self.gen = {**GenerateConfig().sampling.model_dump(), "seed": 42, **(context.model_config or {})}

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        from saferlhf.policy import generate_responses

        df = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if "prompt" not in df.columns:
            raise ValueError("input needs a prompt column")
        out = generate_responses(self.model, self.tokenizer, df["prompt"].astype(str).tolist(), num_responses=1,
                                 **{**self.gen, **(params or {})})
        return pd.DataFrame({"response": [r[0] for r in out]})
