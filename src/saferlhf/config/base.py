"""The pieces every stage config is made of: the frozen base, the shared sampling and compute blocks, the
names defined once (signals, probes, registered models, the unsafe rule)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from saferlhf.signals import SIGNALS  # noqa: F401 - re-exported; the names are defined once, there

PROBE_NAMES = ("reward_hacking", "adversarial_prompts", "borderline_outputs", "over_optimization",
               "refusal_appropriateness", "semantic_jailbreaks", "off_topic")
# The MLflow registered models this project creates (the registry's gates and loaders know each by name).
REGISTERED_MODELS = ("saferlhf-reward", "saferlhf-reward-onnx", "saferlhf-policy")


class StageConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    @model_validator(mode="before")
    @classmethod
    def _flat_sampling(cls, data):
        """`rl: {temperature: 0.7}` (flat, as older YAMLs and the CLI flags say it) means `rl.sampling.temperature`."""
        if not isinstance(data, dict) or "sampling" not in cls.model_fields:
            return data
        flat = {k: data[k] for k in SamplingConfig.model_fields if k in data}
        if not flat:
            return data
        block = data.get("sampling") or cls.model_fields["sampling"].default
        block = block.model_dump() if isinstance(block, BaseModel) else dict(block)
        return {**{k: v for k, v in data.items() if k not in flat}, "sampling": {**block, **flat}}


UNSAFE_THRESHOLD = 0.5  # one rule everywhere: a response is unsafe when its safety score is below this


class SamplingConfig(StageConfig):
    """How a policy samples: one block shared by `policy generate`, RL, evaluation, probes and the dashboard (its
    fields are plain flags on those commands: `--temperature 0.7`)."""

    max_new_tokens: int = Field(48, ge=1)
    """Maximum tokens generated per response."""
    temperature: float = Field(1.0, gt=0)
    """Sampling temperature; 1.0 = the policy's own distribution (as RL samples it)."""
    top_k: int = Field(50, ge=0)
    """Top-k sampling (0 = off); it keeps near-zero-probability tokens out of the samples, whose log-ratio to the reference spikes RL's KL estimate."""
    top_p: float = Field(0.95, gt=0, le=1)
    """Nucleus sampling mass."""


class ComputeConfig(StageConfig):
    """Where a stage that runs a model runs it: one pair of fields shared by reward training, policy init, generation,
    RL, evaluation and probes (`--device cuda --precision bf16` on each of those commands). ONNX export has none: it
    always traces a CPU fp32 copy. Resolved at run time by `saferlhf.device.resolve_compute`, never written back."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    """`auto` = CUDA when torch sees a GPU, else CPU; `cuda` fails with one line when none is visible."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """`auto` = bf16 on a GPU that supports it, else fp32; training keeps fp32 master weights and runs bf16/fp16 under autocast (never pure-bf16 AdamW)."""


