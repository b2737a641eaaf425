"""Configs of the stages that build models: dataset, reward model, base policy, sampling, RL."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from saferlhf.config.base import ComputeConfig, SamplingConfig, StageConfig


class DataConfig(StageConfig):
    seed: int = 42
    """Random seed: the same seed gives byte-identical files."""
    output_dir: str | None = None
    """Folder for prompts.json and safety_labels.csv (default: <output_root>/data)."""
    n_benign: int = Field(120, ge=0)
    """Number of benign everyday prompts (used to measure over-refusal)."""
    borderline_fraction: float = Field(0.316, ge=0.0, le=1.0)
    """Share of safety-critical prompts that also get a borderline response (seed: ~158 of 500)."""
    benign_unsafe_fraction: float = Field(0.3, ge=0.0, le=1.0)
    """Share of benign prompts that also get a bad (rude or fabricated) answer."""
    label_noise: float = Field(0.03, ge=0.0, le=0.2)
    """Half-width of the uniform noise added to each rule-based label (labels stay in [0, 1])."""
    mismatched_fraction: float = Field(0.0, ge=0.0, le=1.0)
    """Share of each split's prompts that also get an off-topic response (a helpful answer to a prompt of another category, same split) labelled low compliance: teaches the reward model that an answer must address the request (0 = none, the default until its effect on `make demo` is measured; 0.3 measured in docs/reward.md)."""
    acknowledgement_fraction: float = Field(0.0, ge=0.0, le=1.0)
    """Share of each split's prompts that also get a content-free acknowledgement ("Sure! I can help with that."; saferlhf.data.acknowledge), labelled not an answer (low compliance) or, where the prompt should be refused, unsafe: RL on the real track learned to win with such replies (docs/real-model.md). 0 = none, the default (the dataset is then byte-identical)."""
    val_families: int = Field(1, ge=1)
    """Template families per category held out for validation."""
    test_families: int = Field(1, ge=1)
    """Template families per category held out for test (phrasings never seen in training)."""
    lookalike: bool = False
    """Add benign prompts that look dangerous (homonyms, figurative language, safe targets and contexts, definitions,
    history, public figures, drafting; saferlhf.data.lookalike), each with a specific answer and over-refusals, their
    harmful twins (same alarming word, real target; saferlhf.data.twins) with specific compliant answers labelled
    unsafe, and specific answers for half the everyday benign prompts; off (the default) = the templated dataset
    only. With `reward.pairwise_weight` it lifts the benchmark fixture's ranking to >= 90% both ways
    (docs/safety-benchmarks.md)."""


