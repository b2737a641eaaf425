"""Typed results: what each stage's `run_*` returns, and (its JSON dump) the report file it writes.

These models *are* the schema of the report files (`metrics.json`, `evaluation_results.json`, ...): the registry's
gates, the dashboard, publishing, the KFP `Metrics` and the bench scripts read fields, never dotted strings.
Fields a reader relies on are typed; everything else a stage writes is kept (`extra="allow"`), so an older or newer
report still loads. A report that is not JSON, or whose typed fields have the wrong type, fails with one line
naming the file (`StageResult.load`). Percentages are 0-100, rates 0-1, as the field names say. Every report also
carries the record of the run that wrote it (`provenance`, embedded by `saferlhf.provenance.recorded`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from saferlhf.errors import UserError

R = TypeVar("R", bound="StageResult")


class Part(BaseModel):
    """A nested block of a report: typed where read, open to extra keys."""

    model_config = ConfigDict(extra="allow")


class InputRecord(Part):
    """An upstream stage's record as the downstream run read it (before it ran)."""

    written: AwareDatetime | None = None
    config_hash: str | None = None


class Provenance(Part):
    """Which run wrote a report: embedded by the stage runner (`saferlhf.provenance.recorded`) after the run, so a
    reader judges freshness from records, never from file times (a copy or `touch` changes those)."""

    stage: str
    written: AwareDatetime
    config_hash: str | None = None  # saferlhf.tracking.config_hash of the run's stage config (its MLflow tag)
    run_id: str | None = None  # the MLflow run, when the stage logs its own
    git_commit: str | None = None
    consumed: dict[str, InputRecord] = {}  # upstream stage -> its record when this run read its outputs


class StageResult(Part):
    # Fields left out of the CLI's printout and the headline metrics (long per-record lists, curves).
    BULKY: ClassVar[tuple[str, ...]] = ()
    # The headline() keys a person watches first (the one line `pipeline run` prints when the stage finishes).
    KEY: ClassVar[tuple[str, ...]] = ()
    # The run's record (None: a report written outside the stage runner, or before records). Never dumped: the
    # runner adds it to the report file itself, after the stage wrote its result (saferlhf.provenance.stamp).
    provenance: Provenance | None = Field(None, exclude=True)

    @classmethod
    def load(cls: type[R], path: Path) -> R:
        """The report at `path`; UserError (one line, naming the file) when missing, not JSON or mistyped."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path}: report not found") from None
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise UserError(f"{path}: not a readable JSON report ({e})") from None
        if not isinstance(data, dict):
            raise UserError(f"{path}: a report must be a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            from saferlhf.config import format_validation_error

            raise UserError(format_validation_error(e, f"{path}: not a {cls.__name__} report")) from None

    def view(self) -> dict[str, Any]:
        """The result without its bulky fields (what the CLI prints and the trackers read)."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in self.BULKY}

    def headline(self, limit: int = 40) -> dict[str, float]:
        """Finite numeric scalars of `view()`, flattened to dotted keys (KFP Metrics, reports).

        >>> RLResult(steps=3, target_kl=0.1, kl_last_quarter=float("nan"), history=[{"kl": 1}]).headline()
        {'steps': 3.0, 'target_kl': 0.1}
        """
        out: dict[str, float] = {}

        def walk(v: Any, key: str) -> None:
            if len(out) >= limit:
                return
            if isinstance(v, dict):
                for k, x in v.items():
                    walk(x, f"{key}.{k}" if key else str(k))
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out[key] = float(v)

        walk(self.view(), "")
        return out


# ---------------------------------------------------------------- data
class DataResult(StageResult):
    KEY = ("prompts", "responses")
    prompts: int
    responses: int
    prompts_per_category: dict[str, int] = {}
    responses_per_type: dict[str, int] = {}
    prompts_per_split: dict[str, int] = {}
    prompts_path: str | None = None
    labels_path: str | None = None


# ---------------------------------------------------------------- reward model
class ReliabilityCurve(Part):
    """One signal's reliability diagram (`saferlhf.metrics.reliability_curve`), one entry per bin."""

    bin_lower: list[float] = []
    mean_pred: list[float | None] = []  # None: an empty bin
    mean_true: list[float | None] = []
    count: list[int] = []


class McDropout(Part):
    passes: int | None = None
    mean_std: float | None = None
    spearman_uncertainty_error: float | None = None
    mae_low_uncertainty_quartile: float | None = None
    mae_high_uncertainty_quartile: float | None = None
    uncertainty_grows_with_error: bool | None = None


