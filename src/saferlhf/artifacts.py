"""One resolver from stage to artifact: the seed's `outputs/` layout, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


# The drift reference the reward stage writes beside its model and the monitor reads (also inside MLflow models).
REFERENCE_FILE = "reference_scores.parquet"


@dataclass(frozen=True)
class Layout:
    """Paths of every stage's outputs under one root (default `outputs/`)."""

    root: Path = Path("outputs")

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def prompts(self) -> Path:
        return self.data_dir / "prompts.json"

    @property
    def labels(self) -> Path:
        return self.data_dir / "safety_labels.csv"

    @property
    def contrast(self) -> Path:
        """`saferlhf data contrast`: the policy's own labelled answers (a folder: the pipeline step's artifact)."""
        return self.root / "contrast"

    @property
    def contrast_labels(self) -> Path:
        """The labels plus the policy's own labelled responses (absent when `contrast.enabled` is off)."""
        return self.contrast / "safety_labels_contrast.csv"

    def training_labels(self, data_path: str | None) -> Path:
        """The labelled CSV the reward model trains and is evaluated on: an explicit `reward.data_path`, else the
        contrast stage's labels when it wrote them, else the generator's."""
        if data_path:
            return Path(data_path)
        return self.contrast_labels if self.contrast_labels.is_file() else self.labels

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def reward_model(self) -> Path:
        return self.models_dir / "reward_model"

    @property
    def reward_onnx(self) -> Path:
        return self.reward_model / "onnx"

    @property
    def base_policy(self) -> Path:
        return self.models_dir / "base_policy"

    @property
    def pretrained_cache(self) -> Path:
        """Pretrained policies converted once to safetensors (one folder per `policy.model_name`)."""
        return self.models_dir / "pretrained"

    @property
    def rl_policy(self) -> Path:
        return self.models_dir / "rl_policy"

    @property
    def generations(self) -> Path:
        """Default output of `saferlhf policy generate`."""
        return self.root / "generations" / "responses.json"

    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation_results"

    @property
    def probes_report(self) -> Path:
        return self.root / "probes_report.json"

    @property
    def benchmarks(self) -> Path:
        """`saferlhf benchmark` outputs: report.json, records.jsonl, plots/."""
        return self.root / "benchmarks"

    @property
    def monitoring(self) -> Path:
        """Drift monitor outputs: reports/, snapshots/, latest.html, latest.json, drift_history.csv."""
        return self.root / "monitoring"

    @property
    def pipeline_root(self) -> Path:
        """kfp.local runs of the pipeline: per-run task folders and the step cache (.kfp_cache)."""
        return self.root / "pipeline_runs"

    @property
    def promotion_decision(self) -> Path:
        """The pipeline gate's last promotion decision (Markdown)."""
        return self.root / "promotion_decision.md"

    @property
    def predictions(self) -> Path:
        """Scoring service prediction log folder: predictions.jsonl and rotated predictions-<timestamp>.jsonl."""
        return self.root / "predictions"

    @property
    def serve_cache(self) -> Path:
        """MLflow models downloaded by the scoring service (one folder per registry version)."""
        return self.root / "serve_cache"

    @property
    def bench(self) -> Path:
        return self.root / "bench"

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def registry_decisions(self) -> Path:
        """Last `saferlhf registry register` result: versions, aliases and each gate decision."""
        return self.root / "registry" / "decisions.json"


def resolve(value: str | Path | None, default: Path) -> Path:
    """A stage's explicit path if given, else its place in the layout."""
    return Path(value) if value else default