class RewardConfig(ComputeConfig):
    seed: int = 42
    """Random seed for initialisation, shuffling and dropout."""
    data_path: str | None = None
    """Labelled CSV to train on (default: <output_root>/contrast/safety_labels_contrast.csv when the contrast stage wrote it, else <output_root>/data/safety_labels.csv)."""
    output_dir: str | None = None
    """Where the reward model is saved (default: <output_root>/models/reward_model)."""
    model_name: str | None = None
    """Encoder backbone: Hugging Face id or local path; empty = the bundled all-MiniLM-L6-v2."""
    batch_size: int = Field(16, ge=1)
    """Training batch size."""
    eval_batch_size: int = Field(64, ge=1)
    """Batch size for evaluation and scoring."""
    num_epochs: int = Field(3, ge=1)
    """Training epochs."""
    learning_rate: float = Field(2e-5, gt=0)
    """AdamW learning rate of the encoder."""
    head_learning_rate: float = Field(1e-3, gt=0)
    """AdamW learning rate of the four freshly initialised heads (they start from scratch)."""
    weight_decay: float = Field(0.01, ge=0)
    """AdamW weight decay."""
    warmup_steps: int = Field(100, ge=0)
    """Linear warm-up steps, then linear decay to zero."""
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    """Dropout in the heads (also the MC-dropout rate)."""
    max_length: int = Field(512, ge=16)
    """Maximum tokens of the (prompt, response) pair; batches are padded to their longest item."""
    max_train_samples: int | None = Field(None, ge=1)
    """Train on at most this many rows (for quick runs); empty = all."""
    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 0.5)
    """Combined reward weights (w1..w4) in R = w1*safety - w2*toxicity - w3*hallucination_risk + w4*compliance."""
    pairwise_weight: float = Field(0.0, ge=0.0)
    """Weight of a ranking loss added to the heads' MSE: for two responses to the same prompt whose labelled
    combined rewards differ by more than `pairwise_margin`, a smooth hinge on the predicted reward gap (batches then
    keep a prompt's rows together). RL (GRPO) uses only the order of rewards within a prompt's group, which MSE on
    each row alone does not aim at. 0 (the default) = MSE only."""
    pairwise_margin: float = Field(0.1, gt=0.0)
    """Labelled reward gap (and the hinge's softness) that makes a pair count for `pairwise_weight`."""
    mc_dropout_passes: int = Field(20, ge=2)
    """Stochastic forward passes for MC-dropout uncertainty."""
    calibration_bins: int = Field(10, ge=2)
    """Bins of the reliability diagrams and ECE."""

    @field_validator("weights")
    @classmethod
    def _weights_non_negative(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(w < 0 for w in v):
            raise ValueError(f"every reward weight must be >= 0, got {list(v)}")
        return v


class PolicyConfig(ComputeConfig):
    seed: int = 42
    """Random seed."""
    data_path: str | None = None
    """Labelled CSV whose (prompt -> response) pairs train the base policy (default: <output_root>/data/safety_labels.csv)."""
    output_dir: str | None = None
    """Where the base policy is saved (default: <output_root>/models/base_policy)."""
    train_splits: tuple[str, ...] = ("train", "validation")
    """Dataset splits whose pairs train the base policy (test stays held out for evaluation)."""
    model_name: str | None = None
    """Pretrained causal LM: `smollm2-135m-instruct` (packaged), a .gguf file, a local model folder or a Hugging Face id (local cache only); empty = train a small GPT-2 from scratch."""
    system_prompt: str | None = None
    """System prompt of a chat-template policy, saved with it and used by every stage (empty = the template's default)."""
    sft_epochs: int = Field(0, ge=0)
    """Pretrained model only: epochs of supervised fine-tuning on the train split's safe responses (0 = use it as is)."""
    sft_learning_rate: float = Field(2e-5, gt=0, le=1e-3)
    """Pretrained model only: AdamW learning rate of that fine-tuning (pretrained weights need ~1e-5, not 1e-3)."""
    vocab_size: int = Field(2048, ge=300)
    """Byte-level BPE vocabulary size of the from-scratch tokenizer."""
    n_layer: int = Field(2, ge=1)
    """Transformer layers of the from-scratch model."""
    n_head: int = Field(4, ge=1)
    """Attention heads of the from-scratch model."""
    n_embd: int = Field(128, ge=16)
    """Hidden size of the from-scratch model."""
    n_positions: int = Field(256, ge=32)
    """Context length of the from-scratch model."""
    num_epochs: int = Field(8, ge=1)
    """Language-model training epochs."""
    batch_size: int = Field(32, ge=1)
    """Language-model training batch size."""
    learning_rate: float = Field(1e-3, gt=0)
    """AdamW learning rate of the language model."""

    @model_validator(mode="after")
    def _heads_divide_width(self) -> PolicyConfig:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        return self


class ContrastConfig(ComputeConfig):
    """`saferlhf data contrast`: the policy answers dataset prompts under a safety- and a compliance-steering system
    prompt; the answers the refusal detector agrees with become labelled rows (saferlhf.data.contrast)."""

    enabled: bool = False
    """Answer and label (on: the reward model then trains on the result; off: the stage writes only its report).
    Needs a chat-template policy (`policy.model_name`); the from-scratch GPT-2 has no system prompt."""
    samples_per_steering: int = Field(1, ge=1)
    """Answers per prompt and steering (more: more held-out prompts keep both a refusal and a compliant answer)."""
    seed: int = 42
    """Random seed for sampling."""
    data_path: str | None = None
    """Labelled CSV whose prompts are answered (default: <output_root>/data/safety_labels.csv)."""
    model_path: str | None = None
    """Policy that writes the answers (default: the base policy, the model RL starts from and the reward model then judges)."""
    output_path: str | None = None
    """Where the labelled CSV (the input rows with `source` plus the policy's rows) goes (default: <output_root>/contrast/safety_labels_contrast.csv, which the reward stage then trains on)."""
    splits: tuple[str, ...] = ("train", "validation", "test")
    """Splits whose prompts are answered (each row keeps its prompt's split: test rows stay held out)."""
    max_prompts_per_split: int | None = Field(None, ge=1)
    """At most this many prompts per split, categories round-robin (empty = every should-refuse and benign prompt)."""
    safety_system: str | None = None
    """Safety-steering system prompt (empty = saferlhf.data.contrast.SAFETY_SYSTEM)."""
    compliance_system: str | None = None
    """Compliance-steering system prompt (empty = saferlhf.data.contrast.COMPLIANCE_SYSTEM)."""
    sampling: SamplingConfig = SamplingConfig(temperature=0.7)
    """Sampling of the answers."""
    batch_size: int = Field(32, ge=1)
    """Prompts per generation batch."""


class GenerateConfig(ComputeConfig):
    seed: int = 42
    """Random seed for sampling."""
    prompts_path: str | None = None
    """Prompt file (JSON, JSONL, CSV with a `prompt` column, or text one per line)."""
    output_path: str | None = None
    """Where the generated responses are written (JSON)."""
    model_path: str | None = None
    """Policy to sample from (default: the base policy)."""
    num_responses: int = Field(1, ge=1)
    """Responses per prompt."""
    sampling: SamplingConfig = SamplingConfig(temperature=0.7)
    """Sampling settings."""
    batch_size: int = Field(32, ge=1)
    """Prompts per generation batch."""


class LoraSettings(StageConfig):
    r: int = Field(16, ge=1)
    """LoRA rank."""
    alpha: int = Field(32, ge=1)
    """LoRA scaling numerator (the update is scaled by alpha / r)."""
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    """Dropout on the LoRA input."""
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    """Module names that get adapters (Llama/Qwen attention projections; GPT-2 calls them c_attn, c_proj)."""


class RLConfig(ComputeConfig):
    seed: int = 42
    """Random seed."""
    policy_path: str | None = None
    """Policy to start from (default: the base policy)."""
    reward_model_path: str | None = None
    """Reward model that scores completions (default: the trained reward model)."""
    output_dir: str | None = None
    """Where the RL policy is saved (default: <output_root>/models/rl_policy)."""
    objective: Literal["weighted", "lagrangian"] = "weighted"
    """`weighted`: the seed's weighted-sum reward; `lagrangian`: Safe RLHF reward minus lambda * cost."""
    learning_rate: float = Field(5e-5, gt=0)
    """Policy learning rate."""
    batch_size: int = Field(16, ge=1)
    """Prompts per RL step (each gets `num_generations` completions)."""
    num_generations: int = Field(4, ge=2)
    """Completions sampled per prompt (GRPO's group size)."""
    ppo_epochs: int = Field(1, ge=1)
    """Optimisation passes over each batch of completions (GRPO's num_iterations)."""
    max_steps: int = Field(200, ge=1)
    """RL optimisation steps."""
    sampling: SamplingConfig = SamplingConfig(max_new_tokens=40)
    """Sampling of the completions (the same truncation as `policy generate` and evaluation)."""
    peft: LoraSettings | None = None
    """LoRA adapter settings (`rl: {peft: {r: 16}}`); empty = train every weight. The RL policy is saved merged, with the adapter under adapter/."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (less memory, ~1/3 more compute; TRL turns it on by default)."""
    gradient_accumulation_steps: int = Field(1, ge=1)
    """Micro-batches accumulated per optimisation step."""
    init_kl_coef: float = Field(0.1, gt=0)
    """Initial KL coefficient beta (must be > 0: beta = 0 skips the reference model)."""
    adaptive_kl: bool = True
    """Adapt beta toward `target_kl` (Ziegler et al. 2019)."""
    target_kl: float = Field(0.1, gt=0)
    """KL target of the adaptive controller (nats per token)."""
    kl_horizon: int = Field(100, ge=1)
    """Horizon of the adaptive KL controller, in steps."""
    min_kl_coef: float = Field(0.0, ge=0)
    """Floor of the adaptive beta: KL is ~0 while the policy still sits on its reference, and without a floor the controller spends those first steps shrinking the beta it needs once the policy moves."""
    cost_threshold: float = Field(0.2, ge=0, le=1)
    """Lagrangian mode: allowed mean cost (unsafety)."""
    lambda_init: float = Field(1.0, gt=0)
    """Lagrangian mode: initial multiplier."""
    lambda_lr: float = Field(0.05, gt=0)
    """Lagrangian mode: step size alpha of the log-lambda update."""
    lambda_max: float = Field(10.0, gt=0)
    """Lagrangian mode: upper clamp of lambda."""
    cost_window: int = Field(4, ge=1)
    """Lagrangian mode: steps averaged as 'recent cost'."""
    prompt_splits: tuple[str, ...] = ("train", "validation")
    """Splits of prompts.json whose prompts RL trains on (test stays held out for evaluation)."""
    skip_lookalikes: bool = False
    """Leave the look-alikes and their harmful twins (`data.lookalike`) out of RL's prompts: they then teach SFT and the reward model only. On, they made 156 of the SmolLM2 run's 829 RL prompts and RL learned no refusals (docs/real-model.md "Run 8")."""
    benign_repeat: int = Field(1, ge=1)
    """Each benign prompt appears this many times in the RL prompt set (more benign signal against over-refusal)."""
    refusal_penalty: float = Field(0.0, ge=0)
    """Rule-based reward (RBR): subtracted when a completion refuses a prompt whose category should be answered (benign, safety-critical, ambiguous); 0 = the reward model alone."""
    degeneracy_penalty: float = Field(0.0, ge=0)
    """Rule-based reward (RBR): subtracted when a completion is degenerate (looped n-grams, repeated sentences, stuffed refusal phrases, empty); 0 = off."""
    off_topic_penalty: float = Field(0.0, ge=0)
    """Rule-based reward (RBR): subtracted when a completion shares no content word with its prompt and is neither a refusal nor an urgent-help redirect (evasion; saferlhf.relevance); 0 = off."""
    non_refusal_penalty: float = Field(0.0, ge=0)
    """Rule-based reward (RBR "hard refusal"): subtracted when a completion to a prompt whose category should be refused is an answer (neither a refusal nor an urgent-help redirect); 0 = off. It uses the refusal detector that evaluation reports, so with it on the non-refusal figure is no longer an independent judge."""
    overlong_penalty: float = Field(0.0, ge=0)
    """Rule-based length term, DAPO's soft overlong punishment (Yu et al. 2025, eq. 13) times this weight: 0 for a completion of at most `sampling.max_new_tokens - overlong_buffer` tokens, then falling linearly to -weight at `max_new_tokens` (cut at the limit). It never rewards shortness; 0 = off."""
    overlong_buffer: int = Field(8, ge=1)
    """Tokens before `sampling.max_new_tokens` where the overlong punishment ramps up (DAPO's L_cache)."""
    use_vllm: bool = False
    """Generate completions with vLLM in TRL's colocate mode (same GPU as training; needs `pip install vllm` and device cuda; not exercised in this project's tests)."""

    @model_validator(mode="after")
    def _buffer_inside_the_completion(self) -> RLConfig:
        if self.overlong_penalty and self.overlong_buffer >= self.sampling.max_new_tokens:
            raise ValueError(f"overlong_buffer ({self.overlong_buffer}) must be < sampling.max_new_tokens "
                             f"({self.sampling.max_new_tokens})")
        return self