class RewardResult(StageResult):
    """`metrics.json` of the reward model (test split)."""

    BULKY = ("reliability",)
    KEY = ("pairwise_accuracy", "relevance_accuracy", "mae_max", "ece_max")
    test_rows: int | None = None
    mae: dict[str, float] = {}
    ece: dict[str, float] = {}
    mae_max: float | None = None
    ece_max: float | None = None
    pairwise_accuracy: float | None = None
    pairwise_pairs: int | None = None
    relevance_accuracy: float | None = None
    """Share of held-out prompts whose own safe response outscores an off-topic one (another category's answer)."""
    relevance_pairs: int | None = None
    acknowledgement_accuracy: float | None = None
    """Share of held-out prompts whose own safe response outscores a content-free acknowledgement ("Sure! I can
    help with that."; saferlhf.data.acknowledge), whatever `data.acknowledgement_fraction` was."""
    acknowledgement_pairs: int | None = None
    policy_rows: int | None = None
    """Held-out rows the policy wrote itself (saferlhf.data.contrast); the figures above exclude them."""
    policy_pairwise_accuracy: float | None = None
    """On those rows: the refusal of a should-refuse prompt above the compliant answer."""
    policy_pairwise_pairs: int | None = None
    policy_helpful_accuracy: float | None = None
    """On those rows: the answer to a benign prompt above its over-refusal."""
    policy_helpful_pairs: int | None = None
    policy_relevance_accuracy: float | None = None
    """On those rows: a prompt's own safe answer above another category's answer."""
    policy_relevance_pairs: int | None = None
    policy_acknowledgement_accuracy: float | None = None
    """On those rows: a prompt's own safe answer (or refusal) above a content-free acknowledgement."""
    policy_acknowledgement_pairs: int | None = None
    train_seconds: float | None = None
    reliability: dict[str, ReliabilityCurve] = {}
    mc_dropout: McDropout | None = None  # None: evaluated without MC dropout


class ContrastResult(StageResult):
    """What `saferlhf data contrast` wrote (saferlhf.data.contrast)."""

    KEY = ("rows_added", "prompts")
    enabled: bool = True
    output_path: str | None = None
    prompts: int | None = None
    rows_added: int | None = None
    by_steering: dict[str, dict] = {}
    """'refuse/safety', 'refuse/compliance', 'answer/safety', 'answer/compliance' -> answers, agreed, kept, type,
    agreement (agreed / answers)."""
    seconds: float | None = None


# ---------------------------------------------------------------- policies
class PolicyResult(StageResult):
    """`policy_summary.json` of the base policy."""

    BULKY = ("loss_history",)
    KEY = ("num_parameters", "final_loss")
    output_dir: str | None = None
    model_name: str | None = None
    num_parameters: int | None = None
    num_examples: int | None = None
    final_loss: float | None = None
    loss_history: list[float] = []
    seconds: float | None = None


class RLResult(StageResult):
    """`rl_summary.json` of the RL policy (per-step records: `training_stats.json`, returned as `history`)."""

    BULKY = ("history", "config")
    KEY = ("kl_last_quarter", "reward_last_quarter", "final_beta")
    STATS_FILE: ClassVar[str] = "training_stats.json"  # per-step records, beside the summary
    steps: int | None = None
    seconds: float | None = None
    objective: str | None = None
    adaptive_kl: bool | None = None
    target_kl: float | None = None
    final_beta: float | None = None
    final_lambda: float | None = None
    kl_last_quarter: float | None = None
    cost_last_quarter: float | None = None
    reward_last_quarter: float | None = None
    output_dir: str | None = None
    history: list[dict] = []


# ---------------------------------------------------------------- evaluation
class ModelSummary(Part):
    num_responses: int | None = None
    unsafe_pct: float | None = None
    unsafe_pct_harmful: float | None = None
    over_refusal_pct: float | None = None
    refusal_pct: float | None = None
    reward_mean: float | None = None
    mean_toxicity: float | None = None
    mean_hallucination_risk: float | None = None
    mean_compliance: float | None = None
    mean_response_words: float | None = None


class RateChange(Part):
    base: float | None = None
    rl: float | None = None
    reduction_pct: float | None = None


class OverRefusal(Part):
    base_pct: float | None = None
    rl_pct: float | None = None
    change_points: float | None = None
    num_benign_responses: int | None = None


class RewardDistribution(Part):
    base_mean: float | None = None
    base_std: float | None = None
    rl_mean: float | None = None
    rl_std: float | None = None
    mean_shift: float | None = None


class Robustness(Part):
    """Adversarial prompts answered safely, percent."""

    num_prompts: int | None = None
    base_safe_pct: float | None = None
    rl_safe_pct: float | None = None
    improvement_points: float | None = None


class KLDivergence(Part):
    sampled: float | None = None  # nats/token on the RL policy's own samples
    exact: float | None = None
    tokens: int | None = None


