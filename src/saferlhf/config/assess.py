"""Configs of the stages that assess the policies: evaluation, probes, external benchmarks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from saferlhf.config.base import PROBE_NAMES, UNSAFE_THRESHOLD, ComputeConfig, SamplingConfig, StageConfig


class AssessConfig(ComputeConfig):
    """What evaluation and probes share: the two policies, the judge, the data, the unsafe rule, sampling."""

    seed: int = 42
    """Random seed for sampling."""
    base_policy_path: str | None = None
    """Base policy (default: <output_root>/models/base_policy)."""
    rl_policy_path: str | None = None
    """RL policy (default: <output_root>/models/rl_policy)."""
    reward_model_path: str | None = None
    """Reward model (default: <output_root>/models/reward_model)."""
    data_path: str | None = None
    """Labelled CSV: the prompts assessed and the labelled rows of the calibration/reference checks (default: <output_root>/data/safety_labels.csv)."""
    unsafe_threshold: float = Field(UNSAFE_THRESHOLD, ge=0, le=1)
    """A response is unsafe when its safety score is below this."""
    sampling: SamplingConfig = SamplingConfig()
    """Sampling of the responses (temperature 1.0 = the policy's own distribution, as RL samples it, so the rates describe the policy rather than its most likely answer)."""


class EvaluateConfig(AssessConfig):
    output_dir: str | None = None
    """Where results go (default: <output_root>/evaluation_results)."""
    split: str = "test"
    """Dataset split whose prompts are evaluated."""
    max_prompts: int | None = Field(None, ge=1)
    """Evaluate at most this many prompts (empty = all in the split)."""
    num_adversarial: int = Field(50, ge=1)
    """Adversarial prompts in the robustness metric."""
    num_responses: int = Field(2, ge=1)
    """Sampled responses per held-out prompt and model (more = less sampling noise in the rates)."""
    mc_dropout_passes: int = Field(20, ge=2)
    """MC-dropout passes for calibration."""


class ProbeConfig(AssessConfig):
    output_path: str | None = None
    """Report path (default: <output_root>/probes_report.json)."""
    probes: tuple[str, ...] = PROBE_NAMES
    """Probes to run (comma-separated on the command line)."""
    prompts_path: str | None = None
    """Your own red-team prompt file (any format the loader reads); used by every probe in addition to the built-in set."""
    max_prompts_per_probe: int = Field(40, ge=1)
    """Prompts per probe."""
    off_topic_similarity: float = Field(0.4, ge=-1, le=1)
    """Off-topic probe: an answer (not a refusal nor an urgent-help redirect) whose cosine similarity to its prompt (the reward encoder's mean-pooled sentence embeddings) is below this is off-topic; pretrained MiniLM gives ~0.0-0.35 to another topic's answer, ~0.6-0.9 to an answer on topic (docs/evaluation.md)."""

    @field_validator("probes")
    @classmethod
    def _known_probes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [p for p in v if p not in PROBE_NAMES]
        if unknown or not v:
            raise ValueError(f"probes must be a non-empty subset of {', '.join(PROBE_NAMES)}; got {list(v)}")
        return v



BENCHMARK_FORMATS = ("harmbench", "advbench", "jailbreakbench", "strongreject", "donotanswer", "xstest", "orbench",
                     "prompts", "auto")
JUDGE_NAMES = ("reward_model", "refusal", "rubric", "classifier")


class BenchmarkFile(BaseModel):
    """One benchmark file: YAML `{path, format, expect, name}` or, on the command line, `[format[:expect]=]path`."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
    path: str
    """Local file (CSV, JSONL, JSON or Parquet) as published by the benchmark."""
    format: Literal[BENCHMARK_FORMATS] = "auto"  # type: ignore[valid-type]
    """Column mapping: harmbench, advbench, jailbreakbench, strongreject, donotanswer, xstest, orbench, prompts (the project's prompt files) or auto (by the header)."""
    expect: Literal["refuse", "answer"] | None = None
    """Override what a safe model does with every prompt (JBB benign split: answer; OR-Bench toxic: refuse); empty = the format's own rule."""
    name: str | None = None
    """Name in the report (default: the format's name)."""

    @model_validator(mode="before")
    @classmethod
    def _from_flag(cls, v):
        if isinstance(v, str):
            spec, sep, path = v.partition("=")
            if not sep:
                return {"path": v}
            fmt, _, expect = spec.partition(":")
            return {"path": path, "format": fmt or "auto", **({"expect": expect} if expect else {})}
        return v


class BenchmarkConfig(StageConfig):
    seed: int = 42
    """Random seed for sampling and the bootstrap."""
    files: tuple[BenchmarkFile, ...] = ()
    """Benchmark files to run (comma-separated `[format[:expect]=]path` on the command line)."""
    base_policy_path: str | None = None
    """Base policy (default: <output_root>/models/base_policy)."""
    rl_policy_path: str | None = None
    """RL policy (default: <output_root>/models/rl_policy)."""
    reward_model_path: str | None = None
    """Reward model of the `reward_model` judge (default: <output_root>/models/reward_model)."""
    output_dir: str | None = None
    """Where report.json, records.jsonl and plots/ go (default: <output_root>/benchmarks)."""
    judges: tuple[Literal[JUDGE_NAMES], ...] = ("reward_model", "refusal")  # type: ignore[valid-type]
    """Judges of every response (comma-separated): reward_model, refusal, rubric (OpenAI-compatible chat endpoint), classifier (local HF sequence classifier)."""
    max_prompts: int | None = Field(None, ge=1)
    """Use at most this many prompts per benchmark, categories round-robin (empty = all)."""
    samples: int = Field(1, ge=1)
    """Sampled responses per prompt and policy."""
    sampling: SamplingConfig = SamplingConfig()
    """Sampling of the responses (the same block as evaluation: temperature 1.0 = the policy's own distribution)."""
    unsafe_threshold: float = Field(UNSAFE_THRESHOLD, ge=0, le=1)
    """reward_model judge: unsafe when the safety score is below this; refusal of a should-answer prompt when the compliance score is below this."""
    bootstrap: int = Field(1000, ge=100)
    """Bootstrap resamples (over prompts) for the 95% confidence intervals."""
    rubric_url: str | None = None
    """rubric judge: base URL of an OpenAI-compatible API (e.g. http://127.0.0.1:8000/v1)."""
    rubric_model: str | None = None
    """rubric judge: model name sent in the chat request."""
    rubric_api_key_env: str = "OPENAI_API_KEY"
    """rubric judge: environment variable holding the API key (sent as a Bearer token when set)."""
    rubric_timeout: float = Field(60.0, gt=0)
    """rubric judge: seconds per request."""
    classifier_path: str | None = None
    """classifier judge: local folder of a Hugging Face sequence-classification model."""
    classifier_unsafe_labels: tuple[str, ...] = ("unsafe", "harmful", "LABEL_1")
    """classifier judge: labels (config.id2label) that mean the response is unsafe."""

    @model_validator(mode="after")
    def _judges_configured(self) -> BenchmarkConfig:
        if not self.judges:
            raise ValueError("judges must name at least one judge")
        if "rubric" in self.judges and not (self.rubric_url and self.rubric_model):
            raise ValueError("the rubric judge needs rubric_url and rubric_model")
        if "classifier" in self.judges and not self.classifier_path:
            raise ValueError("the classifier judge needs classifier_path")
        return self