class EvalCalibration(Part):
    """The reward model's MC-dropout calibration on the evaluated split."""

    rows: int | None = None
    mc_dropout_passes: int | None = None
    mean_std: float | None = None
    ece: dict[str, float] = {}


class EvaluationResult(StageResult):
    """`evaluation_results.json`: base vs RL on held-out prompts (see saferlhf.evaluate.compare)."""

    BULKY = ("records", "config", "per_category_unsafe_pct", "plots", "calibration")
    KEY = ("unsafe_output_pct_harmful.reduction_pct", "over_refusal.change_points", "kl_divergence.sampled")
    split: str | None = None
    num_prompts: int | None = None
    num_responses_per_prompt: int | None = None
    unsafe_threshold: float | None = None
    base_model: ModelSummary = ModelSummary()
    rl_model: ModelSummary = ModelSummary()
    unsafe_output_pct: RateChange = RateChange()
    unsafe_output_pct_harmful: RateChange = RateChange()
    over_refusal: OverRefusal = OverRefusal()
    toxicity_reduction_pct: float | None = None
    hallucination_reduction_pct: float | None = None
    compliance_improvement_pct: float | None = None
    reward_distribution: RewardDistribution = RewardDistribution()
    adversarial_robustness: Robustness = Robustness()
    kl_divergence: KLDivergence = KLDivergence()
    calibration: EvalCalibration | None = None
    per_category_unsafe_pct: dict[str, dict[str, float]] = {}
    seconds: float | None = None
    results_path: str | None = None
    records: list[dict] = []


# ---------------------------------------------------------------- probes
class ProbeFailure(Part):
    """One stored failure of a probe (the report keeps the first ones)."""

    prompt: str | None = None
    response: str | None = None
    reason: str | None = None
    scores: dict[str, float] = {}  # the four signals and the reward


class ProbeOutcome(Part):
    risk_score: float
    num_failures: int | None = None
    num_prompts: int | None = None
    failures: list[ProbeFailure] = []


class Susceptibility(Part):
    """Share of crafted degenerate texts the reward model rates above the reference reward."""

    num_texts: int | None = None
    above_reference_pct: float | None = None
    max_reward: float | None = None


class ProbeSummary(Part):
    base_model_overall_risk: float | None = None
    rl_model_overall_risk: float | None = None
    risk_improvement: float | None = None
    reference_reward: float | None = None  # median reward of labelled safe answers: the reward-hacking bar
    reward_model_susceptibility: Susceptibility | None = None  # None: not measured
    seconds: float | None = None


class ProbeResult(StageResult):
    """`probes_report.json`: per model, per probe its outcome; the summary."""

    BULKY = ("base_model", "rl_model")
    KEY = ("summary.base_model_overall_risk", "summary.rl_model_overall_risk")
    base_model: dict[str, ProbeOutcome] = {}
    rl_model: dict[str, ProbeOutcome] = {}
    summary: ProbeSummary = ProbeSummary()
    report_path: str | None = None

    def view(self) -> dict[str, Any]:
        risks = {m: {p: r.risk_score for p, r in getattr(self, m).items()} for m in ("base_model", "rl_model")}
        return {**super().view(), "risk_scores": risks}


# ---------------------------------------------------------------- export, registry, monitor
class ExportResult(StageResult):
    """`export_report.json` of the ONNX bundle."""

    KEY = ("fp32.max_abs_diff", "int8.max_abs_diff", "int8.rank_agreement")

    output_dir: str | None = None
    n_items: int | None = None
    fp32: dict[str, Any] = {}
    int8: dict[str, Any] | None = None
    passed: bool = False


class RegisterResult(StageResult):
    """`registry/decisions.json`: the versions registered and each gate decision."""

    KEY = ("metrics.unsafe_reduction", "metrics.over_refusal_increase", "metrics.probe_risk")

    tracking_uri: str | None = None
    run_id: str | None = None
    parent_run_id: str | None = None
    metrics: dict[str, float] = {}
    models: dict[str, dict[str, Any]] = {}


class MonitorResult(StageResult):
    """The drift monitor's summary (its Evidently report and snapshot are files beside it)."""

    BULKY = ("tests",)
    KEY = ("records", "drift_share", "unsafe_rate")
    LATEST_REPORT: ClassVar[str] = "latest.html"  # the newest Evidently report, beside the summary
    HISTORY_FILE: ClassVar[str] = "drift_history.csv"  # one row per monitor run (saferlhf.monitor.history)
    passed: bool
    records: int | None = None
    drift_share: float | None = None
    unsafe_rate: float | None = None
    unsafe_rate_ceiling: float | None = None
    drifted_columns: list[str] = []
    failed_tests: list[str] = []
    report: str | None = None
    snapshot: str | None = None
